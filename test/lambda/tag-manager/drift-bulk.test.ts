// The drift pass and first syncs read tags in bulk (Tagging API GetResources, 100 ARNs a call)
// through the real bundled handler; ListTagsForResource only for nodes the bulk read did not
// return or whose bulk answer disagrees with what the table says was last applied.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TAG_MANAGER_ENV } from '../../../lambda/shared/names.ts';
import { AGENCY_A, ec2Id, harnessForFile, provenanceTags } from './harness.ts';

const h = harnessForFile();
let n = 7000;

beforeEach(() => {
  h.ssm.resetCounters();
  h.tagging.resetCounters();
  h.tagging.stale.clear();
  h.tagging.setThrottleRatio(0);
});
/** Drift checks due for every node (0 hours), or back to the contract's default (undefined). */
const driftCheckHours = (value: string | undefined) => vi.stubEnv(TAG_MANAGER_ENV.driftCheckHours, value);
afterEach(() => {
  driftCheckHours(undefined);
});

interface Node {
  id: string;
  ec2: string;
  tags: Record<string, string>;
}
const fleet = (count: number): Node[] =>
  Array.from({ length: count }, () => {
    const k = ++n;
    return { id: h.registerNode(k, AGENCY_A, 'act-aaaa'), ec2: ec2Id(k), tags: { Name: `n${k}`, Env: 'prod' } };
  });
const sync = (nodes: Node[]) =>
  h.invokeAs(AGENCY_A, {
    op: 'sync',
    instances: nodes.map((x) => ({ ec2InstanceId: x.ec2, managedInstanceId: x.id, tags: x.tags })),
  });
const statuses = (res: { results: Array<{ status: string }> }) => res.results.map((r) => r.status);
const expectInSync = (x: Node) =>
  expect(h.ssm.state.tagsOf(x.id)).toEqual({
    ...x.tags,
    ...provenanceTags(AGENCY_A, x.ec2, x.id),
  });
/** Synced, then every drift check made due. */
async function syncedFleet(count: number): Promise<Node[]> {
  const nodes = fleet(count);
  await sync(nodes);
  h.ssm.resetCounters();
  h.tagging.resetCounters();
  driftCheckHours('0');
  return nodes;
}

describe('first sync', () => {
  it('reads the tags of 100 new nodes in one GetResources call and none one by one', async () => {
    const nodes = fleet(100);
    const res = await sync(nodes);
    expect(statuses(res)).toEqual(Array(100).fill('applied'));
    expect(h.tagging.calls.GetResources).toBe(1);
    expect(h.ssm.calls.ListTagsForResource).toBe(0);
    expect(h.ssm.calls.AddTagsToResource).toBe(100);
  });
});

describe('drift pass', () => {
  it('checks 100 unchanged nodes with one GetResources call and no SSM call, then costs nothing', async () => {
    const nodes = await syncedFleet(100);
    const res = await sync(nodes);
    expect(statuses(res)).toEqual(Array(100).fill('unchanged'));
    expect(h.tagging.calls.GetResources).toBe(1);
    expect(h.ssm.totalCalls()).toBe(0);
    driftCheckHours(undefined);
    h.tagging.resetCounters();
    expect(statuses(await sync(nodes))).toEqual(Array(100).fill('unchanged'));
    expect(h.ssm.totalCalls() + h.tagging.calls.GetResources!).toBe(0);
  });

  it('re-reads only the drifted nodes with ListTagsForResource before repairing them', async () => {
    const nodes = await syncedFleet(100);
    const drifted = [3, 41, 97];
    for (const i of drifted) h.ssm.state.nodes.get(nodes[i]!.id)!.tags.set('Env', 'changed-in-ssm');
    h.ssm.state.nodes.get(nodes[50]!.id)!.tags.set('Stray', 'added-in-ssm');
    const res = await sync(nodes);
    expect(res.results.filter((r: { status: string }) => r.status === 'applied')).toHaveLength(4);
    expect(h.tagging.calls.GetResources).toBe(1);
    expect(h.ssm.calls.ListTagsForResource).toBe(4);
    expect(h.ssm.calls.AddTagsToResource).toBe(3);
    expect(h.ssm.calls.RemoveTagsFromResource).toBe(1);
    for (const x of nodes) expectInSync(x);
  });

  it('writes nothing when a stale bulk answer shows drift that SSM no longer has', async () => {
    const nodes = await syncedFleet(10);
    h.tagging.stale.set(nodes[2]!.id, { Name: 'an-old-name', Env: 'prod' });
    const res = await sync(nodes);
    expect(statuses(res)).toEqual(Array(10).fill('unchanged'));
    expect(h.ssm.calls.ListTagsForResource).toBe(1);
    expect(h.ssm.writeCalls()).toBe(0);
  });

  it('reads a node the bulk read did not return with ListTagsForResource and repairs it', async () => {
    const nodes = await syncedFleet(10);
    h.tagging.stale.set(nodes[4]!.id, null);
    h.ssm.state.nodes.get(nodes[4]!.id)!.tags.delete('Env');
    const res = await sync(nodes);
    expect(res.results[4].status).toBe('applied');
    expect(h.ssm.calls.ListTagsForResource).toBe(1);
    for (const x of nodes) expectInSync(x);
  });

  it('falls back to reading node by node when the Tagging API keeps throttling, and still repairs', async () => {
    const nodes = await syncedFleet(10);
    h.tagging.setThrottleRatio(1);
    h.ssm.state.nodes.get(nodes[1]!.id)!.tags.set('Name', 'tampered');
    const res = await sync(nodes);
    expect(res.results[1].status).toBe('applied');
    expect(res.results.filter((r: { status: string }) => r.status === 'failed')).toHaveLength(0);
    expect(h.ssm.calls.ListTagsForResource).toBe(10);
    for (const x of nodes) expectInSync(x);
    expect(h.logs.some((l) => l.includes('bulk tag read failed'))).toBe(true);
  });
});
