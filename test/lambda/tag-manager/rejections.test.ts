// Rejections recorded for central IT, through the real bundled handler and dynalite: a refused
// node lands in the CALLER's `rejected#<account>` row (never in the rightful owner's node row),
// newest first, one entry per node, at most MAX_REJECTIONS_KEPT; a request with no rejection
// makes no extra table call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { AGENCY_A, AGENCY_B, ec2Id, miId, startHarness, type Harness } from './harness.ts';
import { MAX_REJECTIONS_KEPT, SYNC_TABLE } from '../../../lambda/shared/names.ts';
import { NOT_OWNED_REASON } from '../../../lambda/tag-manager/ownership.ts';
import { mergeRejections, rejectionsOf, type Rejection } from '../../../lambda/tag-manager/rejections.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: 'CodeOfAgencyA-1' });
  h.plantActivation(AGENCY_B, { activationId: 'act-bbbb', code: 'CodeOfAgencyB-1' });
});
afterAll(async () => h?.close());

const item = async (key: string) => (await h.allItems()).find((r) => r.managedInstanceId === key);
const rejectedRow = (agency: string) => item(`${SYNC_TABLE.rejectionKeyPrefix}${agency}`);
const sync = (instances: Array<{ n: number; ec2?: number }>) => ({
  op: 'sync',
  instances: instances.map(({ n, ec2 }) => ({
    ec2InstanceId: ec2Id(ec2 ?? n),
    managedInstanceId: miId(n),
    tags: { Name: `n${n}` },
  })),
});
/** The DynamoDB calls one invocation makes, by operation. */
async function callsOf(run: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = { ...h.db.calls };
  await run();
  const delta: Record<string, number> = {};
  for (const [op, n] of Object.entries(h.db.calls)) if (n !== (before[op] ?? 0)) delta[op] = n - (before[op] ?? 0);
  return delta;
}

describe('a refused node is recorded in the caller agency’s row', () => {
  it("records B's attempt on A's node in rejected#B and leaves A's node row as it was", async () => {
    h.registerNode(1, AGENCY_A, 'act-aaaa');
    expect((await h.invokeAs(AGENCY_A, sync([{ n: 1 }]))).results[0].status).toBe('applied');
    const owners = await item(miId(1));
    const res = await h.invokeAs(AGENCY_B, sync([{ n: 1, ec2: 99 }]));
    expect(res.results[0]).toMatchObject({ status: 'rejected', reason: NOT_OWNED_REASON });

    expect(await item(miId(1))).toEqual(owners);
    expect(await rejectedRow(AGENCY_A)).toBeUndefined();
    const row = await rejectedRow(AGENCY_B);
    expect(row).toMatchObject({ callerAccountId: AGENCY_B, rejectionCount: 1 });
    expect(row!.agencyAccountId).toBeUndefined();
    expect(row!.rejections).toEqual([
      { managedInstanceId: miId(1), ec2InstanceId: ec2Id(99), reason: NOT_OWNED_REASON, at: expect.any(String) },
    ]);
    expect(row!.lastRejectedAt).toBe(row!.rejections[0].at);
  });

  it('records a refused deregistration too', async () => {
    const res = await h.invokeAs(AGENCY_B, {
      op: 'deregister',
      instances: [{ ec2InstanceId: ec2Id(1), managedInstanceId: miId(1) }],
    });
    expect(res.results[0].status).toBe('rejected');
    expect((await rejectedRow(AGENCY_B))!.rejections[0]).toMatchObject({
      managedInstanceId: miId(1),
      ec2InstanceId: ec2Id(1),
    });
    expect(h.ssm.state.tagsOf(miId(1))).toBeDefined();
  });

  it('makes no extra table call without a rejection, and one read and one write with one', async () => {
    h.registerNode(2, AGENCY_A, 'act-aaaa');
    await h.invokeAs(AGENCY_A, sync([{ n: 2 }]));
    const happy = await callsOf(() => h.invokeAs(AGENCY_A, sync([{ n: 2 }])));
    expect(happy.GetItem ?? 0).toBe(0);
    expect(happy.PutItem ?? 0).toBe(0);
    expect(await rejectedRow(AGENCY_A)).toBeUndefined();
    const mixed = await callsOf(() => h.invokeAs(AGENCY_A, sync([{ n: 2 }, { n: 500 }])));
    // Node 500 is not in the table: its SSM lookup is charged to the agency's minute (one UpdateItem).
    expect(mixed).toEqual({ ...happy, GetItem: 1, PutItem: 1, UpdateItem: (happy.UpdateItem ?? 0) + 1 });
    expect((await rejectedRow(AGENCY_A))!.rejections.map((r: Rejection) => r.managedInstanceId)).toEqual([miId(500)]);
  });

  it(`keeps the newest ${MAX_REJECTIONS_KEPT}, one per node; a node refused again moves to the front`, async () => {
    const many = Array.from({ length: 60 }, (_, i) => ({ n: 1000 + i }));
    const res = await h.invokeAs(AGENCY_B, sync(many));
    expect(res.results.every((r: { status: string }) => r.status === 'rejected')).toBe(true);
    let ids = (await rejectedRow(AGENCY_B))!.rejections.map((r: Rejection) => r.managedInstanceId);
    expect(ids).toHaveLength(MAX_REJECTIONS_KEPT);
    expect(ids[0]).toBe(miId(1059));
    expect(ids).not.toContain(miId(1)); // the oldest were dropped
    await h.invokeAs(AGENCY_B, sync([{ n: 1030 }]));
    const row = (await rejectedRow(AGENCY_B))!;
    ids = row.rejections.map((r: Rejection) => r.managedInstanceId);
    expect(ids[0]).toBe(miId(1030));
    expect(ids.filter((x: string) => x === miId(1030))).toHaveLength(1);
    expect(row.rejectionCount).toBe(MAX_REJECTIONS_KEPT);
  });

  it('keeps the rejection rows out of the byAgency index', async () => {
    for (const agency of [AGENCY_A, AGENCY_B]) {
      const out = await DynamoDBDocumentClient.from(h.db.client).send(
        new QueryCommand({
          TableName: h.db.tableName,
          IndexName: SYNC_TABLE.agencyIndexName,
          KeyConditionExpression: '#a = :a',
          ExpressionAttributeNames: { '#a': SYNC_TABLE.agencyIndexPartitionKey },
          ExpressionAttributeValues: { ':a': agency },
        }),
      );
      const keys = (out.Items ?? []).map((i) => String(i.managedInstanceId));
      expect(keys.filter((k) => k.includes('#'))).toEqual([]);
    }
  });
});

