// Proof that a managed node belongs to the calling agency, from data the agency cannot write:
// the sync table (ownership proven before), the node's ActivationId, or the tag its activation
// stamped at registration. Anything unproven is refused with one neutral reason, so a caller
// cannot tell "another agency's node" from "no such node".
import { centralActivationParameterName } from '../shared/names.ts';
import { hasTag, provenanceKeys, type Tags } from '../shared/tag-rules.ts';
import { log, securityEvent } from '../shared/log.ts';
import type { ActivationRecord } from '../shared/activation-record.ts';
import type { OpContext } from './context.ts';
import { describeNodes, errorReason, readActivationRecord, type NodeInfo } from './ssm-io.ts';
import { readCurrentTags, type CurrentTags } from './current-tags.ts';
import { admitUnits, RATE_COUNTERS, readRows, type SyncRow } from './table-io.ts';
import { LOOKUP_LIMIT_REASON } from './context.ts';

export const NOT_OWNED_REASON = 'managed node is not registered to your agency';
/** A node stands for one EC2 instance for life: a request naming it from another instance is refused. */
export const BOUND_ELSEWHERE_REASON = 'managed node is bound to another EC2 instance';

export type Proof = 'sync-table' | 'activation-id' | 'activation-tag';
export type RefusalCause = 'row-of-other-agency' | 'unknown-node' | 'stamp-of-other-agency' | 'no-proof';

export type Ownership =
  | { kind: 'owned'; proof: Proof; row?: SyncRow; currentTags?: Tags }
  | { kind: 'refused'; cause: RefusalCause }
  /** The proof could not be checked (SSM kept failing): reported as failed, retried next sync. */
  | { kind: 'error'; reason: string };

/** Pure: what the sync-table row alone says. A row of another agency refuses, whatever else proves. */
export function ownershipFromRow(row: SyncRow | undefined, agency: string): 'owned' | 'other-agency' | 'unknown' {
  if (!row) return 'unknown';
  return row.agencyAccountId === agency ? 'owned' : 'other-agency';
}

/**
 * Pure: the node was registered with one of the agency's activations. The record must itself be
 * issued to the agency: a record stored under the wrong name (an operator or restore mistake)
 * proves nothing, exactly as the activation answer refuses to hand it out.
 */
export function ownedByActivationId(
  info: NodeInfo | undefined,
  record: ActivationRecord | undefined,
  agency: string,
): boolean {
  const id = info?.activationId;
  if (!id || !record || record.agencyAccountId !== agency) return false;
  return record.knownActivationIds.includes(id) || record.current.activationId === id;
}

/** Pure: the agency the activation stamped on the node, or undefined when there is no stamp. */
export function stampedAgency(tags: Tags | undefined, prefix: string): string | undefined {
  const key = provenanceKeys(prefix).activationAgency;
  return tags !== undefined && hasTag(tags, key) ? tags[key] : undefined;
}

/**
 * Pure: whether the stamp on a node's tags confirms a sync-table row of `agency`. The row is a cache
 * of ownership, not proof (an operator edit, a bad restore or an import can write a wrong one), so
 * whenever the node's tags are at hand the stamp decides: another agency's stamp refuses. A node
 * with no stamp at all is `unstamped`: no hub activation registers such a node (each is created with
 * the owner stamp), so the stamp cannot confirm the row and the caller must prove it otherwise.
 */
export function stampConfirmsRow(
  tags: Tags,
  prefix: string,
  agency: string,
): 'confirmed' | 'stamp-of-other-agency' | 'unstamped' {
  const stamp = stampedAgency(tags, prefix);
  if (stamp === undefined) return 'unstamped';
  return stamp === agency ? 'confirmed' : 'stamp-of-other-agency';
}

/** Logs a node refused because its stamp (read in this invocation) contradicts its sync-table row. */
export function logRowContradicted(
  ctx: OpContext,
  node: OwnershipInput,
  cause: RefusalCause,
  op: 'sync' | 'deregister',
): void {
  securityEvent('refused a managed node not proven to belong to the calling agency', {
    agencyAccountId: ctx.agencyAccountId,
    managedInstanceId: node.managedInstanceId,
    ec2InstanceId: node.ec2InstanceId,
    cause,
    op,
    // The row named the caller; the node's own data did not agree: the row is wrong (central IT to fix).
    rowContradicted: true,
    requestId: ctx.requestId,
  });
}

/**
 * Pure: the verdict for a node the sync table does not know, from what SSM says. The stamp is
 * checked on every path: a node stamped for another agency is refused even when its activation
 * ID is in the caller's record (defence in depth against a misfiled record).
 */
export function ownershipFromSsm(
  info: NodeInfo | undefined,
  tags: Tags | undefined,
  record: ActivationRecord | undefined,
  prefix: string,
  agency: string,
): Ownership {
  if (tags === undefined) return { kind: 'refused', cause: 'unknown-node' };
  const stamp = stampedAgency(tags, prefix);
  if (stamp !== undefined && stamp !== agency) return { kind: 'refused', cause: 'stamp-of-other-agency' };
  if (ownedByActivationId(info, record, agency)) return { kind: 'owned', proof: 'activation-id', currentTags: tags };
  if (stamp === agency) return { kind: 'owned', proof: 'activation-tag', currentTags: tags };
  return { kind: 'refused', cause: 'no-proof' };
}

export interface OwnershipInput {
  managedInstanceId: string;
  ec2InstanceId: string;
}

