// The Tagging API's bulk answer can lag behind a node by minutes (aws/aws-sdk #302, #676): a write
// planned from it may meet SSM's 50-tag limit (TooManyTagsError) because central IT added reserved
// tags of its own that the answer does not show yet. The hub then reads the node itself and retries once.
import { describe, expect, it } from 'vitest';
import { AGENCY_A, PREFIX, ec2Id, harnessForFile } from './harness.ts';

const h = harnessForFile();
const sync = async (id: string, k: number, tags: Record<string, string>) =>
  (
    (await h.invokeAs(AGENCY_A, {
      op: 'sync',
      instances: [{ ec2InstanceId: ec2Id(k), managedInstanceId: id, tags }],
    })) as { results: Array<Record<string, unknown>> }
  ).results[0]!;

describe('a bulk tag answer that lags behind central IT', () => {
  it('recounts from SSM and applies what fits when the write meets the tag limit', async () => {
    const k = 8101;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    const tags: Record<string, string> = {};
    for (let i = 0; i < 40; i++) tags[`k${i}`] = 'v';
    expect(await sync(id, k, tags)).toMatchObject({ status: 'applied' });
    const indexed = Object.fromEntries(h.ssm.state.nodes.get(id)!.tags);
    // Central IT adds 6 reserved tags directly in SSM; the bulk answer still shows the old view.
    for (let i = 0; i < 6; i++) h.ssm.state.nodes.get(id)!.tags.set(`${PREFIX}ops${i}`, 'x');
    h.tagging.stale.set(id, indexed);
    const more = { ...tags };
    for (let i = 40; i < 46; i++) more[`k${i}`] = 'v';
    h.ssm.resetCounters();

    const result = await sync(id, k, more);

    expect(result).toMatchObject({ status: 'applied' });
    expect(String(JSON.stringify(result['skippedTags']))).toMatch(/50-tag limit/);
    expect(h.ssm.calls['ListTagsForResource'] ?? 0).toBeGreaterThanOrEqual(1);
    expect(h.ssm.state.nodes.get(id)!.tags.size).toBeLessThanOrEqual(50);
    h.tagging.stale.delete(id);
  });
});
