// Sync behaviour through the real bundled handler: O(changes) cost, removal mirroring, the
// reserved prefix, the 50-tag limit, drift repair and per-node failure isolation.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AGENCY_A, PREFIX, ec2Id, makeDriftCheckDue, provenanceTags, startHarness, type Harness } from './harness.ts';

let h: Harness;
let n = 1000;
let failAddFor: string | undefined;

beforeAll(async () => {
  h = await startHarness({
    ssm: {
      fault: (op, body) =>
        op === 'AddTagsToResource' && body.ResourceId === failAddFor
          ? { __type: 'InternalServerError', message: 'boom', status: 500 }
          : undefined,
    },
  });
  h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: 'irrelevant-code' });
});
afterAll(async () => h?.close());
beforeEach(() => {
  h.ssm.resetCounters();
  h.tagging.resetCounters();
  failAddFor = undefined;
});

const sync = (nodes: Array<{ id: string; ec2: string; tags: Record<string, string> }>) =>
  h.invokeAs(AGENCY_A, {
    op: 'sync',
    instances: nodes.map((x) => ({ ec2InstanceId: x.ec2, managedInstanceId: x.id, tags: x.tags })),
  });
const provenance = (ec2: string, id: string) => provenanceTags(AGENCY_A, ec2, id);

describe('cost', () => {
  it('a resync with no change makes zero SSM calls, for 100 nodes proven either way', async () => {
    const nodes = Array.from({ length: 100 }, (_, i) => {
      const k = ++n;
      // Half proven by activation ID, half only by the stamped tag.
      const id = h.registerNode(k, AGENCY_A, i % 2 === 0 ? 'act-aaaa' : 'act-old');
      return { id, ec2: ec2Id(k), tags: { Name: `node-${k}`, Env: 'prod' } };
    });
    const first = await sync(nodes);
    expect(first.results.every((r: { status: string }) => r.status === 'applied')).toBe(true);
    expect(h.ssm.calls.AddTagsToResource).toBe(100);
    // Describe is batched: 100 IDs in 2 calls of 50.
    expect(h.ssm.calls.DescribeInstanceInformation).toBe(2);

    h.ssm.resetCounters();
    const again = await sync([...nodes].reverse());
    expect(again.results.every((r: { status: string }) => r.status === 'unchanged')).toBe(true);
    expect(h.ssm.writeCalls()).toBe(0);
    expect(h.ssm.totalCalls()).toBe(0);
    expect(h.metrics('Unchanged')).toBeGreaterThanOrEqual(100);
  });

  it('a changed node costs one add call, no SSM read, and one bulk tag read (its stamp checked before the write)', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    await sync([{ id, ec2: ec2Id(k), tags: { Name: 'a' } }]);
    h.ssm.resetCounters();
    h.tagging.resetCounters();
    const res = await sync([{ id, ec2: ec2Id(k), tags: { Name: 'b' } }]);
    expect(res.results[0].status).toBe('applied');
    expect(h.ssm.calls).toMatchObject({
      AddTagsToResource: 1,
      RemoveTagsFromResource: 0,
      ListTagsForResource: 0,
      DescribeInstanceInformation: 0,
    });
    expect(h.tagging.calls.GetResources).toBe(1);
    expect(h.ssm.state.tagsOf(id)?.Name).toBe('b');
  });
});

