// The Custom::AgencyActivation resource of the agency-permissions stack. Every path — success,
// bad input, AWS failure, a bug, or the function running out of time — ends with exactly one
// response PUT to ResponseURL, so a stack never hangs for an hour waiting for us.
import type { ActivationRecord } from '../shared/activation-record.ts';
import { sendCfnResponse, type CfnEventBase, type CfnResult } from '../shared/cfn-response.ts';
import { log } from '../shared/log.ts';
import { ACTIVATION_MAX_EXPIRY_DAYS, ACTIVATION_MAX_REGISTRATION_LIMIT } from '../../contract/limits.ts';
import { ACCOUNT_ID_BODY, ACCOUNT_ID_PATTERN, patternOf } from '../../contract/patterns.ts';
import { readConfig, type ManagerConfig } from './config.ts';
import { PropertyError, SecretRegistry, step } from './errors.ts';
import {
  activationIdsToDelete,
  activationRequest,
  defaultInstanceNameOf,
  heldSettingsMatch,
  newRecord,
  rotatedRecord,
  type ActivationSettings,
} from './rules.ts';
import {
  activationIdsNamed,
  countParameters,
  createActivation,
  deleteActivation,
  describeActivation,
  type CallOptions,
} from './ssm-io.ts';
import { capacityRefusal, nextLimit, readCapacity } from './capacity.ts';
import { pruneKnownIds, retireReplaced } from './retire.ts';
import {
  deleteRecord,
  readRecord,
  recordParameterName,
  salvageActivationIds,
  salvageStackId,
  writeRecord,
  type StoredRecord,
} from './store.ts';
import { stackStatus } from './stack-io.ts';
import { PROVENANCE_TAG_SUFFIXES } from '../shared/names.ts';

export const PHYSICAL_ID_PREFIX = 'agency-activation-';
const PHYSICAL_ID_PATTERN = /* @__PURE__ */ patternOf(['^', PHYSICAL_ID_PREFIX, '(', ACCOUNT_ID_BODY, ')$']);

export const physicalIdOf = (agencyAccountId: string): string => `${PHYSICAL_ID_PREFIX}${agencyAccountId}`;

/** The agency a physical ID stands for, or undefined when it is not one this function issued. */
export function agencyOfPhysicalId(physicalId: string | undefined): string | undefined {
  return physicalId ? PHYSICAL_ID_PATTERN.exec(physicalId)?.[1] : undefined;
}

export interface AgencyActivationProperties extends ActivationSettings {
  agencyAccountId: string;
}

/** Properties CloudFormation itself adds to every custom resource. */
const FRAMEWORK_PROPERTIES = new Set(['ServiceToken', 'ServiceTimeout']);
const KNOWN_PROPERTIES = new Set(['AgencyAccountId', 'RegistrationLimit', 'ExpiryDays', ...FRAMEWORK_PROPERTIES]);

/** CloudFormation passes every scalar as a string; accept "25" and 25 alike. */
function intProperty(props: Record<string, unknown>, field: string, min: number, max: number): number {
  const raw = props[field];
  if (raw === undefined || raw === null || raw === '')
    throw new PropertyError(field, `is required (an integer from ${min} to ${max})`);
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw new PropertyError(field, `must be an integer from ${min} to ${max}`);
  return n;
}

/** Validates ResourceProperties; the error names the field and the rule it broke. */
export function parseProperties(props: unknown): AgencyActivationProperties {
  if (typeof props !== 'object' || props === null || Array.isArray(props)) {
    throw new PropertyError('ResourceProperties', 'must be an object');
  }
  const p = props as Record<string, unknown>;
  const unknown = Object.keys(p).filter((k) => !KNOWN_PROPERTIES.has(k));
  if (unknown.length > 0)
    throw new PropertyError(unknown.sort().join(', '), 'is not a property of Custom::AgencyActivation');
  const acct = p.AgencyAccountId;
  if (typeof acct !== 'string' || !ACCOUNT_ID_PATTERN.test(acct)) {
    throw new PropertyError('AgencyAccountId', 'must be an AWS account ID of exactly 12 digits');
  }
  return {
    agencyAccountId: acct,
    registrationLimit: intProperty(p, 'RegistrationLimit', 1, ACTIVATION_MAX_REGISTRATION_LIMIT),
    expiryDays: intProperty(p, 'ExpiryDays', 1, ACTIVATION_MAX_EXPIRY_DAYS),
  };
}

