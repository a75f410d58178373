// Removing an agency StackSet's stack instances (uninstall): the OUs in batches the API accepts,
// an operation already running on the StackSet waited for first, RetainStacks on request, every
// account attempted, and a failure that says which instances went and which did not.
import { DeleteStackInstancesCommand } from '@aws-sdk/client-cloudformation';
import {
  type CallAs,
  type CloudFormationClient,
  type DeleteStackInstancesCommandInput,
} from '@aws-sdk/client-cloudformation';
import { type StackInstanceSummary, type StackSetOperationPreferences } from '@aws-sdk/client-cloudformation';
import { randomUUID } from 'node:crypto';
import { STACK_INSTANCES_MAX_OUS } from '../../contract/limits.ts';
import { errorText, OperationError, progress, type Context } from '../kit/index.ts';
import { ownOperation, sendWhenIdle, waitForIdle, waitForOperation } from './stackset.ts';
import { type InstanceResult, type RunningOperation } from './stackset.ts';

export interface StackSetToEmpty {
  name: string;
  permissionModel: string;
  instances: StackInstanceSummary[];
}

/**
 * Every account and Region is attempted, all at once: one suspended account or one missing
 * execution role must not stop the others' removal (StackSetOperationPreferences API reference:
 * FailureTolerancePercentage, MaxConcurrentPercentage, RegionConcurrencyType).
 */
export const DELETE_PREFERENCES: StackSetOperationPreferences = {
  FailureTolerancePercentage: 100,
  MaxConcurrentPercentage: 100,
  RegionConcurrencyType: 'PARALLEL',
};

/** One DeleteStackInstances call before its OperationId. */
export type DeleteCall = Omit<DeleteStackInstancesCommandInput, 'OperationId'>;

const chunks = <T>(items: T[], size: number): T[][] =>
  items.length
    ? Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))
    : [];

/**
 * The DeleteStackInstances calls that remove every instance of a StackSet: pure. Service-managed
 * StackSets name OUs (DeploymentTargets), at most STACK_INSTANCES_MAX_OUS a call; self-managed
 * ones name accounts.
 */
export function deleteInstanceCalls(s: StackSetToEmpty, callAs: CallAs, retainStacks: boolean): DeleteCall[] {
  if (!s.instances.length) return [];
  const regions = [...new Set(s.instances.map((i) => i.Region!))].sort();
  const base = { StackSetName: s.name, Regions: regions, RetainStacks: retainStacks, CallAs: callAs };
  const prefs = { OperationPreferences: DELETE_PREFERENCES };
  if (s.permissionModel !== 'SERVICE_MANAGED') {
    const accounts = [...new Set(s.instances.map((i) => i.Account!))].sort();
    return [{ ...base, Accounts: accounts, ...prefs }];
  }
  const ous = [...new Set(s.instances.flatMap((i) => (i.OrganizationalUnitId ? [i.OrganizationalUnitId] : [])))].sort();
  return chunks(ous, STACK_INSTANCES_MAX_OUS).map((batch) => ({
    ...base,
    DeploymentTargets: { OrganizationalUnitIds: batch },
    ...prefs,
  }));
}

const where = (r: InstanceResult) => `${r.account}/${r.region}`;

/** The batches of a deletion not sent yet, named by their OUs (or accounts): pure. */
export function batchesNotTried(calls: DeleteCall[], from: number): string {
  return calls
    .slice(from)
    .map((c, i) => {
      const ous = c.DeploymentTargets?.OrganizationalUnitIds;
      const targets = ous ? `OUs ${ous.join(', ')}` : `accounts ${(c.Accounts ?? []).join(', ')}`;
      return `batch ${from + i + 1} of ${calls.length} (${targets})`;
    })
    .join('; ');
}

const KEPT = 'The StackSet, the permissions stacks and the central stack were kept.';

