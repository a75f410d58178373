// `ssm-hub compliance`: patch and association compliance per agency and Region, from SSM's
// compliance APIs, counted over the hub's nodes only. Read (every AWS call, failures recorded),
// model (pure, compliance-model.ts), report (table or --json).
import { paginateDescribeInstancePatchStates, paginateListComplianceSummaries } from '@aws-sdk/client-ssm';
import { paginateListResourceComplianceSummaries, type ResourceComplianceSummaryItem } from '@aws-sdk/client-ssm';
import { makeClients, resolveRegion, type Clients } from './aws.ts';
import { defaultContext, defineCommand, errorText, EXIT, integer, list, progress, runCommand } from '../kit/index.ts';
import { table, type Context } from '../kit/index.ts';
import * as v from '../kit/validate.ts';
import { AWS_OPTIONS, loadConfig } from './common.ts';
import { fleetKeys, readHubNodes, type FleetKeys, type HubNode } from './fleet.ts';
import { complianceRows, totals, type AccountSummary, type ComplianceModel } from './compliance-model.ts';
import { type PatchState, type ResourceSummary } from './compliance-model.ts';

export const AGENCY_FILTER = list('agency', {
  arg: 'ACCOUNT,…',
  help: 'only these agencies (default: every agency with nodes in the hub)',
  check: v.accountIds,
});
export const REGIONS_OPTION = list('regions', {
  arg: 'r1,r2',
  help: 'Regions to read (default: --region)',
  check: v.regions,
});
export const STALE_OPTION = integer('stale-hours', {
  help: 'a patch scan older than this counts as not reporting',
  min: 1,
  max: 24 * 90,
  default: 48,
});

export const spec = defineCommand({
  name: 'compliance',
  summary:
    'Per agency and Region: hub nodes, patch and association compliance, critical and security patches missing, and nodes not reporting (stale scans, ConnectionLost).',
  usage: ['[--agency 111111111111,…] [--regions r1,r2] [--stale-hours N] [options]'],
  options: [AGENCY_FILTER, REGIONS_OPTION, STALE_OPTION, ...AWS_OPTIONS],
  notes: [
    'Only nodes carrying the ownership tag (stamped by each agency activation) are counted.',
    'Exit code 1 when a read failed; compliance findings themselves do not change the exit code.',
  ],
});

export interface CompliancePlan {
  regions: string[];
  agencies?: string[];
  keys: FleetKeys;
  staleAfterHours: number;
}

/** ListResourceComplianceSummaries reduced to the hub's nodes (Patch and Association only). */
async function resourceSummaries(clients: Clients, region: string, ids: Set<string>): Promise<ResourceSummary[]> {
  const out: ResourceSummary[] = [];
  const keep = (i: ResourceComplianceSummaryItem) =>
    ids.has(i.ResourceId ?? '') && (i.ComplianceType === 'Patch' || i.ComplianceType === 'Association');
  for await (const page of paginateListResourceComplianceSummaries({ client: clients.ssm(region), pageSize: 50 }, {}))
    for (const i of (page.ResourceComplianceSummaryItems ?? []).filter(keep))
      out.push({
        resourceId: i.ResourceId!,
        complianceType: i.ComplianceType!,
        status: i.Status ?? 'UNKNOWN',
        executionTime: i.ExecutionSummary?.ExecutionTime?.toISOString(),
        criticalNonCompliant: i.NonCompliantSummary?.SeveritySummary?.CriticalCount ?? 0,
      });
  return out;
}

/** DescribeInstancePatchStates, 50 node IDs a call (the API's InstanceIds limit). */
async function patchStates(clients: Clients, region: string, nodes: HubNode[]): Promise<PatchState[]> {
  const out: PatchState[] = [];
  for (let i = 0; i < nodes.length; i += 50) {
    const InstanceIds = nodes.slice(i, i + 50).map((n) => n.id);
    for await (const page of paginateDescribeInstancePatchStates({ client: clients.ssm(region) }, { InstanceIds }))
      for (const s of page.InstancePatchStates ?? [])
        out.push({
          instanceId: s.InstanceId ?? '',
          criticalNonCompliant: s.CriticalNonCompliantCount ?? 0,
          securityNonCompliant: s.SecurityNonCompliantCount ?? 0,
          missing: s.MissingCount ?? 0,
          operationEndTime: s.OperationEndTime?.toISOString(),
        });
  }
  return out;
}