/** Old properties of an Update, read leniently: they were valid once, but the rules may have changed. */
function oldProperties(props: unknown): Partial<AgencyActivationProperties> {
  const p = (typeof props === 'object' && props !== null ? props : {}) as Record<string, unknown>;
  const num = (v: unknown) =>
    typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
  return {
    agencyAccountId: typeof p.AgencyAccountId === 'string' ? p.AgencyAccountId : undefined,
    registrationLimit: num(p.RegistrationLimit),
    expiryDays: num(p.ExpiryDays),
  };
}

interface Ctx {
  cfg: ManagerConfig;
  secrets: SecretRegistry;
  call: CallOptions;
  now: Date;
}

type Existing = { record: ActivationRecord; version: number };

/**
 * Issues a new activation for the agency and stores it, owned by `stackId`. An existing record
 * (left by a deleted stack, an older release or a Create that timed out after writing) is adopted:
 * its activation moves to `previous` rather than being orphaned. If storing fails, the new
 * activation is deleted again.
 */
async function issueActivation(
  ctx: Ctx,
  props: AgencyActivationProperties,
  existing: Existing | undefined,
  stackId: string,
): Promise<ActivationRecord> {
  const { cfg, now } = ctx;
  const limit = await cappedLimit(ctx, props, existing?.record);
  const settings = { ...props, registrationLimit: limit };
  const request = activationRequest(props.agencyAccountId, settings, cfg, now);
  const created = await step('CreateActivation', () => createActivation(request, ctx.call));
  ctx.secrets.add(created.activationCode);
  const fresh = newRecord(props.agencyAccountId, created, settings, request.expirationDate, cfg.region, now);
  const issued = { ...(existing ? rotatedRecord(existing.record, fresh) : fresh), stackId };
  const wished =
    limit < props.registrationLimit ? { ...issued, requestedRegistrationLimit: props.registrationLimit } : issued;
  // As a rotation does: replaced activations past their grace period (or too many) go, and so do
  // the known IDs no node carries, so no number of stack updates outgrows the record.
  const describe = (err: unknown) => ctx.secrets.describe(err);
  const retired = await retireReplaced(wished, now, describe, ctx.call);
  const record = await pruneKnownIds(retired.record, retired.removed, describe, ctx.call);
  try {
    // A rotation may run at the same moment: the write folds in whatever it stored meanwhile.
    await step('PutParameter', () =>
      writeRecord(cfg.parameterPrefix, cfg.kmsKeyId, record, ctx.call, { baseVersion: existing?.version }),
    );
  } catch (err) {
    // Nothing records this activation, so nothing would ever delete it: remove it now. (Should the
    // write still land after a time-out, the record names this stack: its rollback Delete removes it.)
    await deleteActivation(created.activationId).catch((cleanupErr: unknown) =>
      log('ERROR', 'could not delete an activation whose record was not stored', {
        agencyAccountId: props.agencyAccountId,
        activationId: created.activationId,
        error: ctx.secrets.describe(cleanupErr),
      }),
    );
    throw err;
  }
  log('INFO', existing ? 'activation issued; the earlier one stays valid for its grace period' : 'activation issued', {
    agencyAccountId: props.agencyAccountId,
    activationId: created.activationId,
    expiresAt: record.current.expiresAt,
    registrationLimit: props.registrationLimit,
    parameterName: recordParameterName(cfg.parameterPrefix, props.agencyAccountId),
  });
  return record;
}

