// Tag sets reach the hub out of order: EventBridge does not keep events in order, Lambda retries
// asynchronous invocations, and a long reconcile may send a snapshot read before a change that an
// event already synced. Each sync may say when its tag set was observed; the node's row keeps the
// observation of the tag set last applied, and an older one is answered
// `superseded` (nothing written).
// Pure: no AWS calls, no environment.
import { OBSERVED_AT_MAX_AHEAD_MS } from '../../contract/limits.ts';
import { SYNC_TABLE } from '../shared/names.ts';

/** When a tag set was observed (normalized ISO 8601), and its tag-change event's version. */
export interface Observation {
  at: string;
  version?: number;
}

type Observed = { observedAt?: string | undefined; observedVersion?: number | undefined };

/**
 * The observation as the hub compares and stores it: `toISOString()` form (fixed width, so the
 * table's string comparison is chronological), and never more than OBSERVED_AT_MAX_AHEAD_MS ahead
 * of `now`. None when no time was sent: an older collector's sync applies as before.
 */
export function observationOf(sent: Observed | undefined, now: Date): Observation | undefined {
  const ms = sent?.observedAt === undefined ? NaN : Date.parse(sent.observedAt);
  if (Number.isNaN(ms)) return undefined;
  const at = new Date(Math.min(ms, now.getTime() + OBSERVED_AT_MAX_AHEAD_MS)).toISOString();
  return sent!.observedVersion === undefined ? { at } : { at, version: sent!.observedVersion };
}

/** -1, 0 or 1: `a` observed before, with, or after `b`. The version decides only within the same time. */
function compare(a: Observation, b: Observation): number {
  const d = Date.parse(a.at) - Date.parse(b.at);
  if (d !== 0) return Math.sign(d);
  if (a.version === undefined || b.version === undefined) return 0;
  return Math.sign(a.version - b.version);
}

/**
 * Pure: `superseded` when the incoming tag set was observed before the one last applied; `apply` when it
 * is as new or newer, or when either side has no observed time (equal or unknown applies as today).
 */
export function orderTagSet(
  stored: Observation | undefined,
  incoming: Observation | undefined,
): 'apply' | 'superseded' {
  return stored && incoming && compare(incoming, stored) < 0 ? 'superseded' : 'apply';
}

/**
 * Pure: an unchanged tag set still moves the row's observation forward when it comes from an event
 * (it has a version) and is newer: otherwise a delayed older event could apply after a change back
 * (A, B, A with the second A first). Reconciles carry no version and write nothing when unchanged,
 * so the steady state stays free of table writes; their snapshot is at most one reconcile old.
 */
export function recordsUnchanged(stored: Observation | undefined, incoming: Observation | undefined): boolean {
  return incoming?.version !== undefined && (!stored || compare(incoming, stored) > 0);
}

/** The row's stored observation, if it has one. */
export function storedObservation(row: Observed | undefined): Observation | undefined {
  if (typeof row?.observedAt !== 'string') return undefined;
  return typeof row.observedVersion === 'number'
    ? { at: row.observedAt, version: row.observedVersion }
    : { at: row.observedAt };
}

/** The row attributes that record an observation. */
export const observedAttributes = (o: Observation | undefined): Observed =>
  o ? { observedAt: o.at, ...(o.version === undefined ? {} : { observedVersion: o.version }) } : {};

export interface WriteCondition {
  expression: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
}

/**
 * orderTagSet as a DynamoDB condition, checked at write time: the row holds no observation newer
 * than `o`. Stored times are `toISOString()` strings, so `<` and `=` compare them in time order.
 */
export function notOlderCondition(o: Observation): WriteCondition {
  const names = { '#obsAt': SYNC_TABLE.attributes.observedAt };
  if (o.version === undefined)
    return { expression: 'attribute_not_exists(#obsAt) OR #obsAt <= :obsAt', names, values: { ':obsAt': o.at } };
  return {
    expression:
      'attribute_not_exists(#obsAt) OR #obsAt < :obsAt OR (#obsAt = :obsAt AND (attribute_not_exists(#obsV) OR #obsV <= :obsV))',
    names: { ...names, '#obsV': SYNC_TABLE.attributes.observedVersion },
    values: { ':obsAt': o.at, ':obsV': o.version },
  };
}

export const SUPERSEDED_REASON = 'a tag set observed later was already applied to this node; nothing written';