/** Proves ownership of every node; SSM is asked only about nodes the table does not know. */
export async function proveOwnership(
  ctx: OpContext,
  nodes: readonly OwnershipInput[],
  options: { unknownNodeIsGone?: boolean } = {},
): Promise<Map<string, Ownership>> {
  const { config, agencyAccountId: agency } = ctx;
  const result = new Map<string, Ownership>();
  const rows = await readRows(
    ctx.ddb,
    config.syncTableName,
    nodes.map((n) => n.managedInstanceId),
  );

  const unknown: string[] = [];
  for (const { managedInstanceId: id } of nodes) {
    const verdict = ownershipFromRow(rows.get(id), agency);
    if (verdict === 'owned') result.set(id, { kind: 'owned', proof: 'sync-table', row: rows.get(id) });
    else if (verdict === 'other-agency') result.set(id, { kind: 'refused', cause: 'row-of-other-agency' });
    else unknown.push(id);
  }

  if (unknown.length > 0) {
    // The expensive path (a describe, possibly split, and a tag read per node found) is charged per
    // node, so a request of 100 made-up IDs costs the agency 100 lookups, not one request.
    if (
      await admitUnits(ctx.ddb, config.syncTableName, agency, config.agencyRequestsPerMinute, ctx.now, {
        units: unknown.length,
        counter: RATE_COUNTERS.nodeLookups,
      })
    )
      await proveWithSsm(ctx, unknown, result);
    else {
      log('WARN', 'agency over its node lookups this minute; nodes deferred', {
        agencyAccountId: agency,
        nodes: unknown.length,
        limitPerMinute: config.agencyRequestsPerMinute,
        requestId: ctx.requestId,
      });
      for (const id of unknown) result.set(id, { kind: 'error', reason: LOOKUP_LIMIT_REASON });
    }
  }
  logRefusals(ctx, nodes, result, options.unknownNodeIsGone === true);
  return result;
}

function logRefusals(
  ctx: OpContext,
  nodes: readonly OwnershipInput[],
  result: Map<string, Ownership>,
  unknownNodeIsGone: boolean,
): void {
  const agency = ctx.agencyAccountId;
  for (const node of nodes) {
    const o = result.get(node.managedInstanceId);
    if (o?.kind === 'refused' && !(unknownNodeIsGone && o.cause === 'unknown-node')) {
      securityEvent('refused a managed node not proven to belong to the calling agency', {
        agencyAccountId: agency,
        managedInstanceId: node.managedInstanceId,
        ec2InstanceId: node.ec2InstanceId,
        cause: o.cause,
        requestId: ctx.requestId,
      });
    }
  }
}

/**
 * For nodes the table does not know: the activation record (checked to be the caller's), a batched
 * describe for activation IDs, and the node's current tags, which carry the activation's stamp and
 * are what a first sync diffs against (so a tag already on the node before its first sync that
 * EC2 does not have is removed by that sync).
 */
async function proveWithSsm(ctx: OpContext, unknown: string[], result: Map<string, Ownership>): Promise<void> {
  const { config, agencyAccountId: agency } = ctx;
  let record: ActivationRecord | undefined;
  let infos: Map<string, NodeInfo>;
  const parameterName = centralActivationParameterName(config.activationParameterPrefix, agency);
  try {
    record = await readActivationRecord(ctx.ssm, parameterName);
    infos = await describeNodes(ctx.ssm, unknown, config.ssmConcurrency);
  } catch (err) {
    const reason = `could not check ownership: ${errorReason(err)}`;
    for (const id of unknown) result.set(id, { kind: 'error', reason });
    return;
  }
  if (record && record.agencyAccountId !== agency) {
    securityEvent('activation record names another agency; its activation IDs prove nothing', {
      agencyAccountId: agency,
      parameterName,
      requestId: ctx.requestId,
    });
  }
  // Nothing was applied to these nodes yet (the table does not know them). Only nodes the describe
  // found are read: a node SSM does not know costs no tag read.
  const found = unknown.filter((id) => infos.has(id));
  const current = await readCurrentTags(
    ctx,
    found.map((id) => ({ managedInstanceId: id, lastAppliedFingerprint: undefined })),
  );
  for (const id of unknown) {
    const c: CurrentTags = current.get(id) ?? { ok: true, tags: undefined };
    result.set(
      id,
      c.ok
        ? ownershipFromSsm(infos.get(id), c.tags, record, config.reservedTagPrefix, agency)
        : { kind: 'error', reason: `could not check ownership: ${c.reason}` },
    );
  }
}

/**
 * For a node whose sync-table row names the caller but whose tags carry no stamp: the row alone is
 * not proof, so the node must be proven as a first sync proves it (the caller's activation record
 * and the node's ActivationId). Costs a GetParameter and a describe; only unstamped nodes pay it.
 */
export async function proveUnstampedNode(ctx: OpContext, managedInstanceId: string, tags: Tags): Promise<Ownership> {
  const { config, agencyAccountId: agency } = ctx;
  try {
    const record = await readActivationRecord(
      ctx.ssm,
      centralActivationParameterName(config.activationParameterPrefix, agency),
    );
    const infos = await describeNodes(ctx.ssm, [managedInstanceId], 1);
    return ownershipFromSsm(infos.get(managedInstanceId), tags, record, config.reservedTagPrefix, agency);
  } catch (err) {
    return { kind: 'error', reason: `could not check ownership: ${errorReason(err)}` };
  }
}