/** The room the agency's next activation has: the requested limit, cut by its quota and the Region's tier. */
async function roomFor(ctx: Ctx, props: AgencyActivationProperties, record: ActivationRecord | undefined) {
  const { cfg } = ctx;
  const stored = await step('GetParametersByPath', () => countParameters(cfg.parameterPrefix));
  const own = recordParameterName(cfg.parameterPrefix, props.agencyAccountId);
  const agencies = stored.count + (stored.names.includes(own) ? 0 : 1);
  const cap = await step('GetServiceSetting', () => readCapacity(cfg, agencies));
  const limit = await step('DescribeInstanceInformation', () => nextLimit(cfg, cap, record, props.registrationLimit));
  return { limit, cap };
}

/**
 * The registration limit the agency's activation may have: the requested one, cut by the agency's
 * quota and (on the standard tier) the Region's room. No room at all fails the request, naming why.
 */
async function cappedLimit(
  ctx: Ctx,
  props: AgencyActivationProperties,
  record: ActivationRecord | undefined,
): Promise<number> {
  const { limit, cap } = await roomFor(ctx, props, record);
  if (!limit.ok) throw new Error(`no activation created: ${capacityRefusal(limit.reason, cap.quota)}`);
  if (limit.capped)
    log('WARN', 'activation limit cut to the room left', {
      agencyAccountId: props.agencyAccountId,
      requested: props.registrationLimit,
      registrationLimit: limit.registrationLimit,
      quota: cap.quota,
      advancedTier: cap.advanced,
    });
  return limit.registrationLimit;
}

async function currentRecord(ctx: Ctx, agencyAccountId: string): Promise<Existing | undefined> {
  const stored = await step('GetParameter', () => readRecord(ctx.cfg.parameterPrefix, agencyAccountId, ctx.call));
  if (stored.kind === 'damaged') {
    // Adopting a damaged record could orphan its activations; an operator must look at it.
    throw new Error(
      `${stored.error.message}; fix or delete parameter ${recordParameterName(ctx.cfg.parameterPrefix, agencyAccountId)}`,
    );
  }
  if (stored.kind === 'ok') ctx.secrets.add(stored.record.current.activationCode);
  return stored.kind === 'ok' ? { record: stored.record, version: stored.version } : undefined;
}

/**
 * Refuses to touch a record another live stack owns. A record of this stack, one with no owner
 * (stored by an older release) or one whose owner stack is deleted may be taken.
 */
async function claimRecord(ctx: Ctx, existing: Existing | undefined, event: CfnEventBase): Promise<void> {
  const owner = existing?.record.stackId;
  if (existing && owner === undefined && event.RequestType === 'Create') {
    // An earlier release's record names no stack, and its Delete removed the record, so such a record
    // almost always belongs to a live stack: a second stack must not adopt it (its rollback would
    // then delete the live activation). The owning stack stamps it on its next Update.
    const agencyAccountId = existing.record.agencyAccountId;
    throw new Error(
      `agency ${agencyAccountId} already has an activation record from an earlier release, naming no stack (${recordParameterName(ctx.cfg.parameterPrefix, agencyAccountId)}): update the agency's existing stack instead of creating another; if no stack of the agency exists any more, delete that parameter and retry`,
    );
  }
  if (!existing || owner === undefined || owner === event.StackId) return;
  const status = await step('DescribeStacks', () => stackStatus(owner, ctx.call));
  const agencyAccountId = existing.record.agencyAccountId;
  if (status !== 'gone' && status !== 'DELETE_COMPLETE') {
    throw new Error(
      `agency ${agencyAccountId} already has an activation owned by stack ${owner} (${status}); one stack per agency: delete that stack first or update it instead`,
    );
  }
  log('WARN', 'taking over the activation record of a deleted stack', {
    agencyAccountId,
    previousStackId: owner,
    previousStackStatus: status,
    stackId: event.StackId,
  });
}