describe('the rejection rules', () => {
  const at = '2026-06-01T12:00:00.000Z';
  const r = (id: string, when = at): Rejection => ({ managedInstanceId: id, reason: 'x', at: when });

  it('keeps only rejected results, with the reason cut at 128 characters as echoed names are', () => {
    const long = 'y'.repeat(300);
    expect(
      rejectionsOf(
        [
          { managedInstanceId: 'mi-1', status: 'applied' },
          { managedInstanceId: 'mi-2', ec2InstanceId: 'i-2', status: 'rejected', reason: long },
          { managedInstanceId: 'mi-3', status: 'failed', reason: 'z' },
        ],
        at,
      ),
    ).toEqual([{ managedInstanceId: 'mi-2', ec2InstanceId: 'i-2', reason: `${'y'.repeat(128)}…`, at }]);
  });

  it.each([
    { case: 'nothing stored', stored: undefined, fresh: [r('a'), r('b')], max: 50, want: ['b', 'a'] },
    { case: 'a stored list', stored: [r('c')], fresh: [r('a')], max: 50, want: ['a', 'c'] },
    { case: 'a node again', stored: [r('a'), r('c')], fresh: [r('c')], max: 50, want: ['c', 'a'] },
    { case: 'over the bound', stored: [r('c'), r('d')], fresh: [r('a'), r('b')], max: 3, want: ['b', 'a', 'c'] },
    {
      case: 'malformed stored entries',
      stored: [{ managedInstanceId: 7 }, 'x', r('c')],
      fresh: [],
      max: 50,
      want: ['c'],
    },
    { case: 'a stored non-list', stored: { '0': r('c') }, fresh: [r('a')], max: 50, want: ['a'] },
  ])('merges $case', ({ stored, fresh, max, want }) => {
    expect(mergeRejections(stored, fresh, max).map((x) => x.managedInstanceId)).toEqual(want);
  });
});
