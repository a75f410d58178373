// The scheduled rotation. For each agency record: replace the current activation when it nears
// expiry or its registration limit, and delete replaced activations once their grace period is
// over (retire.ts). One agency's failure never stops the others; the run then fails as a whole so
// the alarm fires.
import type { ActivationRecord } from '../shared/activation-record.ts';
import { emitMetrics, log } from '../shared/log.ts';
import { readConfig, type ManagerConfig } from './config.ts';
import { SecretRegistry, step, StepError } from './errors.ts';
import {
  activationRequest,
  newRecord,
  rotatedRecord,
  rotationReason,
  wantedSettings,
  type ActivationStatus,
  type RotationReason,
} from './rules.ts';
import { createActivation, deleteActivation, describeActivation } from './ssm-io.ts';
import { pruneKnownIds, retireReplaced } from './retire.ts';
import { listRecords, parseRecord, RecordGoneError, writeRecord, type ListedRecord } from './store.ts';
import { HandlerError } from '../shared/errors.ts';
import { nextLimit, readCapacity, type RunCapacity } from './capacity.ts';

export interface RotationSummary {
  agencies: number;
  rotated: string[];
  /** Replaced activations deleted: expired, or past their grace period. */
  expiredActivationsDeleted: number;
  failed: { agencyAccountId: string; error: string }[];
  /** Agencies whose due rotation was refused: their quota, or the standard tier, is full. */
  refusedForCapacity: { agencyAccountId: string; reason: string }[];
}

export class RotationError extends HandlerError {
  override readonly name = 'RotationError';
}

interface AgencyOutcome {
  rotated?: RotationReason;
  refusedForCapacity?: string;
  expiredDeleted: number;
  error?: string;
}

async function activationStatus(activationId: string): Promise<ActivationStatus | undefined> {
  const a = await describeActivation(activationId);
  if (!a) return undefined;
  return {
    registrationsCount: a.RegistrationsCount ?? 0,
    registrationLimit: a.RegistrationLimit ?? 0,
    expirationDate: a.ExpirationDate,
    expired: a.Expired === true,
  };
}

async function rotateAgency(
  cfg: ManagerConfig,
  listed: ListedRecord,
  secrets: SecretRegistry,
  now: Date,
  capacity: () => Promise<RunCapacity>,
): Promise<AgencyOutcome> {
  const agencyAccountId = listed.agencyAccountId;
  const original = parseRecord(listed.raw, agencyAccountId);
  secrets.add(original.current.activationCode);
  let record: ActivationRecord = original;
  let changed = false;
  const outcome: AgencyOutcome = { expiredDeleted: 0 };

  // 1. Replace the current activation when needed. A failure leaves it in place: it still works.
  try {
    const status = await step('DescribeActivations', () => activationStatus(record.current.activationId));
    const reason = rotationReason(record, status, cfg, now);
    const cap = reason ? await step('GetServiceSetting', capacity) : undefined;
    const wanted = wantedSettings(record).registrationLimit;
    // A usage rotation is not forced by time: the registrations still open on the activation it
    // replaces count against the quota. One replaced because it expires is not held back by them;
    // its grace period bounds them (README, "Node quota and tier").
    const open = reason === 'usage' && status ? Math.max(0, status.registrationLimit - status.registrationsCount) : 0;
    const limit = cap
      ? await step('DescribeInstanceInformation', () => nextLimit(cfg, cap, record, wanted, open))
      : undefined;
    if (limit && !limit.ok) {
      // Refused, not failed: the current activation stays, and the next run looks again.
      outcome.refusedForCapacity = limit.reason;
      log('WARN', 'rotation refused: no room for another registration', {
        agencyAccountId,
        reason: limit.reason,
        dueBecause: reason,
        agencyNodes: limit.agencyNodes,
        openRegistrations: open,
        quota: cap?.quota,
        advancedTier: cap?.advanced,
      });
    } else if (reason && limit?.ok && cap) {
      const settings = { ...wantedSettings(record), registrationLimit: limit.registrationLimit };
      const request = activationRequest(agencyAccountId, settings, cfg, now);
      const created = await step('CreateActivation', () => createActivation(request));
      secrets.add(created.activationCode);
      cap.committed += limit.registrationLimit;
      record = rotatedRecord(
        record,
        newRecord(agencyAccountId, created, settings, request.expirationDate, cfg.region, now),
      );
      if (limit.capped) record = { ...record, requestedRegistrationLimit: wanted };
      changed = true;
      outcome.rotated = reason;
      log('INFO', 'activation rotated; the previous one stays valid for its grace period', {
        agencyAccountId,
        reason,
        activationId: created.activationId,
        previousActivationId: original.current.activationId,
        expiresAt: record.current.expiresAt,
        registrationsCount: status?.registrationsCount,
        registrationLimit: limit.registrationLimit,
        cappedFrom: limit.capped ? wanted : undefined,
      });
    }
  } catch (err) {
    const error = secrets.describe(err);
    outcome.error = error;
    record = { ...record, lastRotationError: `${now.toISOString()} ${error}` };
    changed = true;
    log('ERROR', 'activation rotation failed; the current activation stays in use', { agencyAccountId, error });
  }

  // 2. Delete replaced activations that expired or whose grace period is over (one just replaced
  // too, when it had expired); one that cannot be deleted stays in `previous` for the next run.
  const describe = (err: unknown) => secrets.describe(err);
  const retired = await retireReplaced(record, now, describe);
  outcome.expiredDeleted = retired.deleted;
  outcome.error ??= retired.errors[0];
  if (retired.removed.size > 0) {
    record = retired.record;
    changed = true;
  }

  // 3. Write only when something changed: an idle run makes no write at all. Known IDs no node
  // carries any more are dropped with it.
  if (changed) {
    record = await pruneKnownIds(record, retired.removed, describe);
    try {
      // A stack update may write the record meanwhile: the write folds it in. A stack delete
      // meanwhile must not be undone, so the record has to still exist.
      await step('PutParameter', () =>
        writeRecord(cfg.parameterPrefix, cfg.kmsKeyId, record, {}, { baseVersion: listed.version, mustExist: true }),
      );
    } catch (err) {
      if (err instanceof StepError && err.failure instanceof RecordGoneError) {
        log('INFO', 'agency removed while its activation was rotating; nothing kept', { agencyAccountId });
        if (outcome.rotated) await deleteActivation(record.current.activationId).catch(() => undefined);
        return { expiredDeleted: outcome.expiredDeleted };
      }
      const error = secrets.describe(err);
      outcome.error = outcome.error ? `${outcome.error}; ${error}` : error;
      log('ERROR', 'could not store the activation record', { agencyAccountId, error });
      if (outcome.rotated) {
        // The new activation is recorded nowhere; remove it so it is not orphaned.
        await deleteActivation(record.current.activationId).catch(() => undefined);
        outcome.rotated = undefined;
      }
    }
  }
  return outcome;
}

