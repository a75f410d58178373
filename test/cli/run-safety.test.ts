// run's safety against mocked SSM, STS and Tagging API clients: each command is sent once (throttling
// retried, an ambiguous failure looked up by the token in its Comment), a preview and a confirmation
// come first (--dry-run sends nothing; --yes without a terminal), more than 5 agencies become one
// command per 5, and a failure after the send says the command is still running.
import { describe, expect, it } from 'vitest';
import { ListCommandInvocationsCommand, ListCommandsCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import type { CommandFilter, ListCommandsCommandInput } from '@aws-sdk/client-ssm';
import { invokedAfter, sendFailure } from '../../scripts/ops/run-send.ts';
import { beyondMaxErrors } from '../../scripts/ops/run-report.ts';
import { AwsUnreachableError } from '../../scripts/ops/aws-errors.ts';
import { awsError, CALLER_ACCOUNT, mocksEachTest, testContext } from './helpers.ts';
import { A, B, mi, NOW, OWN } from './fleet-fixture.ts';
import { commandRuns, exec, execIn, invocation, mockRunHub, sentTo } from './run-fixture.ts';

const mocks = mocksEachTest(mockRunHub);
const sent = () => sentTo(mocks);
const DOC = ['--document', 'AWS-RunShellScript'];
// Node's socket timeout as @smithy/node-http-handler reports it ("TimeoutError").
const timeout = () => Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });

/** ListCommands as SSM answers it: by CommandId, or every command after InvokedAfter (SSM API reference, ListCommands, CommandFilter). */
function listsCommands(commands: Array<{ CommandId: string; Comment: string; RequestedDateTime: Date }>) {
  mocks.ssm.on(ListCommandsCommand).callsFake(async (input: ListCommandsCommandInput) => {
    if (input.CommandId) return { Commands: [{ CommandId: input.CommandId, Status: 'Success' }] };
    const after = input.Filters?.find((f: CommandFilter) => f.key === 'InvokedAfter')?.value;
    return { Commands: commands.filter((c) => !after || c.RequestedDateTime >= new Date(after)) };
  });
  mocks.ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation(1, 'Success', 0, 'ok')] });
}

