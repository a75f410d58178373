// Pure rules of the activation lifecycle: what a new activation looks like, when to rotate, and
// how a record changes on rotation and cleanup. No I/O here, so each rule is tested directly.
import type { ActivationRecord } from '../shared/activation-record.ts';
import { PROVENANCE_TAG_SUFFIXES } from '../shared/names.ts';
import { REPLACED_ACTIVATION_GRACE_HOURS, REPLACED_ACTIVATIONS_KEPT_MAX } from '../../contract/limits.ts';
import type { CreateActivationInput, NewActivation } from './ssm-io.ts';

/** The default instance name of an agency's activations; it also finds them again on stack delete. */
export const defaultInstanceNameOf = (agencyAccountId: string): string => `agency-${agencyAccountId}`;

export const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
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
  const limit = status.registrationLimit > 0 ? status.registrationLimit : record.current.registrationLimit;
  const left = limit - status.registrationsCount;
  if (status.registrationsCount > 0 && left <= registrationsKeptFree(limit, policy.rotateAtUsagePercent))
    return 'usage';
  return undefined;
}

/**
 * The registrations a usage rotation leaves free: the share above rotateAtUsagePercent, rounded up
 * and at least one, so that instances can still register until the next run has rotated (with a
 * limit of 5, rotation at 4 used, not 5). Never the whole limit: an activation of 1 rotates once used.
 */
export function registrationsKeptFree(limit: number, rotateAtUsagePercent: number): number {
  // Integer arithmetic: ceil(limit * (100 - percent) / 100) without floating-point edge cases.
  const share = Math.floor((limit * (100 - rotateAtUsagePercent) + 99) / 100);
  return Math.min(limit - 1, Math.max(1, share));
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
 * the old one moves to `previous`, replaced now (it stays valid for the grace period, so a
 * registration in progress still completes), the new ID goes first in knownActivationIds, and any
 * earlier rotation error is cleared.
 */
export function rotatedRecord(record: ActivationRecord, fresh: ActivationRecord): ActivationRecord {
  const previous = [
    {
      activationId: record.current.activationId,
      expiresAt: record.current.expiresAt,
      replacedAt: fresh.current.createdAt,
    },
    ...record.previous.filter((p) => p.activationId !== record.current.activationId),
  ];
  const known = [...new Set([fresh.current.activationId, record.current.activationId, ...record.knownActivationIds])];
  return {
    ...fresh,
    // The owning stack stays the owner through every rotation.
    stackId: fresh.stackId ?? record.stackId,
    previous,
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

/** When a previous activation was replaced; an entry of an earlier release: no later than the current one's creation. */
const replacedAtOf = (record: ActivationRecord, p: ActivationRecord['previous'][number]): number =>
  Date.parse(p.replacedAt ?? record.current.createdAt);

/**
 * Previous activations to delete now: expired ones, those whose grace period is over, and any
 * beyond the REPLACED_ACTIVATIONS_KEPT_MAX most recently replaced. Deleting one stops new
 * registrations with its code; the nodes registered with it stay registered (API_DeleteActivation).
 */
export function previousToDelete(record: ActivationRecord, now: Date): string[] {
  const graceMs = REPLACED_ACTIVATION_GRACE_HOURS * HOUR_MS;
  const newestFirst = [...record.previous].sort((a, b) => replacedAtOf(record, b) - replacedAtOf(record, a));
  const due = newestFirst.filter(
    (p, i) =>
      i >= REPLACED_ACTIVATIONS_KEPT_MAX ||
      Date.parse(p.expiresAt) <= now.getTime() ||
      replacedAtOf(record, p) + graceMs <= now.getTime(),
  );
  return due.map((p) => p.activationId);
}

/** Known IDs that may be dropped if no node carries them: not live (current or previous), nor in `keep`. */
export function droppableKnownIds(record: ActivationRecord, keep: ReadonlySet<string>): string[] {
  const live = new Set([record.current.activationId, ...record.previous.map((p) => p.activationId)]);
  return record.knownActivationIds.filter((id) => !live.has(id) && !keep.has(id));
}

/** Drops the given IDs from knownActivationIds (never a live one). */
export function withoutKnown(record: ActivationRecord, ids: ReadonlySet<string>): ActivationRecord {
  const live = new Set([record.current.activationId, ...record.previous.map((p) => p.activationId)]);
  return { ...record, knownActivationIds: record.knownActivationIds.filter((id) => live.has(id) || !ids.has(id)) };
}

/** Drops the given IDs from `previous`; knownActivationIds keeps them while nodes carry them. */
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
 * activation either record knows stays in `previous` (until retired), and the known IDs
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
    { activationId: older.activationId, expiresAt: older.expiresAt, replacedAt: current.createdAt },
    ...theirs.previous,
  ]) {
    if (seen.has(p.activationId)) continue;
    seen.add(p.activationId);
    const { activationId, expiresAt, replacedAt } = p;
    previous.push(replacedAt ? { activationId, expiresAt, replacedAt } : { activationId, expiresAt });
  }
  const known = [...new Set([current.activationId, ...ours.knownActivationIds, ...theirs.knownActivationIds])];
  return { ...ours, stackId: ours.stackId ?? theirs.stackId, current, previous, knownActivationIds: known };
}
