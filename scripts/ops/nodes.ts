// `ssm-hub nodes`: the hub's nodes from the sync-state table, one line each with its state and
// why: applied, failed (the last sync's error), stale (no sync for --stale-hours) from the node
// rows; registration-error (one line per EC2 instance) from each agency's `regerr#` row and
// rejected (one line per refused node) from its `rejected#` row, both written by the tag manager.
// Filter by agency and state; table or --json.
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetCommand, paginateQuery, paginateScan, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SYNC_TABLE } from '../../lambda/shared/names.ts';
import { makeClients, resolveRegion } from './aws.ts';
import { regionErrorCounts } from './lifecycle-status.ts';
import { defaultContext, defineCommand, EXIT, integer, list, OperationError, runCommand, table } from '../kit/index.ts';
import { type Context } from '../kit/index.ts';
import * as v from '../kit/validate.ts';
import { AWS_OPTIONS, centralStackOption, loadConfig } from './common.ts';

export const NODE_STATES = ['applied', 'failed', 'rejected', 'stale', 'registration-error'] as const;
export type NodeState = (typeof NODE_STATES)[number];

export const spec = defineCommand({
  name: 'nodes',
  summary:
    "The hub's managed nodes from the sync-state table: state and reason per node, filtered by agency and state.",
  usage: ['[--agencies 111111111111,…] [--status failed,stale] [--stale-hours 24] [options]'],
  options: [
    list('agencies', { arg: 'ACCOUNT,…', help: 'only these agencies (one table query each)', check: v.accountIds }),
    list('status', {
      arg: 'STATE,…',
      help: `only nodes in these states: ${NODE_STATES.join(', ')}`,
      check: (flag, value) => v.splitList(flag, value).map((x) => v.oneOf(flag, x, NODE_STATES)),
    }),
    integer('stale-hours', { help: 'a node not synced for this many hours is stale', min: 1, max: 720, default: 24 }),
    centralStackOption('central stack name (its SyncTableName output names the table)'),
    ...AWS_OPTIONS,
  ],
});

export interface NodeView {
  /** Absent on a registration error: the instance never became a managed node. */
  managedInstanceId?: string;
  agency: string;
  ec2InstanceId?: string;
  state: NodeState;
  lastSyncAt?: string;
  /** When the agency's collector reported the registration error. */
  reportedAt?: string;
  /** The collector Region that reported the registration error (absent: a collector that names none). */
  region?: string;
  /** When the tag manager refused the node. */
  rejectedAt?: string;
  reason: string;
}

const str = (item: Record<string, unknown>, k: string) =>
  typeof item[k] === 'string' ? (item[k] as string) : undefined;

/** One node row's state and reason: pure, table-tested. */
export function nodeView(item: Record<string, unknown>, now: Date, staleHours: number): NodeView {
  const A = SYNC_TABLE.attributes;
  const base = {
    managedInstanceId: str(item, A.managedInstanceId) ?? '?',
    agency: str(item, A.agencyAccountId) ?? '?',
    ec2InstanceId: str(item, A.ec2InstanceId),
    lastSyncAt: str(item, A.lastSyncAt),
  };
  const error = str(item, A.lastError);
  if (error) return { ...base, state: 'failed', reason: error };
  const at = base.lastSyncAt ? Date.parse(base.lastSyncAt) : NaN;
  if (Number.isNaN(at)) return { ...base, state: 'stale', reason: 'never synced' };
  const hours = (now.getTime() - at) / 3_600_000;
  if (hours > staleHours) return { ...base, state: 'stale', reason: `last synced ${Math.floor(hours)} h ago` };
  return { ...base, state: 'applied', reason: '' };
}

/** The agency a per-agency row belongs to: its key names it (`regerr#<account>`, `rejected#<account>`). */
const agencyOfKey = (key: string, prefix: string) => key.slice(prefix.length);

/**
 * Pure: the lines of a registration-error row: the agency row `regerr#<account>` holds the list of
 * a collector that names no Region; a Region's list is in `regerr#<account>#<region>`.
 */
function registrationErrorViews(item: Record<string, unknown>, key: string): NodeView[] {
  const errors = item.registrationErrors;
  if (typeof errors !== 'object' || errors === null) return [];
  const [agency = '?', region] = agencyOfKey(key, SYNC_TABLE.registrationErrorKeyPrefix).split('#');
  const reportedAt = str(item, region ? 'reportedAt' : SYNC_TABLE.legacyReportedAt) ?? str(item, 'reportedAt');
  return Object.entries(errors as Record<string, unknown>).flatMap(([ec2InstanceId, reason]) =>
    typeof reason === 'string'
      ? [
          {
            agency,
            ec2InstanceId,
            state: 'registration-error' as const,
            ...(region ? { region } : {}),
            reason,
            ...(reportedAt ? { reportedAt } : {}),
          },
        ]
      : [],
  );
}

/**
 * Pure: the lines of an agency's per-agency row: one per EC2 instance its collector reported as
 * failing to register (`regerr#`), or one per node the tag manager refused to it (`rejected#`).
 * Anything else, or a malformed entry, gives no line.
 */
