// nodes: the sync-state table (dynalite, a real DynamoDB API) read node by node, each row's state
// and reason, filtered by agency and state. The per-agency rows are built by the tag manager's own
// record functions, so the CLI reads exactly the shape the hub writes.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { main as nodes, nodeView, perAgencyViews, type NodeState } from '../../scripts/ops/nodes.ts';
import { registrationErrorRecord } from '../../lambda/tag-manager/report.ts';
import { rejectionRecord } from '../../lambda/tag-manager/rejections.ts';
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
  { managedInstanceId: mi(4), agencyAccountId: B, ec2InstanceId: 'i-4', lastSyncAt: hoursAgo(1) },
  { managedInstanceId: 'rate#111111111111', count: 3 },
];
// B's collector reported two instances that failed to register; A reported none.
const REGERR_B = registrationErrorRecord(
  B,
  [
    { ec2InstanceId: 'i-7', error: 'amazon-ssm-agent missing' },
    { ec2InstanceId: 'i-6', error: 'activation expired' },
  ],
  hoursAgo(3),
);
const REGERR_A = registrationErrorRecord(A, [], hoursAgo(3));
// The tag manager refused two nodes to A (one of them B's node mi-4): recorded in A's own row.
const REJECTED_A = rejectionRecord(
  A,
  [
    { managedInstanceId: mi(9), reason: 'managed node is not registered to your agency', at: hoursAgo(1) },
    {
      managedInstanceId: mi(4),
      ec2InstanceId: 'i-40',
      reason: 'managed node is not registered to your agency',
      at: hoursAgo(2),
    },
  ],
  1,
);
const ITEMS = [...ROWS, REGERR_A, REGERR_B, REJECTED_A];

