// Report models of any size, built deterministically (no randomness): agencies with activations in
// every state, stack instances, sync errors, and compliance rows spread over two Regions.
import type { ReportModel } from '../../scripts/ops/report-html.ts';
import type { AgencyCompliance } from '../../scripts/ops/compliance-model.ts';
import { totals } from '../../scripts/ops/compliance-model.ts';
import { agencyWarnings, regionWarnings } from '../../scripts/ops/status.ts';

const DAY = 86_400_000;
export const REPORT_NOW = new Date('2026-06-01T12:00:00Z');
export const agencyId = (i: number) => String(100000000000 + i * 7919);
const REGIONS = ['ap-southeast-2', 'us-east-1'];

function complianceRow(agency: string, region: string, nodes: number, i: number): AgencyCompliance {
  const nonCompliant = Math.floor(nodes * ((i % 5) / 10));
  const unknown = Math.floor(nodes * ((i % 3) / 20));
  const lost = i % 7 === 0 ? Math.min(nodes, 2) : 0;
  const stale = unknown;
  return {
    agency,
    region,
    nodes,
    patch: { compliant: nodes - nonCompliant - unknown, nonCompliant, unknown },
    association: { compliant: nodes - unknown, nonCompliant: 0, unknown },
    criticalMissing: nonCompliant * 2,
    securityMissing: nonCompliant * 3,
    staleScans: stale,
    connectionLost: lost,
    notReporting: Math.min(nodes, stale + lost),
  };
}

/** `agencies` agencies sharing `nodes` nodes; every fourth agency also has nodes in a second Region. */
export function fixtureModel(agencies: number, nodes: number): ReportModel {
  const ids = Array.from({ length: agencies }, (_, i) => agencyId(i + 1));
  const per = Math.floor(nodes / agencies);
  const rows: AgencyCompliance[] = [];
  ids.forEach((a, i) => {
    const count = per + (i < nodes - per * agencies ? 1 : 0);
    const second = i % 4 === 3 ? Math.floor(count / 3) : 0;
    rows.push(complianceRow(a, REGIONS[0]!, count - second, i));
    if (second) rows.push(complianceRow(a, REGIONS[1]!, second, i));
  });
  rows.sort((x, y) => (x.agency === y.agency ? (x.region < y.region ? -1 : 1) : x.agency < y.agency ? -1 : 1));
  const inRegion = (r: string) => rows.filter((x) => x.region === r).reduce((n, x) => n + x.nodes, 0);
  const views = ids.map((account, i) => ({
    account,
    permissionsStack: i % 11 === 5 ? 'UPDATE_ROLLBACK_COMPLETE' : 'CREATE_COMPLETE',
    ...(i % 13 === 12
      ? {}
      : {
          activation: {
            activationId: `act-${i}`,
            expiresAt: new Date(REPORT_NOW.getTime() + ((i % 30) - 1) * DAY).toISOString(),
            daysLeft: (i % 30) - 1,
            registrations: (i * 37) % 1000,
            limit: 1000,
          },
        }),
    stackInstances: REGIONS.map((region, r) => ({ region, status: i % 9 === 4 && r === 1 ? 'FAILED' : 'SUCCEEDED' })),
    syncedNodes: rows.filter((x) => x.agency === account).reduce((n, x) => n + x.nodes, 0),
    lastSyncAt: REPORT_NOW.toISOString(),
    errorNodes: i % 6 === 1 ? 2 : 0,
    ...(i % 6 === 1
      ? {
          latestError: {
            managedInstanceId: 'mi-00000000000000001',
            at: REPORT_NOW.toISOString(),
            error: `TooManyTagsError: 51 tags requested on mi-${String(i).padStart(17, '0')}, SSM allows 50`,
          },
        }
      : {}),
  }));
  const regionViews = REGIONS.map((region) => {
    const managedNodes = inRegion(region) + 3; // central IT's own hybrid nodes count too
    return { region, managedNodes, limit: 1000, percent: Math.round((managedNodes / 1000) * 1000) / 10 };
  });
  return {
    generatedAt: REPORT_NOW.toISOString(),
    status: {
      region: 'ap-southeast-2',
      centralStack: { name: 'ssm-hub-central-manager', status: 'UPDATE_COMPLETE', outputs: {} },
      agencies: views,
      regions: regionViews,
      // status's own warning rules, so the page shows what status would print for this hub
      warnings: [...views.flatMap((v) => agencyWarnings(v, 90, true)), ...regionViews.flatMap(regionWarnings)],
      errors: [],
    },
    compliance: {
      generatedAt: REPORT_NOW.toISOString(),
      staleAfterHours: 48,
      regions: REGIONS,
      agencies: rows,
      totals: totals(rows),
      account: REGIONS.map((region) => ({ region, complianceType: 'Patch', compliant: 0, nonCompliant: 0 })),
      errors: [],
    },
  };
}