describe('mirroring', () => {
  it('removes in SSM a tag removed in EC2, and keeps the reserved tags', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    await sync([{ id, ec2: ec2Id(k), tags: { Name: 'web', Env: 'prod', Team: 'ops' } }]);
    const res = await sync([{ id, ec2: ec2Id(k), tags: { Name: 'web' } }]);
    expect(res.results[0].status).toBe('applied');
    expect(h.ssm.state.tagsOf(id)).toEqual({ Name: 'web', ...provenance(ec2Id(k), id) });
    const row = (await h.rows()).find((r) => r.managedInstanceId === id);
    expect(row?.appliedTagKeys).toEqual(['Name']);
  });

  it('refuses another instance of the same agency claiming a node bound to a first one, and changes nothing', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    await sync([{ id, ec2: ec2Id(k), tags: { Name: 'owner' } }]);
    const before = { ...h.ssm.state.tagsOf(id) };
    const rowBefore = (await h.rows()).find((r) => r.managedInstanceId === id);
    h.ssm.resetCounters();
    const res = await sync([{ id, ec2: ec2Id(k + 9000), tags: { Name: 'impostor', Role: 'db' } }]);
    expect(res.results[0]).toMatchObject({
      status: 'rejected',
      reason: 'managed node is bound to another EC2 instance',
    });
    expect(h.ssm.writeCalls()).toBe(0);
    expect(h.ssm.state.tagsOf(id)).toEqual(before);
    expect((await h.rows()).find((r) => r.managedInstanceId === id)).toEqual(rowBefore);
    expect(h.logs.some((l) => l.includes('"event":"security"') && l.includes('bound to another EC2 instance'))).toBe(
      true,
    );
  });

  it('lets exactly one of two instances racing to claim a never-synced node win, and the loser changes nothing', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    const [a, b] = await Promise.all([
      sync([{ id, ec2: ec2Id(k), tags: { Name: 'first', Role: 'web' } }]),
      sync([{ id, ec2: ec2Id(k + 8000), tags: { Name: 'second', Owner: 'x' } }]),
    ]);
    const statuses = [a.results[0].status, b.results[0].status].sort();
    expect(statuses).toEqual(['applied', 'rejected']);
    const winner =
      a.results[0].status === 'applied' ? { ec2: ec2Id(k), name: 'first' } : { ec2: ec2Id(k + 8000), name: 'second' };
    const tags = h.ssm.state.tagsOf(id)!;
    expect(tags.Name).toBe(winner.name);
    expect(tags[`${PREFIX}ec2-instance-id`]).toBe(winner.ec2);
    expect(winner.name === 'first' ? tags.Owner : tags.Role).toBeUndefined();
    expect((await h.rows()).find((r) => r.managedInstanceId === id)?.ec2InstanceId).toBe(winner.ec2);
  });

  it('never writes or removes keys under the reserved prefix, and reports the EC2 tags it skipped', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa', { tags: { [`${PREFIX}patch-group`]: 'ring-1' } });
    const res = await sync([
      {
        id,
        ec2: ec2Id(k),
        tags: {
          Name: 'web',
          [`${PREFIX}patch-group`]: 'ring-0',
          [`${PREFIX}agency-account`]: '222222222222',
          'aws:cloudformation:stack-name': 'stack',
          'bad;value': 'x',
          Long: 'v'.repeat(257),
        },
      },
    ]);
    expect(res.results[0].status).toBe('applied');
    expect(res.results[0].skippedTags.map((s: { key: string }) => s.key).sort()).toEqual(
      ['Long', 'aws:cloudformation:stack-name', 'bad;value', `${PREFIX}agency-account`, `${PREFIX}patch-group`].sort(),
    );
    expect(h.ssm.state.tagsOf(id)).toEqual({
      Name: 'web',
      [`${PREFIX}patch-group`]: 'ring-1',
      ...provenance(ec2Id(k), id),
    });
    // Removing every EC2 tag leaves the reserved ones alone.
    await sync([{ id, ec2: ec2Id(k), tags: {} }]);
    expect(h.ssm.state.tagsOf(id)).toEqual({ [`${PREFIX}patch-group`]: 'ring-1', ...provenance(ec2Id(k), id) });
  });
});

describe('the 50-tag limit', () => {
  // 50 user tags: the most EC2 lets an instance carry (the request schema refuses more).
  const fifty = () =>
    Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`tag-${String(i).padStart(2, '0')}`, `v${i}`]));

  it('keeps the first 46 user tags by key order and reports the rest, the same way every time', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    const res = await sync([{ id, ec2: ec2Id(k), tags: fifty() }]);
    expect(res.results[0].status).toBe('applied');
    const tags = h.ssm.state.tagsOf(id)!;
    expect(Object.keys(tags)).toHaveLength(50);
    expect(tags['tag-45']).toBe('v45');
    expect(tags['tag-46']).toBeUndefined();
    const over = res.results[0].skippedTags.filter((s: { reason: string }) => /50-tag limit/.test(s.reason));
    expect(over.map((s: { key: string }) => s.key)).toEqual(Array.from({ length: 4 }, (_, i) => `tag-${46 + i}`));
    h.ssm.resetCounters();
    const reversed = Object.fromEntries(Object.entries(fifty()).reverse());
    const again = await sync([{ id, ec2: ec2Id(k), tags: reversed }]);
    expect(again.results[0].status).toBe('unchanged');
    expect(h.ssm.totalCalls()).toBe(0);
  });

  it('recounts from SSM when central IT holds more reserved tags, instead of failing', async () => {
    const k = ++n;
    const extra = { [`${PREFIX}a`]: '1', [`${PREFIX}b`]: '2', [`${PREFIX}c`]: '3' };
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa', { tags: extra });
    const res = await sync([{ id, ec2: ec2Id(k), tags: fifty() }]);
    expect(res.results[0].status).toBe('applied');
    // One read of the node's tags (the first sync's, in bulk) counts central IT's tags.
    expect(h.ssm.calls.ListTagsForResource! + h.tagging.calls.GetResources!).toBe(1);
    const tags = h.ssm.state.tagsOf(id)!;
    expect(Object.keys(tags)).toHaveLength(50);
    expect(tags).toMatchObject(extra);
    expect(Object.keys(tags).filter((t) => t.startsWith('tag-'))).toHaveLength(43);
    // The recount is remembered: the next identical sync costs nothing.
    h.ssm.resetCounters();
    expect((await sync([{ id, ec2: ec2Id(k), tags: fifty() }])).results[0].status).toBe('unchanged');
    expect(h.ssm.totalCalls()).toBe(0);
  });
});

