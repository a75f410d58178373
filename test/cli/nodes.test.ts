// nodes: the sync-state table (dynalite, a real DynamoDB API) read node by node, each row's state
// and reason, filtered by agency and state.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { main as nodes, nodeView, type NodeState } from '../../scripts/ops/nodes.ts';
import { startDynalite, type DynaliteHandle } from '../../testing/helpers/dynalite.ts';
import { testContext } from './helpers.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const A = '111111111111';
const B = '222222222222';
const TABLE = 'ssm-hub-sync-state';
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000).toISOString();
const mi = (n: number) => `mi-${String(n).padStart(17, '0')}`;

const ROWS = [
  { managedInstanceId: mi(1), agencyAccountId: A, ec2InstanceId: 'i-1', lastSyncAt: hoursAgo(1) },
  {
    managedInstanceId: mi(2),
    agencyAccountId: A,
    ec2InstanceId: 'i-2',
    lastSyncAt: hoursAgo(2),
    lastError: 'TooManyTagsError: 51 tags',
  },
  { managedInstanceId: mi(3), agencyAccountId: A, ec2InstanceId: 'i-3', lastSyncAt: hoursAgo(30) },
  {
    managedInstanceId: mi(4),
    agencyAccountId: B,
    ec2InstanceId: 'i-4',
    lastSyncAt: hoursAgo(1),
    lastRejection: 'node not registered by this agency',
  },
  { managedInstanceId: mi(5), agencyAccountId: B, ec2InstanceId: 'i-5', registrationError: 'amazon-ssm-agent missing' },
  { managedInstanceId: 'rate#111111111111', count: 3 },
];

let db: DynaliteHandle;
const cfn = mockClient(CloudFormationClient);
beforeAll(async () => {
  db = await startDynalite(TABLE);
  await DynamoDBDocumentClient.from(db.client).send(
    new BatchWriteCommand({ RequestItems: { [TABLE]: ROWS.map((Item) => ({ PutRequest: { Item } })) } }),
  );
});
afterAll(async () => {
  cfn.restore();
  await db.close();
});
beforeEach(() => {
  cfn.reset();
  cfn.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: 'ssm-hub-central-manager',
        StackStatus: 'CREATE_COMPLETE',
        CreationTime: NOW,
        Outputs: [{ OutputKey: 'SyncTableName', OutputValue: TABLE }],
      },
    ],
  });
});

async function run(...argv: string[]) {
  const ctx = testContext(NOW);
  ctx.awsConfig = {
    dynamodb: { endpoint: db.endpoint, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } },
  };
  const code = await nodes([...argv, '--json'], ctx);
  expect(code, ctx.stderrText()).toBe(0);
  return JSON.parse(ctx.stdoutText()).nodes as Array<{ managedInstanceId: string; state: NodeState; reason: string }>;
}

describe('nodeView', () => {
  it.each([
    { case: 'a recent sync', row: ROWS[0]!, state: 'applied', reason: '' },
    { case: 'a sync error', row: ROWS[1]!, state: 'failed', reason: 'TooManyTagsError: 51 tags' },
    { case: 'no sync for 30 h', row: ROWS[2]!, state: 'stale', reason: 'last synced 30 h ago' },
    { case: 'a rejection', row: ROWS[3]!, state: 'rejected', reason: 'node not registered by this agency' },
    { case: 'a registration error', row: ROWS[4]!, state: 'registration-error', reason: 'amazon-ssm-agent missing' },
  ])('$case is $state', ({ row, state, reason }) => {
    expect(nodeView(row, NOW, 24)).toMatchObject({ state, reason });
  });
});

describe('nodes', () => {
  it('lists every node row of every agency (not the rate rows), with its state', async () => {
    const all = await run();
    expect(all.map((n) => [n.managedInstanceId, n.state])).toEqual([
      [mi(1), 'applied'],
      [mi(2), 'failed'],
      [mi(3), 'stale'],
      [mi(4), 'rejected'],
      [mi(5), 'registration-error'],
    ]);
  });

  it.each([
    { filter: 'applied', want: [mi(1)] },
    { filter: 'failed', want: [mi(2)] },
    { filter: 'stale', want: [mi(3)] },
    { filter: 'rejected', want: [mi(4)] },
    { filter: 'registration-error', want: [mi(5)] },
    { filter: 'failed,stale', want: [mi(2), mi(3)] },
  ])('--status $filter keeps only those nodes', async ({ filter, want }) => {
    expect((await run('--status', filter)).map((n) => n.managedInstanceId)).toEqual(want);
  });

  it('--agencies reads only that agency', async () => {
    expect((await run('--agencies', B)).map((n) => n.managedInstanceId)).toEqual([mi(4), mi(5)]);
  });

  it('--stale-hours moves the line between applied and stale', async () => {
    expect((await run('--stale-hours', '48', '--status', 'stale')).map((n) => n.managedInstanceId)).toEqual([]);
  });

  it('prints a table with the reasons, and --output json equals --json', async () => {
    const ctx = testContext(NOW);
    ctx.awsConfig = {
      dynamodb: { endpoint: db.endpoint, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } },
    };
    expect(await nodes(['--status', 'failed'], ctx)).toBe(0);
    expect(ctx.stdoutText()).toMatch(
      new RegExp(`${mi(2)}\\s+${A}\\s+i-2\\s+failed\\s+\\S+\\s+TooManyTagsError: 51 tags`),
    );
    const json = testContext(NOW);
    json.awsConfig = ctx.awsConfig;
    expect(await nodes(['--status', 'failed', '--output', 'json'], json)).toBe(0);
    expect(JSON.parse(json.stdoutText()).nodes).toHaveLength(1);
  });

  it('refuses an unknown state before any AWS call', async () => {
    const ctx = testContext(NOW);
    expect(await nodes(['--status', 'broken'], ctx)).toBe(2);
    expect(ctx.stderrText()).toContain('--status: "broken" is not allowed');
    expect(cfn.calls()).toHaveLength(0);
  });
});
