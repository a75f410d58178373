// The pure rules of the activation manager, tested directly from source.
import { describe, expect, it } from 'vitest';
import type { ActivationRecord } from '../../../lambda/shared/activation-record.ts';
import { MAX_KNOWN_ACTIVATION_IDS } from '../../../lambda/shared/activation-record.ts';
import * as rules from '../../../lambda/activation-manager/rules.ts';

const { activationIdsToDelete, activationRequest, DAY_MS, expirationDate, expiredPrevious } = rules;
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
  it('uses the percentage with integer arithmetic (1 of 3 at 33% rotates; at 34% it does not)', () => {
    const small = { ...status(1), registrationLimit: 3 };
    expect(rotationReason(record(), small, { ...policy, rotateAtUsagePercent: 33 }, NOW)).toBe('usage');
    expect(rotationReason(record(), small, { ...policy, rotateAtUsagePercent: 34 }, NOW)).toBeUndefined();
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
    expect(after.previous.map((p) => p.activationId)).toEqual(['cur', 'old']);
    expect(after.knownActivationIds).toEqual(['new', 'cur', 'old']);
    expect(after.lastRotationError).toBeUndefined();
  });
  it('caps knownActivationIds when stored, keeping the live ones', () => {
    const many = Array.from({ length: MAX_KNOWN_ACTIVATION_IDS + 5 }, (_, i) => `id-${i}`);
    const before = record({ knownActivationIds: many });
    const fresh = newRecord(
      before.agencyAccountId,
      { activationId: 'new', activationCode: 'C' },
      settingsOf(before),
      NOW,
      'us-east-1',
      NOW,
    );
    const after = rotatedRecord(before, fresh);
    const stored = parseRecord(serializeRecord(after), after.agencyAccountId).knownActivationIds;
    expect(stored).toHaveLength(MAX_KNOWN_ACTIVATION_IDS);
    expect(stored[0]).toBe('new');
    expect(stored).toContain('cur'); // the previous activation is live: never capped away
  });
  it('finds expired previous activations, drops them from previous only, and deletes current plus previous on stack delete', () => {
    const r = record({
      previous: [
        { activationId: 'gone', expiresAt: new Date(NOW.getTime() - 1).toISOString() },
        { activationId: 'live', expiresAt: new Date(NOW.getTime() + DAY_MS).toISOString() },
      ],
      knownActivationIds: ['cur', 'gone', 'live'],
    });
    expect(expiredPrevious(r, NOW)).toEqual(['gone']);
    const pruned = withoutPrevious(r, new Set(['gone']));
    expect(pruned.previous.map((p) => p.activationId)).toEqual(['live']);
    expect(pruned.knownActivationIds).toEqual(['cur', 'gone', 'live']);
    expect(activationIdsToDelete(r)).toEqual(['cur', 'gone', 'live']);
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