let db: DynaliteHandle;
const cfn = mockClient(CloudFormationClient);
beforeAll(async () => {
  db = await startDynalite(TABLE);
  await DynamoDBDocumentClient.from(db.client).send(
    new BatchWriteCommand({ RequestItems: { [TABLE]: ITEMS.map((Item) => ({ PutRequest: { Item } })) } }),
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
  return JSON.parse(ctx.stdoutText()).nodes as Array<{
    managedInstanceId?: string;
    agency: string;
    ec2InstanceId?: string;
    state: NodeState;
    reason: string;
  }>;
}

const line = (n: { managedInstanceId?: string; agency: string; ec2InstanceId?: string; state: NodeState }) =>
  [n.agency, n.managedInstanceId ?? '-', n.ec2InstanceId ?? '-', n.state].join(' ');

describe('nodeView', () => {
  it.each([
    { case: 'a recent sync', row: ROWS[0]!, state: 'applied', reason: '' },
    { case: 'a sync error', row: ROWS[1]!, state: 'failed', reason: 'TooManyTagsError: 51 tags' },
    { case: 'no sync for 30 h', row: ROWS[2]!, state: 'stale', reason: 'last synced 30 h ago' },
    {
      case: 'no sync at all',
      row: { managedInstanceId: mi(8), agencyAccountId: A },
      state: 'stale',
      reason: 'never synced',
    },
  ])('$case is $state', ({ row, state, reason }) => {
    expect(nodeView(row, NOW, 24)).toMatchObject({ state, reason });
  });
});

describe('perAgencyViews', () => {
  it('gives one registration-error line per EC2 instance, with no node ID (it never registered)', () => {
    expect(perAgencyViews(REGERR_B)).toEqual([
      {
        agency: B,
        ec2InstanceId: 'i-7',
        state: 'registration-error',
        reason: 'amazon-ssm-agent missing',
        reportedAt: hoursAgo(3),
      },
      {
        agency: B,
        ec2InstanceId: 'i-6',
        state: 'registration-error',
        reason: 'activation expired',
        reportedAt: hoursAgo(3),
      },
    ]);
  });

  it('gives one rejected line per refused node, under the agency that was refused', () => {
    expect(perAgencyViews(REJECTED_A)).toEqual([
      {
        managedInstanceId: mi(9),
        agency: A,
        state: 'rejected',
        reason: 'managed node is not registered to your agency',
        rejectedAt: hoursAgo(1),
      },
      {
        managedInstanceId: mi(4),
        agency: A,
        ec2InstanceId: 'i-40',
        state: 'rejected',
        reason: 'managed node is not registered to your agency',
        rejectedAt: hoursAgo(2),
      },
    ]);
  });

  it.each([
    { case: 'a rate row', item: ROWS[4]! },
    { case: 'a registration-error row without its map', item: { managedInstanceId: `regerr#${A}` } },
    {
      case: 'a rejection row whose list holds junk',
      item: { managedInstanceId: `rejected#${A}`, rejections: [7, { reason: 'x' }, null] },
    },
    {
      case: 'a registration error that is not text',
      item: { managedInstanceId: `regerr#${A}`, registrationErrors: { 'i-1': 5 } },
    },
  ])('gives no line for $case', ({ item }) => {
    expect(perAgencyViews(item)).toEqual([]);
  });
});

describe('nodes', () => {
  it('lists every node row, registration error and rejection of every agency (not the rate rows)', async () => {
    expect((await run()).map(line)).toEqual([
      `${A} ${mi(1)} i-1 applied`,
      `${A} ${mi(2)} i-2 failed`,
      `${A} ${mi(3)} i-3 stale`,
      `${A} ${mi(4)} i-40 rejected`,
      `${A} ${mi(9)} - rejected`,
      `${B} - i-6 registration-error`,
      `${B} - i-7 registration-error`,
      `${B} ${mi(4)} i-4 applied`,
    ]);
  });

  it.each([
    { filter: 'applied', want: [`${A} ${mi(1)} i-1 applied`, `${B} ${mi(4)} i-4 applied`] },
    { filter: 'failed', want: [`${A} ${mi(2)} i-2 failed`] },
    { filter: 'stale', want: [`${A} ${mi(3)} i-3 stale`] },
    { filter: 'rejected', want: [`${A} ${mi(4)} i-40 rejected`, `${A} ${mi(9)} - rejected`] },
    { filter: 'registration-error', want: [`${B} - i-6 registration-error`, `${B} - i-7 registration-error`] },
    { filter: 'failed,stale', want: [`${A} ${mi(2)} i-2 failed`, `${A} ${mi(3)} i-3 stale`] },
  ])('--status $filter keeps only those lines', async ({ filter, want }) => {
    expect((await run('--status', filter)).map(line)).toEqual(want);
  });

  it.each([
    {
      agencies: B,
      status: undefined,
      want: [`${B} - i-6 registration-error`, `${B} - i-7 registration-error`, `${B} ${mi(4)} i-4 applied`],
    },
    {
      agencies: A,
      status: 'rejected,registration-error',
      want: [`${A} ${mi(4)} i-40 rejected`, `${A} ${mi(9)} - rejected`],
    },
  ])(
    '--agencies $agencies --status $status reads that agency by key, never by scan',
    async ({ agencies, status, want }) => {
      const before = { ...db.calls };
      const got = await run('--agencies', agencies, ...(status ? ['--status', status] : []));
      expect(got.map(line)).toEqual(want);
      expect((db.calls.Scan ?? 0) - (before.Scan ?? 0)).toBe(0);
      // The byAgency query, then the agency's regerr# and rejected# rows by key, as status reads them.
      expect((db.calls.Query ?? 0) - (before.Query ?? 0)).toBe(1);
      expect((db.calls.GetItem ?? 0) - (before.GetItem ?? 0)).toBe(2);
    },
  );

  it('shows the rejection time and reason in the table', async () => {
    const ctx = testContext(NOW);
    ctx.awsConfig = {
      dynamodb: { endpoint: db.endpoint, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } },
    };
    expect(await nodes(['--status', 'rejected'], ctx)).toBe(0);
    const out = ctx.stdoutText();
    expect(out).toMatch(
      new RegExp(
        `${mi(4)}\\s+${A}\\s+i-40\\s+rejected\\s+${hoursAgo(2)}\\s+managed node is not registered to your agency`,
      ),
    );
    expect(out).toMatch(new RegExp(`${mi(9)}\\s+${A}\\s+-\\s+rejected\\s+${hoursAgo(1)}`));
    expect(out).toContain('2 line(s)');
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
