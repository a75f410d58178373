// A sync writes in two calls (remove, then add). When the second fails, SSM holds neither the old
// nor the new tags, so the row must stop claiming the old ones were applied: a later sync back to
// the old tags must write them again, not answer "unchanged" until the drift check. TooManyUpdates
// (another writer on the same node; a documented HTTP 400 of AddTagsToResource and
// RemoveTagsFromResource) is retried with a bounded backoff first.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AGENCY_A, ec2Id, startHarness, type Harness } from './harness.ts';
import type { FakeError } from '../../../testing/fakes/ssm-fake.ts';
import { TOO_MANY_UPDATES_RETRIES, tooManyUpdatesDelayMs } from '../../../lambda/tag-manager/ssm-io.ts';

let h: Harness;
let n = 7000;
/** The next `times` calls of `op` for node `id` answer TooManyUpdates. */
let fault: { op: string; id: string; times: number } | undefined;

beforeAll(async () => {
  h = await startHarness({
    ssm: {
      fault: (op, body): FakeError | undefined => {
        if (!fault || op !== fault.op || body.ResourceId !== fault.id || fault.times <= 0) return undefined;
        fault.times--;
        // API reference, AddTagsToResource / RemoveTagsFromResource, Errors: TooManyUpdates, HTTP 400.
        return {
          __type: 'TooManyUpdates',
          message: 'There are concurrent updates for a resource that supports one update at a time.',
          status: 400,
        };
      },
    },
  });
  h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: 'code-a' });
});
afterAll(async () => h?.close());
beforeEach(() => {
  fault = undefined;
  h.ssm.resetCounters();
});

const sync = (id: string, ec2: string, tags: Record<string, string>) =>
  h.invokeAs(AGENCY_A, { op: 'sync', instances: [{ ec2InstanceId: ec2, managedInstanceId: id, tags }] });
const rowOf = async (id: string) => (await h.rows()).find((r) => r.managedInstanceId === id);

describe('a write that fails half way', () => {
  it('is not forgotten when EC2 goes back to the old tags: the next sync writes them again', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    expect((await sync(id, ec2Id(k), { Name: 'a', PatchGroup: 'prod' })).results[0].status).toBe('applied');
    // EC2: PatchGroup removed and Name changed. SSM removes PatchGroup, then every add attempt fails.
    h.ssm.resetCounters();
    fault = { op: 'AddTagsToResource', id, times: TOO_MANY_UPDATES_RETRIES + 1 };
    const failed = await sync(id, ec2Id(k), { Name: 'b' });
    expect(failed.results[0]).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^TooManyUpdates/) });
    expect(h.ssm.calls.AddTagsToResource).toBe(TOO_MANY_UPDATES_RETRIES + 1);
    expect(h.ssm.state.tagsOf(id)?.PatchGroup).toBeUndefined();
    const row = await rowOf(id);
    expect(row?.fingerprint).toBeUndefined();
    expect(row?.lastDriftCheckAt).toBeUndefined();

    // EC2 goes back to the first tags (an undo, or a reconcile that saw the older state).
    const res = await sync(id, ec2Id(k), { Name: 'a', PatchGroup: 'prod' });
    expect(res.results[0].status).toBe('applied');
    expect(h.ssm.state.tagsOf(id)).toMatchObject({ Name: 'a', PatchGroup: 'prod' });
    // ...and from then on it costs nothing again.
    h.ssm.resetCounters();
    expect((await sync(id, ec2Id(k), { Name: 'a', PatchGroup: 'prod' })).results[0].status).toBe('unchanged');
    expect(h.ssm.totalCalls()).toBe(0);
  });

  it.each<{ op: string; before: Record<string, string>; after: Record<string, string> }>([
    { op: 'AddTagsToResource', before: { Name: 'a' }, after: { Name: 'b' } },
    { op: 'RemoveTagsFromResource', before: { Name: 'a', Env: 'x' }, after: { Name: 'a' } },
  ])('retries $op after TooManyUpdates and applies the change', async ({ op, before, after }) => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    expect((await sync(id, ec2Id(k), before)).results[0].status).toBe('applied');
    h.ssm.resetCounters();
    fault = { op, id, times: TOO_MANY_UPDATES_RETRIES };
    expect((await sync(id, ec2Id(k), after)).results[0].status).toBe('applied');
    expect(h.ssm.calls[op]).toBe(TOO_MANY_UPDATES_RETRIES + 1);
    expect(h.ssm.state.tagsOf(id)).toMatchObject(after);
    if (op === 'RemoveTagsFromResource') expect(h.ssm.state.tagsOf(id)?.Env).toBeUndefined();
  });
});

describe('the TooManyUpdates retry (README: 3 retries with a doubling backoff)', () => {
  it('retries 3 times', () => {
    expect(TOO_MANY_UPDATES_RETRIES).toBe(3);
  });
  it.each([
    [0, 1, 100],
    [1, 1, 200],
    [2, 1, 400],
    [2, 0, 200],
  ])('waits, before retry %i with jitter %f, %i ms from a 100 ms base', (attempt, random, want) => {
    expect(tooManyUpdatesDelayMs(attempt, 100, random)).toBe(want);
  });
});
