// One agency must not use up the hub for everyone: each agency may make a bounded number of
// requests per minute (AGENCY_REQUESTS_PER_MINUTE); beyond that the hub answers Throttled and
// does no work. The count lives in one row per agency of the sync-state table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TAG_MANAGER_ENVIRONMENT as T } from '../../../contract/environment.ts';
import { AGENCY_A, AGENCY_B, ec2Id, startHarness, type Harness } from './harness.ts';

// The smallest limit the contract allows (the build configuration refuses less, and so does the handler).
const LIMIT = T.agencyRequestsPerMinute.min;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { [T.agencyRequestsPerMinute.name]: String(LIMIT) } });
  h.plantActivation(AGENCY_A, { activationId: 'act-rate-a', code: 'irrelevant-a' });
  h.plantActivation(AGENCY_B, { activationId: 'act-rate-b', code: 'irrelevant-b' });
});
afterAll(async () => {
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
    const first = await Promise.all(Array.from({ length: LIMIT }, (_, i) => syncOne(AGENCY_A, 7101 + i)));
    expect(first.every((a) => Array.isArray(a.results))).toBe(true);

    h.ssm.resetCounters();
    const over = await syncOne(AGENCY_A, 7004);
    expect(over).toEqual({
      error: { code: 'Throttled', message: `more than ${LIMIT} requests this minute from this agency; retry later` },
    });
    expect(h.ssm.totalCalls()).toBe(0);
    expect(h.metrics('ThrottledRequests')).toBeGreaterThanOrEqual(1);

    const other = await syncOne(AGENCY_B, 7005);
    expect(other.results[0].status).toBe('applied');
  });

  it('admits the agency again in the next minute', async () => {
    // Move the counters' windows back one minute, as the clock would (requests, and the node
    // lookups: each new node of this test is one the table does not know).
    await DynamoDBDocumentClient.from(h.db.client).send(
      new UpdateCommand({
        TableName: h.db.tableName,
        Key: { managedInstanceId: `rate#${AGENCY_A}` },
        UpdateExpression: 'SET rateWindow = rateWindow - :one, lookupWindow = lookupWindow - :one',
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
