// The sync-state table: one row per managed node. Writes are conditional on the row being
// absent or already owned by the same agency, so a race can never move a node between agencies.
import {
  BatchGetCommand,
  DeleteCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { SYNC_TABLE } from '../shared/names.ts';

const A = SYNC_TABLE.attributes;
/** BatchGetItem reads at most 100 keys per call. */
export const BATCH_GET_LIMIT = 100;
const UNPROCESSED_RETRIES = 8;

export interface SyncRow {
  managedInstanceId: string;
  agencyAccountId: string;
  ec2InstanceId?: string;
  fingerprint?: string;
  appliedTagKeys?: string[];
  lastSyncAt?: string;
  lastError?: string;
  lastDriftCheckAt?: string;
  /** Reserved tags on the node that sync does not own, last counted from SSM; sizes the 50-tag budget. */
  otherReservedTagCount?: number;
  /** When the tag set last applied was observed, and its event's version (ordering.ts). */
  observedAt?: string;
  observedVersion?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function toRow(item: Record<string, unknown>): SyncRow | undefined {
  const id = item[A.managedInstanceId];
  const agency = item[A.agencyAccountId];
  if (typeof id !== 'string' || typeof agency !== 'string') return undefined;
  const str = (k: string) => (typeof item[k] === 'string' ? (item[k] as string) : undefined);
  const keys = item[A.appliedTagKeys];
  return {
    managedInstanceId: id,
    agencyAccountId: agency,
    ec2InstanceId: str(A.ec2InstanceId),
    fingerprint: str(A.fingerprint),
    appliedTagKeys: Array.isArray(keys) ? keys.filter((k): k is string => typeof k === 'string') : [],
    lastSyncAt: str(A.lastSyncAt),
    lastError: str(A.lastError),
    lastDriftCheckAt: str(A.lastDriftCheckAt),
    otherReservedTagCount: typeof item.otherReservedTagCount === 'number' ? item.otherReservedTagCount : undefined,
    observedAt: str(A.observedAt),
    observedVersion: typeof item[A.observedVersion] === 'number' ? (item[A.observedVersion] as number) : undefined,
  };
}

/** Reads rows in batches of 100, retrying unprocessed keys with a short backoff. */
export async function readRows(
  ddb: DynamoDBDocumentClient,
  table: string,
  ids: readonly string[],
): Promise<Map<string, SyncRow>> {
  const rows = new Map<string, SyncRow>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += BATCH_GET_LIMIT) {
    let keys: Record<string, unknown>[] = unique
      .slice(i, i + BATCH_GET_LIMIT)
      .map((id) => ({ [A.managedInstanceId]: id }));
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt > UNPROCESSED_RETRIES) throw new Error('sync table kept returning unprocessed keys');
      if (attempt > 0) await sleep(Math.min(1000, 20 * 2 ** attempt) * Math.random());
      const out = await ddb.send(
        new BatchGetCommand({ RequestItems: { [table]: { Keys: keys, ConsistentRead: true } } }),
      );
      for (const item of out.Responses?.[table] ?? []) {
        const row = toRow(item);
        if (row) rows.set(row.managedInstanceId, row);
      }
      keys = (out.UnprocessedKeys?.[table]?.Keys as Record<string, unknown>[] | undefined) ?? [];
    }
  }
  return rows;
}

/**
 * Owned by the caller AND bound to this EC2 instance (or not bound yet). Checked by DynamoDB at
 * write time, so no race can move a node between agencies, and two instances racing to claim one
 * node cannot both win.
 */
const OWNED_AND_BOUND = `attribute_not_exists(#id) OR (#agency = :agency AND (attribute_not_exists(#ec2) OR #ec2 = :ec2))`;

/** The OWNED_AND_BOUND condition of a write, with its names and values (more may be added). */
export function ownedAndBound(
  agencyAccountId: string,
  ec2InstanceId: string,
  names: Record<string, string> = {},
  values: Record<string, unknown> = {},
) {
  return {
    ConditionExpression: OWNED_AND_BOUND,
    ExpressionAttributeNames: {
      '#id': A.managedInstanceId,
      '#agency': A.agencyAccountId,
      '#ec2': A.ec2InstanceId,
      ...names,
    },
    ExpressionAttributeValues: { ':agency': agencyAccountId, ':ec2': ec2InstanceId, ...values },
  };
}

/** Records a successful sync; `also` (ordering.ts: notOlderCondition) is checked with the ownership. */
export async function putRow(
  ddb: DynamoDBDocumentClient,
  table: string,
  row: SyncRow,
  also?: { expression: string; names: Record<string, string>; values: Record<string, unknown> },
): Promise<void> {
  const owned = ownedAndBound(row.agencyAccountId, row.ec2InstanceId ?? '', also?.names, also?.values);
  if (also) owned.ConditionExpression = `(${owned.ConditionExpression}) AND (${also.expression})`;
  await ddb.send(new PutCommand({ TableName: table, Item: { ...row }, ...owned }));
}

/**
 * Binds a node to the EC2 instance of its first sync, before any SSM write. Returns false when
 * another instance (or agency) holds the node: the caller must then change nothing.
 */
