// The deregister operation, for terminated instances: prove ownership, deregister the node
// (already gone counts as done) and delete its row.
import type { DeregisterInstance, InstanceResult } from '../shared/contract.ts';
import type { OpContext } from './context.ts';
import { NOT_OWNED_REASON, proveOwnership } from './ownership.ts';
import { mapPool } from './pool.ts';
import { deregisterNode, errorReason } from './ssm-io.ts';
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
    // A mistaken collector must not deregister a node that now stands for another instance.
    if (o.row?.ec2InstanceId && o.row.ec2InstanceId !== entry.ec2InstanceId) {
      return {
        ...base,
        status: 'failed',
        reason: 'ec2InstanceId does not match the instance recorded for this managed node',
      };
    }
    try {
      const outcome = await deregisterNode(ctx.ssm, entry.managedInstanceId);
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
