// run counts what SSM counts: a node fails the command (and --max-errors) only when SSM's own
// ErrorCount counts it (Failed or Execution Timed Out); a node SSM could not reach, or one SSM
// terminated or cancelled, is reported on its own. Following a command costs one ListCommands call
// per poll, its progress from the Command's counts, and the nodes are listed once, at the end.
// --timeout-seconds is SendCommand's TimeoutSeconds.
import { describe, expect, it } from 'vitest';
import { ListCommandInvocationsCommand, ListCommandsCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import type { CommandInvocation } from '@aws-sdk/client-ssm';
import { invocationOutcome, SEND_COMMAND_TIMEOUT_SECONDS } from '../../contract/run-command.ts';
import { commandProgress, outcomeCounts, stopAfter, type NodeResult } from '../../scripts/ops/run-report.ts';
import { mocksEachTest } from './helpers.ts';
import { A, B, mi, OWN } from './fleet-fixture.ts';
import { commandCounts, commandRuns, exec, invocation, mockRunHub, sentTo } from './run-fixture.ts';

const mocks = mocksEachTest(mockRunHub);
const DOC = ['--document', 'AWS-RunShellScript'];
const six = [A, B, '333333333333', '444444444444', '555555555555', '666666666666'];
const withDetails = (i: CommandInvocation, StatusDetails: string): CommandInvocation => ({ ...i, StatusDetails });

describe("a node's outcome, from its Status and StatusDetails", () => {
  // Every StatusDetails value of the SSM API reference's CommandInvocation, as the reference writes
  // it and as the API answers it (without spaces), with the Status SSM pairs it with.
  it.each([
    { status: 'Pending', details: 'Pending', outcome: 'unfinished' },
    { status: 'InProgress', details: 'In Progress', outcome: 'unfinished' },
    { status: 'InProgress', details: 'InProgress', outcome: 'unfinished' },
    { status: 'Delayed', details: 'Delayed', outcome: 'unfinished' },
    { status: 'Success', details: 'Success', outcome: 'success' },
    { status: 'Failed', details: 'Failed', outcome: 'failed' },
    { status: 'TimedOut', details: 'Execution Timed Out', outcome: 'failed' },
    { status: 'TimedOut', details: 'ExecutionTimedOut', outcome: 'failed' },
    { status: 'TimedOut', details: 'Delivery Timed Out', outcome: 'undelivered' },
    { status: 'TimedOut', details: 'DeliveryTimedOut', outcome: 'undelivered' },
    { status: 'Failed', details: 'Undeliverable', outcome: 'undelivered' },
    { status: 'Failed', details: 'Terminated', outcome: 'terminated' },
    { status: 'Cancelled', details: 'Cancelled', outcome: 'cancelled' },
    { status: 'Cancelled', details: 'Canceled', outcome: 'cancelled' },
  ])('$status / $details is $outcome', ({ status, details, outcome }) => {
    expect(invocationOutcome(status, details)).toBe(outcome);
  });

  // Without StatusDetails, Status alone (CommandInvocationStatus); TimedOut cannot tell a delivery
  // timeout from an execution timeout, so it is read as failed, the stricter.
  it.each([
    { status: 'Pending', outcome: 'unfinished' },
    { status: 'InProgress', outcome: 'unfinished' },
    { status: 'Delayed', outcome: 'unfinished' },
    { status: 'Cancelling', outcome: 'unfinished' },
    { status: 'Success', outcome: 'success' },
    { status: 'Cancelled', outcome: 'cancelled' },
    { status: 'TimedOut', outcome: 'failed' },
    { status: 'Failed', outcome: 'failed' },
    { status: 'SomethingNew', outcome: 'failed' },
    { status: undefined, outcome: 'failed' },
    { status: 'constructor', outcome: 'failed' },
  ])('$status without StatusDetails is $outcome', ({ status, outcome }) => {
    expect(invocationOutcome(status, undefined)).toBe(outcome);
  });
});

describe('the stop rule counts what SSM MaxErrors counts', () => {
  const node = (outcome: NodeResult['outcome']): NodeResult => ({
    node: 'mi-x',
    ec2InstanceId: '',
    agency: '',
    status: '',
    outcome,
    output: '',
  });
  const command = (...outcomes: NodeResult['outcome'][]) => ({
    commandId: 'c-1',
    status: 'Failed',
    timedOut: false,
    results: outcomes.map(node),
  });

  it.each([
    { outcome: 'success', why: undefined },
    { outcome: 'failed', why: 'command c-1 ended with 1 failed node, beyond --max-errors 0' },
    { outcome: 'undelivered', why: undefined },
    { outcome: 'terminated', why: 'command c-1 ended with 1 terminated node' },
    { outcome: 'cancelled', why: 'command c-1 ended with 1 cancelled node' },
    { outcome: 'unfinished', why: 'command c-1 ended with 1 unfinished node' },
  ] as const)('with --max-errors 0, a node $outcome stops the later groups: $why', ({ outcome, why }) => {
    expect(stopAfter(command('success', outcome), '0')).toBe(why);
  });

  it.each(['Cancelled', 'Cancelling'])(
    'stops the later groups after a command whose Status is %s, even when every node it listed succeeded',
    (status) => {
      expect(stopAfter({ ...command('success', 'success'), status }, '0')).toBe(
        `command c-1 was cancelled (${status})`,
      );
    },
  );

  it('lets a node SSM could not reach stop nothing, even with a generous --max-errors and other nodes cut', () => {
    expect(stopAfter(command('success', 'undelivered', 'undelivered'), '0')).toBeUndefined();
    expect(stopAfter(command('undelivered', 'cancelled', 'cancelled'), '10')).toBe(
      'command c-1 ended with 2 cancelled nodes',
    );
  });

  it('counts each outcome on its own', () => {
    const c = command('success', 'failed', 'undelivered', 'undelivered', 'terminated', 'cancelled');
    expect(outcomeCounts(c.results)).toEqual({
      success: 1,
      failed: 1,
      undelivered: 2,
      terminated: 1,
      cancelled: 1,
      unfinished: 0,
    });
  });

  it('sends the later groups when a node of the first could not be reached (Delivery Timed Out), and shows it', async () => {
    const offline = withDetails(invocation(2, 'TimedOut'), 'DeliveryTimedOut');
    // The Command's own Status is Failed here: the reference does not say which Status goes with its
    // StatusDetails "Incomplete", and the rule reads the nodes, not the Command's Status.
    const final = [[invocation(1, 'Success', 0, 'ok'), offline], [invocation(4, 'Success', 0, 'b', 'c-2')]];
    commandRuns(mocks, final, 'Failed');
    const r = await exec('--yes', ...DOC, '--agency', six.join(','));
    expect(sentTo(mocks)).toHaveLength(2);
    expect(r.out).not.toContain('not sent');
    expect(r.out).toMatch(new RegExp(`${mi(2)}\\s+i-0000000000000000b\\s+${A}\\s+DeliveryTimedOut\\s`));
    expect(r.out).toContain('command c-1: Failed; 1 succeeded, 0 failed, 1 undelivered');
    expect(r.out).toContain('undelivered: Delivery Timed Out or Undeliverable');
    expect(r.out).toContain('command c-2: Failed; 1 succeeded, 0 failed');
    expect(r.code).toBe(1); // not every node succeeded
  });

  it('says the same in --json: the undelivered node counted on its own, not as failed', async () => {
    const offline = withDetails(invocation(2, 'Failed'), 'Undeliverable');
    const final = [[invocation(1, 'Success', 0, 'ok'), offline], [invocation(4, 'Success', 0, 'b', 'c-2')]];
    commandRuns(mocks, final, 'Failed');
    const r = await exec('--yes', '--json', ...DOC, '--agency', six.join(','));
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out);
    expect(doc).toMatchObject({ succeeded: 2, failed: 0, undelivered: 1, notSent: [] });
    expect(doc).not.toHaveProperty('stopped');
    expect(doc.commands[0]).toMatchObject({ commandId: 'c-1', failed: 0, undelivered: 1, terminated: 0 });
    expect(doc.commands[0].results[1]).toMatchObject({
      node: mi(2),
      status: 'Failed',
      statusDetails: 'Undeliverable',
      outcome: 'undelivered',
    });
  });

  it('stops the later groups on an Execution Timed Out node, which SSM counts as an error', async () => {
    const slow = withDetails(invocation(2, 'TimedOut'), 'ExecutionTimedOut');
    commandRuns(mocks, [[invocation(1, 'Success', 0, 'ok'), slow], [invocation(4, 'Success', 0, 'b', 'c-2')]]);
    const r = await exec('--yes', ...DOC, '--agency', six.join(','));
    expect(r.code).toBe(1);
    expect(sentTo(mocks)).toHaveLength(1);
    expect(r.out).toContain('command c-1: Success; 1 succeeded, 1 failed');
    expect(r.out).toContain(`not sent: command 2 of 2: tag:${OWN}=666666666666`);
  });

  it('reports terminated and cancelled nodes on their own line counts', async () => {
    const list = [
      invocation(1, 'Failed', 1, 'boom'),
      withDetails(invocation(2, 'Failed'), 'Terminated'),
      invocation(3, 'Cancelled'),
    ];
    commandRuns(mocks, [list], 'Failed');
    const r = await exec('--yes', ...DOC, '--agency', A);
    expect(r.code).toBe(1);
    expect(r.out).toContain('command c-1: Failed; 0 succeeded, 1 failed, 1 terminated, 1 cancelled\n');
    expect(r.out).not.toContain('undelivered');
  });

  it('counts a node still running at --timeout-minutes as unfinished, not failed', async () => {
    mocks.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });
    mocks.ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'c-1', Status: 'InProgress' }] });
    mocks.ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation(1, 'InProgress')] });
    const r = await exec('--yes', '--json', ...DOC, '--timeout-minutes', '1', '--agency', A);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ failed: 0, unfinished: 1, commands: [{ timedOut: true }] });
  });
});

