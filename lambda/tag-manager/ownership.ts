// Proof that a managed node belongs to the calling agency, from data the agency cannot write:
// the sync table (ownership proven before), the node's ActivationId, or the tag its activation
// stamped at registration. Anything unproven is refused with one neutral reason, so a caller
// cannot tell "another agency's node" from "no such node".
import { centralActivationParameterName } from '../shared/names.ts';
import { provenanceKeys, type Tags } from '../shared/tag-rules.ts';
import { securityEvent } from '../shared/log.ts';
import type { ActivationRecord } from '../shared/activation-record.ts';
import type { OpContext } from './context.ts';
import { describeNodes, errorReason, listTags, readActivationRecord, type NodeInfo } from './ssm-io.ts';
import { readRows, type SyncRow } from './table-io.ts';
import { mapPool } from './pool.ts';

export const NOT_OWNED_REASON = 'managed node is not registered to your agency';

export type Proof = 'sync-table' | 'activation-id' | 'activation-tag';
export type RefusalCause = 'row-of-other-agency' | 'unknown-node' | 'no-proof';

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

/** Pure: the node was registered with one of the agency's activations. */
export function ownedByActivationId(info: NodeInfo | undefined, record: ActivationRecord | undefined): boolean {
  const id = info?.activationId;
  if (!id || !record) return false;
  return record.knownActivationIds.includes(id) || record.current.activationId === id;
}

/** Pure: the activation stamped the agency's account on the node. */
export function ownedByStampedTag(tags: Tags | undefined, prefix: string, agency: string): boolean {
  return tags !== undefined && tags[provenanceKeys(prefix).activationAgency] === agency;
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

  if (unknown.length > 0) await proveWithSsm(ctx, unknown, result);
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

/** Activation-ID proof (batched describe), then the stamped-tag proof for what is left. */
async function proveWithSsm(ctx: OpContext, unknown: string[], result: Map<string, Ownership>): Promise<void> {
  const { config, agencyAccountId: agency } = ctx;
  let record: ActivationRecord | undefined;
  let infos: Map<string, NodeInfo>;
  try {
    record = await readActivationRecord(
      ctx.ssm,
      centralActivationParameterName(config.activationParameterPrefix, agency),
    );
    infos = await describeNodes(ctx.ssm, unknown, config.ssmConcurrency);
  } catch (err) {
    const reason = `could not check ownership: ${errorReason(err)}`;
    for (const id of unknown) result.set(id, { kind: 'error', reason });
    return;
  }
  const needTags = unknown.filter((id) => {
    if (!ownedByActivationId(infos.get(id), record)) return true;
    result.set(id, { kind: 'owned', proof: 'activation-id' });
    return false;
  });
  // The stamped tag is the fallback proof (e.g. an activation ID dropped from the record).
  await mapPool(needTags, config.ssmConcurrency, async (id) => {
    let tags: Tags | undefined;
    try {
      tags = await listTags(ctx.ssm, id);
    } catch (err) {
      result.set(id, { kind: 'error', reason: `could not check ownership: ${errorReason(err)}` });
      return;
    }
    if (tags === undefined) result.set(id, { kind: 'refused', cause: 'unknown-node' });
    else if (ownedByStampedTag(tags, config.reservedTagPrefix, agency))
      result.set(id, { kind: 'owned', proof: 'activation-tag', currentTags: tags });
    else result.set(id, { kind: 'refused', cause: 'no-proof' });
  });
}
