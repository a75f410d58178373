// The pure rules of the activation manager, tested directly from source.
import { describe, expect, it } from 'vitest';
import type { ActivationRecord } from '../../../lambda/shared/activation-record.ts';
import * as rules from '../../../lambda/activation-manager/rules.ts';
import { REPLACED_ACTIVATION_GRACE_HOURS, REPLACED_ACTIVATIONS_KEPT_MAX } from '../../../contract/limits.ts';
import { LAST_ROTATION_ERROR_MAX_CHARS } from '../../../lambda/shared/activation-record.ts';

const { activationIdsToDelete, activationRequest, DAY_MS, expirationDate, previousToDelete } = rules;
const { newRecord, rotatedRecord, rotationReason, settingsOf, withoutPrevious } = rules;
import {
  agencyOfPhysicalId,
  failurePhysicalId,
  parseProperties,
  timeBudgetMs,
} from '../../../lambda/activation-manager/custom-resource.ts';
import {
  agencyOfParameter,
  parseRecord,
  serializeRecord,
  STANDARD_PARAMETER_MAX_BYTES,
} from '../../../lambda/activation-manager/store.ts';
import { SecretRegistry, StepError } from '../../../lambda/activation-manager/errors.ts';

const NOW = new Date('2026-06-01T00:00:00.000Z');
const policy = { rotateDaysBeforeExpiry: 7, rotateAtUsagePercent: 90 };

function record(overrides: Partial<ActivationRecord> = {}): ActivationRecord {
  return {
    agencyAccountId: '222222222222',
    current: {
      activationId: 'cur',
      activationCode: 'CODECODECODECODECODE',
      region: 'us-east-1',
      createdAt: new Date(NOW.getTime() - 10 * DAY_MS).toISOString(),
      expiresAt: new Date(NOW.getTime() + 20 * DAY_MS).toISOString(),
      registrationLimit: 100,
    },
    previous: [],
    knownActivationIds: ['cur'],
    ...overrides,
  };
}
const status = (registrationsCount: number, expiresInMs = 20 * DAY_MS, expired = false) => ({
  registrationsCount,
  registrationLimit: 100,
  expirationDate: new Date(NOW.getTime() + expiresInMs),
  expired,
});

describe('rotationReason', () => {
  it('keeps an activation with time and room left', () => {
    expect(rotationReason(record(), status(89), policy, NOW)).toBeUndefined();
  });
  it('rotates at exactly 90% usage, not at 89%', () => {
    expect(rotationReason(record(), status(90), policy, NOW)).toBe('usage');
  });
  it('rotates when less than 7 days remain, but not at exactly 7 days', () => {
    expect(rotationReason(record(), status(0, 7 * DAY_MS - 1), policy, NOW)).toBe('expiring');
    expect(rotationReason(record(), status(0, 7 * DAY_MS), policy, NOW)).toBeUndefined();
  });
  it('rotates an expired or vanished activation', () => {
    expect(rotationReason(record(), status(0, -1, true), policy, NOW)).toBe('expired');
    expect(rotationReason(record(), undefined, policy, NOW)).toBe('missing');
  });
  it.each([
    { percent: 70, keptFree: 3 },
    { percent: 71, keptFree: 3 }, // 2.9 rounded up
    { percent: 80, keptFree: 2 },
    { percent: 100, keptFree: 1 }, // at least one
  ])('keeps the share above $percent% of 10 free, rounded up: $keptFree', ({ percent, keptFree }) => {
    const at = (n: number) =>
      rotationReason(
        record(),
        { ...status(n), registrationLimit: 10 },
        { ...policy, rotateAtUsagePercent: percent },
        NOW,
      );
    expect(at(10 - keptFree)).toBe('usage');
    expect(at(10 - keptFree - 1)).toBeUndefined();
  });
});

