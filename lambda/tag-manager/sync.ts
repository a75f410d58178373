// The sync operation: prove ownership, plan tags with the pure rules, and touch SSM only for
// nodes whose tags changed (or whose drift check is due). Each node fails on its own.
import type { InstanceResult, SyncInstance } from '../shared/contract.ts';
import {
  ACTIVATION_STAMPED_TAG_COUNT,
  countOtherReservedTags,
  diffAgainstApplied,
  diffAgainstCurrent,
  isEmptyDiff,
  planTags,
  type TagDiff,
  type TagPlan,
  type Tags,
} from '../shared/tag-rules.ts';
import { DEFERRED_REASON, NODE_START_RESERVE_MS, type OpContext } from './context.ts';
import {
  BOUND_ELSEWHERE_REASON,
  logRowContradicted,
  NOT_OWNED_REASON,
  proveOwnership,
  stampConfirmsRow,
  type Ownership,
} from './ownership.ts';
import { mapPool } from '../shared/pool.ts';
import { securityEvent } from '../shared/log.ts';
import { addTags, errorName, errorReason, listTags, removeTags } from './ssm-io.ts';
import { claimBinding, conditionFailed, putRow, readRows, recordError, type SyncRow } from './table-io.ts';

import { HandlerError } from '../shared/errors.ts';
import { readCurrentTags } from './current-tags.ts';
import { managedNodeArn } from './tagging-io.ts';
import {
  notOlderCondition,
  observationOf,
  observedAttributes,
  orderTagSet,
  recordsUnchanged,
  SUPERSEDED_REASON,
  storedObservation,
} from './ordering.ts';
import { lostToNewer, makeDriftCheckDue, recordObservation } from './ordering-io.ts';

/** A node whose row another sync rewrote twice while this one ran: the collector's next run retries it. */
const ROW_KEPT_CHANGING_REASON = 'the node was written by other syncs at the same time; retried by the next run';

/** A stable fraction in [0, 1) for a node (FNV-1a of its ID). */
export function nodePhase(managedInstanceId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < managedInstanceId.length; i++) {
    h ^= managedInstanceId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 2 ** 32;
}

/**
 * Pure: a drift check is due when none was made, or the last one is older than this node's
 * period. Each node's period is between half and all of `driftCheckHours`, fixed by its ID, so
 * nodes first synced together do not all come due in the same hour.
 */
export function driftCheckDue(
  row: SyncRow | undefined,
  now: Date,
  driftCheckHours: number,
  managedInstanceId = '',
): boolean {
  const last = row?.lastDriftCheckAt ? Date.parse(row.lastDriftCheckAt) : NaN;
  if (Number.isNaN(last)) return true;
  const period = driftCheckHours * 3_600_000 * (0.5 + nodePhase(managedInstanceId) / 2);
  return now.getTime() - last >= period;
}

/** Pure: nothing to do for this node (and so no SSM call). */
export function isUnchanged(
  row: SyncRow | undefined,
  agency: string,
  ec2InstanceId: string,
  plan: TagPlan,
  driftDue: boolean,
): boolean {
  return (
    row !== undefined &&
    row.agencyAccountId === agency &&
    row.ec2InstanceId === ec2InstanceId &&
    row.fingerprint === plan.fingerprint &&
    !driftDue
  );
}

class NodeGoneError extends HandlerError {
  override readonly name = 'NodeGoneError';
}

/** The tags read in this invocation carry another agency's stamp: the row that named the caller is wrong. */
class StampOfOtherAgencyError extends HandlerError {
  override readonly name = 'StampOfOtherAgencyError';
}

/**
 * Pure: tags read in this invocation contradict the caller's ownership (another agency's stamp).
 * An unstamped node is left to IAM: the tag manager may tag only stamped nodes (TagOwnedNodes).
 */
export const stampRefuses = (tags: Tags, prefix: string, agency: string): boolean =>
  stampConfirmsRow(tags, prefix, agency) === 'stamp-of-other-agency';