export function perAgencyViews(item: Record<string, unknown>): NodeView[] {
  const key = str(item, SYNC_TABLE.partitionKey) ?? '';
  if (key.startsWith(SYNC_TABLE.registrationErrorKeyPrefix)) return registrationErrorViews(item, key);
  if (key.startsWith(SYNC_TABLE.rejectionKeyPrefix) && Array.isArray(item.rejections)) {
    const agency = agencyOfKey(key, SYNC_TABLE.rejectionKeyPrefix);
    return (item.rejections as unknown[]).flatMap((r) => {
      const e = (typeof r === 'object' && r !== null ? r : {}) as Record<string, unknown>;
      const id = str(e, 'managedInstanceId');
      const reason = str(e, 'reason');
      if (!id || !reason) return [];
      const ec2 = str(e, 'ec2InstanceId');
      const at = str(e, 'at');
      return [
        {
          managedInstanceId: id,
          agency,
          ...(ec2 ? { ec2InstanceId: ec2 } : {}),
          state: 'rejected' as const,
          reason,
          ...(at ? { rejectedAt: at } : {}),
        },
      ];
    });
  }
  return [];
}

/** The per-agency rows `nodes` shows, read by key as `status` reads them. */
const PER_AGENCY_PREFIXES = [SYNC_TABLE.registrationErrorKeyPrefix, SYNC_TABLE.rejectionKeyPrefix] as const;

async function readAgency(ddb: DynamoDBDocumentClient, tableName: string, account: string) {
  const items: Record<string, unknown>[] = [];
  const input = {
    TableName: tableName,
    IndexName: SYNC_TABLE.agencyIndexName,
    KeyConditionExpression: '#a = :a',
    ExpressionAttributeNames: { '#a': SYNC_TABLE.agencyIndexPartitionKey },
    ExpressionAttributeValues: { ':a': account },
  };
  for await (const page of paginateQuery({ client: ddb }, input)) items.push(...(page.Items ?? []));
  for (const prefix of PER_AGENCY_PREFIXES) {
    const key = { [SYNC_TABLE.partitionKey]: `${prefix}${account}` };
    const out = await ddb.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true }));
    if (out.Item) items.push(out.Item);
    if (prefix !== SYNC_TABLE.registrationErrorKeyPrefix) continue;
    // Each Region that reported errors keeps its list in a row of its own.
    for (const { region, count } of regionErrorCounts(out.Item)) {
      if (!region || !count) continue;
      const regionKey = { [SYNC_TABLE.partitionKey]: `${prefix}${account}#${region}` };
      const list = await ddb.send(new GetCommand({ TableName: tableName, Key: regionKey, ConsistentRead: true }));
      if (list.Item) items.push(list.Item);
    }
  }
  return items;
}

async function readRows(ddb: DynamoDBDocumentClient, tableName: string, agencies: string[] | undefined) {
  if (agencies) {
    const items: Record<string, unknown>[] = [];
    for (const account of agencies) items.push(...(await readAgency(ddb, tableName, account)));
    return items;
  }
  // One scan: the node rows (they carry the agency) and the per-agency regerr# and rejected# rows;
  // the request-rate rows (SYNC_TABLE.rateKeyPrefix) are left out.
  const items: Record<string, unknown>[] = [];
  const input = {
    TableName: tableName,
    FilterExpression: 'attribute_exists(#a) OR begins_with(#k, :regerr) OR begins_with(#k, :rejected)',
    ExpressionAttributeNames: { '#a': SYNC_TABLE.attributes.agencyAccountId, '#k': SYNC_TABLE.partitionKey },
    ExpressionAttributeValues: {
      ':regerr': SYNC_TABLE.registrationErrorKeyPrefix,
      ':rejected': SYNC_TABLE.rejectionKeyPrefix,
    },
  };
  for await (const page of paginateScan({ client: ddb }, input)) items.push(...(page.Items ?? []));
  return items;
}

/** Pure: every line of the rows read, node rows by their state and per-agency rows by theirs. */
export function viewsOf(items: Record<string, unknown>[], now: Date, staleHours: number): NodeView[] {
  const A = SYNC_TABLE.attributes.agencyAccountId;
  return items
    .flatMap((i) => (typeof i[A] === 'string' ? [nodeView(i, now, staleHours)] : perAgencyViews(i)))
    .sort(
      (a, b) =>
        a.agency.localeCompare(b.agency) ||
        (a.managedInstanceId ?? '').localeCompare(b.managedInstanceId ?? '') ||
        (a.ec2InstanceId ?? '').localeCompare(b.ec2InstanceId ?? ''),
    );
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o) => {
    const { names } = loadConfig(ctx, o.config);
    const region = await resolveRegion(ctx, o.region, o.profile);
    const clients = makeClients(ctx, o.profile);
    const stackName = o['central-stack'] ?? names.centralStackName;
    const out = await clients.cloudformation(region).send(new DescribeStacksCommand({ StackName: stackName }));
    const tableName = out.Stacks?.[0]?.Outputs?.find((x) => x.OutputKey === 'SyncTableName')?.OutputValue;
    if (!tableName) throw new OperationError(`central stack ${stackName} has no SyncTableName output`);
    const items = await readRows(clients.dynamodb(region), tableName, o.agencies);
    const wanted = o.status ? new Set(o.status) : undefined;
    const views = viewsOf(items, ctx.now(), o['stale-hours']).filter((n) => !wanted || wanted.has(n.state));
    if (o.json) {
      ctx.stdout(`${JSON.stringify({ region, table: tableName, nodes: views }, null, 2)}\n`);
      return EXIT.ok;
    }
    const rows = views.map((n) => [
      n.managedInstanceId ?? '-',
      n.agency,
      n.ec2InstanceId ?? '-',
      n.state,
      n.lastSyncAt ?? n.reportedAt ?? n.rejectedAt ?? '-',
      n.region ? `${n.region}: ${n.reason}` : n.reason,
    ]);
    // The time is the last sync, the registration error's report or the rejection.
    ctx.stdout(
      `${table(['node', 'agency', 'ec2 instance', 'state', 'time', 'reason'], rows)}\n\n${views.length} line(s)\n`,
    );
    return EXIT.ok;
  });
}