describe('usage rotation with small limits (at 90%)', () => {
  // The first registration count at which a usage rotation is due, written out for each limit.
  it.each([
    { limit: 1, dueAt: 1 },
    { limit: 2, dueAt: 1 },
    { limit: 3, dueAt: 2 },
    { limit: 4, dueAt: 3 },
    { limit: 5, dueAt: 4 },
    { limit: 6, dueAt: 5 },
    { limit: 7, dueAt: 6 },
    { limit: 8, dueAt: 7 },
    { limit: 9, dueAt: 8 },
    { limit: 10, dueAt: 9 },
    { limit: 11, dueAt: 9 },
    { limit: 12, dueAt: 10 },
    { limit: 13, dueAt: 11 },
    { limit: 14, dueAt: 12 },
    { limit: 15, dueAt: 13 },
    { limit: 16, dueAt: 14 },
    { limit: 17, dueAt: 15 },
    { limit: 18, dueAt: 16 },
    { limit: 19, dueAt: 17 },
    { limit: 20, dueAt: 18 },
    { limit: 1000, dueAt: 900 },
  ])('a limit of $limit rotates at $dueAt used and not one earlier', ({ limit, dueAt }) => {
    const at = (n: number) => rotationReason(record(), { ...status(n), registrationLimit: limit }, policy, NOW);
    expect(at(dueAt)).toBe('usage');
    expect(at(dueAt - 1)).toBeUndefined();
    // At least one registration is still free when it rotates, whenever the limit allows one.
    if (limit >= 2) expect(limit - dueAt).toBeGreaterThanOrEqual(1);
  });
});

describe('activation settings', () => {
  it('never asks for more than 30 days, whatever the setting', () => {
    expect(expirationDate(NOW, 30).getTime()).toBeLessThanOrEqual(NOW.getTime() + 30 * DAY_MS);
    expect(expirationDate(NOW, 45).getTime()).toBeLessThanOrEqual(NOW.getTime() + 30 * DAY_MS);
    expect(expirationDate(NOW, 7).getTime()).toBe(NOW.getTime() + 7 * DAY_MS);
  });
  it('passes the role name, stamps the agency tag under the reserved prefix and names the node after the agency', () => {
    const req = activationRequest(
      '222222222222',
      { registrationLimit: 5, expiryDays: 3 },
      { managedNodeRoleName: 'node-role', reservedTagPrefix: 'it:' },
      NOW,
    );
    expect(req).toMatchObject({
      iamRole: 'node-role',
      registrationLimit: 5,
      defaultInstanceName: 'agency-222222222222',
      tags: [{ Key: 'it:activation-agency', Value: '222222222222' }],
    });
  });
  it('repeats the expiry span and limit of the record when rotating', () => {
    expect(settingsOf(record())).toEqual({ registrationLimit: 100, expiryDays: 30 });
  });
});

describe('record transitions', () => {
  it('moves the current activation to previous and puts the new ID first', () => {
    const before = record({
      previous: [{ activationId: 'old', expiresAt: NOW.toISOString() }],
      knownActivationIds: ['cur', 'old'],
      lastRotationError: 'x',
    });
    const fresh = newRecord(
      before.agencyAccountId,
      { activationId: 'new', activationCode: 'NEWCODE' },
      { registrationLimit: 50, expiryDays: 30 },
      new Date(NOW.getTime() + DAY_MS),
      'eu-west-1',
      NOW,
    );
    const after = rotatedRecord(before, fresh);
    expect(after.current).toMatchObject({
      activationId: 'new',
      activationCode: 'NEWCODE',
      region: 'eu-west-1',
      registrationLimit: 50,
    });
    expect(after.previous).toEqual([
      { activationId: 'cur', expiresAt: before.current.expiresAt, replacedAt: NOW.toISOString() },
      { activationId: 'old', expiresAt: NOW.toISOString() },
    ]);
    expect(after.knownActivationIds).toEqual(['new', 'cur', 'old']);
    expect(after.lastRotationError).toBeUndefined();
  });
  it('stores every known ID while the record fits: no count cap drops an ID that nodes may carry', () => {
    const many = Array.from({ length: 60 }, (_, i) => `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`);
    const before = record({ knownActivationIds: ['cur', ...many] });
    const stored = parseRecord(serializeRecord(before), before.agencyAccountId).knownActivationIds;
    expect(stored).toEqual(['cur', ...many]);
  });
});