async function applyDiff(ctx: OpContext, id: string, diff: TagDiff): Promise<void> {
  // Remove first, so the node never holds old and new tags at once (the 50-tag limit).
  const options = { baseDelayMs: ctx.config.retryBaseDelayMs };
  if (diff.toRemove.length > 0) await removeTags(ctx.ssm, id, diff.toRemove, options);
  if (Object.keys(diff.toAdd).length > 0) await addTags(ctx.ssm, id, diff.toAdd, options);
}

async function readCurrent(ctx: OpContext, id: string): Promise<Tags> {
  const tags = await listTags(ctx.ssm, id);
  if (tags === undefined) throw new NodeGoneError('managed node no longer exists in SSM');
  if (stampRefuses(tags, ctx.config.reservedTagPrefix, ctx.agencyAccountId))
    throw new StampOfOtherAgencyError(NOT_OWNED_REASON);
  return tags;
}

async function syncOwnedNode(
  ctx: OpContext,
  entry: SyncInstance,
  ownership: Extract<Ownership, { kind: 'owned' }>,
  rowChangedBefore = false,
): Promise<InstanceResult> {
  const { config, agencyAccountId: agency, now } = ctx;
  const id = entry.managedInstanceId;
  const row = ownership.row;
  // A managed node stands for one EC2 instance for life (a re-registration makes a new mi- ID).
  // An instance that claims a node already bound to another instance is refused: otherwise one
  // instance could relabel, and later deregister, another node of the same agency.
  const refuseBoundElsewhere = (boundTo: string | undefined): InstanceResult => {
    securityEvent('refused a sync for a managed node bound to another EC2 instance', {
      agencyAccountId: agency,
      managedInstanceId: id,
      claimedBy: entry.ec2InstanceId,
      boundTo,
      requestId: ctx.requestId,
    });
    return {
      managedInstanceId: id,
      ec2InstanceId: entry.ec2InstanceId,
      status: 'rejected',
      reason: BOUND_ELSEWHERE_REASON,
    };
  };
  if (row?.ec2InstanceId && row.ec2InstanceId !== entry.ec2InstanceId) return refuseBoundElsewhere(row.ec2InstanceId);
  const planFor = (otherReservedTagCount: number) => planEntry(ctx, entry, otherReservedTagCount);

  let current = ownership.currentTags;
  let otherReserved = current
    ? countOtherReservedTags(current, config.reservedTagPrefix)
    : (row?.otherReservedTagCount ?? ACTIVATION_STAMPED_TAG_COUNT);
  let plan = planFor(otherReserved);
  const driftDue = driftCheckDue(row, now, config.driftCheckHours, id);
  const base = { managedInstanceId: id, ec2InstanceId: entry.ec2InstanceId };
  const skippedOf = (p: TagPlan) => (p.skipped.length ? { skippedTags: p.skipped } : {});
  // A tag set observed before the one last applied is not written (ordering.ts).
  const observed = observationOf(entry, now);
  const superseded: InstanceResult = { ...base, status: 'superseded', reason: SUPERSEDED_REASON };
  const key = { managedInstanceId: id, agencyAccountId: agency, ec2InstanceId: entry.ec2InstanceId };
  if (orderTagSet(storedObservation(row), observed) === 'superseded') return superseded;

  if (!current && isUnchanged(row, agency, entry.ec2InstanceId, plan, driftDue)) {
    if (recordsUnchanged(storedObservation(row), observed)) {
      try {
        const recorded = await recordObservation(ctx, key, plan.fingerprint, observed!);
        if (recorded === 'superseded') return superseded;
        // An older sync with another tag set wrote the node meanwhile (A, B, A with the last two at
        // once): this newer set is no longer "unchanged". Sync again from the row as it is now, once.
        if (recorded === 'row-changed') {
          if (rowChangedBefore) return { ...base, status: 'failed', reason: ROW_KEPT_CHANGING_REASON };
          const now = (await readRows(ctx.ddb, config.syncTableName, [id])).get(id);
          return await syncOwnedNode(ctx, entry, { ...ownership, row: now, currentTags: undefined }, true);
        }
      } catch (err) {
        return { ...base, ...skippedOf(plan), status: 'failed', reason: errorReason(err) };
      }
    }
    return { ...base, ...skippedOf(plan), status: 'unchanged' };
  }

  try {
    // First sync: bind the node to this instance before touching SSM, with a conditional write,
    // so that of two instances racing to claim one node exactly one wins and the other changes nothing.
    if (!row?.ec2InstanceId) {
      const won = await claimBinding(ctx.ddb, config.syncTableName, {
        managedInstanceId: id,
        agencyAccountId: agency,
        ec2InstanceId: entry.ec2InstanceId,
      });
      if (!won) return refuseBoundElsewhere(undefined);
    }
    let checked = current !== undefined;
    // Tags read from SSM by this node's own ListTagsForResource (not a bulk Tagging API answer,
    // which may lag behind the node by minutes).
    let readDirectly = false;
    // A node about to be written is read first (its drift check is due, or its tags changed): the
    // row is a cache, and the stamp on the node decides whose it is. Usually the bulk read before
    // the per-node work has done this; this is the fallback when it did not.
    if (!current && row) {
      current = await readCurrent(ctx, id);
      checked = true;
      readDirectly = true;
    }
    if (current) {
      otherReserved = countOtherReservedTags(current, config.reservedTagPrefix);
      plan = planFor(otherReserved);
    }
    let diff = current
      ? diffAgainstCurrent(plan, current, config.reservedTagPrefix)
      : diffAgainstApplied(plan, row?.appliedTagKeys ?? [], config.reservedTagPrefix);
    try {
      await applyDiff(ctx, id, diff);
    } catch (err) {
      // Central IT's own reserved tags may leave less room than assumed (or than a lagging bulk
      // answer showed): recount from SSM and retry once.
      if (errorName(err) !== 'TooManyTagsError' || readDirectly) throw err;
      current = await readCurrent(ctx, id);
      checked = true;
      otherReserved = countOtherReservedTags(current, config.reservedTagPrefix);
      plan = planFor(otherReserved);
      diff = diffAgainstCurrent(plan, current, config.reservedTagPrefix);
      await applyDiff(ctx, id, diff);
    }
    const nowIso = now.toISOString();
    const newRow: SyncRow = {
      managedInstanceId: id,
      agencyAccountId: agency,
      ec2InstanceId: entry.ec2InstanceId,
      fingerprint: plan.fingerprint,
      appliedTagKeys: plan.userKeys,
      lastSyncAt: nowIso,
      // A first sync writes every desired tag, which is as good as a check; later ones keep the date.
      lastDriftCheckAt: checked || !row?.lastDriftCheckAt ? nowIso : row.lastDriftCheckAt,
      otherReservedTagCount: otherReserved,
      ...observedAttributes(observed),
    };
    // Conditional on no newer observation stored meanwhile; what stays racy: ordering-io.ts.
    await putRow(ctx.ddb, config.syncTableName, newRow, observed && notOlderCondition(observed));
    return { ...base, ...skippedOf(plan), status: isEmptyDiff(diff) ? 'unchanged' : 'applied' };
  } catch (err) {
    if (observed && conditionFailed(err) && (await lostToNewer(ctx, key, observed))) {
      await makeDriftCheckDue(ctx, key);
      return superseded;
    }
    if (err instanceof StampOfOtherAgencyError) {
      logRowContradicted(ctx, entry, 'stamp-of-other-agency', 'sync');
      return { ...base, status: 'rejected', reason: NOT_OWNED_REASON };
    }
    const reason = err instanceof NodeGoneError ? err.message : errorReason(err);
    try {
      await recordError(
        ctx.ddb,
        config.syncTableName,
        { managedInstanceId: id, agencyAccountId: agency, ec2InstanceId: entry.ec2InstanceId },
        reason,
        now.toISOString(),
      );
    } catch {
      // The result still carries the reason; the table write is best effort.
    }
    return { ...base, ...skippedOf(plan), status: 'failed', reason };
  }
}