describe('run sends each command once', () => {
  it('retries a throttled SendCommand (a 400: not processed) with backoff, and sends one command', async () => {
    commandRuns(mocks, [[invocation(1, 'Success', 0, 'ok')]]);
    mocks.ssm
      .on(SendCommandCommand)
      .rejectsOnce(awsError('ThrottlingException', 'Rate exceeded'))
      .resolves({ Command: { CommandId: 'c-1' } });
    const r = await exec('--yes', ...DOC, '--agency', A);
    expect(r.code, r.err).toBe(0);
    expect(sent()).toHaveLength(2);
    expect(r.err).toContain('SendCommand throttled (not processed): trying again in 2 s');
    expect(r.out).toContain('command c-1: Success');
  });

  it('after a timeout, finds the command by the token in its Comment and follows it, without sending again', async () => {
    let comment = '';
    mocks.ssm.on(SendCommandCommand).callsFake(async (input) => {
      comment = input.Comment!; // SSM created the command; the answer never arrived
      throw timeout();
    });
    listsCommands([]);
    mocks.ssm.on(ListCommandsCommand).callsFake(async (input) => {
      if (input.CommandId) return { Commands: [{ CommandId: input.CommandId, Status: 'Success' }] };
      expect(input.Filters).toEqual([{ key: 'InvokedAfter', value: '2026-06-01T11:55:00Z' }]);
      return {
        Commands: [
          { CommandId: 'c-other', Comment: 'ssm-hub run 000000000000', RequestedDateTime: NOW },
          { CommandId: 'c-7', Comment: comment, RequestedDateTime: NOW },
        ],
      };
    });
    const r = await exec('--yes', ...DOC, '--agency', A, '--comment', 'patch night');
    expect(r.code, r.err).toBe(0);
    expect(sent()).toHaveLength(1);
    expect(comment).toMatch(/^patch night \[ssm-hub run [0-9a-f]{12}\]$/);
    expect(r.out).toContain('command c-7: Success');
    expect(r.out).not.toContain('c-other');
  });

  it.each([
    { case: 'a timeout', err: timeout },
    {
      case: 'a 500',
      err: () => Object.assign(awsError('InternalServerError', 'oops', 500), { $fault: 'server' }),
    },
  ])('after $case with no command found, exits 1 saying it may have reached SSM and how to check', async ({ err }) => {
    mocks.ssm.on(SendCommandCommand).rejects(err());
    listsCommands([]);
    const r = await exec('--yes', ...DOC, '--agency', A);
    expect(r.code).toBe(1);
    expect(sent()).toHaveLength(1);
    const comment = sent()[0]!.Comment!;
    expect(r.err).toContain('the command may still have reached SSM');
    expect(r.err).toContain(`no command with the comment "${comment}" was found`);
    expect(r.err).toContain(
      `aws ssm list-commands --region us-east-1 --filters key=InvokedAfter,value=2026-06-01T11:55:00Z --query "Commands[?Comment=='${comment}'].[CommandId,Status]"`,
    );
    // Looked up three times, a poll apart (ListCommands may lag behind SendCommand).
    expect(mocks.ssm.commandCalls(ListCommandsCommand)).toHaveLength(3);
  });

  it('says the same in --json when no command is found after a timeout', async () => {
    mocks.ssm.on(SendCommandCommand).rejects(timeout());
    listsCommands([]);
    const r = await exec('--yes', '--json', ...DOC, '--agency', A);
    expect(r.code).toBe(1);
    const comment = sent()[0]!.Comment!;
    const doc = JSON.parse(r.out);
    expect(doc).toMatchObject({ commands: [], stillRunning: false, mayHaveBeenSent: { comment } });
    expect(doc.mayHaveBeenSent.check).toContain('aws ssm list-commands --region us-east-1');
    expect(doc.error).toContain('the command may still have reached SSM');
  });

  it('stops at a refusal (400 ValidationException: not created) without a lookup or a second send', async () => {
    mocks.ssm.on(SendCommandCommand).rejects(awsError('InvalidDocument', 'no such document'));
    const r = await exec('--yes', ...DOC, '--agency', A);
    expect(r.code).toBe(1);
    expect(sent()).toHaveLength(1);
    expect(mocks.ssm.commandCalls(ListCommandsCommand)).toHaveLength(0);
    expect(r.err).toContain('InvalidDocument: no such document');
  });

  it.each([
    { now: '2026-06-01T12:00:00.000Z', since: '2026-06-01T11:55:00Z' },
    { now: '2026-06-01T12:00:00.999Z', since: '2026-06-01T11:55:00Z' },
    { now: '2026-06-01T12:00:07.250Z', since: '2026-06-01T11:55:07Z' },
  ])(
    'looks up commands invoked after $since (whole seconds, as the API reference writes it) at $now',
    ({ now, since }) => {
      expect(invokedAfter(new Date(now))).toBe(since);
    },
  );

  it.each([
    { case: 'ThrottlingException', err: awsError('ThrottlingException', 'Rate exceeded'), kind: 'throttled' },
    { case: 'a socket timeout', err: timeout(), kind: 'ambiguous' },
    {
      case: 'an unanswered endpoint',
      err: new AwsUnreachableError('SSM', 'SendCommand', 'x', 'timeout'),
      kind: 'ambiguous',
    },
    { case: 'a connection reset', err: Object.assign(new Error('reset'), { code: 'ECONNRESET' }), kind: 'ambiguous' },
    { case: 'a 503', err: awsError('ServiceUnavailable', 'x', 503), kind: 'ambiguous' },
    { case: 'a 400 validation error', err: awsError('ValidationException', 'x'), kind: 'refused' },
    { case: 'access denied', err: awsError('AccessDeniedException', 'x', 403), kind: 'refused' },
  ])('classes $case as $kind', ({ err, kind }) => {
    expect(sendFailure(err)).toBe(kind);
  });
});

