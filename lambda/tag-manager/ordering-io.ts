// The sync-state table's side of tag-set ordering (the rule itself is ordering.ts).
//
// What the conditions close, and what stays racy: the row's observation only ever moves forward,
// because every write of it is conditional (notOlderCondition), so two concurrent syncs cannot
// store an older observation over a newer one. Two SSM writes in flight at once for one node
// (two invocations, each past the ordering check before either wrote its row) can still land in
// either order: SSM may then hold the older tags while the row names the newer observation. A
// condition cannot order the SSM calls themselves. When the older sync's row write is the one
// refused, it is answered `superseded` and makes the node's drift check due, so the next sync
// re-reads SSM and repairs it. When the older row write lands first (and the newer one second,
// with the SSM writes the other way round), nothing notices: the node's next change or its next
// scheduled drift check (driftCheckHours) repairs SSM.
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SYNC_TABLE } from '../shared/names.ts';
import type { OpContext } from './context.ts';
import { notOlderCondition, orderTagSet, storedObservation, type Observation } from './ordering.ts';
import { conditionFailed, ownedAndBound, readRows } from './table-io.ts';

const A = SYNC_TABLE.attributes;

interface NodeKey {
  managedInstanceId: string;
  agencyAccountId: string;
  ec2InstanceId: string;
}

/**
 * After a conditional write failed: true when the node's row (still this agency's and bound to
 * this instance) now holds an observation newer than `o`, i.e. the write lost to a newer sync.
 */
export async function lostToNewer(ctx: OpContext, key: NodeKey, o: Observation): Promise<boolean> {
  try {
    const row = (await readRows(ctx.ddb, ctx.config.syncTableName, [key.managedInstanceId])).get(key.managedInstanceId);
    if (row?.agencyAccountId !== key.agencyAccountId || row.ec2InstanceId !== key.ec2InstanceId) return false;
    return orderTagSet(storedObservation(row), o) === 'superseded';
  } catch {
    return false;
  }
}

/**
 * After this sync's SSM write lost the row write to a newer sync: its SSM write may have landed
 * after the newer one's, so the node's drift check is made due (the next sync re-reads SSM).
 * Best effort: a failure leaves the scheduled drift check to repair it.
 */
export async function makeDriftCheckDue(ctx: OpContext, key: NodeKey): Promise<void> {
  try {
    await ctx.ddb.send(
      new UpdateCommand({
        TableName: ctx.config.syncTableName,
        Key: { [A.managedInstanceId]: key.managedInstanceId },
        UpdateExpression: 'REMOVE #drift',
        ...ownedAndBound(key.agencyAccountId, key.ec2InstanceId, { '#drift': A.lastDriftCheckAt }),
      }),
    );
  } catch {
    // Best effort, as above.
  }
}

/**
 * Moves an unchanged node's observation forward (ordering.ts: recordsUnchanged), only while the row
 * still holds `fingerprint` and no newer observation. 'superseded' when a newer sync got there first;
 * 'row-changed' when an older sync with another tag set wrote the row meanwhile (this tag set is
 * newer and must be applied after all).
 */
export async function recordObservation(
  ctx: OpContext,
  key: NodeKey,
  fingerprint: string,
  o: Observation,
): Promise<'recorded' | 'superseded' | 'row-changed'> {
  const order = notOlderCondition(o);
  const owned = ownedAndBound(
    key.agencyAccountId,
    key.ec2InstanceId,
    { ...order.names, '#obsV': A.observedVersion, '#fp': A.fingerprint },
    { ...order.values, ':fp': fingerprint },
  );
  const version = o.version === undefined ? ' REMOVE #obsV' : ', #obsV = :obsV';
  try {
    await ctx.ddb.send(
      new UpdateCommand({
        TableName: ctx.config.syncTableName,
        Key: { [A.managedInstanceId]: key.managedInstanceId },
        UpdateExpression: `SET #obsAt = :obsAt${version}`,
        ...owned,
        ConditionExpression: `(${owned.ConditionExpression}) AND #fp = :fp AND (${order.expression})`,
      }),
    );
    return 'recorded';
  } catch (err) {
    if (!conditionFailed(err)) throw err;
    return (await lostToNewer(ctx, key, o)) ? 'superseded' : 'row-changed';
  }
}
