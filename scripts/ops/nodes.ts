// `ssm-hub nodes`: the hub's nodes from the sync-state table, one line each with its state and
// why: applied, failed (the last sync's error), stale (no sync for --stale-hours), and rejected or
// registration error where the row records them. Filter by agency and state; table or --json.
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { paginateQuery, paginateScan, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SYNC_TABLE } from '../../lambda/shared/names.ts';
import { makeClients, resolveRegion } from './aws.ts';
import {
  defaultContext,
  defineCommand,
  EXIT,
  integer,
  list,
  OperationError,
  runCommand,
  table,
  type Context,
} from '../kit/index.ts';
import * as v from '../kit/validate.ts';
import { AWS_OPTIONS, centralStackOption, loadConfig } from './common.ts';

export const NODE_STATES = ['applied', 'failed', 'rejected', 'stale', 'registration-error'] as const;
export type NodeState = (typeof NODE_STATES)[number];

/**
 * Row attributes for states the tag manager does not write today: a refused node gets no row
 * (ownership is checked before any write) and registration errors live on the EC2 instance's tag.
 * A row that carries one of these is shown with that state; none is invented.
 */
export const STATE_ATTRIBUTES = { rejected: 'lastRejection', registrationError: 'registrationError' } as const;

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
  managedInstanceId: string;
  agency: string;
  ec2InstanceId?: string;
  state: NodeState;
  lastSyncAt?: string;
  reason: string;
}

const str = (item: Record<string, unknown>, k: string) =>
  typeof item[k] === 'string' ? (item[k] as string) : undefined;

/** One row's state and reason: pure, table-tested. */
export function nodeView(item: Record<string, unknown>, now: Date, staleHours: number): NodeView {
  const A = SYNC_TABLE.attributes;
  const base = {
    managedInstanceId: str(item, A.managedInstanceId) ?? '?',
    agency: str(item, A.agencyAccountId) ?? '?',
    ec2InstanceId: str(item, A.ec2InstanceId),
    lastSyncAt: str(item, A.lastSyncAt),
  };
  const registration = str(item, STATE_ATTRIBUTES.registrationError);
  if (registration) return { ...base, state: 'registration-error', reason: registration };
  const rejected = str(item, STATE_ATTRIBUTES.rejected);
  if (rejected) return { ...base, state: 'rejected', reason: rejected };
  const error = str(item, A.lastError);
  if (error) return { ...base, state: 'failed', reason: error };
  const at = base.lastSyncAt ? Date.parse(base.lastSyncAt) : NaN;
  if (Number.isNaN(at)) return { ...base, state: 'stale', reason: 'never synced' };
  const hours = (now.getTime() - at) / 3_600_000;
  if (hours > staleHours) return { ...base, state: 'stale', reason: `last synced ${Math.floor(hours)} h ago` };
  return { ...base, state: 'applied', reason: '' };
}

async function readRows(ddb: DynamoDBDocumentClient, tableName: string, agencies: string[] | undefined) {
  const items: Record<string, unknown>[] = [];
  if (agencies) {
    for (const account of agencies) {
      const input = {
        TableName: tableName,
        IndexName: SYNC_TABLE.agencyIndexName,
        KeyConditionExpression: '#a = :a',
        ExpressionAttributeNames: { '#a': SYNC_TABLE.agencyIndexPartitionKey },
        ExpressionAttributeValues: { ':a': account },
      };
      for await (const page of paginateQuery({ client: ddb }, input)) items.push(...(page.Items ?? []));
    }
    return items;
  }
  // Every node row; the per-agency rate rows have no agency attribute (SYNC_TABLE.rateKeyPrefix).
  const input = {
    TableName: tableName,
    FilterExpression: 'attribute_exists(#a)',
    ExpressionAttributeNames: { '#a': SYNC_TABLE.attributes.agencyAccountId },
  };
  for await (const page of paginateScan({ client: ddb }, input)) items.push(...(page.Items ?? []));
  return items;
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
    const views = items
      .map((i) => nodeView(i, ctx.now(), o['stale-hours']))
      .filter((n) => !wanted || wanted.has(n.state))
      .sort((a, b) => (a.agency + a.managedInstanceId).localeCompare(b.agency + b.managedInstanceId));
    if (o.json) {
      ctx.stdout(`${JSON.stringify({ region, table: tableName, nodes: views }, null, 2)}\n`);
      return EXIT.ok;
    }
    const rows = views.map((n) => [
      n.managedInstanceId,
      n.agency,
      n.ec2InstanceId ?? '-',
      n.state,
      n.lastSyncAt ?? '-',
      n.reason,
    ]);
    ctx.stdout(
      `${table(['node', 'agency', 'ec2 instance', 'state', 'last sync', 'reason'], rows)}\n\n${views.length} node(s)\n`,
    );
    return EXIT.ok;
  });
}