describe('run shows what it will do, and asks first', () => {
  it('--dry-run names the account and Region, the document, parameter names (not values), targets and node counts; sends nothing', async () => {
    const r = await exec('--dry-run', ...DOC, '--agency', `${A},333333333333`, '--parameter', 'commands=secret-ish');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`aws://${CALLER_ACCOUNT}/us-east-1: dry run: run AWS-RunShellScript (nothing is sent)`);
    expect(r.out).toContain('document AWS-RunShellScript; parameters: commands (values not shown)');
    expect(r.out).toContain(`command 1 of 1: tag:${OWN}=${A},333333333333`);
    expect(r.out).toMatch(new RegExp(`^${A}\\s+3\\s+3$`, 'm'));
    expect(r.out).toMatch(/^333333333333\s+0\s+0$/m);
    expect(r.out).toMatch(/^total\s+3\s+3$/m);
    expect(r.out + r.err).not.toContain('secret-ish');
    expect(sent()).toEqual([]);
  });

  it('--dry-run --json prints the preview as one document', async () => {
    const r = await exec('--dry-run', '--json', ...DOC, '--target', 'tag:Env=prod', '--parameter', 'commands=x');
    expect(r.code, r.err).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc).toMatchObject({
      dryRun: true,
      account: CALLER_ACCOUNT,
      region: 'us-east-1',
      document: 'AWS-RunShellScript',
      parameterNames: ['commands'],
      nodes: 5,
      narrowedBy: ['tag:Env=prod'],
      agencies: [
        { agency: A, nodes: 3, online: 3 },
        { agency: B, nodes: 2, online: 1 },
      ],
    });
    expect(r.out).not.toContain('"x"');
    expect(sent()).toEqual([]);
  });

  it('without a terminal, refuses to send unless --yes is given, before any AWS call', async () => {
    const r = await exec(...DOC, '--agency', A);
    expect(r.code).toBe(2);
    expect(r.err).toContain('run sends a command to production nodes: no terminal to confirm on, so pass --yes');
    expect(mocks.ssm.calls().length + mocks.sts.calls().length + mocks.tagging.calls().length).toBe(0);
  });

  it.each([
    { answer: false, sends: 0 },
    { answer: true, sends: 1 },
  ])('on a terminal, shows the preview and asks; answered $answer, sends $sends', async ({ answer, sends }) => {
    commandRuns(mocks, [[invocation(1, 'Success', 0, 'ok')]]);
    const ctx = testContext(NOW);
    const asked: Array<{ question: string; before: string }> = [];
    ctx.interactive = true;
    ctx.confirm = async (question) => {
      asked.push({ question, before: ctx.stderrText() });
      return answer;
    };
    const r = await execIn(ctx, ...DOC, '--agency', A);
    expect(r.code, r.err).toBe(0);
    expect(asked).toHaveLength(1);
    expect(asked[0]!.question).toBe('Send AWS-RunShellScript to these 3 nodes (1 command)?');
    expect(asked[0]!.before).toContain(`aws://${CALLER_ACCOUNT}/us-east-1: run AWS-RunShellScript`);
    expect(asked[0]!.before).toContain(`command 1 of 1: tag:${OWN}=${A}`);
    expect(sent()).toHaveLength(sends);
    if (!answer) expect(r.err).toContain('declined: nothing sent');
  });

  it('sends nothing, and exits 1, when no hub node matches', async () => {
    const r = await exec('--yes', ...DOC, '--agency', '333333333333');
    expect(r.code).toBe(1);
    expect(r.err).toContain('no hub node matches: nothing sent');
    expect(sent()).toEqual([]);
  });
});

describe('run with more than 5 agencies', () => {
  const six = [A, B, '333333333333', '444444444444', '555555555555', '666666666666'];

  it('sends one command per group of 5 agencies, follows each, and reports each', async () => {
    commandRuns(mocks, [[invocation(1, 'Success', 0, 'a')], [invocation(4, 'Failed', 1, 'b', 'c-2')]], 'Success');
    const r = await exec('--yes', ...DOC, '--agency', six.join(','), '--target', 'tag:Env=prod');
    expect(sent().map((i) => i.Targets)).toEqual([
      [
        { Key: `tag:${OWN}`, Values: six.slice(0, 5) },
        { Key: 'tag:Env', Values: ['prod'] },
      ],
      [
        { Key: `tag:${OWN}`, Values: six.slice(5) },
        { Key: 'tag:Env', Values: ['prod'] },
      ],
    ]);
    expect(new Set(sent().map((i) => i.Comment)).size).toBe(2);
    expect(r.err).toContain('command 2 of 2: tag:central-it:activation-agency=666666666666 AND tag:Env=prod');
    expect(r.out).toContain('command c-1: Success; 1 succeeded, 0 failed');
    expect(r.out).toContain('command c-2: Success; 0 succeeded, 1 failed');
    expect(r.code).toBe(1);
  });

  it('reports each command in --json', async () => {
    commandRuns(mocks, [[invocation(1, 'Success', 0, 'a')], [invocation(4, 'Success', 0, 'b', 'c-2')]]);
    const r = await exec('--yes', '--json', ...DOC, '--agency', six.join(','));
    expect(r.code, r.err).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.failed).toBe(0);
    expect(doc.commands.map((c: { commandId: string; results: unknown[] }) => [c.commandId, c.results.length])).toEqual(
      [
        ['c-1', 1],
        ['c-2', 1],
      ],
    );
  });
});

