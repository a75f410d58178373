// The compliance model: per agency and Region, what `compliance --json` prints and what the report
// page draws. Pure: built from the hub's nodes, SSM's per-resource compliance summaries and the
// nodes' patch states, so every rule is tested from tables.
import type { HubNode } from './fleet.ts';

/** One ResourceComplianceSummaryItem, reduced to what the model reads (SSM API reference). */
export interface ResourceSummary {
  resourceId: string;
  complianceType: string;
  status: 'COMPLIANT' | 'NON_COMPLIANT' | string;
  executionTime?: string;
  criticalNonCompliant: number;
}

/** One InstancePatchState (DescribeInstancePatchStates), reduced. */
export interface PatchState {
  instanceId: string;
  criticalNonCompliant: number;
  securityNonCompliant: number;
  missing: number;
  operationEndTime?: string;
}

export interface Tally {
  compliant: number;
  nonCompliant: number;
  /** Nodes with no summary of this type (never scanned, or never associated). */
  unknown: number;
}

export interface AgencyCompliance {
  agency: string;
  region: string;
  nodes: number;
  patch: Tally;
  association: Tally;
  criticalMissing: number;
  securityMissing: number;
  /** Nodes whose last patch scan is older than the stale limit, or that never scanned. */
  staleScans: number;
  connectionLost: number;
  /** Nodes either stale or ConnectionLost (counted once). */
  notReporting: number;
}

/** ListComplianceSummaries: the whole account in one Region, hub nodes or not, per compliance type. */
export interface AccountSummary {
  region: string;
  complianceType: string;
  compliant: number;
  nonCompliant: number;
}

export interface ComplianceModel {
  generatedAt: string;
  staleAfterHours: number;
  regions: string[];
  agencies: AgencyCompliance[];
  totals: Omit<AgencyCompliance, 'agency' | 'region'>;
  /** For scale: how much of the account's compliance the hub's agencies make up. */
  account: AccountSummary[];
  errors: string[];
}

export const emptyTally = (): Tally => ({ compliant: 0, nonCompliant: 0, unknown: 0 });

function count(tally: Tally, s: ResourceSummary | undefined): void {
  if (!s) tally.unknown++;
  else if (s.status === 'COMPLIANT') tally.compliant++;
  else tally.nonCompliant++;
}

/** A scan is stale when it is missing or older than `staleAfterHours` before `now`. */
export function isStale(lastScan: string | undefined, now: Date, staleAfterHours: number): boolean {
  if (!lastScan) return true;
  const t = Date.parse(lastScan);
  return Number.isNaN(t) || now.getTime() - t > staleAfterHours * 3_600_000;
}

const emptyRow = (agency: string, region: string): AgencyCompliance => ({
  agency,
  region,
  nodes: 0,
  patch: emptyTally(),
  association: emptyTally(),
  criticalMissing: 0,
  securityMissing: 0,
  staleScans: 0,
  connectionLost: 0,
  notReporting: 0,
});

/** Folds one node into its agency's row. */
function addNode(
  row: AgencyCompliance,
  node: HubNode,
  patch: ResourceSummary | undefined,
  association: ResourceSummary | undefined,
  state: PatchState | undefined,
  stale: boolean,
): void {
  row.nodes++;
  count(row.patch, patch);
  count(row.association, association);
  row.criticalMissing += state?.criticalNonCompliant ?? patch?.criticalNonCompliant ?? 0;
  row.securityMissing += state?.securityNonCompliant ?? 0;
  const lost = node.pingStatus === 'ConnectionLost';
  if (stale) row.staleScans++;
  if (lost) row.connectionLost++;
  if (stale || lost) row.notReporting++;
}

/** Rows per agency and Region, sorted; only hub nodes count, whatever else SSM reported. */
export function complianceRows(
  nodes: readonly HubNode[],
  summaries: readonly ResourceSummary[],
  states: readonly PatchState[],
  now: Date,
  staleAfterHours: number,
): AgencyCompliance[] {
  const byType = (type: string) =>
    new Map(summaries.filter((s) => s.complianceType === type).map((s) => [s.resourceId, s]));
  const patch = byType('Patch');
  const association = byType('Association');
  const state = new Map(states.map((s) => [s.instanceId, s]));
  const rows = new Map<string, AgencyCompliance>();
  for (const n of nodes) {
    const key = `${n.agency}\u0000${n.region}`;
    if (!rows.has(key)) rows.set(key, emptyRow(n.agency, n.region));
    const lastScan = state.get(n.id)?.operationEndTime ?? patch.get(n.id)?.executionTime;
    addNode(
      rows.get(key)!,
      n,
      patch.get(n.id),
      association.get(n.id),
      state.get(n.id),
      isStale(lastScan, now, staleAfterHours),
    );
  }
  return [...rows.values()].sort((a, b) =>
    a.agency !== b.agency ? (a.agency < b.agency ? -1 : 1) : a.region < b.region ? -1 : a.region > b.region ? 1 : 0,
  );
}

/** Sum of every row (the same shape without agency and Region). */
export function totals(rows: readonly AgencyCompliance[]): ComplianceModel['totals'] {
  const t = emptyRow('', '');
  for (const r of rows) {
    t.nodes += r.nodes;
    for (const k of ['compliant', 'nonCompliant', 'unknown'] as const) {
      t.patch[k] += r.patch[k];
      t.association[k] += r.association[k];
    }
    t.criticalMissing += r.criticalMissing;
    t.securityMissing += r.securityMissing;
    t.staleScans += r.staleScans;
    t.connectionLost += r.connectionLost;
    t.notReporting += r.notReporting;
  }
  const { agency: _a, region: _r, ...rest } = t;
  return rest;
}
