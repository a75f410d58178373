// One agency's activation record in Parameter Store: a SecureString (customer-managed KMS key)
// named <prefix>/<agency account>. Parsing and serialising are pure; I/O goes through ssm-io.
import {
  activationRecordSchema,
  LAST_ROTATION_ERROR_MAX_CHARS,
  type ActivationRecord,
} from '../shared/activation-record.ts';
import { centralActivationParameterName } from '../shared/names.ts';
import { log } from '../shared/log.ts';
import {
  deleteParameter,
  getSecureParameterVersion,
  listSecureParameters,
  parameterVersionsBetween,
  putSecureParameter,
  type CallOptions,
} from './ssm-io.ts';
import { mergeRecords } from './rules.ts';
import { HandlerError } from '../shared/errors.ts';
import { STANDARD_PARAMETER_MAX_BYTES } from '../../contract/limits.ts';
import { ACCOUNT_ID_PATTERN } from '../../contract/patterns.ts';

/** Standard-tier parameters hold at most 4 KB; the record must fit or PutParameter fails. */
export { STANDARD_PARAMETER_MAX_BYTES };

export class RecordError extends HandlerError {
  override readonly name = 'RecordError';
}

/**
 * Parses a stored record. The error names the broken field only: the stored value holds an
 * activation code, so neither it nor zod's view of it may reach a message.
 */
export function parseRecord(raw: string, expectedAgency: string): ActivationRecord {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new RecordError(`activation record of agency ${expectedAgency} is not valid JSON`);
  }
  const parsed = activationRecordSchema.safeParse(json);
  if (!parsed.success) {
    const field = (parsed.error.issues[0]?.path ?? []).map(String).join('.') || '(record)';
    throw new RecordError(`activation record of agency ${expectedAgency} is invalid at ${field}`);
  }
  if (parsed.data.agencyAccountId !== expectedAgency) {
    throw new RecordError(`activation record stored for agency ${expectedAgency} names another agency`);
  }
  return parsed.data;
}

/** Activation IDs a damaged record still names, so a stack delete can clean them up. */
export function salvageActivationIds(raw: string): string[] {
  try {
    const json = JSON.parse(raw) as { current?: { activationId?: unknown }; previous?: unknown };
    const ids: unknown[] = [json.current?.activationId];
    if (Array.isArray(json.previous))
      for (const p of json.previous) ids.push((p as { activationId?: unknown })?.activationId);
    return ids.filter((id): id is string => typeof id === 'string' && id.length > 0);
  } catch {
    return [];
  }
}

