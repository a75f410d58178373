// Pure rules that turn an EC2 instance's raw tags into the SSM tags of its managed node.
// No AWS here: the tag manager calls these, and tests check every rule in isolation.
import { createHash } from 'node:crypto';
import { PROVENANCE_TAG_SUFFIXES } from './names.ts';

import { SSM_MAX_KEY_LENGTH, SSM_MAX_TAGS_PER_NODE, SSM_MAX_VALUE_LENGTH } from '../../contract/limits.ts';

export { SSM_MAX_KEY_LENGTH, SSM_MAX_TAGS_PER_NODE, SSM_MAX_VALUE_LENGTH };
import { SSM_TAG_PATTERN } from '../../contract/patterns.ts';

export { SSM_TAG_PATTERN };
export { DEFAULT_RESERVED_TAG_PREFIX } from '../../contract/names.ts';
/** Tags the hybrid activation stamps on every node it registers (activation-agency). */
export const ACTIVATION_STAMPED_TAG_COUNT = 1;
/** Provenance tags the tag manager writes on every synced node (agency account, EC2 instance ID, node ARN). */
export const PROVENANCE_TAG_COUNT = 3;

export const SKIP_REASONS = {
  awsPrefix: 'aws: keys are reserved by AWS',
  keyLength: `key must be 1-${SSM_MAX_KEY_LENGTH} characters`,
  valueLength: `value must be at most ${SSM_MAX_VALUE_LENGTH} characters`,
  keyChars: 'key has characters SSM does not allow (letters, digits, spaces and _.:/=+-@ only)',
  valueChars: 'value has characters SSM does not allow (letters, digits, spaces and _.:/=+-@ only)',
  reserved: (prefix: string) => `keys under the reserved prefix ${prefix} are managed centrally`,
  overLimit: `over the ${SSM_MAX_TAGS_PER_NODE}-tag limit`,
} as const;

export interface SkippedTag {
  key: string;
  reason: string;
}

/**
 * A tag set. Tags are data: every tag set is built with no prototype (`emptyTags`), so keys such as
 * `constructor`, `toString` or `__proto__` are keys like any other, and membership is always
 * `hasTag` (an own key), never `in`.
 */
export type Tags = Record<string, string>;

/** A tag set with no prototype: assigning `__proto__` stores a tag instead of changing the prototype. */
export function emptyTags(): Tags {
  return Object.create(null) as Tags;
}

/** True when the tag set holds this key itself (never through a prototype). */
export const hasTag = (tags: Tags, key: string): boolean => Object.hasOwn(tags, key);

/** A prototype-free copy of key/value pairs. */
export function tagsFrom(entries: Iterable<readonly [string, string]>): Tags {
  const out = emptyTags();
  for (const [k, v] of entries) out[k] = v;
  return out;
}

/** The longest tag key or field name the hub echoes back; longer ones are cut and marked. */
export const MAX_ECHOED_NAME_LENGTH = SSM_MAX_KEY_LENGTH;

/** A key or field name as it may be echoed in an answer: at most 128 characters, then an ellipsis. */
export function echoName(name: string): string {
  return name.length <= MAX_ECHOED_NAME_LENGTH ? name : `${name.slice(0, MAX_ECHOED_NAME_LENGTH)}…`;
}

/** True for keys under the reserved prefix. Compared case-insensitively so look-alike keys cannot slip in. */
export function isReservedKey(key: string, prefix: string): boolean {
  return key.toLowerCase().startsWith(prefix.toLowerCase());
}

/**
 * Why SSM would refuse this tag (or why sync must not copy it), or undefined when it may be copied.
 * Lengths count UTF-16 code units, the stricter reading of "characters".
 */
export function tagRuleViolation(key: string, value: string, prefix: string): string | undefined {
  if (key.toLowerCase().startsWith('aws:')) return SKIP_REASONS.awsPrefix;
  if (key.length < 1 || key.length > SSM_MAX_KEY_LENGTH) return SKIP_REASONS.keyLength;
  if (!SSM_TAG_PATTERN.test(key)) return SKIP_REASONS.keyChars;
  if (value.length > SSM_MAX_VALUE_LENGTH) return SKIP_REASONS.valueLength;
  if (!SSM_TAG_PATTERN.test(value)) return SKIP_REASONS.valueChars;
  if (isReservedKey(key, prefix)) return SKIP_REASONS.reserved(prefix);
  return undefined;
}

/** Code-unit order, the same in every runtime and locale. */
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export interface ProvenanceKeys {
  agencyAccount: string;
  ec2InstanceId: string;
  nodeArn: string;
  activationAgency: string;
}

export const provenanceKeys = (prefix: string): ProvenanceKeys => ({
  agencyAccount: `${prefix}${PROVENANCE_TAG_SUFFIXES.agencyAccount}`,
  ec2InstanceId: `${prefix}${PROVENANCE_TAG_SUFFIXES.ec2InstanceId}`,
  nodeArn: `${prefix}${PROVENANCE_TAG_SUFFIXES.nodeArn}`,
  activationAgency: `${prefix}${PROVENANCE_TAG_SUFFIXES.activationAgency}`,
});

/** The reserved keys sync itself writes on every node (PROVENANCE_TAG_COUNT of them). */
export function syncWrittenKeys(prefix: string): string[] {
  const p = provenanceKeys(prefix);
  return [p.agencyAccount, p.ec2InstanceId, p.nodeArn];
}