async function onCreate(ctx: Ctx, event: CfnEventBase): Promise<CfnResult> {
  const props = parseProperties(event.ResourceProperties);
  const existing = await currentRecord(ctx, props.agencyAccountId);
  await claimRecord(ctx, existing, event);
  if (existing) log('WARN', 'adopting an existing activation record', { agencyAccountId: props.agencyAccountId });
  await issueActivation(ctx, props, existing, event.StackId);
  return success(physicalIdOf(props.agencyAccountId));
}

async function onUpdate(ctx: Ctx, event: CfnEventBase): Promise<CfnResult> {
  const props = parseProperties(event.ResourceProperties);
  const old = oldProperties(event.OldResourceProperties);
  const physicalId = physicalIdOf(props.agencyAccountId);
  if (old.agencyAccountId !== props.agencyAccountId || event.PhysicalResourceId !== physicalId) {
    // A new physical ID makes CloudFormation Delete the old agency's activation afterwards.
    return onCreate(ctx, event);
  }
  const existing = await currentRecord(ctx, props.agencyAccountId);
  if (!existing) {
    // The record was removed behind the stack's back: issue a new activation rather than answer SUCCESS over nothing.
    log('WARN', 'activation record missing on update; issuing a new activation', {
      agencyAccountId: props.agencyAccountId,
    });
    await issueActivation(ctx, props, undefined, event.StackId);
    return success(physicalId);
  }
  const held = heldSettingsMatch(existing.record, props);
  const owner = existing.record.stackId;
  if (held && owner !== undefined && owner !== event.StackId) {
    // Nothing to change, and not this stack's record: answer SUCCESS without writing, so a rollback
    // to the settings the record holds never fails (UPDATE_ROLLBACK_FAILED).
    log('INFO', "the activation settings are already held; the record is another stack's, left as it is", {
      agencyAccountId: props.agencyAccountId,
      recordStackId: owner,
      stackId: event.StackId,
    });
    return success(physicalId);
  }
  await claimRecord(ctx, existing, event);
  if (held) {
    // Nothing to issue (a rollback of a stored-for-later change lands here too): keep what is held.
    log('INFO', 'the activation settings are already held', { agencyAccountId: props.agencyAccountId, held });
    await keepRecord(ctx, existing, event.StackId, held === 'current' ? {} : undefined);
    return success(physicalId);
  }
  const { limit, cap } = await roomFor(ctx, props, existing.record);
  if (!limit.ok) {
    // Failing would fail the rollback too (UPDATE_ROLLBACK_FAILED): keep the activation, store the wish.
    log('WARN', 'no room for a new activation: the new settings apply at the next rotation with room', {
      agencyAccountId: props.agencyAccountId,
      registrationLimit: props.registrationLimit,
      expiryDays: props.expiryDays,
      reason: capacityRefusal(limit.reason, cap.quota),
    });
    await keepRecord(ctx, existing, event.StackId, {
      requestedRegistrationLimit: props.registrationLimit,
      requestedExpiryDays: props.expiryDays,
    });
    return success(physicalId);
  }
  await issueActivation(ctx, props, existing, event.StackId);
  return success(physicalId);
}

/**
 * Keeps the current activation, stamping the owning stack and setting (or with `{}` clearing) the
 * settings waiting for the next rotation. Writes only when something changes.
 */
async function keepRecord(
  ctx: Ctx,
  existing: Existing,
  stackId: string,
  requested: Pick<ActivationRecord, 'requestedRegistrationLimit' | 'requestedExpiryDays'> | undefined,
): Promise<void> {
  const { record } = existing;
  const next: ActivationRecord = { ...record, stackId };
  if (requested) {
    delete next.requestedRegistrationLimit;
    delete next.requestedExpiryDays;
    Object.assign(next, requested);
  }
  const same = (k: keyof ActivationRecord) => next[k] === record[k];
  if (same('stackId') && same('requestedRegistrationLimit') && same('requestedExpiryDays')) return;
  await step('PutParameter', () =>
    writeRecord(ctx.cfg.parameterPrefix, ctx.cfg.kmsKeyId, next, ctx.call, {
      baseVersion: existing.version,
      mustExist: true,
    }),
  );
}