/** The owning stack a damaged record still names, if any. */
export function salvageStackId(raw: string): string | undefined {
  try {
    const stackId = (JSON.parse(raw) as { stackId?: unknown } | null)?.stackId;
    return typeof stackId === 'string' && stackId.length > 0 ? stackId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A record as it is stored in a Standard-tier parameter, and the known IDs dropped to fit it. Its
 * size is bounded by the rotation (REPLACED_ACTIVATIONS_KEPT_MAX previous entries, known IDs only
 * while nodes carry them, lastRotationError cut); only an agency with so many activations that
 * still have registered nodes that their IDs alone fill 4 KB loses the oldest of them here.
 */
export function fitRecord(record: ActivationRecord): { text: string; droppedKnownIds: string[] } {
  const live = new Set([record.current.activationId, ...record.previous.map((p) => p.activationId)]);
  const out: ActivationRecord = { ...record, knownActivationIds: [...new Set(record.knownActivationIds)] };
  if (out.lastRotationError !== undefined)
    out.lastRotationError = out.lastRotationError.slice(0, LAST_ROTATION_ERROR_MAX_CHARS);
  const droppedKnownIds: string[] = [];
  let text = JSON.stringify(out);
  while (Buffer.byteLength(text) > STANDARD_PARAMETER_MAX_BYTES) {
    const dropAt = lastIndexWhere(out.knownActivationIds, (id) => !live.has(id));
    if (dropAt < 0)
      throw new RecordError(
        `activation record of agency ${record.agencyAccountId} does not fit in a Standard parameter`,
      );
    droppedKnownIds.push(out.knownActivationIds[dropAt]!);
    out.knownActivationIds = out.knownActivationIds.filter((_, i) => i !== dropAt);
    text = JSON.stringify(out);
  }
  return { text, droppedKnownIds };
}

export const serializeRecord = (record: ActivationRecord): string => fitRecord(record).text;

function lastIndexWhere<T>(items: T[], pred: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (pred(items[i]!)) return i;
  return -1;
}

export function recordParameterName(prefix: string, agencyAccountId: string): string {
  return centralActivationParameterName(prefix, agencyAccountId);
}

/** The agency a parameter under the prefix belongs to, or undefined for a name that is not ours. */
export function agencyOfParameter(prefix: string, name: string): string | undefined {
  const match = name.startsWith(`${prefix}/`) ? ACCOUNT_ID_PATTERN.exec(name.slice(prefix.length + 1)) : null;
  return match?.[0];
}

export type StoredRecord =
  | { kind: 'missing' }
  | { kind: 'ok'; record: ActivationRecord; version: number }
  | { kind: 'damaged'; raw: string; error: RecordError; version: number };

export async function readRecord(
  prefix: string,
  agencyAccountId: string,
  opts: CallOptions = {},
): Promise<StoredRecord> {
  const stored = await getSecureParameterVersion(recordParameterName(prefix, agencyAccountId), opts);
  if (stored === undefined) return { kind: 'missing' };
  try {
    return { kind: 'ok', record: parseRecord(stored.value, agencyAccountId), version: stored.version };
  } catch (err) {
    if (err instanceof RecordError) return { kind: 'damaged', raw: stored.value, error: err, version: stored.version };
    throw err;
  }
}

/** The record was deleted (its stack was deleted) while this writer was working on it. */
export class RecordGoneError extends HandlerError {
  override readonly name = 'RecordGoneError';
}

export interface WriteOptions {
  /** Version the record was read at; undefined for a record this writer creates. */
  baseVersion?: number;
  /** Refuse to write when the record no longer exists (a rotation must not resurrect a deleted agency). */
  mustExist?: boolean;
}

/**
 * Stores a record without losing a concurrent writer's activations. Parameter Store has no
 * conditional write, so: before writing, fold in every version stored since ours was read; after
 * writing, check the version SSM assigned, and if another write slipped in between, fold that in
 * and write again.
 */
export async function writeRecord(
  prefix: string,
  kmsKeyId: string,
  record: ActivationRecord,
  opts: CallOptions = {},
  write: WriteOptions = {},
): Promise<void> {
  const name = recordParameterName(prefix, record.agencyAccountId);
  const foldIn = (values: string[]) => {
    for (const raw of values) {
      try {
        record = mergeRecords(record, parseRecord(raw, record.agencyAccountId));
      } catch {
        // A damaged version holds nothing we can recover; ours replaces it.
      }
    }
  };
  const gone = () =>
    new RecordGoneError(`the activation record of agency ${record.agencyAccountId} was deleted meanwhile`);
  let base = write.baseVersion;
  let stored = false;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      const latest = await getSecureParameterVersion(name, opts);
      if (!latest && write.mustExist) throw gone();
      if (latest && latest.version !== base) {
        foldIn(
          base === undefined
            ? [latest.value]
            : [...(await parameterVersionsBetween(name, [base, latest.version], opts)), latest.value],
        );
      }
      const fitted = fitRecord(record);
      if (fitted.droppedKnownIds.length > 0)
        log(
          'ERROR',
          'activation record full: the oldest known activation IDs were dropped; their nodes keep only their stamp',
          {
            agencyAccountId: record.agencyAccountId,
            droppedActivationIds: fitted.droppedKnownIds,
          },
        );
      const written = await putSecureParameter(name, fitted.text, kmsKeyId, opts);
      stored = true;
      const expected = (latest?.version ?? 0) + 1;
      if (written === expected) return;
      if (written < expected && write.mustExist) {
        // The version went down: the record was deleted after our read and our put re-created it.
        await deleteParameter(name, opts);
        throw gone();
      }
      // Someone wrote between our read and our write: fold their versions in and write again.
      foldIn(await parameterVersionsBetween(name, [latest?.version ?? 0, written], opts));
      base = written;
    } catch (err) {
      // Once our record is stored, a failure while reconciling with a concurrent writer must not
      // make the caller delete the activation that is now current: report it and keep the record.
      if (!stored || err instanceof RecordGoneError) throw err;
      log('WARN', 'activation record stored; could not confirm that no concurrent write was lost', {
        agencyAccountId: record.agencyAccountId,
        error: (err as Error).name,
      });
      return;
    }
  }
  if (stored) return;
  throw new Error(`the activation record of agency ${record.agencyAccountId} kept changing under concurrent writers`);
}

export async function deleteRecord(
  prefix: string,
  agencyAccountId: string,
  opts: CallOptions = {},
): Promise<'deleted' | 'gone'> {
  return deleteParameter(recordParameterName(prefix, agencyAccountId), opts);
}

export interface ListedRecord {
  agencyAccountId: string;
  parameterName: string;
  raw: string;
  version: number;
}

/** Every agency record under the prefix (names that are not <prefix>/<12 digits> are ignored). */
export async function listRecords(prefix: string, opts: CallOptions = {}): Promise<ListedRecord[]> {
  const params = await listSecureParameters(prefix, opts);
  const out: ListedRecord[] = [];
  for (const p of params) {
    const agencyAccountId = agencyOfParameter(prefix, p.name);
    if (agencyAccountId) out.push({ agencyAccountId, parameterName: p.name, raw: p.value, version: p.version });
  }
  return out.sort((a, b) => a.agencyAccountId.localeCompare(b.agencyAccountId));
}