/** The tags sync wants on this node, from the EC2 tags sent and the reserved tags it leaves room for. */
function planEntry(ctx: OpContext, entry: SyncInstance, otherReservedTagCount: number): TagPlan {
  return planTags({
    rawTags: entry.tags,
    prefix: ctx.config.reservedTagPrefix,
    agencyAccountId: ctx.agencyAccountId,
    ec2InstanceId: entry.ec2InstanceId,
    // The node-arn tag is what the node role's policy compares with the caller (ssm:SourceInstanceARN).
    nodeArn: managedNodeArn(ctx.hub, entry.managedInstanceId),
    otherReservedTagCount,
  });
}

/**
 * The drift pass, in bulk: every node proven by its row whose drift check is due, or whose tags
 * changed (so it is about to be written), and that this instance may sync, has its current tags
 * read before the per-node work, 100 per Tagging API call. The row is a cache of ownership: the
 * stamp in these tags decides whose node it is before anything is written. The result rides on
 * the node's ownership as `currentTags`, so the per-node sync diffs against it. An unchanged node
 * whose check is not due is not read (no call at all). A node whose read failed keeps no
 * `currentTags` and is read again on its own path.
 */
async function readDueDriftChecks(
  ctx: OpContext,
  entries: readonly SyncInstance[],
  ownership: Map<string, Ownership>,
): Promise<void> {
  const { now, config } = ctx;
  const due = entries.flatMap((e) => {
    const o = ownership.get(e.managedInstanceId);
    if (o?.kind !== 'owned' || !o.row || o.currentTags) return [];
    if (o.row.ec2InstanceId && o.row.ec2InstanceId !== e.ec2InstanceId) return [];
    const due = driftCheckDue(o.row, now, config.driftCheckHours, e.managedInstanceId);
    const plan = planEntry(ctx, e, o.row.otherReservedTagCount ?? ACTIVATION_STAMPED_TAG_COUNT);
    if (isUnchanged(o.row, ctx.agencyAccountId, e.ec2InstanceId, plan, due)) return [];
    return [{ managedInstanceId: e.managedInstanceId, lastAppliedFingerprint: o.row.fingerprint }];
  });
  const current = await readCurrentTags(ctx, due);
  for (const [id, c] of current) {
    const o = ownership.get(id);
    if (c.ok && c.tags !== undefined && o?.kind === 'owned') ownership.set(id, { ...o, currentTags: c.tags });
  }
}

