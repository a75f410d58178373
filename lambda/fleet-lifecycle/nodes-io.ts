// The central account's view of each agency: its activation IDs (from its activation record), the
// managed nodes registered with them, their sync-table rows, and when its collector last reported.
import {
  DeregisterManagedInstanceCommand,
  paginateDescribeInstanceInformation,
  paginateGetParametersByPath,
} from '@aws-sdk/client-ssm';
import { BatchGetCommand, DeleteCommand, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { activationRecordSchema } from '../shared/activation-record.ts';
import { SYNC_TABLE } from '../shared/names.ts';
import { ACCOUNT_ID_PATTERN } from '../../contract/patterns.ts';
import { BATCH_GET_MAX_KEYS, BATCH_GET_RETRY } from '../../contract/limits.ts';
import { HandlerError } from '../shared/errors.ts';
import { guardReportedAt } from './sweep-rules.ts';
import { ddb, ssm } from './clients.ts';

const A = SYNC_TABLE.attributes;
/** DescribeInstanceInformation: at most 100 values per filter (API reference). */
const FILTER_VALUES_MAX = 100;

export interface AgencyActivations {
  agencyAccountId: string;
  activationIds: string[];
}

/**
 * Every agency record under the prefix, reduced to its activation IDs at once: the codes in the
 * decrypted value are never kept, logged or returned. A record that does not parse is skipped
 * and named (by parameter, never by value).
 */
export async function listAgencyActivations(prefix: string, onBadRecord: (name: string) => void) {
  const out: AgencyActivations[] = [];
  // GetParametersByPath: at most 10 results a page (API reference); the paginator follows NextToken.
  const pages = paginateGetParametersByPath(
    { client: ssm(), pageSize: 10 },
    { Path: prefix, Recursive: true, WithDecryption: true },
  );
  for await (const page of pages) {
    for (const p of page.Parameters ?? []) {
      const agency = p.Name?.slice(prefix.length + 1) ?? '';
      let parsed: ReturnType<typeof activationRecordSchema.safeParse> | undefined;
      try {
        parsed = activationRecordSchema.safeParse(JSON.parse(p.Value ?? ''));
      } catch {
        parsed = undefined;
      }
      if (!parsed?.success || parsed.data.agencyAccountId !== agency || !ACCOUNT_ID_PATTERN.test(agency)) {
        onBadRecord(p.Name ?? '');
        continue;
      }
      const r = parsed.data;
      const ids = [r.current.activationId, ...r.previous.map((x) => x.activationId), ...r.knownActivationIds];
      out.push({ agencyAccountId: agency, activationIds: [...new Set(ids)] });
    }
  }
  return out;
}

export interface NodeInfo {
  managedInstanceId: string;
  activationId?: string;
  pingStatus?: string;
  lastPingAt?: Date;
  registeredAt?: Date;
}

/** A node's activation stamp: the tag key the activation puts on every node it registers, and its value. */
export interface Stamp {
  key: string;
  agencyAccountId: string;
}

type Filter = { Key: string; Values: string[] };
const stampFilter = (stamp: Stamp): Filter => ({ Key: `tag:${stamp.key}`, Values: [stamp.agencyAccountId] });

/** The managed nodes registered with these activations. */
export async function nodesOf(activationIds: readonly string[]): Promise<NodeInfo[]> {
  const nodes: NodeInfo[] = [];
  for (let i = 0; i < activationIds.length; i += FILTER_VALUES_MAX)
    nodes.push(
      ...(await describeNodes([{ Key: 'ActivationIds', Values: activationIds.slice(i, i + FILTER_VALUES_MAX) }])),
    );
  return nodes;
}

/**
 * Every managed node that carries the stamp, whatever its activation. A query of its own: the
 * API reference (DescribeInstanceInformation, Filters) says "Tag filters can't be combined with
 * other filter types", so it cannot be ANDed with ActivationIds in one call.
 */
export const nodesStampedFor = (stamp: Stamp): Promise<NodeInfo[]> => describeNodes([stampFilter(stamp)]);

/**
 * Whether SSM still lists a node. DescribeInstanceInformation with an InstanceIds filter answers
 * InvalidInstanceId for a node it does not know (AWS-FACTS: the whole call fails), else lists it.
 */
export async function nodeIsListed(managedInstanceId: string): Promise<boolean> {
  try {
    const nodes = await describeNodes([{ Key: 'InstanceIds', Values: [managedInstanceId] }]);
    return nodes.some((n) => n.managedInstanceId === managedInstanceId);
  } catch (err) {
    if ((err as { name?: string }).name === 'InvalidInstanceId') return false;
    throw err;
  }
}

async function describeNodes(Filters: Filter[]): Promise<NodeInfo[]> {
  const nodes: NodeInfo[] = [];
  for await (const page of paginateDescribeInstanceInformation({ client: ssm(), pageSize: 50 }, { Filters })) {
    for (const n of page.InstanceInformationList ?? []) {
      if (!n.InstanceId) continue;
      nodes.push({
        managedInstanceId: n.InstanceId,
        activationId: n.ActivationId,
        pingStatus: n.PingStatus,
        lastPingAt: n.LastPingDateTime,
        registeredAt: n.RegistrationDate,
      });
    }
  }
  return nodes;
}

export interface NodeRow {
  agencyAccountId?: string;
  ec2InstanceId?: string;
}

/** Some keys stayed unprocessed after every retry: the read is incomplete, so nothing may be concluded. */
export class IncompleteReadError extends HandlerError {
  override readonly name = 'IncompleteReadError';
}

export interface ReadRetry {
  /** Base delay of the backoff (ms); BATCH_GET_RETRY.baseDelayMs unless set (tests use 1). */
  baseDelayMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pure: the full-jitter backoff before retry `attempt` (1-based), at most BATCH_GET_RETRY.maxDelayMs. */
export const backoffMs = (attempt: number, baseMs: number, random: () => number = Math.random): number =>
  Math.floor(random() * Math.min(BATCH_GET_RETRY.maxDelayMs, baseMs * 2 ** (attempt - 1)));

/**
 * Sync-table rows by node ID (100 keys a call). Unprocessed keys are read again with exponential
 * backoff; keys still unprocessed after BATCH_GET_RETRY.attempts make it throw IncompleteReadError,
 * so a missing row always means "no row", never "not read".
 */
export async function rowsOf(
  table: string,
  ids: readonly string[],
  retry: ReadRetry = {},
): Promise<Map<string, NodeRow>> {
  const rows = new Map<string, NodeRow>();
  const base = retry.baseDelayMs ?? BATCH_GET_RETRY.baseDelayMs;
  for (let i = 0; i < ids.length; i += BATCH_GET_MAX_KEYS) {
    let keys: Record<string, unknown>[] = ids
      .slice(i, i + BATCH_GET_MAX_KEYS)
      .map((id) => ({ [A.managedInstanceId]: id }));
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt === BATCH_GET_RETRY.attempts)
        throw new IncompleteReadError(
          `BatchGetItem left ${keys.length} key(s) unprocessed after ${attempt} attempts (throttled table?)`,
        );
      if (attempt > 0) await sleep(backoffMs(attempt, base));
      const out = await ddb().send(
        new BatchGetCommand({ RequestItems: { [table]: { Keys: keys, ConsistentRead: true } } }),
      );
      for (const item of out.Responses?.[table] ?? []) rows.set(String(item[A.managedInstanceId]), rowOf(item));
      keys = (out.UnprocessedKeys?.[table]?.Keys as Record<string, unknown>[] | undefined) ?? [];
    }
  }
  return rows;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const rowOf = (item: Record<string, unknown>): NodeRow => ({
  agencyAccountId: text(item[A.agencyAccountId]),
  ec2InstanceId: text(item[A.ec2InstanceId]),
});

/** When every collector Region of the agency has last reported (sweep-rules.ts: guardReportedAt). */
export async function collectorReportedAt(table: string, agencyAccountId: string): Promise<Date | undefined> {
  const out = await ddb().send(
    new GetCommand({
      TableName: table,
      Key: { [A.managedInstanceId]: `${SYNC_TABLE.registrationErrorKeyPrefix}${agencyAccountId}` },
      ConsistentRead: true,
    }),
  );
  return guardReportedAt(out.Item);
}

export type DeregisterOutcome = 'deregistered' | 'already gone';

/** The node is deregistered (or was gone), but its row could not be removed: count it, log both. */
export class RowNotRemovedError extends HandlerError {
  override readonly name = 'RowNotRemovedError';
  constructor(
    readonly outcome: DeregisterOutcome,
    readonly rowError: string,
  ) {
    super(`node ${outcome}, but its sync-table row could not be removed (${rowError})`);
  }
}

/**
 * Deregisters a node (one SSM no longer knows counts as gone) and removes its row, if the agency's.
 * Throws RowNotRemovedError when only the row delete failed, so the caller still counts the node.
 */
export async function deregister(
  table: string,
  agencyAccountId: string,
  managedInstanceId: string,
): Promise<DeregisterOutcome> {
  let outcome: DeregisterOutcome = 'deregistered';
  try {
    await ssm().send(new DeregisterManagedInstanceCommand({ InstanceId: managedInstanceId }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'InvalidInstanceId') throw err;
    outcome = 'already gone';
  }
  try {
    await ddb().send(
      new DeleteCommand({
        TableName: table,
        Key: { [A.managedInstanceId]: managedInstanceId },
        ConditionExpression: 'attribute_not_exists(#id) OR #agency = :agency',
        ExpressionAttributeNames: { '#id': A.managedInstanceId, '#agency': A.agencyAccountId },
        ExpressionAttributeValues: { ':agency': agencyAccountId },
      }),
    );
  } catch (err) {
    const name = (err as { name?: string }).name ?? 'Error';
    if (name !== 'ConditionalCheckFailedException') throw new RowNotRemovedError(outcome, name);
  }
  return outcome;
}

/** Removes a node's row only if it names this agency; false when it names another (or is gone). */
export async function deleteRowOf(table: string, agencyAccountId: string, managedInstanceId: string) {
  try {
    await ddb().send(
      new DeleteCommand({
        TableName: table,
        Key: { [A.managedInstanceId]: managedInstanceId },
        ConditionExpression: '#agency = :agency',
        ExpressionAttributeNames: { '#agency': A.agencyAccountId },
        ExpressionAttributeValues: { ':agency': agencyAccountId },
      }),
    );
    return true;
  } catch (err) {
    if ((err as { name?: string }).name !== 'ConditionalCheckFailedException') throw err;
    return false;
  }
}

/** The node IDs the sync table records for an agency (byAgency index). */
export async function rowIdsOf(table: string, agencyAccountId: string): Promise<string[]> {
  const ids: string[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const out = await ddb().send(
      new QueryCommand({
        TableName: table,
        IndexName: SYNC_TABLE.agencyIndexName,
        KeyConditionExpression: '#agency = :agency',
        ExpressionAttributeNames: { '#agency': SYNC_TABLE.agencyIndexPartitionKey },
        ExpressionAttributeValues: { ':agency': agencyAccountId },
        ExclusiveStartKey,
      }),
    );
    for (const item of out.Items ?? []) ids.push(String(item[A.managedInstanceId]));
    ExclusiveStartKey = out.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return ids;
}
