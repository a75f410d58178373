// The scheduled rotation, run through the real bundled handler against the SSM fake.
import { describe, expect, it } from 'vitest';
import { DAY, harnessPerTest, metricsIn, scheduledEvent, seedAgency, storedRecord } from './harness.ts';
import { startHarness, TAG_PREFIX, WRITE_OPS } from './harness.ts';
import { ACTIVATION_MANAGER_ENV as ENV } from '../../../lambda/shared/names.ts';

/** The rotation metrics of a run, each 0; a test names the ones it expects otherwise. */
const NO_METRICS = { Rotations: 0, RotationFailures: 0, ExpiredActivationsDeleted: 0, RotationsRefusedForCapacity: 0 };

const A = '222222222222';
const B = '333333333333';

const h = harnessPerTest();

const parsedLogs = () => h.logs.map((l) => JSON.parse(l) as Record<string, unknown>);

describe('scheduled rotation', () => {
  it('rotates an activation with less than 7 days left and keeps the old one valid as previous for now', async () => {
    const seeded = seedAgency(h.fake, A, { expiresInMs: 3 * DAY, createdAgoMs: 27 * DAY, limit: 200 });
    const summary = (await h.invoke(scheduledEvent())) as { rotated: string[] };
    expect(summary.rotated).toEqual([A]);

    const record = storedRecord(h.fake, A)!;
    expect(record.current.activationId).not.toBe(seeded.current.ActivationId);
    expect(record.previous).toEqual([
      {
        activationId: seeded.current.ActivationId,
        expiresAt: seeded.record.current.expiresAt,
        replacedAt: record.current.createdAt,
      },
    ]);
    expect(record.knownActivationIds).toEqual([record.current.activationId, seeded.current.ActivationId]);
    expect(record.lastRotationError).toBeUndefined();

    // Same settings as before: limit 200, and the 30-day span it was created with.
    const fresh = h.fake.state.activations.get(record.current.activationId)!;
    expect(fresh.RegistrationLimit).toBe(200);
    expect(fresh.ExpirationDate.getTime()).toBeGreaterThan(Date.now() + 29 * DAY);
    expect(fresh.Tags).toEqual([{ Key: `${TAG_PREFIX}activation-agency`, Value: A }]);
    expect(fresh.IamRole).toBe('ssm-hub-managed-node');
    // Never deleted early: a registration using it may be in progress.
    expect(h.fake.state.activations.has(seeded.current.ActivationId)).toBe(true);
    expect(h.fake.callsOf('DeleteActivation')).toHaveLength(0);
    expect(metricsIn(h.logs)).toEqual({ ...NO_METRICS, Rotations: 1 });
  });

  it('rotates when registrations reach 90% of the limit, and not one registration earlier', async () => {
    const atLimit = seedAgency(h.fake, A, { expiresInMs: 20 * DAY, limit: 100, registrations: 90 });
    const below = seedAgency(h.fake, B, { expiresInMs: 20 * DAY, limit: 100, registrations: 89 });
    const summary = (await h.invoke(scheduledEvent())) as { rotated: string[] };
    expect(summary.rotated).toEqual([A]);
    expect(storedRecord(h.fake, A)!.current.activationId).not.toBe(atLimit.current.ActivationId);
    expect(storedRecord(h.fake, B)).toEqual(below.record);
    const rotatedLog = parsedLogs().find(
      (l) => l.message === 'activation rotated; the previous one stays valid for its grace period',
    );
    expect(rotatedLog).toMatchObject({ agencyAccountId: A, reason: 'usage', registrationsCount: 90 });
  });

  it('rotates an activation of 5 at 4 used, so one registration stays free until the new code is fetched', async () => {
    const due = seedAgency(h.fake, A, { expiresInMs: 20 * DAY, limit: 5, registrations: 4 });
    const notYet = seedAgency(h.fake, B, { expiresInMs: 20 * DAY, limit: 5, registrations: 3 });
    const summary = (await h.invoke(scheduledEvent())) as { rotated: string[] };
    expect(summary.rotated).toEqual([A]);
    expect(storedRecord(h.fake, A)!.current.activationId).not.toBe(due.current.ActivationId);
    expect(storedRecord(h.fake, B)).toEqual(notYet.record);
  });

  it('reads the registration count from SSM, as it changes after the record was written', async () => {
    const seeded = seedAgency(h.fake, A, { expiresInMs: 20 * DAY, limit: 10 });
    await h.invoke(scheduledEvent());
    expect(h.fake.callsOf('CreateActivation')).toHaveLength(0);
    h.fake.setRegistrations(seeded.current.ActivationId, 9);
    await h.invoke(scheduledEvent());
    expect(h.fake.callsOf('CreateActivation')).toHaveLength(1);
  });

  it('makes no write at all when nothing needs doing', async () => {
    const a = seedAgency(h.fake, A, { expiresInMs: 20 * DAY, registrations: 10, previous: [{ expiresInMs: 5 * DAY }] });
    const b = seedAgency(h.fake, B, { expiresInMs: 8 * DAY });
    const summary = await h.invoke(scheduledEvent());
    expect(summary).toEqual({
      agencies: 2,
      rotated: [],
      expiredActivationsDeleted: 0,
      failed: [],
      refusedForCapacity: [],
    });
    expect(h.fake.callsOf(...WRITE_OPS)).toHaveLength(0);
    expect(storedRecord(h.fake, A)).toEqual(a.record);
    expect(storedRecord(h.fake, B)).toEqual(b.record);
    expect(metricsIn(h.logs)).toEqual(NO_METRICS);
  });

  it('honours ROTATE_DAYS_BEFORE_EXPIRY and ROTATE_AT_USAGE_PERCENT from the environment', async () => {
    await h.close();
    Object.assign(h, await startHarness({ [ENV.rotateDaysBeforeExpiry]: '10', [ENV.rotateAtUsagePercent]: '50' }));
    seedAgency(h.fake, A, { expiresInMs: 9 * DAY });
    seedAgency(h.fake, B, { expiresInMs: 20 * DAY, limit: 10, registrations: 5 });
    const summary = (await h.invoke(scheduledEvent())) as { rotated: string[] };
    expect(summary.rotated).toEqual([A, B]);
  });

  it('keeps the current activation working when CreateActivation fails, records the error, still rotates other agencies and then fails the run', async () => {
    const failing = seedAgency(h.fake, A, { expiresInMs: 2 * DAY });
    const healthy = seedAgency(h.fake, B, { expiresInMs: 2 * DAY });
    // A sorts first, so the first CreateActivation is A's.
    h.fake.failNextCreateActivation({
      count: 1,
      type: 'AccessDeniedException',
      message: 'not authorized to perform iam:PassRole',
    });

    const error = await h.invoke(scheduledEvent()).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.name).toBe('RotationError');
    expect(error!.message).toContain(A);
    expect(error!.message).not.toContain(B);
    expect(error!.message).toContain('CreateActivation failed: AccessDeniedException');

    const a = storedRecord(h.fake, A)!;
    expect(a.current).toEqual(failing.record.current);
    expect(a.previous).toEqual([]);
    expect(a.lastRotationError).toContain(
      'CreateActivation failed: AccessDeniedException: not authorized to perform iam:PassRole',
    );
    expect(h.fake.state.activations.has(failing.current.ActivationId)).toBe(true);

    const b = storedRecord(h.fake, B)!;
    expect(b.current.activationId).not.toBe(healthy.current.ActivationId);

    const errorLine = parsedLogs().find((l) => l.level === 'ERROR' && l.agencyAccountId === A);
    expect(errorLine?.error).toContain('CreateActivation failed');
    expect(metricsIn(h.logs)).toEqual({ ...NO_METRICS, Rotations: 1, RotationFailures: 1 });

    // The next run succeeds and clears the error.
    await h.invoke(scheduledEvent());
    const healed = storedRecord(h.fake, A)!;
    expect(healed.current.activationId).not.toBe(failing.current.ActivationId);
    expect(healed.lastRotationError).toBeUndefined();
  });

  it('deletes previous activations once they have expired, and keeps their IDs for ownership checks', async () => {
    const seeded = seedAgency(h.fake, A, {
      expiresInMs: 25 * DAY,
      previous: [{ expiresInMs: -1 * DAY }, { expiresInMs: 3 * DAY }],
    });
    const [expired, live] = seeded.previous;
    const summary = (await h.invoke(scheduledEvent())) as { expiredActivationsDeleted: number };
    expect(summary.expiredActivationsDeleted).toBe(1);
    expect(h.fake.callsOf('DeleteActivation').map((c) => c.input.ActivationId)).toEqual([expired!.ActivationId]);
    expect(h.fake.state.activations.has(expired!.ActivationId)).toBe(false);
    expect(h.fake.state.activations.has(live!.ActivationId)).toBe(true);

    const record = storedRecord(h.fake, A)!;
    expect(record.current).toEqual(seeded.record.current);
    expect(record.previous.map((p) => p.activationId)).toEqual([live!.ActivationId]);
    expect(record.knownActivationIds).toContain(expired!.ActivationId);
    expect(h.fake.callsOf('CreateActivation')).toHaveLength(0);
    expect(metricsIn(h.logs)).toEqual({ ...NO_METRICS, ExpiredActivationsDeleted: 1 });
  });

  it('replaces an activation that SSM no longer knows', async () => {
    const seeded = seedAgency(h.fake, A, { expiresInMs: 20 * DAY });
    h.fake.state.activations.delete(seeded.current.ActivationId);
    const summary = (await h.invoke(scheduledEvent())) as { rotated: string[] };
    expect(summary.rotated).toEqual([A]);
    expect(h.fake.state.activations.has(storedRecord(h.fake, A)!.current.activationId)).toBe(true);
  });

  it('walks every page of records (GetParametersByPath returns at most 10 a page)', async () => {
    const accounts = Array.from({ length: 23 }, (_, i) => String(400000000000 + i));
    for (const acct of accounts) seedAgency(h.fake, acct, { expiresInMs: 20 * DAY });
    const due = accounts[21]!;
    h.fake.setRegistrations(storedRecord(h.fake, due)!.current.activationId, 100);
    const summary = (await h.invoke(scheduledEvent())) as { agencies: number; rotated: string[] };
    expect(summary.agencies).toBe(23);
    expect(summary.rotated).toEqual([due]);
    expect(h.fake.callsOf('GetParametersByPath')).toHaveLength(3);
    expect(h.fake.callsOf('PutParameter')).toHaveLength(1);
  });

  it('converges despite throttling: the SDK retries and every due agency is rotated', async () => {
    const accounts = ['500000000001', '500000000002', '500000000003'];
    for (const acct of accounts) seedAgency(h.fake, acct, { expiresInMs: 1 * DAY });
    h.fake.setThrottleRatio(0.3);
    const summary = (await h.invoke(scheduledEvent())) as { rotated: string[]; failed: unknown[] };
    expect(summary.failed).toEqual([]);
    expect(summary.rotated).toEqual(accounts);
    expect(h.fake.calls.some((c) => c.errorType === 'ThrottlingException')).toBe(true);
  });

  it('fails the run for a damaged record but still processes the other agencies', async () => {
    seedAgency(h.fake, A, { expiresInMs: 20 * DAY });
    const b = seedAgency(h.fake, B, { expiresInMs: 1 * DAY });
    const param = h.fake.state.parameters.get([...h.fake.state.parameters.keys()].find((k) => k.endsWith(A))!)!;
    param.Value = JSON.stringify({ ...JSON.parse(param.Value), current: { activationId: 'x' } });
    await expect(h.invoke(scheduledEvent())).rejects.toThrow(new RegExp(`${A}.*invalid at current`));
    expect(storedRecord(h.fake, B)!.current.activationId).not.toBe(b.current.ActivationId);
  });

  it('stops before the function times out and fails the run naming how many agencies were left', async () => {
    seedAgency(h.fake, A, { expiresInMs: 1 * DAY });
    seedAgency(h.fake, B, { expiresInMs: 1 * DAY });
    // Plenty of time until the first agency's record is written, then almost none.
    const ctx = { getRemainingTimeInMillis: () => (h.fake.callsOf('PutParameter').length > 0 ? 5_000 : 60_000) };
    const error = await h.invoke(scheduledEvent(), ctx).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/1 agencies were not checked before the function's time ran out/);
    expect(h.fake.callsOf('CreateActivation')).toHaveLength(1);
  });

  it('never writes an activation code to a log line or an error, even when an error message carries one', async () => {
    const PLANTED = 'PLANTEDc0deROTATE123';
    seedAgency(h.fake, A, { expiresInMs: 1 * DAY, code: PLANTED });
    seedAgency(h.fake, B, { expiresInMs: 1 * DAY, previous: [{ expiresInMs: -DAY }] });
    h.fake.failNextCreateActivation({ count: 1, type: 'ValidationException', message: `request mentions ${PLANTED}` });
    const error = await h.invoke(scheduledEvent()).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain('[redacted]');
    const codes = [PLANTED, ...[...h.fake.state.activations.values()].map((a) => a.ActivationCode)];
    for (const code of codes) {
      expect(error!.message).not.toContain(code);
      for (const line of h.logs) expect(line).not.toContain(code);
    }
    expect(storedRecord(h.fake, A)!.lastRotationError).not.toContain(PLANTED);
  });
});