describe('run after the send', () => {
  const throttled = () => awsError('ThrottlingException', 'Rate exceeded');
  const six = [A, B, '333333333333', '444444444444', '555555555555', '666666666666'];

  it('says the command was sent and is still running when following fails, with its ID and how to follow it', async () => {
    mocks.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });
    mocks.ssm.on(ListCommandsCommand).rejects(throttled());
    const r = await exec('--yes', ...DOC, '--agency', A);
    expect(r.code).toBe(1);
    expect(r.out).toContain('command c-1 was sent and is still running in SSM');
    expect(r.out).toContain(
      'follow it with aws ssm list-command-invocations --region us-east-1 --command-id c-1 --details',
    );
    expect(r.err).toContain(
      'stopped after sending c-1 (still running in SSM: c-1): ThrottlingException: Rate exceeded',
    );
  });

  it('says the same in --json', async () => {
    mocks.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });
    mocks.ssm.on(ListCommandsCommand).rejects(throttled());
    const r = await exec('--yes', '--json', ...DOC, '--agency', A);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toEqual({
      commands: [{ commandId: 'c-1', status: 'StillRunning' }],
      succeeded: 0,
      failed: 0,
      undelivered: 0,
      terminated: 0,
      cancelled: 0,
      unfinished: 0,
      stillRunning: true,
      notSent: [],
      error: 'ThrottlingException: Rate exceeded',
      follow: ['aws ssm list-command-invocations --region us-east-1 --command-id c-1 --details'],
    });
  });

  it('keeps the finished commands and names the one not sent when a later SendCommand is refused', async () => {
    commandRuns(mocks, [[invocation(1, 'Success', 0, 'done-a')]]);
    mocks.ssm
      .on(SendCommandCommand)
      .resolvesOnce({ Command: { CommandId: 'c-1' } })
      .rejects(awsError('AccessDeniedException', 'not allowed', 403));
    const r = await exec('--yes', ...DOC, '--agency', six.join(','));
    expect(r.code).toBe(1);
    expect(sent()).toHaveLength(2);
    expect(r.out).toContain('command c-1: Success; 1 succeeded, 0 failed');
    expect(r.out).toContain('done-a');
    expect(r.out).toContain(`not sent: command 2 of 2: tag:${OWN}=666666666666`);
    expect(r.err).toContain('stopped after sending c-1: AccessDeniedException: not allowed');
  });

  it("keeps a finished command's results when following the next one fails (text and --json)", async () => {
    let n = 0;
    mocks.ssm.on(SendCommandCommand).callsFake(async () => ({ Command: { CommandId: `c-${++n}` } }));
    mocks.ssm.on(ListCommandsCommand).callsFake(async (input) => {
      if (input.CommandId === 'c-2') throw throttled();
      return { Commands: [{ CommandId: input.CommandId, Status: 'Success' }] };
    });
    mocks.ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation(1, 'Success', 0, 'boom')] });
    const text = await exec('--yes', ...DOC, '--agency', six.join(','));
    expect(text.code).toBe(1);
    expect(text.out).toContain('command c-1: Success; 1 succeeded, 0 failed');
    expect(text.out).toMatch(new RegExp(`${mi(1)}\\s+i-0000000000000000a\\s+${A}\\s+Success\\s+0\\s+boom`));
    expect(text.out).toContain('command c-2 was sent and is still running in SSM');
    expect(text.out).not.toContain('command c-1 was sent and is still running');
    n = 0;
    const json = await exec('--yes', '--json', ...DOC, '--agency', six.join(','));
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.out);
    expect(doc.commands).toMatchObject([
      { commandId: 'c-1', status: 'Success', failed: 0, results: [{ node: mi(1), output: 'boom' }] },
      { commandId: 'c-2', status: 'StillRunning' },
    ]);
    expect(doc).toMatchObject({ stillRunning: true, error: 'ThrottlingException: Rate exceeded', notSent: [] });
  });
});

