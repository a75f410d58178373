// Pure rules of the activation lifecycle: what a new activation looks like, when to rotate, and
// how a record changes on rotation and cleanup. No I/O here, so each rule is tested directly.
import type { ActivationRecord } from '../shared/activation-record.ts';
import { PROVENANCE_TAG_SUFFIXES } from '../shared/names.ts';
import type { CreateActivationInput, NewActivation } from './ssm-io.ts';

/** The default instance name of an agency's activations; it also finds them again on stack delete. */
export const defaultInstanceNameOf = (agencyAccountId: string): string => `agency-${agencyAccountId}`;

export const DAY_MS = 86_400_000;
/** CreateActivation refuses an ExpirationDate more than 30 days ahead. */
export const MAX_EXPIRY_DAYS = 30;
/** Head-room under the 30-day cap so clock skew between Lambda and SSM cannot push us over it. */
const EXPIRY_CAP_MARGIN_MS = 5 * 60_000;

export interface ActivationSettings {
  registrationLimit: number;
  expiryDays: number;
}

/** now + days, but never more than 30 days ahead (minus a small margin). */
export function expirationDate(now: Date, expiryDays: number): Date {
  const wanted = now.getTime() + expiryDays * DAY_MS;
  const cap = now.getTime() + MAX_EXPIRY_DAYS * DAY_MS - EXPIRY_CAP_MARGIN_MS;
  return new Date(Math.min(wanted, cap));
}

export function activationRequest(
  agencyAccountId: string,
  settings: ActivationSettings,
  env: { managedNodeRoleName: string; reservedTagPrefix: string },
  now: Date,
): CreateActivationInput {
  return {
    iamRole: env.managedNodeRoleName,
    registrationLimit: settings.registrationLimit,
    expirationDate: expirationDate(now, settings.expiryDays),
    description: `Hybrid activation of agency ${agencyAccountId} (ssm-hub activation manager)`,
    defaultInstanceName: defaultInstanceNameOf(agencyAccountId),
    // Stamped on every node registered with it and unchangeable: the node's proof of ownership.
    tags: [{ Key: `${env.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.activationAgency}`, Value: agencyAccountId }],
  };
}

/** The settings an existing record was created with, so a rotation repeats them. */
export function settingsOf(record: ActivationRecord): ActivationSettings {
  const span = Date.parse(record.current.expiresAt) - Date.parse(record.current.createdAt);
  const days = Math.round(span / DAY_MS);
  return {
    registrationLimit: record.current.registrationLimit,
    expiryDays: Math.min(MAX_EXPIRY_DAYS, Math.max(1, Number.isFinite(days) ? days : MAX_EXPIRY_DAYS)),
  };
}

/** What SSM reports about the current activation; undefined when SSM no longer knows it. */
export interface ActivationStatus {
  registrationsCount: number;
  registrationLimit: number;
  expirationDate?: Date;
  expired: boolean;
}

export type RotationReason = 'missing' | 'expired' | 'expiring' | 'usage';

export interface RotationPolicy {
  rotateDaysBeforeExpiry: number;
  rotateAtUsagePercent: number;
}

/** Why the current activation must be replaced now, or undefined when it can stay. */
export function rotationReason(
  record: ActivationRecord,
  status: ActivationStatus | undefined,
  policy: RotationPolicy,
  now: Date,
): RotationReason | undefined {
  if (!status) return 'missing';
  const expiresAt = status.expirationDate?.getTime() ?? Date.parse(record.current.expiresAt);
  if (status.expired || expiresAt <= now.getTime()) return 'expired';
  if (expiresAt - now.getTime() < policy.rotateDaysBeforeExpiry * DAY_MS) return 'expiring';
  // Integer arithmetic: count/limit >= percent/100 without floating-point edge cases.
  const limit = status.registrationLimit > 0 ? status.registrationLimit : record.current.registrationLimit;
  if (status.registrationsCount * 100 >= policy.rotateAtUsagePercent * limit) return 'usage';
  return undefined;
}

/** A fresh record for an agency's first activation. */
export function newRecord(
  agencyAccountId: string,
  activation: NewActivation,
  settings: ActivationSettings,
  expiresAt: Date,
  region: string,
  now: Date,
): ActivationRecord {
  return {
    agencyAccountId,
    current: {
      activationId: activation.activationId,
      activationCode: activation.activationCode,
      region,
      expiresAt: expiresAt.toISOString(),
      createdAt: now.toISOString(),
      registrationLimit: settings.registrationLimit,
    },
    previous: [],
    knownActivationIds: [activation.activationId],
  };
}

