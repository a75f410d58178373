// run against mocked SSM and Tagging API clients: the target it sends, following the command over
// paginated invocation lists, the per-node table and the exit code; and the targets it refuses.
import { describe, expect, it } from 'vitest';
import {
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  type CommandInvocation,
} from '@aws-sdk/client-ssm';
import { main as run, outputPreview } from '../../scripts/ops/run.ts';
import { runTargets, targetProblem } from '../../scripts/ops/run-targets.ts';
import { fleetKeys } from '../../scripts/ops/fleet.ts';
import { mocksEachTest, testContext } from './helpers.ts';
import { A, B, mi, mockFleet, NOW, OWN } from './fleet-fixture.ts';

const mocks = mocksEachTest(mockFleet);
const invocation = (id: number, status: string, code?: number, output = ''): CommandInvocation => ({
  CommandId: 'c-1',
  InstanceId: mi(id),
  Status: status as 'Success',
  StatusDetails: status,
  CommandPlugins: code === undefined ? [] : [{ Name: 'runShellScript', ResponseCode: code, Output: output }],
});

/** The command runs for two polls; its invocations arrive in pages of 2 (NextToken). */
function commandRuns(final: CommandInvocation[], commandStatus = 'Success') {
  let polls = 0;
  mocks.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1', Status: 'Pending' } });
  mocks.ssm.on(ListCommandsCommand).callsFake(async () => {
    polls++;
    return { Commands: [{ CommandId: 'c-1', Status: (polls < 2 ? 'InProgress' : commandStatus) as 'Success' }] };
  });
  mocks.ssm.on(ListCommandInvocationsCommand).callsFake(async (input) => {
    const list =
      polls < 2
        ? final.map((i) => ({ ...i, Status: 'InProgress' as const, StatusDetails: 'InProgress', CommandPlugins: [] }))
        : final;
    const start = Number(input.NextToken ?? 0);
    return {
      CommandInvocations: list.slice(start, start + 2),
      NextToken: start + 2 < list.length ? String(start + 2) : undefined,
    };
  });
}

const exec = async (...argv: string[]) => {
  const ctx = testContext(NOW);
  const code = await run(argv, ctx);
  return { code, ctx, out: ctx.stdoutText(), err: ctx.stderrText() };
};
const sent = () => mocks.ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input);

