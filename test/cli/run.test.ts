// run against mocked SSM, STS and Tagging API clients: the target it sends, following the command
// over paginated invocation lists, the per-node table and the exit code; and the targets it refuses.
// Sending once, the preview and confirmation, and failures after the send: run-safety.test.ts.
import { describe, expect, it } from 'vitest';
import { GetResourcesCommand } from '@aws-sdk/client-resource-groups-tagging-api';
import { DescribeInstanceInformationCommand, ListTagsForResourceCommand } from '@aws-sdk/client-ssm';
import { ListCommandInvocationsCommand, ListCommandsCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { type CommandInvocation } from '@aws-sdk/client-ssm';
import { outputPreview, rateCheck } from '../../scripts/ops/run.ts';
import { planBatches, targetProblem } from '../../scripts/ops/run-targets.ts';
import { fleetKeys } from '../../scripts/ops/fleet.ts';
import { MAX_CONCURRENCY_PATTERN } from '../../contract/patterns.ts';
import { mocksEachTest } from './helpers.ts';
import { A, B, mi, OWN } from './fleet-fixture.ts';
import { commandRuns as runFor, exec, invocation, mockRunHub, sentTo } from './run-fixture.ts';

const mocks = mocksEachTest(mockRunHub);
const commandRuns = (final: CommandInvocation[], status = 'Success') => runFor(mocks, [final], status);
const sent = () => sentTo(mocks);
const Y = '--yes';

describe('run', () => {
  it("sends to one agency's nodes through the ownership tag, follows the command, and prints one row per node", async () => {
    commandRuns([
      invocation(1, 'Success', 0, ' 12:00:01 up 3 days\nload average: 0.1\nthird line'),
      invocation(2, 'Success', 0, 'up 9 days'),
      invocation(3, 'Success', 0, ''),
    ]);
    const r = await exec(
      Y,
      '--document',
      'AWS-RunShellScript',
      '--agency',
      A,
      '--parameter',
      'commands=uptime',
      '--max-concurrency',
      '10%',
      '--max-errors',
      '1',
    );
    expect(r.code, r.err).toBe(0);
    expect(sent()).toEqual([
      expect.objectContaining({
        DocumentName: 'AWS-RunShellScript',
        Targets: [{ Key: `tag:${OWN}`, Values: [A] }],
        Parameters: { commands: ['uptime'] },
        MaxConcurrency: '10%',
        MaxErrors: '1',
        Comment: expect.stringMatching(/^ssm-hub run [0-9a-f]{12}$/),
      }),
    ]);
    expect(sent()[0]).not.toHaveProperty('InstanceIds');
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^node\s+EC2 instance\s+agency\s+status\s+exit\s+output$/);
    expect(lines[2]).toMatch(
      new RegExp(`^${mi(1)}\\s+i-0000000000000000a\\s+${A}\\s+Success\\s+0\\s+12:00:01 up 3 days ⏎ load average: 0.1$`),
    );
    expect(r.out).toContain('command c-1: Success; 3 succeeded, 0 failed');
    // Progress from the Command's own counts (ListCommands), once per change.
    expect(r.err).toContain('command c-1: InProgress; 0 of 3 nodes finished');
    expect(r.err).toContain('command c-1: Success; 3 of 3 nodes finished');
    // The polls read the Command only; the nodes (with their output) are read once, at the end (2 pages).
    const details = mocks.ssm.commandCalls(ListCommandInvocationsCommand).map((c) => c.args[0].input.Details);
    expect(details).toEqual([true, true]);
  });

  it('exits 1 when any node failed, and shows its exit code and output', async () => {
    commandRuns(
      [invocation(1, 'Success', 0, 'ok'), invocation(2, 'Failed', 127, 'bash: foo: command not found')],
      'Failed',
    );
    const r = await exec(Y, '--document', 'AWS-RunShellScript', '--agency', A, '--parameter', 'commands=foo');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      new RegExp(`${mi(2)}\\s+i-0000000000000000b\\s+${A}\\s+Failed\\s+127\\s+bash: foo: command not found`),
    );
    expect(r.out).toContain('1 succeeded, 1 failed');
  });

  it('prints the same per-node results as one JSON document with --json', async () => {
    commandRuns([invocation(1, 'Success', 0, 'ok'), invocation(2, 'Failed', 2, 'no')], 'Failed');
    const r = await exec(Y, '--document', 'AWS-RunShellScript', '--agency', A, '--json');
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out);
    expect(doc).toMatchObject({
      failed: 1,
      commands: [{ commandId: 'c-1', status: 'Failed', failed: 1, timedOut: false }],
    });
    expect(doc.commands[0].results[1]).toEqual({
      node: mi(2),
      ec2InstanceId: 'i-0000000000000000b',
      agency: A,
      status: 'Failed',
      statusDetails: 'Failed',
      outcome: 'failed',
      exitCode: 2,
      output: 'no',
    });
  });

  it('sends a tag target ANDed with the ownership key when no agency is named', async () => {
    commandRuns([invocation(4, 'Success', 0, 'x')]);
    const r = await exec(
      Y,
      '--document',
      'AWS-RunShellScript',
      '--target',
      'tag:Env=prod,test',
      '--parameter',
      'commands=x',
    );
    expect(r.code, r.err).toBe(0);
    expect(sent()[0]!.Targets).toEqual([
      { Key: 'tag-key', Values: [OWN] },
      { Key: 'tag:Env', Values: ['prod', 'test'] },
    ]);
    expect(r.out).toMatch(new RegExp(`${mi(4)}\\s+i-0000000000000000d\\s+${B}\\s+Success`));
  });

  it('refuses, by name, node IDs SSM does not list as a hub node, and sends nothing', async () => {
    const r = await exec(Y, '--document', 'AWS-RunShellScript', '--target', `InstanceIds=${mi(1)},${mi(0xfff)}`);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${mi(0xfff)} is not a node of the hub's agencies in SSM`);
    expect(r.err).not.toContain(`${mi(1)} is not`);
    expect(sent()).toEqual([]);
  });

  it("refuses another agency's node when --agency names one agency", async () => {
    const r = await exec(Y, '--document', 'AWS-RunShellScript', '--agency', A, '--target', `InstanceIds=${mi(4)}`);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${mi(4)} is not a node of agency ${A} in SSM`);
    expect(sent()).toEqual([]);
  });

  it('refuses a node ID SSM does not know (InvalidInstanceId), and sends nothing', async () => {
    const r = await exec(Y, '--document', 'AWS-RunShellScript', '--agency', A, '--target', `InstanceIds=${mi(0xabc)}`);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`SSM does not know at least one of ${mi(0xabc)}`);
    expect(sent()).toEqual([]);
  });

  it("trusts SSM's live tag over a wrong hub record: a node the index gives to A but SSM to B is refused", async () => {
    // The Tagging API index is stale: it still lists mi(4) as agency A's.
    mocks.tagging.on(GetResourcesCommand).resolves({
      ResourceTagMappingList: [
        { ResourceARN: `arn:aws:ssm:us-east-1:999999999999:managed-instance/${mi(4)}`, Tags: [{ Key: OWN, Value: A }] },
      ],
    });
    const r = await exec(Y, '--document', 'AWS-RunShellScript', '--agency', A, '--target', `InstanceIds=${mi(4)}`);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${mi(4)} is not a node of agency ${A} in SSM`);
    expect(sent()).toEqual([]);
  });

  it("sends verified node IDs alone in InstanceIds, checked by IDs alone, then each node's ownership tag", async () => {
    commandRuns([invocation(1, 'Success', 0, 'x'), invocation(2, 'Success', 0, 'x')]);
    const ids = `InstanceIds=${mi(1)},${mi(2)}`;
    const r = await exec(Y, '--document', 'AWS-RunShellScript', '--agency', A, '--target', ids);
    expect(r.code, r.err).toBe(0);
    expect(sent()).toHaveLength(1);
    expect(sent()[0]!.InstanceIds).toEqual([mi(1), mi(2)]);
    expect(sent()[0]).not.toHaveProperty('Targets');
    const checks = mocks.ssm
      .commandCalls(DescribeInstanceInformationCommand)
      .map((c) => c.args[0].input.Filters)
      .filter((f) => f?.some((x) => x.Key === 'InstanceIds'));
    // Tag filters cannot be combined with other filter types (API reference): the IDs go alone.
    expect(checks).toEqual([[{ Key: 'InstanceIds', Values: [mi(1), mi(2)] }]]);
    const tagReads = mocks.ssm.commandCalls(ListTagsForResourceCommand).map((c) => c.args[0].input);
    expect(tagReads).toEqual([
      { ResourceType: 'ManagedInstance', ResourceId: mi(1) },
      { ResourceType: 'ManagedInstance', ResourceId: mi(2) },
    ]);
  });

  it('checks node IDs for an ownership tag when no agency is named', async () => {
    commandRuns([invocation(4, 'Success', 0, 'x')]);
    const r = await exec(Y, '--document', 'AWS-RunShellScript', '--target', `InstanceIds=${mi(4)}`);
    expect(r.code, r.err).toBe(0);
    const filters = mocks.ssm.commandCalls(DescribeInstanceInformationCommand).map((c) => c.args[0].input.Filters);
    expect(filters).toContainEqual([{ Key: 'InstanceIds', Values: [mi(4)] }]);
    expect(sent()[0]!.InstanceIds).toEqual([mi(4)]);
  });

  it("refuses a node SSM lists whose live tags carry no ownership tag, even if the hub's record says otherwise", async () => {
    mocks.ssm.on(ListTagsForResourceCommand).resolves({ TagList: [{ Key: 'Name', Value: 'x' }] });
    const r = await exec(Y, '--document', 'AWS-RunShellScript', '--target', `InstanceIds=${mi(1)}`);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${mi(1)} is not a node of the hub's agencies in SSM`);
    expect(sent()).toEqual([]);
  });

  it.each(['__proto__', 'constructor'])('sends %s as an ordinary parameter name', async (name) => {
    commandRuns([invocation(1, 'Success', 0, 'x')]);
    const r = await exec(Y, '--document', 'AWS-RunShellScript', '--agency', A, '--parameter', `${name}=x`);
    expect(r.code, r.err).toBe(0);
    const params = sent()[0]!.Parameters!;
    expect(Object.keys(params)).toEqual([name]);
    expect(Object.getOwnPropertyDescriptor(params, name)?.value).toEqual(['x']);
  });

  it('stops following at the timeout, prints what it has, and exits 1', async () => {
    mocks.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });
    mocks.ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'c-1', Status: 'InProgress' }] });
    mocks.ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation(1, 'InProgress')] });
    const r = await exec(Y, '--document', 'AWS-RunShellScript', '--agency', A, '--timeout-minutes', '1');
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      'still running: follow it with aws ssm list-command-invocations --region us-east-1 --command-id c-1 --details',
    );
    expect(r.ctx.sleeps).toBe(12); // 5-second polls for one minute
  });

  it.each([
    { case: 'no agency and no target', argv: [], error: 'give --agency, --target or both' },
    {
      case: 'a resource group',
      argv: ['--target', 'resource-groups:Name=everything'],
      error: 'could reach nodes outside',
    },
    { case: 'every instance', argv: ['--target', 'InstanceIds=*'], error: '"*" is not a managed node ID' },
    {
      case: 'the ownership key as a tag target',
      argv: ['--target', `tag:${OWN}=999999999999`],
      error: 'set by --agency',
    },
    { case: 'a bad rate', argv: ['--agency', A, '--max-errors', '150%'], error: '--max-errors: "150%"' },
    { case: 'a bad document name', argv: ['--agency', A, '--document', 'a b'], error: '--document: "a b"' },
    {
      case: 'a parameter-value target',
      argv: ['--target', 'ParameterValues=i-0123456789abcdef0'],
      error: '"ParameterValues" targets could reach nodes outside',
    },
    {
      case: 'a tag target with six values',
      argv: ['--target', 'tag:Env=a,b,c,d,e,f'],
      error: '--target tag:Env: 6 values, refused: Run Command takes at most 5 values for each tag key',
    },
    {
      case: 'node IDs beside a tag target',
      argv: ['--target', `InstanceIds=${mi(1)}`, '--target', 'tag:Env=prod'],
      error: 'SendCommand takes node IDs or tag targets, not both',
    },
    {
      case: 'a max concurrency over 7 characters',
      argv: ['--agency', A, '--max-concurrency', '12345678'],
      error: '--max-concurrency: "12345678" is too long (SSM takes at most 7 characters)',
    },
    {
      case: 'max errors over 7 characters',
      argv: ['--agency', A, '--max-errors', '10000000'],
      error: '--max-errors: "10000000" is too long (SSM takes at most 7 characters)',
    },
  ])('refuses $case before any AWS call', async ({ argv, error }) => {
    const args = argv.includes('--document') ? argv : ['--document', 'AWS-RunShellScript', ...argv];
    const r = await exec(...args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(error);
    expect(mocks.ssm.calls().length + mocks.tagging.calls().length + mocks.sts.calls().length).toBe(0);
  });
});