/** What a failed or unfinished deletion did: pure, so the message is tested. */
export function deletionFailure(
  name: string,
  status: string,
  results: InstanceResult[],
  retaining: boolean,
  notTried = '',
): string {
  const removed = results.filter((r) => r.status === 'SUCCEEDED').map(where);
  const left = results.filter((r) => r.status !== 'SUCCEEDED');
  const leftText = left.map((r) => `${where(r)} ${r.status}${r.reason ? ` (${r.reason})` : ''}`);
  const retainHint = retaining
    ? ''
    : ' An instance AWS marks INOPERABLE (a suspended or closed account, a missing execution role) cannot be deleted: re-run with --retain-stacks, which removes it from the StackSet and keeps its stack, then delete that stack in its account (aws cloudformation delete-stack).';
  return [
    `deleting the stack instances of ${name} ended ${status}.`,
    `Removed: ${removed.length ? removed.join(', ') : 'none'}.`,
    `Not removed: ${leftText.length ? leftText.join('; ') : 'none reported'}.`,
    ...(notTried ? [`Not tried: ${notTried}.`] : []),
    `${KEPT}${retainHint}`,
  ].join(' ');
}

/** The operation left running outlived the timeout: what this run removed before, if anything. Pure. */
export function stillRunning(
  name: string,
  running: RunningOperation,
  results: InstanceResult[],
  notTried: string,
): string {
  const removed = results.filter((r) => r.status === 'SUCCEEDED').map(where);
  const head = `StackSet ${name}: operation ${running.id} (${running.action}) is still running after the timeout;`;
  const tail = 're-run uninstall once it ends (or pass a longer --timeout-minutes)';
  if (!removed.length) return `${head} nothing else was changed: ${tail}`;
  return `${head} removed before it: ${removed.join(', ')}. Not tried: ${notTried}. ${KEPT} ${tail[0]!.toUpperCase()}${tail.slice(1)}.`;
}

async function send(cfn: CloudFormationClient, input: DeleteStackInstancesCommandInput) {
  try {
    await cfn.send(new DeleteStackInstancesCommand(input));
  } catch (err) {
    throw new OperationError(`DeleteStackInstances on ${input.StackSetName} failed: ${errorText(err)}`, { cause: err });
  }
}

/** Deletes (or, with retainStacks, releases) every stack instance of the StackSet; throws with what happened. */
export async function emptyStackSet(
  ctx: Context,
  cfn: CloudFormationClient,
  s: StackSetToEmpty,
  opts: { callAs: CallAs; retainStacks: boolean; timeoutMs: number },
): Promise<void> {
  const deadline = ctx.now().getTime() + opts.timeoutMs;
  const left = () => Math.max(0, deadline - ctx.now().getTime());
  const results: InstanceResult[] = [];
  const calls = deleteInstanceCalls(s, opts.callAs, opts.retainStacks);
  const idle = async (i: number) => {
    const running = await waitForIdle(ctx, cfn, s.name, opts.callAs, left());
    if (running) throw new OperationError(stillRunning(s.name, running, results, batchesNotTried(calls, i)));
  };
  for (const [i, call] of calls.entries()) {
    await idle(i);
    const operationId = randomUUID();
    const verb = opts.retainStacks ? 'removing (stacks retained)' : 'deleting';
    progress(ctx, `${verb} stack instances of ${s.name} in ${call.Regions!.join(', ')}`);
    // Another operation started between the look and the call (OperationInProgressException): wait again.
    await sendWhenIdle(
      ctx,
      () =>
        send(cfn, { ...call, OperationId: operationId }).then(
          () => operationId,
          (e: OperationError) => {
            throw sentFailure(e, s.name, results, calls, i);
          },
        ),
      () => idle(i),
      deadline,
      // The call may have been accepted with its answer lost (stackset.ts ownOperation).
      () => ownOperation(ctx, cfn, s.name, opts.callAs, 'DeleteStackInstances', new Set([operationId])),
    );
    const op = await waitForOperation(ctx, cfn, s.name, operationId, 'delete-instances', opts.callAs, left());
    results.push(...op.results);
    if (op.status !== 'SUCCEEDED' || op.results.some((r) => r.status !== 'SUCCEEDED'))
      throw new OperationError(
        deletionFailure(s.name, op.status, results, opts.retainStacks, batchesNotTried(calls, i + 1)),
      );
  }
}

/** A DeleteStackInstances call refused: after an earlier batch, say what that batch removed and what was not tried. */
function sentFailure(err: OperationError, name: string, results: InstanceResult[], calls: DeleteCall[], i: number) {
  if (!i) return err;
  const removed = results.filter((r) => r.status === 'SUCCEEDED').map(where);
  const notTried = batchesNotTried(calls, i);
  return new OperationError(
    `${err.message}. Removed from ${name} before it: ${removed.join(', ') || 'none'}. Not tried: ${notTried}. ${KEPT}`,
    { cause: err.cause },
  );
}