describe('run', () => {
  it("sends to one agency's nodes through the ownership tag, follows the command, and prints one row per node", async () => {
    commandRuns([
      invocation(1, 'Success', 0, ' 12:00:01 up 3 days\nload average: 0.1\nthird line'),
      invocation(2, 'Success', 0, 'up 9 days'),
      invocation(3, 'Success', 0, ''),
    ]);
    const r = await exec(
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
      }),
    ]);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^node\s+EC2 instance\s+agency\s+status\s+exit\s+output$/);
    expect(lines[2]).toMatch(
      new RegExp(`^${mi(1)}\\s+i-0000000000000000a\\s+${A}\\s+Success\\s+0\\s+12:00:01 up 3 days ⏎ load average: 0.1$`),
    );
    expect(r.out).toContain('command c-1: Success; 3 succeeded, 0 failed');
    expect(r.err).toContain(`[${mi(1)}] InProgress`);
    expect(r.err).toContain(`[${mi(1)}] Success`);
  });

  it('exits 1 when any node failed, and shows its exit code and output', async () => {
    commandRuns(
      [invocation(1, 'Success', 0, 'ok'), invocation(2, 'Failed', 127, 'bash: foo: command not found')],
      'Failed',
    );
    const r = await exec('--document', 'AWS-RunShellScript', '--agency', A, '--parameter', 'commands=foo');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      new RegExp(`${mi(2)}\\s+i-0000000000000000b\\s+${A}\\s+Failed\\s+127\\s+bash: foo: command not found`),
    );
    expect(r.out).toContain('1 succeeded, 1 failed');
  });

  it('prints the same per-node results as one JSON document with --json', async () => {
    commandRuns([invocation(1, 'Success', 0, 'ok'), invocation(2, 'Failed', 2, 'no')], 'Failed');
    const r = await exec('--document', 'AWS-RunShellScript', '--agency', A, '--json');
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out);
    expect(doc).toMatchObject({ commandId: 'c-1', status: 'Failed', failed: 1, timedOut: false });
    expect(doc.results[1]).toEqual({
      node: mi(2),
      ec2InstanceId: 'i-0000000000000000b',
      agency: A,
      status: 'Failed',
      exitCode: 2,
      output: 'no',
    });
  });

  it('sends a tag target ANDed with the ownership key when no agency is named', async () => {
    commandRuns([invocation(4, 'Success', 0, 'x')]);
    const r = await exec(
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

  it('refuses node IDs outside the hub, and sends nothing', async () => {
    const r = await exec('--document', 'AWS-RunShellScript', '--target', `InstanceIds=${mi(1)},${mi(0xfff)}`);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${mi(0xfff)} is not a node of the hub's agencies`);
    expect(sent()).toEqual([]);
  });

  it("refuses another agency's node when --agency names one agency", async () => {
    const r = await exec('--document', 'AWS-RunShellScript', '--agency', A, '--target', `InstanceIds=${mi(4)}`);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${mi(4)} is not a node of the hub's agencies`);
    expect(sent()).toEqual([]);
  });

  it('accepts node IDs that are all hub nodes, still behind the ownership target', async () => {
    commandRuns([invocation(1, 'Success', 0, 'x')]);
    const r = await exec('--document', 'AWS-RunShellScript', '--agency', A, '--target', `InstanceIds=${mi(1)}`);
    expect(r.code, r.err).toBe(0);
    expect(sent()[0]!.Targets).toEqual([
      { Key: `tag:${OWN}`, Values: [A] },
      { Key: 'InstanceIds', Values: [mi(1)] },
    ]);
  });

  it('stops following at the timeout, prints what it has, and exits 1', async () => {
    mocks.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });
    mocks.ssm.on(ListCommandsCommand).resolves({ Commands: [{ CommandId: 'c-1', Status: 'InProgress' }] });
    mocks.ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [invocation(1, 'InProgress')] });
    const r = await exec('--document', 'AWS-RunShellScript', '--agency', A, '--timeout-minutes', '1');
    expect(r.code).toBe(1);
    expect(r.out).toContain('still running: follow it with aws ssm list-command-invocations --command-id c-1');
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
  ])('refuses $case before any AWS call', async ({ argv, error }) => {
    const args = argv.includes('--document') ? argv : ['--document', 'AWS-RunShellScript', ...argv];
    const r = await exec(...args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(error);
    expect(mocks.ssm.calls().length + mocks.tagging.calls().length).toBe(0);
  });
});

describe('run targets', () => {
  const keys = fleetKeys('central-it:');
  const hub = new Set([mi(1)]);
  it.each([
    { case: 'a tag', key: 'tag:Env', values: ['prod'], refused: false },
    { case: 'a tag key', key: 'tag-key', values: ['PatchGroup'], refused: false },
    { case: 'a hub node', key: 'InstanceIds', values: [mi(1)], refused: false },
    { case: 'a node outside', key: 'InstanceIds', values: [mi(2)], refused: true },
    { case: 'a resource group', key: 'resource-groups:Name', values: ['g'], refused: true },
    {
      case: 'resource types',
      key: 'resource-groups:ResourceTypeFilters',
      values: ['AWS::EC2::Instance'],
      refused: true,
    },
    { case: 'an empty tag key', key: 'tag:', values: ['x'], refused: true },
    { case: 'the ownership key by tag-key', key: 'tag-key', values: [OWN], refused: true },
  ])('$case is refused: $refused', ({ key, values, refused }) => {
    expect(targetProblem({ key, values }, keys, hub) !== undefined).toBe(refused);
  });
  it('always puts the ownership target first', () => {
    expect(runTargets(keys, [A, B], [{ key: 'tag:Env', values: ['prod'] }], hub)[0]).toEqual({
      Key: `tag:${OWN}`,
      Values: [A, B],
    });
  });
  it('refuses more agencies than one target holds (50)', () => {
    const many = Array.from({ length: 51 }, (_, i) => String(300000000000 + i));
    expect(() => runTargets(keys, many, [], hub)).toThrow(/at most 50 agencies/);
    expect(runTargets(keys, many.slice(0, 50), [], hub)[0]!.Values).toHaveLength(50);
  });
  it('refuses a fifth target (SendCommand takes five, one is ownership)', () => {
    const four = Array.from({ length: 5 }, (_, i) => ({ key: `tag:K${i}`, values: ['v'] }));
    expect(() => runTargets(keys, [A], four, hub)).toThrow(/at most 4 targets/);
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
