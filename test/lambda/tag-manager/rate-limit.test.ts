// One agency must not use up the hub for everyone: each agency may make a bounded number of
// requests per minute (AGENCY_REQUESTS_PER_MINUTE); beyond that the hub answers Throttled and
// does no work. The count lives in one row per agency of the sync-state table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { AGENCY_A, AGENCY_B, ec2Id, startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { AGENCY_REQUESTS_PER_MINUTE: '3' } });
  h.plantActivation(AGENCY_A, { activationId: 'act-rate-a', code: 'irrelevant-a' });
  h.plantActivation(AGENCY_B, { activationId: 'act-rate-b', code: 'irrelevant-b' });
});
afterAll(async () => {
  delete process.env.AGENCY_REQUESTS_PER_MINUTE;
  await h?.close();
});

const syncOne = (agency: string, k: number) =>
  h.invokeAs(agency, {
    op: 'sync',
    instances: [
      {
        ec2InstanceId: ec2Id(k),
        managedInstanceId: h.registerNode(k, agency, agency === AGENCY_A ? 'act-rate-a' : 'act-rate-b'),
        tags: { Name: `n${k}` },
      },
    ],
  });

describe('per-agency request limit', () => {
  it('answers Throttled beyond the limit in one minute, doing no work, while other agencies carry on', async () => {
    const first = await Promise.all([7001, 7002, 7003].map((k) => syncOne(AGENCY_A, k)));
    expect(first.every((a) => Array.isArray(a.results))).toBe(true);

    h.ssm.resetCounters();
    const over = await syncOne(AGENCY_A, 7004);
    expect(over).toEqual({
      error: { code: 'Throttled', message: 'more than 3 requests this minute from this agency; retry later' },
    });
    expect(h.ssm.totalCalls()).toBe(0);
    expect(h.metrics('ThrottledRequests')).toBeGreaterThanOrEqual(1);

    const other = await syncOne(AGENCY_B, 7005);
    expect(other.results[0].status).toBe('applied');
  });

  it('admits the agency again in the next minute', async () => {
    // Move the counter's window back one minute, as the clock would.
    await DynamoDBDocumentClient.from(h.db.client).send(
      new UpdateCommand({
        TableName: h.db.tableName,
        Key: { managedInstanceId: `rate#${AGENCY_A}` },
        UpdateExpression: 'SET rateWindow = rateWindow - :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    const again = await syncOne(AGENCY_A, 7006);
    expect(again.results[0].status).toBe('applied');
  });

  it('keeps the counters out of the node rows', async () => {
    expect((await h.rows()).some((r) => String(r.managedInstanceId).startsWith('rate#'))).toBe(false);
    expect(
      (await h.allItems())
        .filter((r) => String(r.managedInstanceId).startsWith('rate#'))
        .map((r) => r.managedInstanceId)
        .sort(),
    ).toEqual([`rate#${AGENCY_A}`, `rate#${AGENCY_B}`]);
  });
});