/** ListComplianceSummaries: Patch and Association over the whole account in this Region. */
async function accountSummaries(clients: Clients, region: string): Promise<AccountSummary[]> {
  const out: AccountSummary[] = [];
  for await (const page of paginateListComplianceSummaries({ client: clients.ssm(region), pageSize: 50 }, {}))
    for (const i of page.ComplianceSummaryItems ?? [])
      if (i.ComplianceType === 'Patch' || i.ComplianceType === 'Association')
        out.push({
          region,
          complianceType: i.ComplianceType,
          compliant: i.CompliantSummary?.CompliantCount ?? 0,
          nonCompliant: i.NonCompliantSummary?.NonCompliantCount ?? 0,
        });
  return out;
}

/** Every read of every Region; a failed Region is recorded and the others carry on. */
export async function readCompliance(ctx: Context, clients: Clients, plan: CompliancePlan): Promise<ComplianceModel> {
  const errors: string[] = [];
  const rows: ComplianceModel['agencies'] = [];
  const account: AccountSummary[] = [];
  for (const region of plan.regions) {
    try {
      progress(ctx, `reading hub nodes in ${region}`);
      const nodes = await readHubNodes(clients, region, plan.keys, plan.agencies);
      progress(ctx, `reading compliance of ${nodes.length} nodes in ${region}`);
      const summaries = await resourceSummaries(clients, region, new Set(nodes.map((n) => n.id)));
      const states = await patchStates(clients, region, nodes);
      rows.push(...complianceRows(nodes, summaries, states, ctx.now(), plan.staleAfterHours));
      account.push(...(await accountSummaries(clients, region)));
    } catch (err) {
      errors.push(`could not read compliance in ${region}: ${errorText(err)}`);
    }
  }
  return {
    generatedAt: ctx.now().toISOString(),
    staleAfterHours: plan.staleAfterHours,
    regions: plan.regions,
    agencies: rows,
    totals: totals(rows),
    account,
    errors,
  };
}

const pct = (part: number, whole: number) => (whole ? `${Math.round((part / whole) * 100)}%` : '-');

export function complianceTable(model: ComplianceModel): string {
  const headers = [
    'agency',
    'region',
    'nodes',
    'patch ok',
    'patch not ok',
    'assoc ok',
    'assoc not ok',
    'critical',
    'security',
    'stale scans',
    'conn. lost',
    'not reporting',
  ];
  const row = (a: string, r: string, x: ComplianceModel['totals']) => [
    a,
    r,
    String(x.nodes),
    `${x.patch.compliant} (${pct(x.patch.compliant, x.nodes)})`,
    String(x.patch.nonCompliant),
    String(x.association.compliant),
    String(x.association.nonCompliant),
    String(x.criticalMissing),
    String(x.securityMissing),
    String(x.staleScans),
    String(x.connectionLost),
    String(x.notReporting),
  ];
  const rows = model.agencies.map((a) => row(a.agency, a.region, a));
  if (model.agencies.length > 1) rows.push(row('total', '', model.totals));
  return table(headers, rows);
}

export function reportCompliance(ctx: Context, model: ComplianceModel, json: boolean): number {
  if (json) ctx.stdout(`${JSON.stringify(model, null, 2)}\n`);
  else {
    ctx.stdout(`${model.agencies.length ? complianceTable(model) : 'no hub nodes found'}\n`);
    ctx.stdout(`\nnot reporting: ConnectionLost, or no patch scan in the last ${model.staleAfterHours} hours\n`);
    for (const a of model.account)
      ctx.stdout(
        `whole account in ${a.region}, hub or not: ${a.complianceType} ${a.compliant} compliant, ${a.nonCompliant} non-compliant\n`,
      );
    for (const e of model.errors) ctx.stdout(`ERROR: ${e}\n`);
  }
  return model.errors.length ? EXIT.failed : EXIT.ok;
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o) => {
    const { config } = loadConfig(ctx, o.config);
    const region = await resolveRegion(ctx, o.region, o.profile);
    const plan: CompliancePlan = {
      regions: o.regions ?? [region],
      agencies: o.agency,
      keys: fleetKeys(config.reservedTagPrefix),
      staleAfterHours: o['stale-hours'],
    };
    const model = await readCompliance(ctx, makeClients(ctx, o.profile), plan);
    return reportCompliance(ctx, model, o.json);
  });
}