describe('following a command', () => {
  it.each([
    { cmd: undefined, line: 'command c-1: not listed yet' },
    {
      cmd: { Status: 'InProgress', TargetCount: 2000, CompletedCount: 0 },
      line: 'command c-1: InProgress; 0 of 2000 nodes finished',
    },
    {
      cmd: { Status: 'InProgress', TargetCount: 2000, CompletedCount: 120, ErrorCount: 3, DeliveryTimedOutCount: 1 },
      line: 'command c-1: InProgress; 120 of 2000 nodes finished (3 failed, 1 delivery timed out)',
    },
    { cmd: { Status: 'Pending' }, line: 'command c-1: Pending; 0 of 0 nodes finished' },
  ] as const)('shows $line', ({ cmd, line }) => {
    expect(commandProgress('c-1', cmd)).toBe(line);
  });

  it('costs one ListCommands call per poll for a 2,000-node command, and lists the nodes once at the end', async () => {
    const N = 2000;
    const POLLS = 6; // InProgress for 5 polls, then Success
    const nodes = Array.from({ length: N }, (_, k) => invocation(k + 1, 'Success', 0, 'x'));
    let polls = 0;
    mocks.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1', Status: 'Pending' } });
    // ListCommands by CommandId answers the Command with its Status and counts (SSM API reference, Command).
    mocks.ssm.on(ListCommandsCommand).callsFake(async () => {
      polls++;
      const finished = polls < POLLS ? nodes.slice(0, (polls - 1) * 400) : nodes;
      const running = polls < POLLS ? nodes.slice(finished.length).map((i) => withDetails(i, 'InProgress')) : [];
      const Status = polls < POLLS ? 'InProgress' : 'Success';
      return { Commands: [{ CommandId: 'c-1', Status, ...commandCounts([...finished, ...running]) }] };
    });
    // ListCommandInvocations pages by MaxResults (at most 50) and NextToken (SSM API reference).
    mocks.ssm.on(ListCommandInvocationsCommand).callsFake(async (input) => {
      const start = Number(input.NextToken ?? 0);
      const end = start + Math.min(input.MaxResults ?? 50, 50);
      return { CommandInvocations: nodes.slice(start, end), NextToken: end < N ? String(end) : undefined };
    });
    const r = await exec('--yes', ...DOC, '--agency', A);
    expect(r.code, r.err).toBe(0);
    expect(mocks.ssm.commandCalls(ListCommandsCommand)).toHaveLength(POLLS);
    expect(r.ctx.sleeps).toBe(POLLS - 1);
    const listings = mocks.ssm.commandCalls(ListCommandInvocationsCommand);
    expect(listings).toHaveLength(N / 50);
    expect(listings.every((c) => c.args[0].input.Details === true)).toBe(true);
    const names = mocks.ssm.calls().map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name);
    expect(names.lastIndexOf('ListCommandsCommand')).toBeLessThan(names.indexOf('ListCommandInvocationsCommand'));
    expect(r.err).toContain('command c-1: InProgress; 400 of 2000 nodes finished');
    expect(r.err).toContain('command c-1: Success; 2000 of 2000 nodes finished');
    expect(r.out).toContain(`command c-1: Success; ${N} succeeded, 0 failed`);
  });
});