export async function syncInstances(ctx: OpContext, entries: readonly SyncInstance[]): Promise<InstanceResult[]> {
  const ownership = await proveOwnership(ctx, entries);
  await readDueDriftChecks(ctx, entries, ownership);
  return mapPool(entries, ctx.config.ssmConcurrency, async (entry): Promise<InstanceResult> => {
    const o = ownership.get(entry.managedInstanceId);
    const base = { managedInstanceId: entry.managedInstanceId, ec2InstanceId: entry.ec2InstanceId };
    if (!o || o.kind === 'refused') return { ...base, status: 'rejected', reason: NOT_OWNED_REASON };
    if (o.kind === 'error') return { ...base, status: 'failed', reason: o.reason };
    // Tags read in this invocation (a due drift check) outrank the row: another agency's stamp refuses.
    if (o.currentTags && stampRefuses(o.currentTags, ctx.config.reservedTagPrefix, ctx.agencyAccountId)) {
      logRowContradicted(ctx, entry, 'stamp-of-other-agency', 'sync');
      return { ...base, status: 'rejected', reason: NOT_OWNED_REASON };
    }
    // Under SSM's rate limits a large first sync may not fit one invocation: stop starting
    // nodes in time, so the answer (and the rows already written) are never lost to a timeout.
    if (ctx.remainingMs() < NODE_START_RESERVE_MS) return { ...base, status: 'failed', reason: DEFERRED_REASON };
    return syncOwnedNode(ctx, entry, o);
  });
}