/** True for a key sync owns on a node: every non-reserved key, and the provenance keys it writes. */
function isSyncOwnedKey(key: string, prefix: string): boolean {
  return !isReservedKey(key, prefix) || syncWrittenKeys(prefix).includes(key);
}

export interface PlanInput {
  rawTags: Tags;
  prefix: string;
  agencyAccountId: string;
  ec2InstanceId: string;
  /** The node's own ARN (arn:<partition>:ssm:<region>:<account>:managed-instance/<mi-id>). */
  nodeArn: string;
  /**
   * Reserved tags on the node that sync neither writes nor removes (the activation's stamp and
   * anything central IT set). Defaults to the activation's stamped tags.
   */
  otherReservedTagCount?: number;
}

export interface TagPlan {
  /** Every tag the node should carry that sync owns: the chosen user tags plus the provenance tags. */
  desired: Tags;
  /** Non-reserved keys in `desired` (what sync may later remove). */
  userKeys: string[];
  skipped: SkippedTag[];
  fingerprint: string;
}

/** sha256 of the sorted key=value pairs; JSON keeps it unambiguous whatever the characters. */
export function tagFingerprint(tags: Tags): string {
  const pairs = Object.keys(tags)
    .sort(byCodeUnit)
    .map((k) => [k, tags[k]]);
  return createHash('sha256').update(JSON.stringify(pairs)).digest('hex');
}

/** The SSM tags a node should carry for these EC2 tags, and the tags that cannot be copied. */
export function planTags(input: PlanInput): TagPlan {
  const { rawTags, prefix, agencyAccountId, ec2InstanceId, nodeArn } = input;
  const otherReserved = Math.max(0, input.otherReservedTagCount ?? ACTIVATION_STAMPED_TAG_COUNT);
  const skipped: SkippedTag[] = [];
  const copyable: string[] = [];
  for (const key of Object.keys(rawTags).sort(byCodeUnit)) {
    const reason = tagRuleViolation(key, rawTags[key]!, prefix);
    if (reason) skipped.push({ key: echoName(key), reason });
    else copyable.push(key);
  }
  const slots = Math.max(0, SSM_MAX_TAGS_PER_NODE - otherReserved - PROVENANCE_TAG_COUNT);
  const userKeys = copyable.slice(0, slots);
  for (const key of copyable.slice(slots)) skipped.push({ key, reason: SKIP_REASONS.overLimit });

  const desired = emptyTags();
  for (const key of userKeys) desired[key] = rawTags[key]!;
  const p = provenanceKeys(prefix);
  desired[p.agencyAccount] = agencyAccountId;
  desired[p.ec2InstanceId] = ec2InstanceId;
  desired[p.nodeArn] = nodeArn;
  return { desired, userKeys, skipped, fingerprint: tagFingerprint(desired) };
}

export interface TagDiff {
  toAdd: Tags;
  toRemove: string[];
}

/**
 * Diff against what sync applied last time, when only the keys are known (from the sync table):
 * every desired tag is (re)sent in one call, and keys sync applied before that are now gone are removed.
 */
export function diffAgainstApplied(plan: TagPlan, appliedUserKeys: readonly string[], prefix: string): TagDiff {
  const toRemove = appliedUserKeys
    .filter((k) => !hasTag(plan.desired, k) && !isReservedKey(k, prefix))
    .sort(byCodeUnit);
  return { toAdd: tagsFrom(Object.entries(plan.desired)), toRemove };
}

/**
 * Diff against the node's current SSM tags (drift pass): only differing values are sent, and every
 * non-reserved key not wanted is removed, because non-reserved keys mirror EC2 exactly.
 */
export function diffAgainstCurrent(plan: TagPlan, current: Tags, prefix: string): TagDiff {
  const toAdd = emptyTags();
  for (const [k, v] of Object.entries(plan.desired)) if (!hasTag(current, k) || current[k] !== v) toAdd[k] = v;
  const toRemove = Object.keys(current)
    .filter((k) => !hasTag(plan.desired, k) && !isReservedKey(k, prefix))
    .sort(byCodeUnit);
  return { toAdd, toRemove };
}

/** Reserved keys on a node that sync does not own (stamp, central IT's own), for the 50-tag budget. */
export function countOtherReservedTags(current: Tags, prefix: string): number {
  return Object.keys(current).filter((k) => !isSyncOwnedKey(k, prefix)).length;
}

export const isEmptyDiff = (d: TagDiff): boolean => Object.keys(d.toAdd).length === 0 && d.toRemove.length === 0;

/** The part of a node's tags that sync owns: every non-reserved key, and the provenance tags it writes. */
export function syncOwnedTags(current: Tags, prefix: string): Tags {
  return tagsFrom(Object.entries(current).filter(([k]) => isSyncOwnedKey(k, prefix)));
}

/**
 * Pure: whether a node's tags, as a bulk read answered them, match what the sync table says was
 * last applied (the fingerprint of the plan; none recorded means nothing applied yet). A bulk
 * answer that disagrees may be stale, so it is re-read node by node before anything is written.
 */
export function agreesWithLastApplied(
  current: Tags,
  lastAppliedFingerprint: string | undefined,
  prefix: string,
): boolean {
  const expected = lastAppliedFingerprint ?? tagFingerprint(emptyTags());
  return tagFingerprint(syncOwnedTags(current, prefix)) === expected;
}