describe('--timeout-seconds', () => {
  it("is sent as SendCommand's TimeoutSeconds", async () => {
    commandRuns(mocks, [[invocation(1, 'Success', 0, 'ok')]]);
    const r = await exec('--yes', ...DOC, '--agency', A, '--timeout-seconds', '300');
    expect(r.code, r.err).toBe(0);
    expect(sentTo(mocks)[0]).toMatchObject({ TimeoutSeconds: 300 });
  });

  it("is left to SSM's default when not given", async () => {
    commandRuns(mocks, [[invocation(1, 'Success', 0, 'ok')]]);
    await exec('--yes', ...DOC, '--agency', A);
    expect(sentTo(mocks)[0]).not.toHaveProperty('TimeoutSeconds');
  });

  it.each([String(SEND_COMMAND_TIMEOUT_SECONDS.min - 1), String(SEND_COMMAND_TIMEOUT_SECONDS.max + 1), 'soon'])(
    'refuses %s before sending anything, naming the flag and its range',
    async (value) => {
      const r = await exec('--yes', ...DOC, '--agency', A, '--timeout-seconds', value);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`--timeout-seconds`);
      expect(r.err).toContain(`(expected ${SEND_COMMAND_TIMEOUT_SECONDS.min}–${SEND_COMMAND_TIMEOUT_SECONDS.max})`);
      expect(sentTo(mocks)).toHaveLength(0);
    },
  );
});