/**
 * The record after a rotation: the new activation (`fresh`, as newRecord makes it) becomes current,
 * the old one moves to `previous` (it stays valid until it expires, so a registration in progress
 * still completes), the new ID goes first in knownActivationIds, and any earlier rotation error is
 * cleared.
 */
export function rotatedRecord(record: ActivationRecord, fresh: ActivationRecord): ActivationRecord {
  const previous = [
    { activationId: record.current.activationId, expiresAt: record.current.expiresAt },
    ...record.previous.filter((p) => p.activationId !== record.current.activationId),
  ];
  const known = [...new Set([fresh.current.activationId, record.current.activationId, ...record.knownActivationIds])];
  return {
    ...fresh,
    // The owning stack stays the owner through every rotation.
    stackId: fresh.stackId ?? record.stackId,
    previous,
    // The cap is applied when the record is stored (serializeRecord), which keeps live IDs.
    knownActivationIds: known,
  };
}

/** The settings a rotation uses: those a stack update stored when it found no room, else the current ones. */
export function wantedSettings(record: ActivationRecord): ActivationSettings {
  const held = settingsOf(record);
  return {
    registrationLimit: record.requestedRegistrationLimit ?? held.registrationLimit,
    expiryDays: record.requestedExpiryDays ?? held.expiryDays,
  };
}

/**
 * Whether a stack's settings are what the record already holds: the current activation's, or the
 * ones stored for the next rotation. 'current' means no setting is waiting any more.
 */
export function heldSettingsMatch(
  record: ActivationRecord,
  s: ActivationSettings,
): 'current' | 'requested' | undefined {
  const held = settingsOf(record);
  if (s.registrationLimit === held.registrationLimit && s.expiryDays === held.expiryDays) return 'current';
  const wanted = wantedSettings(record);
  if (s.registrationLimit === wanted.registrationLimit && s.expiryDays === wanted.expiryDays) return 'requested';
  return undefined;
}

/** Previous activations whose expiry has passed: they can no longer register anything. */
export function expiredPrevious(record: ActivationRecord, now: Date): string[] {
  return record.previous.filter((p) => Date.parse(p.expiresAt) <= now.getTime()).map((p) => p.activationId);
}

/** Drops the given IDs from `previous`; knownActivationIds keeps them for ownership checks. */
export function withoutPrevious(record: ActivationRecord, ids: ReadonlySet<string>): ActivationRecord {
  return { ...record, previous: record.previous.filter((p) => !ids.has(p.activationId)) };
}

/** Every activation a stack delete must remove. */
export function activationIdsToDelete(record: ActivationRecord): string[] {
  return [...new Set([record.current.activationId, ...record.previous.map((p) => p.activationId)])];
}

/**
 * Folds a record another writer stored into ours, so that no activation either of us created is
 * forgotten. The newest activation (by creation time) is current, whoever created it: a rotation
 * that read the record before a stack update must not put the old activation back. Every other
 * activation either record knows stays in `previous` (kept until it expires), and the known IDs
 * are the union. Our own bookkeeping (the last rotation error) wins.
 */
export function mergeRecords(ours: ActivationRecord, theirs: ActivationRecord): ActivationRecord {
  if (theirs.agencyAccountId !== ours.agencyAccountId) return ours;
  const theirsIsNewer = Date.parse(theirs.current.createdAt) > Date.parse(ours.current.createdAt);
  const current = theirsIsNewer ? theirs.current : ours.current;
  const older = theirsIsNewer ? ours.current : theirs.current;
  const previous: ActivationRecord['previous'] = [];
  const seen = new Set([current.activationId]);
  for (const p of [
    ...ours.previous,
    { activationId: older.activationId, expiresAt: older.expiresAt },
    ...theirs.previous,
  ]) {
    if (seen.has(p.activationId)) continue;
    seen.add(p.activationId);
    previous.push({ activationId: p.activationId, expiresAt: p.expiresAt });
  }
  const known = [...new Set([current.activationId, ...ours.knownActivationIds, ...theirs.knownActivationIds])];
  return { ...ours, stackId: ours.stackId ?? theirs.stackId, current, previous, knownActivationIds: known };
}