async function onDelete(ctx: Ctx, event: CfnEventBase): Promise<CfnResult> {
  const physicalId = event.PhysicalResourceId ?? '';
  const named = agencyOfPhysicalId(physicalId);
  // A failed Create answers a placeholder ID, but its record may still have been stored (a write
  // that landed after a time-out): the rollback Delete removes a record this stack owns.
  const agencyAccountId = named ?? oldProperties(event.ResourceProperties).agencyAccountId;
  if (!agencyAccountId || !ACCOUNT_ID_PATTERN.test(agencyAccountId)) {
    log('INFO', 'delete of a resource this function never created; nothing to do', { physicalResourceId: physicalId });
    return success(physicalId);
  }
  const { cfg } = ctx;
  const stored = await step('GetParameter', () => readRecord(cfg.parameterPrefix, agencyAccountId, ctx.call));
  const owner = ownerOf(stored);
  if (owner !== event.StackId && (owner !== undefined || named === undefined)) {
    log('INFO', "the activation record is not this stack's; nothing deleted", {
      agencyAccountId,
      physicalResourceId: physicalId,
      recordStackId: owner ?? null,
      stackId: event.StackId,
    });
    return success(physicalId);
  }
  let ids: string[] = [];
  if (stored.kind === 'ok') {
    ctx.secrets.add(stored.record.current.activationCode);
    ids = activationIdsToDelete(stored.record);
  } else if (stored.kind === 'damaged') {
    log('WARN', "activation record is damaged; deleting the activations it names that are this agency's", {
      agencyAccountId,
      error: stored.error.message,
    });
    ids = await ownActivations(ctx, agencyAccountId, salvageActivationIds(stored.raw));
  }
  await deleteActivations(ctx, agencyAccountId, ids, '');
  await step('DeleteParameter', () => deleteRecord(cfg.parameterPrefix, agencyAccountId, ctx.call));
  // A rotation may have stored a new activation between our read and the delete: find every
  // activation still carrying this agency's name and delete it too, so none outlives the stack.
  const deleted = new Set(ids);
  const strays = (
    await step('DescribeActivations', () => activationIdsNamed(defaultInstanceNameOf(agencyAccountId), ctx.call))
  ).filter((id) => !deleted.has(id));
  await deleteActivations(ctx, agencyAccountId, strays, 'stray ');
  log('INFO', 'activation record deleted; registered managed nodes stay registered', { agencyAccountId });
  return success(physicalId);
}

/** The stack a stored record names as its owner (read leniently from a damaged one). */
function ownerOf(stored: StoredRecord): string | undefined {
  if (stored.kind === 'ok') return stored.record.stackId;
  if (stored.kind === 'damaged') return salvageStackId(stored.raw);
  return undefined;
}

async function deleteActivations(ctx: Ctx, agencyAccountId: string, ids: string[], kind: string): Promise<void> {
  for (const id of ids) {
    const outcome = await step('DeleteActivation', () => deleteActivation(id, ctx.call));
    log('INFO', `${kind}activation ${outcome === 'deleted' ? 'deleted' : 'already gone'}`, {
      agencyAccountId,
      activationId: id,
    });
  }
}

/**
 * The IDs (from a damaged record) whose activation SSM shows as this agency's: created with its
 * default instance name and, when stamped, stamped with it. Any other is left alone and logged.
 */
async function ownActivations(ctx: Ctx, agencyAccountId: string, ids: string[]): Promise<string[]> {
  const stampKey = `${ctx.cfg.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.activationAgency}`;
  const own: string[] = [];
  for (const id of ids) {
    const a = await step('DescribeActivations', () => describeActivation(id, ctx.call));
    if (!a) continue; // SSM no longer knows it: nothing to delete
    const stamp = a.Tags?.find((t) => t.Key === stampKey)?.Value;
    if (
      a.DefaultInstanceName === defaultInstanceNameOf(agencyAccountId) &&
      (stamp ?? agencyAccountId) === agencyAccountId
    )
      own.push(id);
    else
      log('WARN', "a damaged record names an activation that is not this agency's; left alone", {
        agencyAccountId,
        activationId: id,
        activationAgency: stamp ?? null,
      });
  }
  return own;
}