describe('run targets', () => {
  const keys = fleetKeys('central-it:');
  it.each([
    { case: 'a tag', key: 'tag:Env', values: ['prod'], refused: false },
    { case: 'a tag key', key: 'tag-key', values: ['PatchGroup'], refused: false },
    { case: 'a node ID', key: 'InstanceIds', values: [mi(1)], refused: false },
    { case: 'a malformed node ID', key: 'InstanceIds', values: ['i-0123'], refused: true },
    { case: 'a resource group', key: 'resource-groups:Name', values: ['g'], refused: true },
    {
      case: 'resource types',
      key: 'resource-groups:ResourceTypeFilters',
      values: ['AWS::EC2::Instance'],
      refused: true,
    },
    { case: 'parameter values', key: 'ParameterValues', values: ['x'], refused: true },
    { case: 'an empty tag key', key: 'tag:', values: ['x'], refused: true },
    { case: 'the ownership key by tag-key', key: 'tag-key', values: [OWN], refused: true },
  ])('$case is refused: $refused', ({ key, values, refused }) => {
    expect(targetProblem({ key, values }, keys) !== undefined).toBe(refused);
  });
  it('always puts the ownership target first', () => {
    expect(planBatches(keys, [A, B], [{ key: 'tag:Env', values: ['prod'] }])).toEqual([
      {
        kind: 'tags',
        agencies: [A, B],
        targets: [
          { Key: `tag:${OWN}`, Values: [A, B] },
          { Key: 'tag:Env', Values: ['prod'] },
        ],
      },
    ]);
  });
  it.each([
    { agencies: 5, commands: [5] },
    { agencies: 6, commands: [5, 1] },
    { agencies: 11, commands: [5, 5, 1] },
    { agencies: 50, commands: [5, 5, 5, 5, 5, 5, 5, 5, 5, 5] },
  ])('makes $agencies agencies into commands of $commands (at most 5 values a tag key)', ({ agencies, commands }) => {
    const many = Array.from({ length: agencies }, (_, i) => String(300000000000 + i));
    const batches = planBatches(keys, many, [{ key: 'tag:Env', values: ['prod'] }]);
    expect(batches.map((b) => (b.kind === 'tags' ? b.targets[0]!.Values!.length : 0))).toEqual(commands);
    expect(batches.flatMap((b) => b.agencies)).toEqual(many);
    for (const b of batches) if (b.kind === 'tags') expect(b.targets[0]!.Values).toEqual(b.agencies);
  });
  it('refuses more than 50 agencies in one run', () => {
    const many = Array.from({ length: 51 }, (_, i) => String(300000000000 + i));
    expect(() => planBatches(keys, many, [])).toThrow(/at most 50 agencies/);
  });
  it('refuses a fifth target (SendCommand takes five, one is ownership)', () => {
    const five = Array.from({ length: 5 }, (_, i) => ({ key: `tag:K${i}`, values: ['v'] }));
    expect(() => planBatches(keys, [A], five)).toThrow(/at most 4 targets/);
  });
  it('sends node IDs alone, whatever the agencies', () => {
    const many = Array.from({ length: 7 }, (_, i) => String(300000000000 + i));
    expect(planBatches(keys, many, [{ key: 'InstanceIds', values: [mi(1), mi(1)] }])).toEqual([
      { kind: 'nodes', agencies: many, instanceIds: [mi(1)] },
    ]);
  });
  it.each([
    { value: '50', ok: true },
    { value: '1234567', ok: true },
    { value: '12345678', ok: false },
    { value: '100%', ok: true },
    { value: '0', ok: false },
  ])('max concurrency $value is accepted: $ok (SSM pattern, 7 characters)', ({ value, ok }) => {
    const check = () => rateCheck(MAX_CONCURRENCY_PATTERN, '10')('max-concurrency', value);
    if (ok) expect(check()).toBe(value);
    else expect(check).toThrow(/--max-concurrency/);
  });
  it.each([
    { output: 'one\ntwo\nthree', preview: 'one ⏎ two' },
    { output: '\n\n  padded  \n', preview: 'padded' },
    { output: 'x'.repeat(80), preview: `${'x'.repeat(59)}…` },
    { output: '', preview: '' },
  ])('previews $output as $preview', ({ output, preview }) => {
    expect(outputPreview(output)).toBe(preview);
  });
});
