// Replaced activations are deleted after their grace period and their IDs kept only while nodes
// carry them, so the record stays bounded however often an agency rotates: the real bundled
// handler against the SSM fake, on a fake clock (Date only; sockets and timers stay real).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cfnEvent, DAY, harnessPerTest, props, scheduledEvent, seedAgency, storedRecord } from './harness.ts';
import {
  REPLACED_ACTIVATION_GRACE_HOURS,
  REPLACED_ACTIVATIONS_KEPT_MAX,
  STANDARD_PARAMETER_MAX_BYTES,
} from '../../../contract/limits.ts';

const A = '222222222222';
const HOUR = 3_600_000;
const GRACE = REPLACED_ACTIVATION_GRACE_HOURS * HOUR;
const T0 = Date.parse('2026-12-01T00:00:00.000Z');

const h = harnessPerTest();
afterEach(() => {
  vi.useRealTimers();
});
const at = (t: number) => vi.setSystemTime(new Date(t));
const rotate = async () => (await h.invoke(scheduledEvent())) as { rotated: string[]; failed: unknown[] };
const deleted = () => h.fake.callsOf('DeleteActivation').map((c) => c.input.ActivationId);

describe('a replaced activation', () => {
  it('stays valid for its grace period, is then deleted, and its ID stays known while nodes carry it', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    const seeded = seedAgency(h.fake, A, {
      expiresInMs: 3 * DAY,
      createdAgoMs: 27 * DAY,
      limit: 100,
      previous: [{ expiresInMs: -DAY }],
    });
    const old = seeded.current.ActivationId;
    const expired = seeded.previous[0]!.ActivationId;
    h.fake.registerNodes(old, 2);
    h.fake.registerNodes(expired, 1); // a node of long ago, still registered

    expect((await rotate()).rotated).toEqual([A]);
    const first = storedRecord(h.fake, A)!.current.activationId;
    expect(deleted()).toEqual([expired]);
    expect(storedRecord(h.fake, A)!.previous.map((p) => p.activationId)).toEqual([old]);

    at(T0 + GRACE - 1);
    await rotate();
    expect(deleted()).toEqual([expired]); // instances that read the old code may still be registering
    expect(h.fake.state.activations.has(old)).toBe(true);

    at(T0 + GRACE);
    await rotate();
    expect(deleted()).toEqual([expired, old]);
    expect(h.fake.state.activations.has(old)).toBe(false);
    let record = storedRecord(h.fake, A)!;
    expect(record.previous).toEqual([]);
    expect(record.knownActivationIds).toEqual([first, old, expired]);
    // DeleteActivation leaves the nodes registered (API_DeleteActivation).
    expect([...h.fake.nodes.nodes.values()].filter((n) => n.ActivationId === old)).toHaveLength(2);

    // Once the old activation's nodes are gone, the next write forgets its ID; the node of the
    // expired one is still there, so its ID stays.
    for (const [id, n] of h.fake.nodes.nodes) if (n.ActivationId === old) h.fake.nodes.nodes.delete(id);
    h.fake.registerNodes(first, 90);
    at(T0 + GRACE + HOUR);
    expect((await rotate()).rotated).toEqual([A]);
    record = storedRecord(h.fake, A)!;
    expect(record.knownActivationIds).toEqual([record.current.activationId, first, expired]);
  });

  it('is deleted at once beyond the last few, however quickly stack updates follow each other', async () => {
    const updates = REPLACED_ACTIVATIONS_KEPT_MAX + 4;
    await h.invoke(cfnEvent(h.cfn.url, 'Create', props(A, 100, 30)));
    const issued = [storedRecord(h.fake, A)!.current.activationId];
    for (let i = 1; i <= updates; i++) {
      await h.invoke(
        cfnEvent(h.cfn.url, 'Update', props(A, 100 + i, 30), {
          PhysicalResourceId: `agency-activation-${A}`,
          OldResourceProperties: props(A, 100 + i - 1, 30),
        }),
      );
      issued.push(storedRecord(h.fake, A)!.current.activationId);
    }
    expect(h.cfn.responses.map((r) => r.body.Status)).toEqual(Array(updates + 1).fill('SUCCESS'));
    const record = storedRecord(h.fake, A)!;
    // Newest first: the last ones replaced wait out their grace period, the older ones are gone.
    const waiting = issued.slice(0, -1).reverse().slice(0, REPLACED_ACTIVATIONS_KEPT_MAX);
    expect(record.previous.map((p) => p.activationId)).toEqual(waiting);
    expect(deleted().sort()).toEqual(issued.slice(0, updates - REPLACED_ACTIVATIONS_KEPT_MAX).sort());
    expect([...h.fake.state.activations.keys()].sort()).toEqual([record.current.activationId, ...waiting].sort());
  });
});

