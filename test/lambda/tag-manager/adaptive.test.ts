// The production retry path: without the test-only RETRY_BASE_DELAY_MS override the clients use
// the SDK's adaptive retry mode, which must absorb SSM throttling on its own.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TAG_MANAGER_ENVIRONMENT } from '../../../contract/environment.ts';
import { AGENCY_A, ec2Id, startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    ssm: { throttleRatio: 0.3, seed: 11 },
    env: { [TAG_MANAGER_ENVIRONMENT.retryBaseDelayMs.name]: '' },
  });
  h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: 'irrelevant-code' });
});
afterAll(async () => {
  await h?.close();
});

it('applies every node through the default adaptive retries while SSM throttles 30% of calls (5 nodes)', async () => {
  const nodes = Array.from({ length: 5 }, (_, i) => ({
    id: h.registerNode(700 + i, AGENCY_A, 'act-aaaa'),
    ec2: ec2Id(700 + i),
  }));
  const res = await h.invokeAs(AGENCY_A, {
    op: 'sync',
    instances: nodes.map((x) => ({ ec2InstanceId: x.ec2, managedInstanceId: x.id, tags: { Name: x.id } })),
  });
  expect(res.results.map((r: { status: string }) => r.status)).toEqual(nodes.map(() => 'applied'));
  expect(Object.values(h.ssm.throttled).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  for (const x of nodes) expect(h.ssm.state.tagsOf(x.id)?.Name).toBe(x.id);
});
