// Under SSM's rate limits a large first sync may not fit one invocation. The tag manager stops
// starting nodes before Lambda's deadline and answers the rest as deferred, so nothing is lost
// to a timeout and the next reconcile picks them up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaContext } from '../../../testing/helpers/bundled.ts';
import { AGENCY_A, aliasArn, ec2Id, startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  h.plantActivation(AGENCY_A, { activationId: 'act-budget', code: 'irrelevant-code' });
});
afterAll(async () => h?.close());

const request = (ids: Array<[number, string]>) => ({
  op: 'sync',
  instances: ids.map(([k, id]) => ({ ec2InstanceId: ec2Id(k), managedInstanceId: id, tags: { Name: `n-${k}` } })),
});

describe('time budget', () => {
  it('defers every node it cannot start in time, writes nothing for them, and applies them on the next call', async () => {
    const nodes: Array<[number, string]> = [5001, 5002, 5003].map((k) => [
      k,
      h.registerNode(k, AGENCY_A, 'act-budget'),
    ]);
    h.ssm.resetCounters();
    const late = await h.invokeWithContext(
      request(nodes),
      lambdaContext(aliasArn(AGENCY_A), { getRemainingTimeInMillis: () => 19_000 }),
    );
    expect(late.results.map((r: { status: string; reason: string }) => [r.status, r.reason])).toEqual(
      nodes.map(() => ['failed', 'deferred: the invocation ran out of time; the next reconcile retries it']),
    );
    expect(h.ssm.writeCalls()).toBe(0);
    // Counted as deferred, not as failures, so the Failed alarm stays quiet.
    expect(h.metrics('Deferred')).toBe(3);
    expect(h.metrics('Failed')).toBe(0);
    expect((await h.rows()).filter((r) => nodes.some(([, id]) => id === r.managedInstanceId))).toEqual([]);

    const next = await h.invokeWithContext(
      request(nodes),
      lambdaContext(aliasArn(AGENCY_A), { getRemainingTimeInMillis: () => 250_000 }),
    );
    expect(next.results.map((r: { status: string }) => r.status)).toEqual(['applied', 'applied', 'applied']);
  });
});