describe('an agency whose nodes come from more activations than the record can name', () => {
  it('still rotates: the oldest IDs are dropped with an ERROR naming them', async () => {
    const seeded = seedAgency(h.fake, A, { expiresInMs: 3 * DAY, createdAgoMs: 27 * DAY });
    const older = Array.from({ length: 100 }, (_, i) => `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`);
    for (const id of older) h.fake.nodes.add(id, { now: new Date() }); // each still has a node
    const name = `/central-hub/agencies/${A}`;
    h.fake.state.parameters.get(name)!.Value = JSON.stringify({
      ...seeded.record,
      knownActivationIds: [seeded.current.ActivationId, ...older],
    });

    expect((await rotate()).rotated).toEqual([A]);
    const kept = storedRecord(h.fake, A)!.knownActivationIds;
    const dropped = older.filter((id) => !kept.includes(id));
    expect(kept.slice(0, 2)).toEqual([storedRecord(h.fake, A)!.current.activationId, seeded.current.ActivationId]);
    expect(dropped).toEqual(older.slice(older.length - dropped.length)); // the oldest
    expect(dropped.length).toBeGreaterThan(0);
    const error = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'ERROR');
    expect(error).toMatchObject({ agencyAccountId: A, droppedActivationIds: [...dropped].reverse() }); // oldest first
  });
});

describe('hundreds of usage rotations in 30 days', () => {
  it('keep rotating: the record fits, every node keeps its activation ID in it, and no replaced activation outlives its grace period', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    seedAgency(h.fake, A, { expiresInMs: 29 * DAY, limit: 10 });
    const runs = 240; // every 3 hours for 30 days
    const pets = new Set<string>(); // long-lived nodes, one registered with every 30th activation
    let largest = 0;
    for (let run = 0; run < runs; run++) {
      const now = T0 + run * 3 * HOUR;
      at(now);
      // Instances come and go: those registered more than 12 hours ago are gone, except the pets.
      for (const [id, n] of h.fake.nodes.nodes)
        if (!pets.has(id) && n.RegistrationDate.getTime() < now - 12 * HOUR) h.fake.nodes.nodes.delete(id);
      const [first] = h.fake.registerNodes(storedRecord(h.fake, A)!.current.activationId, 9); // 9 of 10: due
      if (run % 30 === 0) pets.add(first!);

      const summary = await rotate();
      expect(summary, `run ${run}`).toMatchObject({ rotated: [A], failed: [] });

      const record = storedRecord(h.fake, A)!;
      largest = Math.max(largest, Buffer.byteLength(h.fake.state.parameters.get(`/central-hub/agencies/${A}`)!.Value));
      const known = new Set([record.current.activationId, ...record.knownActivationIds]);
      for (const n of h.fake.nodes.nodes.values()) expect(known.has(n.ActivationId), `run ${run}`).toBe(true);
      // Every activation SSM still holds is the current one or one waiting out its grace period (each
      // was replaced 3 hours after it was created).
      expect([...h.fake.state.activations.keys()].sort()).toEqual(
        [record.current.activationId, ...record.previous.map((p) => p.activationId)].sort(),
      );
      for (const a of h.fake.state.activations.values())
        if (a.ActivationId !== record.current.activationId)
          expect(a.CreatedDate.getTime(), `run ${run}`).toBeGreaterThan(now - GRACE - 3 * HOUR);
      expect(record.previous.length).toBeLessThanOrEqual(REPLACED_ACTIVATIONS_KEPT_MAX);
    }
    expect(h.fake.callsOf('CreateActivation')).toHaveLength(runs);
    expect(pets.size).toBe(runs / 30);
    expect(largest).toBeLessThanOrEqual(STANDARD_PARAMETER_MAX_BYTES);
  });
});