export async function claimBinding(
  ddb: DynamoDBDocumentClient,
  table: string,
  key: { managedInstanceId: string; agencyAccountId: string; ec2InstanceId: string },
): Promise<boolean> {
  try {
    await ddb.send(
      new UpdateCommand({
        TableName: table,
        Key: { [A.managedInstanceId]: key.managedInstanceId },
        UpdateExpression: 'SET #agency = :agency, #ec2 = :ec2',
        ...ownedAndBound(key.agencyAccountId, key.ec2InstanceId),
      }),
    );
    return true;
  } catch (err) {
    if ((err as { name?: string }).name === 'ConditionalCheckFailedException') return false;
    throw err;
  }
}

/**
 * Records a failed sync; the row (and so the proven ownership) is created when missing. The
 * fingerprint and the drift-check date are dropped: a failed write may have been half done (tags
 * removed, then the add failed), so SSM no longer matches what the row says was applied, and the
 * next sync must read the node's tags and write again instead of answering "unchanged".
 */
export async function recordError(
  ddb: DynamoDBDocumentClient,
  table: string,
  key: { managedInstanceId: string; agencyAccountId: string; ec2InstanceId: string },
  error: string,
  at: string,
): Promise<void> {
  await ddb.send(
    new UpdateCommand({
      TableName: table,
      Key: { [A.managedInstanceId]: key.managedInstanceId },
      UpdateExpression: 'SET #agency = :agency, #ec2 = :ec2, #err = :err, #errAt = :at REMOVE #fp, #drift',
      ...ownedAndBound(
        key.agencyAccountId,
        key.ec2InstanceId,
        { '#err': A.lastError, '#errAt': 'lastErrorAt', '#fp': A.fingerprint, '#drift': A.lastDriftCheckAt },
        { ':err': error, ':at': at },
      ),
    }),
  );
}

export async function deleteRow(
  ddb: DynamoDBDocumentClient,
  table: string,
  managedInstanceId: string,
  agencyAccountId: string,
  ec2InstanceId: string,
): Promise<void> {
  await ddb.send(
    new DeleteCommand({
      TableName: table,
      Key: { [A.managedInstanceId]: managedInstanceId },
      ...ownedAndBound(agencyAccountId, ec2InstanceId),
    }),
  );
}

export const conditionFailed = (err: unknown) => (err as { name?: string }).name === 'ConditionalCheckFailedException';

/** The per-agency counters of one minute, each in its own pair of attributes of the agency's rate row. */
export const RATE_COUNTERS = {
  /** Requests (every op). */
  requests: { window: 'rateWindow', count: 'rateCount' },
  /** Nodes the hub had to look up in SSM (not in the table): the expensive path, charged per node. */
  nodeLookups: { window: 'lookupWindow', count: 'lookupCount' },
} as const;

/**
 * Counts one request of an agency in the current minute and says whether it is within `limit`.
 * A fixed one-minute window in one row per agency: a conditional increment while the window is
 * current and under the limit, else a conditional reset when the row's window is older. When a
 * concurrent request wins the reset, the increment is tried again.
 */
export function admitRequest(
  ddb: DynamoDBDocumentClient,
  table: string,
  agencyAccountId: string,
  limit: number,
  now: Date,
): Promise<boolean> {
  return admitUnits(ddb, table, agencyAccountId, limit, now, { units: 1, counter: RATE_COUNTERS.requests });
}

/**
 * Charges `units` to one of an agency's per-minute counters (same window scheme as admitRequest)
 * and says whether they fit under `limit`. A charge larger than the limit is cut to the limit, so
 * a whole request can still run in an otherwise unused minute. DynamoDB conditions do no
 * arithmetic, so "count + units <= limit" is written "count <= limit - units".
 */
export async function admitUnits(
  ddb: DynamoDBDocumentClient,
  table: string,
  agencyAccountId: string,
  limit: number,
  now: Date,
  charge: { units: number; counter: { window: string; count: string } },
): Promise<boolean> {
  if (limit <= 0 || charge.units <= 0) return true;
  const units = Math.min(charge.units, limit);
  const key = { [A.managedInstanceId]: `${SYNC_TABLE.rateKeyPrefix}${agencyAccountId}` };
  const window = Math.floor(now.getTime() / 60_000);
  const names = { '#w': charge.counter.window, '#n': charge.counter.count };
  const attempt = async (input: {
    UpdateExpression: string;
    ConditionExpression: string;
    values: Record<string, number>;
  }) => {
    try {
      await ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: key,
          UpdateExpression: input.UpdateExpression,
          ConditionExpression: input.ConditionExpression,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: input.values,
        }),
      );
      return true;
    } catch (err) {
      if (conditionFailed(err)) return false;
      throw err;
    }
  };
  const increment = () =>
    attempt({
      UpdateExpression: 'SET #n = #n + :units',
      ConditionExpression: '#w = :w AND #n <= :max',
      values: { ':units': units, ':w': window, ':max': limit - units },
    });
  const reset = () =>
    attempt({
      UpdateExpression: 'SET #w = :w, #n = :units',
      ConditionExpression: 'attribute_not_exists(#w) OR #w < :w',
      values: { ':units': units, ':w': window },
    });
  return (await increment()) || (await reset()) || (await increment());
}
