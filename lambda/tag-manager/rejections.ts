// The latest nodes refused to each agency, so central IT can list them (`ssm-hub nodes --status
// rejected`). The row is keyed by the CALLER the alias names (`rejected#<account>`), never by the
// refused node: a hostile agency can fill only its own list and never write into the rightful
// owner's node row. Written only when a request had a rejection (the happy path makes no extra
// call): one consistent read and one conditional write, retried once from a fresh read when a
// concurrent request of the same agency wrote first.
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { InstanceResult } from '../shared/contract.ts';
import { log } from '../shared/log.ts';
import { MAX_REJECTIONS_KEPT, SYNC_TABLE } from '../shared/names.ts';
import { echoName } from '../shared/tag-rules.ts';
import type { OpContext } from './context.ts';
import { errorReason } from './ssm-io.ts';
import { conditionFailed } from './table-io.ts';

export interface Rejection {
  managedInstanceId: string;
  ec2InstanceId?: string;
  reason: string;
  at: string;
}

/** The sync-table key of an agency's rejection record. */
export const rejectionKey = (agencyAccountId: string): string => `${SYNC_TABLE.rejectionKeyPrefix}${agencyAccountId}`;

/** Pure: the rejections of one answer, reasons cut as every echoed string is. */
export function rejectionsOf(results: readonly InstanceResult[], at: string): Rejection[] {
  return results
    .filter((r) => r.status === 'rejected')
    .map((r) => ({
      managedInstanceId: echoName(r.managedInstanceId),
      ...(r.ec2InstanceId ? { ec2InstanceId: echoName(r.ec2InstanceId) } : {}),
      reason: echoName(r.reason ?? 'rejected'),
      at,
    }));
}

const isRejection = (x: unknown): x is Rejection =>
  typeof x === 'object' &&
  x !== null &&
  typeof (x as Rejection).managedInstanceId === 'string' &&
  typeof (x as Rejection).reason === 'string' &&
  typeof (x as Rejection).at === 'string';

/**
 * Pure: the list to store, newest first, one entry per node (a node refused again moves to the
 * front), at most `max`. Whatever the stored list holds that is not a rejection is dropped.
 */
export function mergeRejections(stored: unknown, fresh: readonly Rejection[], max = MAX_REJECTIONS_KEPT): Rejection[] {
  const old = Array.isArray(stored) ? stored.filter(isRejection) : [];
  const out: Rejection[] = [];
  const seen = new Set<string>();
  for (const r of [...[...fresh].reverse(), ...old]) {
    if (seen.has(r.managedInstanceId)) continue;
    seen.add(r.managedInstanceId);
    out.push(r);
    if (out.length === max) break;
  }
  return out;
}

/** Pure: the row to store (the caller's own; `version` guards against a concurrent writer). */
export function rejectionRecord(agencyAccountId: string, rejections: Rejection[], version: number) {
  return {
    [SYNC_TABLE.partitionKey]: rejectionKey(agencyAccountId),
    callerAccountId: agencyAccountId,
    rejections,
    rejectionCount: rejections.length,
    lastRejectedAt: rejections[0]?.at,
    version,
  };
}

async function writeOnce(ddb: DynamoDBDocumentClient, table: string, agency: string, fresh: Rejection[]) {
  const key = rejectionKey(agency);
  const got = await ddb.send(
    new GetCommand({ TableName: table, Key: { [SYNC_TABLE.partitionKey]: key }, ConsistentRead: true }),
  );
  const version = typeof got.Item?.version === 'number' ? got.Item.version : 0;
  const names: Record<string, string> = got.Item ? { '#v': 'version' } : { '#k': SYNC_TABLE.partitionKey };
  await ddb.send(
    new PutCommand({
      TableName: table,
      Item: rejectionRecord(agency, mergeRejections(got.Item?.rejections, fresh), version + 1),
      // Optimistic concurrency: a request of the same agency that wrote in between is not lost.
      ConditionExpression: got.Item ? '#v = :v' : 'attribute_not_exists(#k)',
      ExpressionAttributeNames: names,
      ...(got.Item ? { ExpressionAttributeValues: { ':v': version } } : {}),
    }),
  );
}

/** Records the answer's rejections; best effort (the answer already carries every reason). */
export async function recordRejections(ctx: OpContext, results: readonly InstanceResult[]): Promise<void> {
  const fresh = rejectionsOf(results, ctx.now.toISOString());
  if (fresh.length === 0) return;
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      await writeOnce(ctx.ddb, ctx.config.syncTableName, ctx.agencyAccountId, fresh);
      return;
    } catch (err) {
      if (attempt < 2 && conditionFailed(err)) continue;
      log('WARN', 'rejections not recorded', {
        agencyAccountId: ctx.agencyAccountId,
        rejected: fresh.length,
        error: errorReason(err),
        requestId: ctx.requestId,
      });
      return;
    }
  }
}
