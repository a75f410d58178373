// Resilience: with 30% of SSM calls throttled (HTTP 400 ThrottlingException, as SSM answers),
// a 500-node sync (5 requests of 100, run at once) converges and loses nothing.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AGENCY_A, ec2Id, provenanceTags, startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ ssm: { throttleRatio: 0.3, seed: 42 } });
  h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: 'irrelevant-code' });
});
afterAll(async () => h?.close());

const NODES = 500;
const PER_REQUEST = 100;

it('converges on a 500-node sync with 30% of SSM calls throttled, nothing lost', async () => {
  const nodes = Array.from({ length: NODES }, (_, i) => {
    const k = 5000 + i;
    // Every tenth node is known only by its stamped tag, so ListTagsForResource is exercised too.
    const id = h.registerNode(k, AGENCY_A, i % 10 === 0 ? 'act-retired' : 'act-aaaa', {
      tags: i % 7 === 0 ? { Stale: 'x' } : {},
    });
    return {
      id,
      ec2: ec2Id(k),
      tags: { Name: `node-${i}`, Env: i % 2 ? 'prod' : 'test', 'aws:autoscaling:groupName': 'asg' },
    };
  });
  const requests = Array.from({ length: NODES / PER_REQUEST }, (_, r) => ({
    op: 'sync',
    instances: nodes
      .slice(r * PER_REQUEST, (r + 1) * PER_REQUEST)
      .map((x) => ({ ec2InstanceId: x.ec2, managedInstanceId: x.id, tags: x.tags })),
  }));

  // What the scheduled reconcile does: resend whatever did not land. Every node must be accounted
  // for in every round (applied, unchanged or failed with a reason), never silently dropped.
  let pending = requests;
  let rounds = 0;
  const firstRoundStatuses: string[] = [];
  while (pending.length > 0) {
    rounds++;
    expect(rounds).toBeLessThanOrEqual(3);
    const answers = await Promise.all(pending.map((req) => h.invokeAs(AGENCY_A, req)));
    const retry: typeof requests = [];
    answers.forEach((ans, i) => {
      expect(ans.results).toHaveLength(pending[i]!.instances.length);
      for (const r of ans.results) {
        expect(['applied', 'unchanged', 'failed']).toContain(r.status);
        if (r.status === 'failed') expect(r.reason).toBeTruthy();
        if (rounds === 1) firstRoundStatuses.push(r.status);
      }
      const failedIds = new Set(
        ans.results
          .filter((r: { status: string }) => r.status === 'failed')
          .map((r: { managedInstanceId: string }) => r.managedInstanceId),
      );
      const again = pending[i]!.instances.filter((x) => failedIds.has(x.managedInstanceId));
      if (again.length) retry.push({ op: 'sync', instances: again });
    });
    pending = retry;
  }

  expect(firstRoundStatuses).toHaveLength(NODES);
  // The fake really throttled a lot of calls, and the SDK's retries absorbed them.
  const throttled = Object.values(h.ssm.throttled).reduce((a, b) => a + b, 0);
  expect(throttled).toBeGreaterThan(0.2 * h.ssm.totalCalls());
  expect(firstRoundStatuses.filter((s) => s === 'applied').length).toBeGreaterThan(NODES * 0.95);

  for (const x of nodes) {
    // A stale tag from before the first sync is gone too: a first sync reads the node's tags.
    expect(h.ssm.state.tagsOf(x.id)).toEqual({
      Name: x.tags.Name,
      Env: x.tags.Env,
      ...provenanceTags(AGENCY_A, x.ec2, x.id),
    });
  }
  const rows = await h.rows();
  expect(rows).toHaveLength(NODES);
  expect(
    rows.every((r) => r.agencyAccountId === AGENCY_A && typeof r.fingerprint === 'string' && r.lastError === undefined),
  ).toBe(true);

  // And a full resync afterwards is free, throttling or not.
  h.ssm.resetCounters();
  const again = await Promise.all(requests.map((req) => h.invokeAs(AGENCY_A, req)));
  expect(again.flatMap((a) => a.results).every((r: { status: string }) => r.status === 'unchanged')).toBe(true);
  expect(h.ssm.totalCalls()).toBe(0);
});