describe('first sync', () => {
  it('removes a non-reserved tag that was on the node before its first sync, and keeps reserved ones', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa', {
      tags: { Stray: 'set-by-hand', [`${PREFIX}patch-group`]: 'ring-1' },
    });
    const res = await sync([{ id, ec2: ec2Id(k), tags: { Name: 'web' } }]);
    expect(res.results[0].status).toBe('applied');
    expect(h.ssm.state.tagsOf(id)).toEqual({
      Name: 'web',
      [`${PREFIX}patch-group`]: 'ring-1',
      ...provenance(ec2Id(k), id),
    });
    // The read counts as the drift check: the next identical sync costs nothing.
    h.ssm.resetCounters();
    expect((await sync([{ id, ec2: ec2Id(k), tags: { Name: 'web' } }])).results[0].status).toBe('unchanged');
    expect(h.ssm.totalCalls()).toBe(0);
  });
});

describe('drift pass', () => {
  it('re-reads SSM when the drift check is due and repairs tags changed behind its back', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    await sync([{ id, ec2: ec2Id(k), tags: { Name: 'web' } }]);
    const node = h.ssm.state.nodes.get(id)!;
    node.tags.set('Name', 'tampered');
    node.tags.set('Stray', 'x');
    // Not due yet: nothing is read, so nothing is noticed.
    h.ssm.resetCounters();
    expect((await sync([{ id, ec2: ec2Id(k), tags: { Name: 'web' } }])).results[0].status).toBe('unchanged');
    expect(h.ssm.totalCalls()).toBe(0);
    await makeDriftCheckDue(h, id);
    const res = await sync([{ id, ec2: ec2Id(k), tags: { Name: 'web' } }]);
    expect(res.results[0].status).toBe('applied');
    expect(h.ssm.calls.ListTagsForResource).toBe(1);
    expect(h.ssm.state.tagsOf(id)).toEqual({ Name: 'web', ...provenance(ec2Id(k), id) });
    const row = (await h.rows()).find((r) => r.managedInstanceId === id);
    expect(Date.parse(row!.lastDriftCheckAt)).toBeGreaterThan(Date.parse('2025-01-01'));
  });
});

describe('failure isolation', () => {
  it('reports a node SSM keeps failing as failed with the reason, records it, and applies the others', async () => {
    const keys = [++n, ++n, ++n];
    const nodes = keys.map((k) => ({
      id: h.registerNode(k, AGENCY_A, 'act-aaaa'),
      ec2: ec2Id(k),
      tags: { Name: `n${k}` },
    }));
    failAddFor = nodes[1]!.id;
    const res = await sync(nodes);
    expect(res.results.map((r: { status: string }) => r.status)).toEqual(['applied', 'failed', 'applied']);
    expect(res.results[1].reason).toMatch(/InternalServerError/);
    // The agency sees the error's name only; AWS's message (which can name hub roles) stays in the hub's logs.
    expect(res.results[1].reason).not.toContain('boom');
    expect(h.logs.some((l) => l.includes('"detail":"boom"'))).toBe(true);
    const row = (await h.rows()).find((r) => r.managedInstanceId === nodes[1]!.id);
    expect(row).toMatchObject({ agencyAccountId: AGENCY_A, lastError: expect.stringMatching(/InternalServerError/) });
    expect(row?.fingerprint).toBeUndefined();
    // The next sync retries it (ownership now comes from the table) and clears the error.
    failAddFor = undefined;
    h.ssm.resetCounters();
    const retry = await sync(nodes);
    expect(retry.results.map((r: { status: string }) => r.status)).toEqual(['unchanged', 'applied', 'unchanged']);
    expect(h.ssm.calls.DescribeInstanceInformation).toBe(0);
    const fixed = (await h.rows()).find((r) => r.managedInstanceId === nodes[1]!.id);
    expect(fixed?.lastError).toBeUndefined();
    expect(h.ssm.state.tagsOf(nodes[1]!.id)?.Name).toBe(`n${keys[1]}`);
  });
});