describe('replaced activations to delete', () => {
  const graceMs = REPLACED_ACTIVATION_GRACE_HOURS * 3_600_000;
  const entry = (id: string, replacedAgoMs: number | undefined, expiresInMs = 20 * DAY_MS) => ({
    activationId: id,
    expiresAt: new Date(NOW.getTime() + expiresInMs).toISOString(),
    ...(replacedAgoMs === undefined ? {} : { replacedAt: new Date(NOW.getTime() - replacedAgoMs).toISOString() }),
  });
  it.each([
    { case: 'replaced just now', p: entry('p', 0), due: false },
    { case: 'one millisecond inside its grace period', p: entry('p', graceMs - 1), due: false },
    { case: 'at the end of its grace period', p: entry('p', graceMs), due: true },
    { case: 'expired, though replaced just now', p: entry('p', 0, 0), due: true },
    // An earlier release stored no replacedAt: replaced no later than the current one was created (10 days ago).
    { case: 'of an earlier release, the current activation 10 days old', p: entry('p', undefined), due: true },
  ])('one $case: due $due', ({ p, due }) => {
    expect(previousToDelete(record({ previous: [p] }), NOW)).toEqual(due ? ['p'] : []);
  });
  it('an entry of an earlier release waits for the grace period after the current activation was created', () => {
    const fresh = record({ previous: [entry('p', undefined)] });
    fresh.current.createdAt = new Date(NOW.getTime() - graceMs + 1).toISOString();
    expect(previousToDelete(fresh, NOW)).toEqual([]);
  });
  it(`keeps at most ${REPLACED_ACTIVATIONS_KEPT_MAX} waiting: the oldest replaced beyond them are due at once`, () => {
    const waiting = Array.from({ length: REPLACED_ACTIVATIONS_KEPT_MAX + 2 }, (_, i) => entry(`p${i}`, i * 60_000));
    const r = record({ previous: [...waiting].reverse() });
    expect(previousToDelete(r, NOW).sort()).toEqual([
      `p${REPLACED_ACTIVATIONS_KEPT_MAX}`,
      `p${REPLACED_ACTIVATIONS_KEPT_MAX + 1}`,
    ]);
  });
  it('drops deleted ones from previous only, and a stack delete deletes current plus previous', () => {
    const r = record({
      previous: [entry('gone', 0, -1), entry('live', 0)],
      knownActivationIds: ['cur', 'gone', 'live'],
    });
    const pruned = withoutPrevious(r, new Set(['gone']));
    expect(pruned.previous.map((p) => p.activationId)).toEqual(['live']);
    expect(pruned.knownActivationIds).toEqual(['cur', 'gone', 'live']);
    expect(activationIdsToDelete(r)).toEqual(['cur', 'gone', 'live']);
  });
  it('offers only known IDs that are neither live nor kept for dropping, and never drops a live one', () => {
    const r = record({ previous: [entry('live', 0)], knownActivationIds: ['cur', 'live', 'a', 'b', 'c'] });
    expect(rules.droppableKnownIds(r, new Set(['b']))).toEqual(['a', 'c']);
    expect(rules.withoutKnown(r, new Set(['cur', 'live', 'a'])).knownActivationIds).toEqual(['cur', 'live', 'b', 'c']);
  });
});

