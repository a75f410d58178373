// The orphan sweep: for each agency, the nodes registered with its activations that no sync has
// claimed in time or that lost their connection long ago are deregistered (or, in dry-run, only
// reported). Every one is logged with its reason and counted; one agency's failure does not stop
// the others, and any failure fails the run so the function's Errors alarm fires.
import { emitMetrics, log } from '../shared/log.ts';
import { HandlerError } from '../shared/errors.ts';
import type { LifecycleConfig } from './config.ts';
import {
  collectorReportedAt,
  deregister,
  listAgencyActivations,
  nodesOf,
  rowsOf,
  RowNotRemovedError,
  type AgencyActivations,
} from './nodes-io.ts';
import { orphanReason, type OrphanReason } from './sweep-rules.ts';

export class SweepError extends HandlerError {
  override readonly name = 'SweepError';
}

export interface SweepSummary {
  dryRun: boolean;
  agencies: number;
  nodesChecked: number;
  orphans: Record<OrphanReason, number>;
  deregistered: number;
  failures: string[];
}

async function sweepAgency(cfg: LifecycleConfig, a: AgencyActivations, now: Date, s: SweepSummary): Promise<void> {
  const reportedAt = await collectorReportedAt(cfg.syncTableName, a.agencyAccountId);
  const nodes = await nodesOf(a.activationIds);
  s.nodesChecked += nodes.length;
  // Throws on an incomplete read: the agency is then not swept at all (a failure of this run).
  const rows = await rowsOf(
    cfg.syncTableName,
    nodes.map((n) => n.managedInstanceId),
    { baseDelayMs: cfg.retryBaseDelayMs },
  );
  const windows = { unclaimedHours: cfg.unclaimedHours, connectionLostDays: cfg.connectionLostDays };
  for (const node of nodes) {
    const row = rows.get(node.managedInstanceId);
    // A row of another agency: this node is not this agency's to sweep.
    if (row?.agencyAccountId && row.agencyAccountId !== a.agencyAccountId) continue;
    const reason = orphanReason(node, row, reportedAt, now, windows);
    if (!reason) continue;
    s.orphans[reason]++;
    const fields = {
      agencyAccountId: a.agencyAccountId,
      managedInstanceId: node.managedInstanceId,
      reason,
      registeredAt: node.registeredAt?.toISOString(),
      lastPingAt: node.lastPingAt?.toISOString(),
      pingStatus: node.pingStatus,
      collectorReportedAt: reportedAt?.toISOString(),
    };
    if (s.dryRun) {
      log('INFO', 'orphan found (dry run: not deregistered)', fields);
      continue;
    }
    try {
      const outcome = await deregister(cfg.syncTableName, a.agencyAccountId, node.managedInstanceId);
      s.deregistered++;
      log('INFO', `orphan ${outcome}`, fields);
    } catch (err) {
      s.failures.push(`${node.managedInstanceId}: ${(err as Error).name}`);
      if (err instanceof RowNotRemovedError) {
        // Deregistered all the same: counted and logged as such; the row left behind is the failure.
        s.deregistered++;
        log('INFO', `orphan ${err.outcome}`, fields);
        log('ERROR', 'row of a deregistered orphan could not be removed', { ...fields, error: err.rowError });
      } else log('ERROR', 'could not deregister an orphan', { ...fields, error: (err as Error).name });
    }
  }
}

export async function runSweep(cfg: LifecycleConfig, now: Date = new Date()): Promise<SweepSummary> {
  const s: SweepSummary = {
    dryRun: cfg.sweepMode === 'dry-run',
    agencies: 0,
    nodesChecked: 0,
    orphans: { unclaimed: 0, 'connection-lost': 0 },
    deregistered: 0,
    failures: [],
  };
  const agencies = await listAgencyActivations(cfg.activationParameterPrefix, (name) => {
    s.failures.push(`unreadable activation record ${name}`);
    log('ERROR', 'activation record could not be read; its agency is not swept', { parameterName: name });
  });
  s.agencies = agencies.length;
  for (const a of agencies) {
    try {
      await sweepAgency(cfg, a, now, s);
    } catch (err) {
      s.failures.push(`${a.agencyAccountId}: ${(err as Error).name}`);
      log('ERROR', 'orphan sweep failed for an agency', {
        agencyAccountId: a.agencyAccountId,
        error: (err as Error).name,
      });
    }
  }
  emitMetrics(
    cfg.metricNamespace,
    { Service: 'FleetLifecycle' },
    {
      OrphansUnclaimed: { value: s.orphans.unclaimed },
      OrphansConnectionLost: { value: s.orphans['connection-lost'] },
      OrphansDeregistered: { value: s.deregistered },
      SweepFailures: { value: s.failures.length },
    },
  );
  log(s.failures.length ? 'ERROR' : 'INFO', 'orphan sweep finished', { ...s, failures: s.failures.slice(0, 20) });
  if (s.failures.length)
    throw new SweepError(`orphan sweep: ${s.failures.length} failure(s): ${s.failures.slice(0, 5).join('; ')}`);
  return s;
}
