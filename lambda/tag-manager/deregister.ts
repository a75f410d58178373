// The deregister operation, for terminated instances: prove ownership, deregister the node
// (already gone counts as done) and delete its row.
import type { DeregisterInstance, InstanceResult } from '../shared/contract.ts';
import type { OpContext } from './context.ts';
import {
  BOUND_ELSEWHERE_REASON,
  logRowContradicted,
  NOT_OWNED_REASON,
  proveOwnership,
  proveUnstampedNode,
  stampConfirmsRow,
  type Ownership,
} from './ownership.ts';
import { securityEvent } from '../shared/log.ts';
import { mapPool } from '../shared/pool.ts';
import { deregisterNode, errorReason, listTags } from './ssm-io.ts';
import { deleteRow } from './table-io.ts';

export async function deregisterInstances(
  ctx: OpContext,
  entries: readonly DeregisterInstance[],
): Promise<InstanceResult[]> {
  // A node SSM no longer knows and no row records is already deregistered: the reconcile sends
  // terminated instances for as long as EC2 still lists them, so this must stay quiet and idempotent.
  const ownership = await proveOwnership(ctx, entries, { unknownNodeIsGone: true });
  return mapPool(entries, ctx.config.ssmConcurrency, async (entry): Promise<InstanceResult> => {
    const base = { managedInstanceId: entry.managedInstanceId, ec2InstanceId: entry.ec2InstanceId };
    const o = ownership.get(entry.managedInstanceId);
    if (o?.kind === 'refused' && o.cause === 'unknown-node')
      return { ...base, status: 'unchanged', reason: 'already deregistered' };
    if (!o || o.kind === 'refused') return { ...base, status: 'rejected', reason: NOT_OWNED_REASON };
    if (o.kind === 'error') return { ...base, status: 'failed', reason: o.reason };
    // A node stands for one instance for life: an instance that names another node of its agency
    // (a relabelled managedinstanceid tag) must not deregister it. Refused like the same sync.
    // Known gap (README, "A node stands for one instance for life"): a node no sync has bound yet
    // has no row, and nothing the hub holds ties it to one instance, so any instance of the same
    // agency can still deregister it; the orphan sweep removes such nodes after 24 hours anyway.
    if (o.row?.ec2InstanceId && o.row.ec2InstanceId !== entry.ec2InstanceId) {
      securityEvent('refused a deregister for a managed node bound to another EC2 instance', {
        agencyAccountId: ctx.agencyAccountId,
        managedInstanceId: entry.managedInstanceId,
        claimedBy: entry.ec2InstanceId,
        boundTo: o.row.ec2InstanceId,
        requestId: ctx.requestId,
      });
      return { ...base, status: 'rejected', reason: BOUND_ELSEWHERE_REASON };
    }
    try {
      // The row is a cache of ownership, not proof: before the one irreversible call, the node's
      // own data must agree with it (deregisters are rare, so the read is cheap overall).
      const check = await confirmRowBeforeDeregister(ctx, entry, o);
      if (check === 'refused') return { ...base, status: 'rejected', reason: NOT_OWNED_REASON };
      if (typeof check === 'object') return { ...base, status: 'failed', reason: check.reason };
      const outcome = check === 'gone' ? 'already-gone' : await deregisterNode(ctx.ssm, entry.managedInstanceId);
      await deleteRow(
        ctx.ddb,
        ctx.config.syncTableName,
        entry.managedInstanceId,
        ctx.agencyAccountId,
        entry.ec2InstanceId,
      );
      return {
        ...base,
        status: 'applied',
        reason: outcome === 'deregistered' ? 'deregistered' : 'already deregistered',
      };
    } catch (err) {
      return { ...base, status: 'failed', reason: errorReason(err) };
    }
  });
}

/**
 * A node proven only by its sync-table row: read its tags (ListTagsForResource) and let the stamp
 * decide. Another agency's stamp refuses (a security event). No stamp at all: the row still proves
 * nothing, so the node must be proven by its ActivationId as a first sync would; failing that it is
 * refused. A node SSM no longer knows is already gone. Nodes proven from SSM in this invocation
 * (no row) had their stamp checked already.
 */
async function confirmRowBeforeDeregister(
  ctx: OpContext,
  entry: DeregisterInstance,
  o: Extract<Ownership, { kind: 'owned' }>,
): Promise<'go' | 'gone' | 'refused' | { reason: string }> {
  if (o.proof !== 'sync-table') return 'go';
  const id = entry.managedInstanceId;
  const tags = await listTags(ctx.ssm, id);
  if (tags === undefined) return 'gone';
  const verdict = stampConfirmsRow(tags, ctx.config.reservedTagPrefix, ctx.agencyAccountId);
  if (verdict === 'confirmed') return 'go';
  if (verdict === 'stamp-of-other-agency') {
    logRowContradicted(ctx, entry, 'stamp-of-other-agency', 'deregister');
    return 'refused';
  }
  const proven = await proveUnstampedNode(ctx, id, tags);
  if (proven.kind === 'owned') return 'go';
  if (proven.kind === 'error') return { reason: proven.reason };
  logRowContradicted(ctx, entry, proven.cause, 'deregister');
  return 'refused';
}
