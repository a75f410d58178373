// Shared set-up of the run tests: the fleet fixture's hub plus STS (every run names its account
// first, aws://ACCOUNT/REGION), a command that runs for two polls, and a runner that captures output.
import { mockClient } from 'aws-sdk-client-mock';
import { ListCommandInvocationsCommand, ListCommandsCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { type CommandInvocation } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { main as run } from '../../scripts/ops/run.ts';
import { CALLER_ACCOUNT, testContext } from './helpers.ts';
import { mi, mockFleet, NOW } from './fleet-fixture.ts';

export function mockRunHub() {
  const fleet = mockFleet();
  const sts = mockClient(STSClient);
  sts.on(GetCallerIdentityCommand).resolves({ Account: CALLER_ACCOUNT });
  return { ...fleet, sts, restore: () => (fleet.restore(), sts.restore()) };
}
export type RunMocks = ReturnType<typeof mockRunHub>;

export const invocation = (
  id: number,
  status: string,
  code?: number,
  output = '',
  commandId = 'c-1',
): CommandInvocation => ({
  CommandId: commandId,
  InstanceId: mi(id),
  Status: status as 'Success',
  StatusDetails: status,
  CommandPlugins: code === undefined ? [] : [{ Name: 'runShellScript', ResponseCode: code, Output: output }],
});

/** A StatusDetails value without spaces or case, as the API answers it (DeliveryTimedOut). */
const detail = (i: CommandInvocation) => (i.StatusDetails ?? i.Status ?? '').replace(/\s+/g, '').toLowerCase();

/**
 * The counts a Command carries, from its invocations, as the SSM API reference's Command data type
 * defines them: TargetCount, "the number of targets for the command"; CompletedCount, the targets
 * whose invocation "reached a terminal state. Terminal states include the following: Success,
 * Failed, Execution Timed Out, Delivery Timed Out, Cancelled, Terminated, or Undeliverable";
 * ErrorCount, "the number of targets for which the status is Failed or Execution Timed Out";
 * DeliveryTimedOutCount, "the number of targets for which the status is Delivery Timed Out".
 */
export function commandCounts(list: CommandInvocation[]) {
  const terminal = [
    'success',
    'failed',
    'executiontimedout',
    'deliverytimedout',
    'cancelled',
    'terminated',
    'undeliverable',
  ];
  const count = (states: string[]) => list.filter((i) => states.includes(detail(i))).length;
  return {
    TargetCount: list.length,
    CompletedCount: count(terminal),
    ErrorCount: count(['failed', 'executiontimedout']),
    DeliveryTimedOutCount: count(['deliverytimedout']),
  };
}

/**
 * Run Command as the SSM API reference describes it (SendCommand returns the new Command; ListCommands
 * by CommandId gives its Status; ListCommandInvocations pages with NextToken). SendCommand answers c-1, c-2, … in order; each command runs for two polls (ListCommands by
 * CommandId), and its invocations arrive in pages of 2 (NextToken). `finals` gives each command's
 * closing invocations (the last entry serves any later command).
 */
export function commandRuns(mocks: RunMocks, finals: CommandInvocation[][], commandStatus = 'Success') {
  let sends = 0;
  const polls = new Map<string, number>();
  const finalOf = (id: string) => finals[Math.min(Number(id.slice(2)) - 1, finals.length - 1)]!;
  mocks.ssm
    .on(SendCommandCommand)
    .callsFake(async () => ({ Command: { CommandId: `c-${++sends}`, Status: 'Pending' } }));
  const listOf = (id: string) =>
    (polls.get(id) ?? 0) < 2
      ? finalOf(id).map((i) => ({
          ...i,
          Status: 'InProgress' as const,
          StatusDetails: 'InProgress',
          CommandPlugins: [],
        }))
      : finalOf(id);
  mocks.ssm.on(ListCommandsCommand).callsFake(async (input) => {
    const id = input.CommandId!;
    polls.set(id, (polls.get(id) ?? 0) + 1);
    const Status = (polls.get(id)! < 2 ? 'InProgress' : commandStatus) as 'Success';
    return { Commands: [{ CommandId: id, Status, ...commandCounts(listOf(id)) }] };
  });
  mocks.ssm.on(ListCommandInvocationsCommand).callsFake(async (input) => {
    const id = input.CommandId!;
    const list = listOf(id);
    const start = Number(input.NextToken ?? 0);
    return {
      CommandInvocations: list.slice(start, start + 2),
      NextToken: start + 2 < list.length ? String(start + 2) : undefined,
    };
  });
}

export async function exec(...argv: string[]) {
  return execIn(testContext(NOW), ...argv);
}

/** Runs in a given context (such as one with a terminal that answers the confirmation). */
export async function execIn(ctx: ReturnType<typeof testContext>, ...argv: string[]) {
  const code = await run(argv, ctx);
  return { code, ctx, out: ctx.stdoutText(), err: ctx.stderrText() };
}

export const sentTo = (mocks: RunMocks) => mocks.ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input);
