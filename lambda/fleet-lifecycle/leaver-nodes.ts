// A leaver's managed nodes at offboarding. Only nodes SSM confirms carry the leaver's activation
// stamp are deregistered (found through the leaver's activations, or through its sync-table rows),
// never one the table files under another agency; a row alone deregisters nothing (the row goes
// only once SSM no longer lists its node). Every deregistration, kept node and removed row is counted and logged.
import { log } from '../shared/log.ts';
import { HandlerError } from '../shared/errors.ts';
import { provenanceKeys } from '../shared/tag-rules.ts';
import { centralActivationParameterName } from '../shared/names.ts';
import type { LifecycleConfig } from './config.ts';
import { leaverNodePlan, type LeaverNodePlan } from './membership-rules.ts';
import {
  deleteRowOf,
  deregister,
  listAgencyActivations,
  nodesOf,
  nodesStampedFor,
  nodeIsListed,
  rowIdsOf,
  rowsOf,
  RowNotRemovedError,
  type Stamp,
} from './nodes-io.ts';

export class UnreadableRecordError extends HandlerError {
  override readonly name = 'UnreadableRecordError';
}

export interface LeaverCounts {
  nodesDeregistered: number;
  nodesKept: number;
  /** Stamped for the leaver but filed under another agency, or found neither by record nor by row. */
  nodesLeftAlone: number;
  /** Rows of the leaver whose node SSM no longer lists: the row went. */
  rowsRemoved: number;
  /**
   * Rows of the leaver whose node SSM still lists but not as the leaver's: kept, since the row may be
   * all that keeps another agency's sweep from a live node it filed wrongly (sweep.ts skips nodes
   * whose row names another agency).
   */
  rowsKept: number;
}

/** The leaver's activation IDs; an unreadable record stops its offboarding (its nodes could not be found). */
async function leaverActivationIds(cfg: LifecycleConfig, account: string): Promise<string[]> {
  const bad: string[] = [];
  const agencies = await listAgencyActivations(cfg.activationParameterPrefix, (name) => bad.push(name));
  const name = centralActivationParameterName(cfg.activationParameterPrefix, account);
  if (bad.includes(name))
    throw new UnreadableRecordError(`activation record ${name} cannot be read: agency ${account} not offboarded`);
  return agencies.find((a) => a.agencyAccountId === account)?.activationIds ?? [];
}

/** Reads only: what offboarding would do with the leaver's nodes and rows. */
export async function planLeaverNodes(cfg: LifecycleConfig, account: string): Promise<LeaverNodePlan> {
  const ids = await leaverActivationIds(cfg, account);
  const stamp: Stamp = { key: provenanceKeys(cfg.reservedTagPrefix).activationAgency, agencyAccountId: account };
  const stamped = (await nodesStampedFor(stamp)).map((n) => n.managedInstanceId);
  // Registered with one of its activations AND stamped for it: two queries, intersected here.
  const stampedSet = new Set(stamped);
  const confirmed = (await nodesOf(ids)).map((n) => n.managedInstanceId).filter((id) => stampedSet.has(id));
  // Throws on an incomplete read: a row never read must not pass for "no row of another agency".
  const rows = await rowsOf(cfg.syncTableName, confirmed, { baseDelayMs: cfg.retryBaseDelayMs });
  const rowIds = await rowIdsOf(cfg.syncTableName, account);
  return leaverNodePlan({ account, confirmed, stamped, rows, rowIds });
}

function reportLeftAlone(account: string, plan: LeaverNodePlan, c: LeaverCounts): void {
  for (const { managedInstanceId, rowAgency } of plan.otherAgency) {
    c.nodesLeftAlone++;
    log('WARN', "node stamped for an offboarded agency is filed under another agency's row; not deregistered", {
      agencyAccountId: account,
      managedInstanceId,
      rowAgencyAccountId: rowAgency,
      reason: 'row-of-another-agency',
    });
  }
  for (const managedInstanceId of plan.unknown) {
    c.nodesLeftAlone++;
    log('WARN', 'node stamped for an offboarded agency is neither in its activation record nor in the table; kept', {
      agencyAccountId: account,
      managedInstanceId,
      reason: 'stamp-only',
    });
  }
}

/**
 * Deregisters one node; on failure logs the node and rethrows (the offboarding then fails and is
 * retried next pass). A node deregistered whose row stayed is still counted and logged as such.
 */
async function deregisterLogged(
  cfg: LifecycleConfig,
  fields: { agencyAccountId: string; managedInstanceId: string; reason: string },
  c: LeaverCounts,
) {
  try {
    return await deregister(cfg.syncTableName, fields.agencyAccountId, fields.managedInstanceId);
  } catch (err) {
    if (err instanceof RowNotRemovedError) {
      c.nodesDeregistered++;
      log('INFO', `node of an offboarded agency ${err.outcome}`, { ...fields, rowRemoved: false });
    }
    const message = String((err as Error).message).slice(0, 300);
    log('ERROR', 'node of an offboarded agency: deregistration incomplete', { ...fields, error: message });
    throw err;
  }
}

/**
 * Deregisters (or, with LEAVER_NODES=keep, keeps and lists) the leaver's confirmed nodes. In
 * dry-run it only reads, and logs and counts what it would do.
 */
export async function offboardNodes(cfg: LifecycleConfig, account: string, c: LeaverCounts, dryRun: boolean) {
  const plan = await planLeaverNodes(cfg, account);
  reportLeftAlone(account, plan, c);
  const note = dryRun ? ' (dry run: not done)' : '';
  if (cfg.leaverNodes === 'keep') {
    c.nodesKept += plan.deregister.length;
    log('WARN', `agency offboarded; its managed nodes are kept${note}`, {
      agencyAccountId: account,
      nodes: plan.deregister.length,
      managedInstanceIds: plan.deregister.slice(0, 50).map((n) => n.managedInstanceId),
    });
    return;
  }
  for (const { managedInstanceId, reason } of plan.deregister) {
    const fields = { agencyAccountId: account, managedInstanceId, reason };
    const outcome = dryRun ? 'to be deregistered' : await deregisterLogged(cfg, fields, c);
    c.nodesDeregistered++;
    log('INFO', `node of an offboarded agency ${outcome}${note}`, fields);
  }
  for (const managedInstanceId of plan.rowOnly) {
    const fields = { agencyAccountId: account, managedInstanceId, reason: 'row-only' };
    if (await nodeIsListed(managedInstanceId)) {
      c.rowsKept++;
      log(
        'WARN',
        `row of an offboarded agency kept: its node is registered but not stamped for the agency, so the row may be wrong; check it by hand${note}`,
        { ...fields, rowRemoved: false },
      );
      continue;
    }
    const removed = dryRun || (await deleteRowOf(cfg.syncTableName, account, managedInstanceId));
    if (removed) c.rowsRemoved++;
    log('INFO', `row of an offboarded agency removed; SSM no longer lists its node${note}`, {
      ...fields,
      rowRemoved: removed,
    });
  }
}
