// What made-up node IDs cost the hub. SSM's DescribeInstanceInformation fails a whole InstanceIds
// batch on one unknown ID (API reference; the fake does the same), so unknown IDs are found by
// splitting batches: at most 2n - 1 describes for n IDs. The hub reads no tags for a node the
// describe did not find, and charges each node it must look up in SSM (one the table does not know)
// to the agency's per-minute budget, so one agency cannot turn requests into hundreds of SSM calls
// each, all minute long.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TAG_MANAGER_ENVIRONMENT as T } from '../../../contract/environment.ts';
import { AGENCY_A, ec2Id, miId, startHarness, type Harness } from './harness.ts';

const LIMIT = T.agencyRequestsPerMinute.min;
let h: Harness;
let knownId: string;
beforeAll(async () => {
  h = await startHarness({ env: { [T.agencyRequestsPerMinute.name]: String(LIMIT) } });
  h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: 'code-a' });
  // One node synced before the budget is used up: the table knows it from then on.
  knownId = h.registerNode(0xabe00001, AGENCY_A, 'act-aaaa');
  const first = await h.invokeAs(AGENCY_A, {
    op: 'sync',
    instances: [{ ec2InstanceId: ec2Id(0xabe00001), managedInstanceId: knownId, tags: { Name: 'known' } }],
  });
  expect(first.results[0].status).toBe('applied');
});
afterAll(async () => h?.close());

/** The clock moves on one minute: the lookup window is older, so the budget starts again. */
async function nextMinute() {
  await DynamoDBDocumentClient.from(h.db.client).send(
    new UpdateCommand({
      TableName: h.db.tableName,
      Key: { managedInstanceId: `rate#${AGENCY_A}` },
      UpdateExpression: 'SET lookupWindow = lookupWindow - :one',
      ExpressionAttributeValues: { ':one': 1 },
    }),
  );
}

const madeUp = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ ec2InstanceId: ec2Id(from + i), managedInstanceId: miId(from + i) }));

describe('a request of 100 made-up node IDs', () => {
  it('reads no tags and makes at most two SSM calls per ID (was ~3: a tag read each as well)', async () => {
    await nextMinute();
    h.ssm.resetCounters();
    const res = await h.invokeAs(AGENCY_A, { op: 'deregister', instances: madeUp(0xabc00000, 100) });
    expect(res.results.map((r: { status: string; reason: string }) => `${r.status}: ${r.reason}`)).toEqual(
      Array(100).fill('unchanged: already deregistered'),
    );
    expect(h.ssm.calls.ListTagsForResource).toBe(0);
    expect(h.ssm.calls.GetParameter).toBe(1);
    // Two batches of 50 split down to single IDs: 2 x (2 x 50 - 1).
    expect(h.ssm.calls.DescribeInstanceInformation).toBeLessThanOrEqual(198);
    expect(h.ssm.totalCalls()).toBeLessThanOrEqual(2 * 100);
  });

  it("once the minute's node lookups are used up, defers unknown nodes without any SSM call", async () => {
    h.ssm.resetCounters();
    h.logs.length = 0;
    const res = await h.invokeAs(AGENCY_A, {
      op: 'sync',
      instances: madeUp(0xabd00000, 100).map((i) => ({ ...i, tags: {} })),
    });
    expect(new Set(res.results.map((r: { status: string }) => r.status))).toEqual(new Set(['failed']));
    expect(res.results[0].reason).toMatch(/^deferred: the agency used up its node lookups this minute/);
    expect(h.ssm.totalCalls()).toBe(0);
    // Deferred, not failed: the Failed alarm stays quiet.
    expect(h.metrics('Deferred')).toBe(100);
    expect(h.metrics('Failed')).toBe(0);
  });

  it('still answers nodes the table knows, and looks the waiting ones up in the next minute', async () => {
    const known = { ec2InstanceId: ec2Id(0xabe00001), managedInstanceId: knownId, tags: { Name: 'known' } };
    const fresh = {
      ec2InstanceId: ec2Id(0xabe00002),
      managedInstanceId: h.registerNode(0xabe00002, AGENCY_A, 'act-aaaa'),
      tags: { Name: 'fresh' },
    };
    const res = await h.invokeAs(AGENCY_A, { op: 'sync', instances: [known, fresh] });
    expect(res.results.map((r: { status: string }) => r.status)).toEqual(['unchanged', 'failed']);
    expect(res.results[1].reason).toMatch(/^deferred:/);

    await nextMinute();
    const next = await h.invokeAs(AGENCY_A, { op: 'sync', instances: [known, fresh] });
    expect(next.results.map((r: { status: string }) => r.status)).toEqual(['unchanged', 'applied']);
  });
});