describe('settings held for a stack update and used by the next rotation', () => {
  // record(): limit 100, an activation of 30 days.
  it.each([
    ['the current activation', {}, { registrationLimit: 100, expiryDays: 30 }, 'current'],
    [
      'the stored wish',
      { requestedRegistrationLimit: 50, requestedExpiryDays: 20 },
      { registrationLimit: 50, expiryDays: 20 },
      'requested',
    ],
    [
      'a stored limit with the current expiry',
      { requestedRegistrationLimit: 50 },
      { registrationLimit: 50, expiryDays: 30 },
      'requested',
    ],
    [
      'neither (another limit)',
      { requestedRegistrationLimit: 50 },
      { registrationLimit: 60, expiryDays: 30 },
      undefined,
    ],
    ['neither (another expiry)', {}, { registrationLimit: 100, expiryDays: 29 }, undefined],
  ] as const)('settings matching %s count as held', (_, overrides, settings, held) => {
    expect(rules.heldSettingsMatch(record(overrides), settings)).toBe(held);
  });

  it.each([
    ['no wish: the current settings', {}, { registrationLimit: 100, expiryDays: 30 }],
    [
      'a stored wish',
      { requestedRegistrationLimit: 40, requestedExpiryDays: 14 },
      { registrationLimit: 40, expiryDays: 14 },
    ],
  ] as const)('a rotation asks for %s', (_, overrides, wanted) => {
    expect(rules.wantedSettings(record(overrides))).toEqual(wanted);
  });

  it('a rotation keeps the owning stack and drops the stored wish', () => {
    const before = record({ stackId: 'stack-1', requestedRegistrationLimit: 40, requestedExpiryDays: 14 });
    const fresh = newRecord(
      '222222222222',
      { activationId: 'new', activationCode: 'NEWCODENEWCODE' },
      { registrationLimit: 40, expiryDays: 14 },
      NOW,
      'us-east-1',
      NOW,
    );
    const after = rotatedRecord(before, fresh);
    expect([after.stackId, after.requestedRegistrationLimit, after.requestedExpiryDays]).toEqual([
      'stack-1',
      undefined,
      undefined,
    ]);
  });

  it.each([
    ['ours', 'stack-ours', 'stack-theirs', 'stack-ours'],
    ['theirs when ours names none', undefined, 'stack-theirs', 'stack-theirs'],
  ])('merging two writers keeps the owning stack of %s', (_, ours, theirs, kept) => {
    const merged = rules.mergeRecords(record({ stackId: ours }), record({ stackId: theirs }));
    expect(merged.stackId).toBe(kept);
  });
});

describe('stored record', () => {
  it('fits a Standard parameter by dropping the oldest known IDs that are no longer live', () => {
    const known = [
      'cur',
      ...Array.from({ length: 99 }, (_, i) => `${String(i).padStart(3, '0')}00000-0000-0000-0000-000000000000`),
    ];
    const r = record({
      knownActivationIds: known,
      previous: [{ activationId: known[99]!, expiresAt: NOW.toISOString() }],
    });
    expect(Buffer.byteLength(JSON.stringify(r))).toBeGreaterThan(STANDARD_PARAMETER_MAX_BYTES);
    const text = serializeRecord(r);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(STANDARD_PARAMETER_MAX_BYTES);
    const back = parseRecord(text, '222222222222');
    expect(back.knownActivationIds[0]).toBe('cur');
    expect(back.knownActivationIds).toContain(known[99]); // live (previous) IDs are never dropped
    expect(back.knownActivationIds).not.toContain(known[98]);
  });
  it('at its largest otherwise (every waiting slot used, the longest stack ID and error) still holds 55 IDs of deleted activations', () => {
    const uuid = (i: number) => `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`;
    const iso = '2026-12-31T23:59:59.999Z';
    const waiting = Array.from({ length: REPLACED_ACTIVATIONS_KEPT_MAX }, (_, i) => uuid(i + 1));
    const deleted = Array.from({ length: 55 }, (_, i) => uuid(100 + i));
    const r = record({
      current: { ...record().current, activationId: uuid(0), region: 'ap-southeast-2', registrationLimit: 1000 },
      previous: waiting.map((activationId) => ({ activationId, expiresAt: iso, replacedAt: iso })),
      knownActivationIds: [uuid(0), ...waiting, ...deleted],
      requestedRegistrationLimit: 1000,
      requestedExpiryDays: 30,
      // A stack name has at most 128 characters.
      stackId: `arn:aws:cloudformation:ap-southeast-2:111111111111:stack/${'n'.repeat(128)}/${uuid(99)}`,
      lastRotationError: `${iso} ${'e'.repeat(2000)}`,
    });
    const back = parseRecord(serializeRecord(r), r.agencyAccountId);
    expect(back.knownActivationIds).toEqual(r.knownActivationIds);
    expect(back.lastRotationError).toHaveLength(LAST_ROTATION_ERROR_MAX_CHARS);
  });
  it('names only the broken field of a damaged record, never its value', () => {
    const bad = JSON.stringify({ ...record(), current: { ...record().current, expiresAt: 'CODECODECODECODECODE' } });
    expect(() => parseRecord(bad, '222222222222')).toThrow(/invalid at current\.expiresAt$/);
    expect(() => parseRecord('{', '222222222222')).toThrow(/not valid JSON/);
    expect(() => parseRecord(JSON.stringify(record()), '333333333333')).toThrow(/names another agency/);
  });
  it('maps parameter names under the prefix to agencies and ignores anything else', () => {
    expect(agencyOfParameter('/hub/agencies', '/hub/agencies/222222222222')).toBe('222222222222');
    expect(agencyOfParameter('/hub/agencies', '/hub/agencies/2222')).toBeUndefined();
    expect(agencyOfParameter('/hub/agencies', '/hub/agencies/222222222222/x')).toBeUndefined();
    expect(agencyOfParameter('/hub/agencies', '/hub/agenciesX/222222222222')).toBeUndefined();
  });
});