/** Stop starting new agencies with less than this left, so the run ends cleanly, not by timeout. */
export const ROTATION_TIME_RESERVE_MS = 20_000;

/** One scheduled rotation run over every agency record under the prefix. */
export async function runRotation(
  remainingMs: () => number = () => Number.POSITIVE_INFINITY,
  now: Date = new Date(),
): Promise<RotationSummary> {
  const cfg = readConfig();
  const secrets = new SecretRegistry();
  const listed = await step('GetParametersByPath', () => listRecords(cfg.parameterPrefix));
  const summary: RotationSummary = {
    agencies: listed.length,
    rotated: [],
    expiredActivationsDeleted: 0,
    failed: [],
    refusedForCapacity: [],
  };
  // Read only when some agency is due, and then once for the whole run.
  let capacityRead: Promise<RunCapacity> | undefined;
  const capacity = () => (capacityRead ??= readCapacity(cfg, listed.length));

  // Sequential: the activation APIs have low rate limits, and a run has hours before the next.
  let skipped = 0;
  for (const [index, item] of listed.entries()) {
    if (remainingMs() < ROTATION_TIME_RESERVE_MS) {
      // Those left are checked by the next run; the thrown error makes this one visible.
      skipped = listed.length - index;
      break;
    }
    let outcome: AgencyOutcome;
    try {
      outcome = await rotateAgency(cfg, item, secrets, now, capacity);
    } catch (err) {
      const error = secrets.describe(err);
      log('ERROR', 'activation record could not be processed', { agencyAccountId: item.agencyAccountId, error });
      outcome = { expiredDeleted: 0, error };
    }
    if (outcome.rotated) summary.rotated.push(item.agencyAccountId);
    if (outcome.refusedForCapacity)
      summary.refusedForCapacity.push({ agencyAccountId: item.agencyAccountId, reason: outcome.refusedForCapacity });
    summary.expiredActivationsDeleted += outcome.expiredDeleted;
    if (outcome.error) summary.failed.push({ agencyAccountId: item.agencyAccountId, error: outcome.error });
  }

  emitMetrics(
    cfg.metricNamespace,
    {},
    {
      Rotations: { value: summary.rotated.length },
      RotationFailures: { value: summary.failed.length },
      ExpiredActivationsDeleted: { value: summary.expiredActivationsDeleted },
      RotationsRefusedForCapacity: { value: summary.refusedForCapacity.length },
    },
  );
  log(skipped > 0 ? 'ERROR' : 'INFO', 'rotation run finished', {
    agencies: summary.agencies,
    skippedForTime: skipped,
    rotated: summary.rotated,
    expiredActivationsDeleted: summary.expiredActivationsDeleted,
    failedAgencies: summary.failed.map((f) => f.agencyAccountId),
  });

  if (summary.failed.length > 0 || skipped > 0) {
    const parts: string[] = [];
    if (summary.failed.length > 0) {
      const detail = summary.failed.map((f) => `${f.agencyAccountId} (${f.error})`).join('; ');
      parts.push(`activation rotation failed for ${summary.failed.length} agencies: ${detail}`);
    }
    if (skipped > 0) parts.push(`${skipped} agencies were not checked before the function's time ran out`);
    throw new RotationError(secrets.redact(parts.join('; ')).slice(0, 4000));
  }
  return summary;
}
