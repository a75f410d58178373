// Parameter Store has no conditional write, so two writers of one agency's record (a stack update
// and the scheduled rotation, say) could each store a new activation and one would be forgotten.
// These tests make another writer store a version at the worst moments and check that every
// activation either writer created stays recorded, and that a deleted agency stays deleted.
import { describe, expect, it } from 'vitest';
import type { ActivationRecord } from '../../../lambda/shared/activation-record.ts';
import { mergeRecords } from '../../../lambda/activation-manager/rules.ts';
import { DAY, harnessPerTest, PREFIX, scheduledEvent, seedAgency, storedRecord } from './harness.ts';

const A = '222222222222';
const NAME = `${PREFIX}/${A}`;
const h = harnessPerTest();

/** A record as another writer (a stack update) would store it: a fresh activation of its own. */
function concurrentWrite(base: ActivationRecord): string {
  const other = h.fake.seedActivation({
    ExpirationDate: new Date(Date.now() + 30 * DAY),
    DefaultInstanceName: `agency-${A}`,
  });
  const record: ActivationRecord = {
    ...base,
    current: {
      ...base.current,
      activationId: other.ActivationId,
      activationCode: other.ActivationCode,
      expiresAt: other.ExpirationDate.toISOString(),
      createdAt: new Date().toISOString(),
    },
    previous: [{ activationId: base.current.activationId, expiresAt: base.current.expiresAt }, ...base.previous],
    knownActivationIds: [other.ActivationId, ...base.knownActivationIds],
  };
  h.fake.putDirect(NAME, JSON.stringify(record));
  return other.ActivationId;
}

/** Runs the rotation with another writer storing a version just before `op`; its activation and the stored record. */
async function rotateWithWriterBefore(op: string, seeded: ActivationRecord) {
  let written = '';
  h.fake.beforeNext(op, () => {
    written = concurrentWrite(seeded);
  });
  await h.invoke(scheduledEvent());
  return { written, record: storedRecord(h.fake, A)! };
}

/**
 * Runs the rotation of a due agency with its stack deleted (the record removed) just before `op`:
 * what is stored afterwards, and the activations the run created and left behind.
 */
async function rotateWithDeleteBefore(op: string) {
  seedAgency(h.fake, A, { expiresInMs: 3 * DAY });
  h.fake.beforeNext(op, () => {
    h.fake.state.parameters.delete(NAME);
  });
  const before = new Set(h.fake.state.activations.keys());
  await h.invoke(scheduledEvent());
  const leftBehind = [...h.fake.state.activations.keys()].filter((id) => !before.has(id));
  return { stored: storedRecord(h.fake, A), leftBehind };
}

describe('concurrent writers of one agency record', () => {
  it("keeps the other writer's activation when it stored between the rotation's read and its write", async () => {
    const seeded = seedAgency(h.fake, A, { expiresInMs: 3 * DAY });
    const { written: otherId, record } = await rotateWithWriterBefore('PutParameter', seeded.record);
    const all = [record.current.activationId, ...record.previous.map((p) => p.activationId)];
    expect(all).toContain(otherId);
    expect(all).toContain(seeded.current.ActivationId);
    expect(record.knownActivationIds).toEqual(
      expect.arrayContaining([otherId, seeded.current.ActivationId, record.current.activationId]),
    );
    // Three activations, each recorded once.
    expect(new Set(all).size).toBe(3);
    expect(h.fake.callsOf('GetParameterHistory').length).toBeGreaterThanOrEqual(1);
  });

  it("keeps the other writer's activation when it stored after the rotation listed the records", async () => {
    const seeded = seedAgency(h.fake, A, { expiresInMs: 3 * DAY });
    const { written: otherId, record } = await rotateWithWriterBefore('CreateActivation', seeded.record);
    expect([record.current.activationId, ...record.previous.map((p) => p.activationId)]).toContain(otherId);
  });

  it("keeps a stack update's new activation current when a rotation that read before it only cleans up", async () => {
    // Nothing to rotate (20 days left), but an expired previous activation to delete: a write.
    const seeded = seedAgency(h.fake, A, {
      expiresInMs: 20 * DAY,
      createdAgoMs: 10 * DAY,
      previous: [{ expiresInMs: -DAY }],
    });
    const { written: updateId, record } = await rotateWithWriterBefore('DeleteActivation', seeded.record);
    expect(record.current.activationId).toBe(updateId);
    expect(record.previous.map((p) => p.activationId)).toContain(seeded.current.ActivationId);
  });

  it('does not bring back an agency whose stack was deleted while its activation rotated, nor leave the new activation behind', async () => {
    expect(await rotateWithDeleteBefore('CreateActivation')).toEqual({ stored: undefined, leftBehind: [] });
    expect(h.logs.some((l) => l.includes('agency removed while its activation was rotating'))).toBe(true);
  });
});

describe("a stack delete racing the rotation's write", () => {
  it("does not let the rotation's write re-create the deleted record, and removes the new activation", async () => {
    expect(await rotateWithDeleteBefore('PutParameter')).toEqual({ stored: undefined, leftBehind: [] });
  });
});

describe('mergeRecords', () => {
  const rec = (current: string, previous: string[], known: string[]): ActivationRecord => ({
    agencyAccountId: A,
    current: {
      activationId: current,
      activationCode: 'C',
      region: 'us-east-1',
      expiresAt: '2030-01-31T00:00:00.000Z',
      createdAt: '2030-01-01T00:00:00.000Z',
      registrationLimit: 100,
    },
    previous: previous.map((id) => ({ activationId: id, expiresAt: '2030-01-20T00:00:00.000Z' })),
    knownActivationIds: known,
  });
  it('keeps ours as current and adds theirs (current and previous) to previous, once each', () => {
    const merged = mergeRecords(
      rec('ours', ['old'], ['ours', 'old']),
      rec('theirs', ['old', 'older'], ['theirs', 'old', 'older']),
    );
    expect(merged.current.activationId).toBe('ours');
    expect(merged.previous.map((p) => p.activationId)).toEqual(['old', 'theirs', 'older']);
    expect(merged.knownActivationIds).toEqual(['ours', 'old', 'theirs', 'older']);
  });
  it('makes theirs current when it is the newer activation, keeping ours in previous', () => {
    const ours = rec('ours', ['old'], ['ours', 'old']);
    const theirs = {
      ...rec('newer', ['ours'], ['newer', 'ours', 'old']),
      current: { ...rec('newer', [], []).current, createdAt: '2030-01-02T00:00:00.000Z', registrationLimit: 500 },
    };
    const merged = mergeRecords(ours, theirs);
    expect(merged.current).toEqual(theirs.current);
    expect(merged.previous.map((p) => p.activationId)).toEqual(['old', 'ours']);
    expect(merged.knownActivationIds).toEqual(['newer', 'ours', 'old']);
  });
  it("changes nothing when theirs holds nothing new, and ignores another agency's record", () => {
    const ours = rec('ours', ['old'], ['ours', 'old']);
    expect(mergeRecords(ours, rec('old', [], ['old']))).toEqual(ours);
    expect(mergeRecords(ours, { ...rec('x', [], ['x']), agencyAccountId: '999999999999' })).toEqual(ours);
  });
});