describe('custom resource helpers', () => {
  it('recognises only its own physical IDs', () => {
    expect(agencyOfPhysicalId('agency-activation-222222222222')).toBe('222222222222');
    expect(agencyOfPhysicalId('failed-create-req-1')).toBeUndefined();
    expect(agencyOfPhysicalId('agency-activation-2222222222223')).toBeUndefined();
    expect(agencyOfPhysicalId(undefined)).toBeUndefined();
  });
  it('answers a failed Create with a placeholder and a failed Update or Delete with the existing ID', () => {
    const base = {
      ResponseURL: 'http://x',
      StackId: 's',
      RequestId: 'r1',
      LogicalResourceId: 'L',
      ResourceType: 'Custom::AgencyActivation',
      ResourceProperties: {},
    };
    expect(failurePhysicalId({ ...base, RequestType: 'Create' })).toBe('failed-create-r1');
    expect(
      failurePhysicalId({ ...base, RequestType: 'Update', PhysicalResourceId: 'agency-activation-222222222222' }),
    ).toBe('agency-activation-222222222222');
  });
  it('keeps five seconds for the response when there is time, half the rest when there is not', () => {
    expect(timeBudgetMs({ getRemainingTimeInMillis: () => 60_000 })).toBe(55_000);
    expect(timeBudgetMs({ getRemainingTimeInMillis: () => 4_000 })).toBe(2_000);
  });
  it('parses properties as CloudFormation sends them', () => {
    expect(
      parseProperties({
        ServiceToken: 'arn',
        ServiceTimeout: '300',
        AgencyAccountId: '222222222222',
        RegistrationLimit: '1',
        ExpiryDays: '30',
      }),
    ).toEqual({
      agencyAccountId: '222222222222',
      registrationLimit: 1,
      expiryDays: 30,
    });
    expect(() => parseProperties(null)).toThrow(/ResourceProperties must be an object/);
    expect(() => parseProperties({ AgencyAccountId: '222222222222', RegistrationLimit: ' 5', ExpiryDays: 1 })).toThrow(
      /RegistrationLimit/,
    );
  });
});

describe('error text', () => {
  it('names the failed operation and the AWS error, and masks any code it has seen', () => {
    const secrets = new SecretRegistry();
    secrets.add('SECRETCODE1234567890');
    const awsError = Object.assign(new Error('Rate exceeded near SECRETCODE1234567890'), {
      name: 'ThrottlingException',
    });
    expect(secrets.describe(new StepError('CreateActivation', awsError))).toBe(
      'CreateActivation failed: ThrottlingException: Rate exceeded near [redacted]',
    );
  });
});