describe('run sends the groups in turn', () => {
  const six = [A, B, '333333333333', '444444444444', '555555555555', '666666666666'];
  const eleven = [...six, '777777777777', '888888888888', '999999999998', '101010101010', '121212121212'];

  it('follows each command to its end before sending the next', async () => {
    commandRuns(mocks, [[invocation(1, 'Success', 0, 'a')], [invocation(4, 'Success', 0, 'b', 'c-2')]]);
    const r = await exec('--yes', ...DOC, '--agency', six.join(','));
    expect(r.code, r.err).toBe(0);
    const order = mocks.ssm
      .calls()
      .map((c) => c.args[0] as { constructor: { name: string }; input: { CommandId?: string } })
      .filter((c) => ['SendCommandCommand', 'ListCommandsCommand'].includes(c.constructor.name))
      .map((c) => (c.constructor.name === 'SendCommandCommand' ? 'send' : `poll ${c.input.CommandId}`));
    expect(order).toEqual(['send', 'poll c-1', 'poll c-1', 'send', 'poll c-2', 'poll c-2']);
  });

  it.each([
    { maxErrors: '0', failed: 1, sends: 1 },
    { maxErrors: '1', failed: 1, sends: 3 },
    { maxErrors: '1', failed: 2, sends: 1 },
  ])(
    'with --max-errors $maxErrors and $failed failed nodes in the first group, sends $sends of 3 commands',
    async ({ maxErrors, failed, sends }) => {
      const first = [1, 2].map((k) => invocation(k, k <= failed ? 'Failed' : 'Success', k <= failed ? 1 : 0, 'x'));
      commandRuns(mocks, [first, [invocation(4, 'Success', 0, 'b', 'c-2')]], failed ? 'Failed' : 'Success');
      const r = await exec('--yes', ...DOC, '--max-errors', maxErrors, '--agency', eleven.join(','));
      expect(r.code).toBe(1);
      expect(sent()).toHaveLength(sends);
      if (sends === 1) {
        expect(r.out).toContain(`not sent: command 2 of 3: tag:${OWN}=${eleven.slice(5, 10).join(',')}`);
        expect(r.out).toContain(`not sent: command 3 of 3: tag:${OWN}=121212121212`);
        expect(r.err).toContain(`beyond --max-errors ${maxErrors}; 2 commands not sent`);
      } else expect(r.out).not.toContain('not sent');
    },
  );

  it('does not send the next group when a command is still running at --timeout-minutes', async () => {
    mocks.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });
    mocks.ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'c-1', Status: 'InProgress' }] });
    mocks.ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation(1, 'InProgress')] });
    const r = await exec('--yes', ...DOC, '--timeout-minutes', '1', '--agency', six.join(','));
    expect(r.code).toBe(1);
    expect(sent()).toHaveLength(1);
    expect(r.out).toContain('still running: follow it with aws ssm list-command-invocations');
    expect(r.out).toContain(`not sent: command 2 of 2: tag:${OWN}=666666666666`);
    expect(r.err).toContain('stopped: command c-1 had not finished by the timeout; 1 command not sent');
  });

  it('lists the groups not sent in --json, with why the run stopped', async () => {
    commandRuns(mocks, [[invocation(1, 'Failed', 1, 'bad')]], 'Failed');
    const r = await exec('--yes', '--json', ...DOC, '--agency', six.join(','));
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out);
    expect(doc.commands.map((c: { commandId: string }) => c.commandId)).toEqual(['c-1']);
    expect(doc.notSent).toEqual([
      {
        command: 2,
        of: 2,
        kind: 'tags',
        agencies: ['666666666666'],
        targets: [{ Key: `tag:${OWN}`, Values: ['666666666666'] }],
      },
    ]);
    expect(doc.stopped).toBe('command c-1 ended with 1 failed node, beyond --max-errors 0');
    expect(doc).not.toHaveProperty('mayHaveBeenSent');
  });

  it('after an unclear send with no command found, lists the later groups as not sent, not as maybe sent', async () => {
    mocks.ssm.on(SendCommandCommand).rejects(timeout());
    listsCommands([]);
    const r = await exec('--yes', '--json', ...DOC, '--agency', six.join(','));
    expect(r.code).toBe(1);
    expect(sent()).toHaveLength(1);
    const doc = JSON.parse(r.out);
    expect(doc.mayHaveBeenSent.comment).toBe(sent()[0]!.Comment);
    expect(doc.notSent.map((u: { command: number }) => u.command)).toEqual([2]);
  });

  it.each([
    { maxErrors: '0', failed: 0, nodes: 3, beyond: false },
    { maxErrors: '0', failed: 1, nodes: 3, beyond: true },
    { maxErrors: '2', failed: 2, nodes: 3, beyond: false },
    { maxErrors: '2', failed: 3, nodes: 3, beyond: true },
    { maxErrors: '10%', failed: 5, nodes: 50, beyond: false },
    { maxErrors: '10%', failed: 6, nodes: 50, beyond: true },
    { maxErrors: '10%', failed: 1, nodes: 9, beyond: true },
    { maxErrors: '100%', failed: 9, nodes: 9, beyond: false },
  ])(
    'counts $failed failed of $nodes nodes beyond --max-errors $maxErrors: $beyond',
    ({ maxErrors, failed, nodes, beyond }) => {
      expect(beyondMaxErrors(maxErrors, failed, nodes)).toBe(beyond);
    },
  );
});