function success(physicalResourceId: string): CfnResult {
  // NoEcho keeps anything we might ever return out of DescribeStackResources; Data stays empty.
  return { status: 'SUCCESS', physicalResourceId, noEcho: true };
}

/** The physical ID to answer with when a request fails. */
export function failurePhysicalId(event: CfnEventBase): string {
  // A failed Create must not claim an agency's ID: the rollback Delete then touches nothing.
  if (event.RequestType === 'Create' || !event.PhysicalResourceId)
    return `failed-create-${event.RequestId}`.slice(0, 1024);
  return event.PhysicalResourceId;
}

export interface LambdaContextLike {
  getRemainingTimeInMillis?: () => number;
  awsRequestId?: string;
}

/** How long the work may run before we give up and answer FAILED, leaving time for the PUT. */
export function timeBudgetMs(context: LambdaContextLike): number {
  const remaining = context.getRemainingTimeInMillis?.() ?? 300_000;
  return remaining > 10_000 ? remaining - 5_000 : Math.max(0, Math.floor(remaining / 2));
}

async function run(ctx: Ctx, event: CfnEventBase): Promise<CfnResult> {
  switch (event.RequestType) {
    case 'Create':
      return onCreate(ctx, event);
    case 'Update':
      return onUpdate(ctx, event);
    case 'Delete':
      return onDelete(ctx, event);
    default:
      throw new PropertyError('RequestType', 'must be Create, Update or Delete');
  }
}

/** Handles one custom-resource request and always answers CloudFormation. */
export async function handleCustomResource(event: CfnEventBase, context: LambdaContextLike): Promise<void> {
  const secrets = new SecretRegistry();
  const abort = new AbortController();
  const logFields = {
    requestType: event.RequestType,
    logicalResourceId: event.LogicalResourceId,
    requestId: event.RequestId,
    physicalResourceId: event.PhysicalResourceId,
  };
  log('INFO', 'custom resource request', logFields);

  const work = (async (): Promise<CfnResult> => {
    try {
      const cfg = readConfig();
      return await run({ cfg, secrets, call: { abortSignal: abort.signal }, now: new Date() }, event);
    } catch (err) {
      const reason = secrets.describe(err);
      log('ERROR', 'custom resource request failed', { ...logFields, error: reason });
      return { status: 'FAILED', physicalResourceId: failurePhysicalId(event), reason };
    }
  })();

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<CfnResult>((resolve) => {
    timer = setTimeout(() => {
      const reason = `timed out: ${event.RequestType} did not finish before the function's time limit; see the function's log (request ${context.awsRequestId ?? 'unknown'})`;
      log('ERROR', 'custom resource request timed out', logFields);
      resolve({ status: 'FAILED', physicalResourceId: failurePhysicalId(event), reason });
    }, timeBudgetMs(context));
  });

  const result = await Promise.race([work, deadline]);
  clearTimeout(timer);
  abort.abort(); // cancels any SDK call still in flight after a timeout

  await respond(event, { ...result, reason: result.reason === undefined ? undefined : secrets.redact(result.reason) });
}

/** PUTs the response, retrying briefly: a lost response leaves the stack waiting for an hour. */
async function respond(event: CfnEventBase, result: CfnResult): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await sendCfnResponse(event, result);
      log('INFO', 'custom resource response sent', {
        status: result.status,
        physicalResourceId: result.physicalResourceId,
      });
      return;
    } catch (err) {
      const message = err instanceof Error ? err.message : 'unknown error';
      if (attempt >= 3) {
        // Not rethrown: a Lambda retry would redo the work, not resend this response.
        log('ERROR', 'could not send the custom resource response', { status: result.status, error: message });
        return;
      }
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
}
