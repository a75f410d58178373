// `ssm-hub status`: one view of every agency: permissions stack, activation expiry and usage,
// StackSet instances, synced nodes and errors, and managed-node counts against the standard-tier
// limit. It reads only: no activation is decrypted (DescribeActivations never returns codes).
// Three steps: read (every AWS call, each failure recorded), findings (pure), report.
import {
  DescribeStacksCommand,
  paginateListStackInstances,
  paginateListStacks,
  type CallAs,
  type CloudFormationClient,
  type Stack,
  type StackInstanceSummary,
} from '@aws-sdk/client-cloudformation';
import { paginateDescribeActivations, paginateDescribeInstanceInformation, type Activation } from '@aws-sdk/client-ssm';
import { paginateQuery } from '@aws-sdk/lib-dynamodb';
import { PROVENANCE_TAG_SUFFIXES, SYNC_TABLE } from '../../lambda/shared/names.ts';
import type { BuildConfig } from '../../templates-src/config.ts';
import { SSM_DESCRIBE_INSTANCE_INFORMATION_MAX_RESULTS } from '../../contract/page-sizes.ts';
import { ACCOUNT_ID_BODY } from '../../contract/patterns.ts';
import { makeClients, resolveRegion, type Clients } from './aws.ts';
import {
  defaultContext,
  defineCommand,
  errorText,
  EXIT,
  list,
  mapLimit,
  progress,
  runCommand,
  table,
  type Context,
} from '../kit/index.ts';
import * as v from '../kit/validate.ts';
import { AWS_OPTIONS, callAsOption, centralStackOption, loadConfig } from './common.ts';

export const spec = defineCommand({
  name: 'status',
  summary:
    'Per agency: permissions stack, activation expiry and usage, StackSet instances, synced nodes, last sync and last error; managed nodes per Region against the standard-tier limit.',
  usage: ['[--agencies 111111111111,…] [--regions r1,r2] [options]'],
  options: [
    list('agencies', {
      arg: 'ACCOUNT,…',
      help: 'agencies to report (default: every <namePrefix>-agency-<account> stack)',
      check: v.accountIds,
    }),
    list('regions', {
      arg: 'r1,r2',
      help: 'Regions whose managed nodes are counted (default: --region)',
      check: v.regions,
    }),
    centralStackOption('central stack name'),
    callAsOption('how to read the StackSet'),
    ...AWS_OPTIONS,
  ],
  notes: [
    'Warnings: activation expiring within 7 days, registrations near the limit, a Region at 80% of the standard-tier node limit.',
  ],
});

const EXPIRY_WARN_DAYS = 7;
const NODE_WARN_RATIO = 0.8;
const DAY = 86_400_000;

export interface ActivationView {
  activationId: string;
  expiresAt: string;
  daysLeft: number;
  registrations: number;
  limit: number;
}

export interface AgencyView {
  account: string;
  permissionsStack: string;
  activation?: ActivationView;
  stackInstances: Array<{ region: string; status: string; detail?: string }>;
  syncedNodes?: number;
  lastSyncAt?: string;
  errorNodes?: number;
  latestError?: { managedInstanceId: string; at?: string; error: string };
}

export interface RegionView {
  region: string;
  managedNodes: number;
  limit: number;
  percent: number;
}

/** Picks the agency's current activation: the unexpired one that lasts longest. */
export function currentActivation(
  all: Activation[],
  tagKey: string,
  account: string,
  now: Date,
): ActivationView | undefined {
  const mine = all.filter((a) => a.Tags?.some((t) => t.Key === tagKey && t.Value === account));
  const live = mine.filter((a) => !a.Expired && (a.ExpirationDate?.getTime() ?? 0) > now.getTime());
  const pick = (live.length ? live : mine).sort(
    (a, b) => (b.ExpirationDate?.getTime() ?? 0) - (a.ExpirationDate?.getTime() ?? 0),
  )[0];
  if (!pick) return undefined;
  const exp = pick.ExpirationDate ?? now;
  return {
    activationId: pick.ActivationId ?? '',
    expiresAt: exp.toISOString(),
    daysLeft: Math.floor(((exp.getTime() - now.getTime()) / DAY) * 10) / 10,
    registrations: pick.RegistrationsCount ?? 0,
    limit: pick.RegistrationLimit ?? 0,
  };
}

async function listActivations(clients: Clients, region: string, roleName: string | undefined): Promise<Activation[]> {
  const out: Activation[] = [];
  const Filters = roleName ? [{ FilterKey: 'IamRole' as const, FilterValues: [roleName] }] : undefined;
  for await (const page of paginateDescribeActivations({ client: clients.ssm(region) }, { Filters }))
    out.push(...(page.ActivationList ?? []));
  return out;
}

export async function countManagedNodes(clients: Clients, region: string): Promise<number> {
  let count = 0;
  const input = { Filters: [{ Key: 'ResourceType', Values: ['ManagedInstance'] }] };
  for await (const page of paginateDescribeInstanceInformation(
    { client: clients.ssm(region), pageSize: SSM_DESCRIBE_INSTANCE_INFORMATION_MAX_RESULTS },
    input,
  ))
    count += page.InstanceInformationList?.length ?? 0;
  return count;
}

type SyncSummary = Pick<AgencyView, 'syncedNodes' | 'lastSyncAt' | 'errorNodes' | 'latestError'>;

async function syncSummary(clients: Clients, region: string, tableName: string, account: string): Promise<SyncSummary> {
  const A = SYNC_TABLE.attributes;
  const s: Required<Pick<SyncSummary, 'syncedNodes' | 'errorNodes'>> & SyncSummary = { syncedNodes: 0, errorNodes: 0 };
  const input = {
    TableName: tableName,
    IndexName: SYNC_TABLE.agencyIndexName,
    KeyConditionExpression: '#agency = :agency',
    ExpressionAttributeNames: {
      '#agency': SYNC_TABLE.agencyIndexPartitionKey,
      '#id': A.managedInstanceId,
      '#sync': A.lastSyncAt,
      '#err': A.lastError,
    },
    ExpressionAttributeValues: { ':agency': account },
    ProjectionExpression: '#id, #sync, #err',
  };
  for await (const page of paginateQuery({ client: clients.dynamodb(region) }, input)) {
    for (const item of page.Items ?? []) {
      s.syncedNodes++;
      const at = typeof item[A.lastSyncAt] === 'string' ? (item[A.lastSyncAt] as string) : undefined;
      if (at && (!s.lastSyncAt || at > s.lastSyncAt)) s.lastSyncAt = at;
      const err = item[A.lastError];
      if (typeof err !== 'string' || err === '') continue;
      s.errorNodes++;
      if (!s.latestError || (at ?? '') > (s.latestError.at ?? ''))
        s.latestError = { managedInstanceId: String(item[A.managedInstanceId]), at, error: err };
    }
  }
  return s;
}

/** What status reads: each part may be missing, with the reason in `errors`. */
export interface StatusData {
  region: string;
  centralStack: string;
  central?: Stack;
  outputs: Record<string, string | undefined>;
  stackStatus: Map<string, string>;
  activations: Activation[];
  instances: StackInstanceSummary[];
  sync: Map<string, SyncSummary>;
  regions: RegionView[];
  agencies: string[];
  /** Findings made while reading (a missing StackSet, a missing output). */
  warnings: string[];
  errors: string[];
}

interface StatusPlan {
  agencies?: string[];
  nodeRegions?: string[];
  centralStack: string;
  callAs: CallAs;
  stackSetName: string;
  agencyStackPattern: RegExp;
  standardTierNodeLimit: number;
}

async function readCentralStack(cfn: CloudFormationClient, name: string): Promise<Stack | undefined> {
  try {
    return (await cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks?.[0];
  } catch (err) {
    if (/does not exist/.test((err as Error).message)) return undefined;
    throw err;
  }
}

async function agencyStacks(cfn: CloudFormationClient, pattern: RegExp): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for await (const page of paginateListStacks({ client: cfn }, {})) {
    for (const s of page.StackSummaries ?? []) {
      const m = pattern.exec(s.StackName ?? '');
      if (m && s.StackStatus !== 'DELETE_COMPLETE' && !found.has(m[1]!)) found.set(m[1]!, s.StackStatus ?? 'UNKNOWN');
    }
  }
  return found;
}

async function stackInstances(
  cfn: CloudFormationClient,
  stackSetName: string,
  callAs: CallAs,
  warnings: string[],
): Promise<StackInstanceSummary[]> {
  const all: StackInstanceSummary[] = [];
  try {
    const input = { StackSetName: stackSetName, CallAs: callAs };
    for await (const page of paginateListStackInstances({ client: cfn }, input)) all.push(...(page.Summaries ?? []));
  } catch (err) {
    if ((err as { name?: string }).name !== 'StackSetNotFoundException') throw err;
    warnings.push(`StackSet ${stackSetName} does not exist yet (run \`ssm-hub rollout\`)`);
  }
  return all;
}

async function countRegions(
  clients: Clients,
  regions: string[],
  limit: number,
  attempt: Attempt,
): Promise<RegionView[]> {
  const views: RegionView[] = [];
  for (const r of regions) {
    const n = await attempt(`managed nodes in ${r}`, () => countManagedNodes(clients, r));
    if (n === undefined) continue;
    views.push({ region: r, managedNodes: n, limit, percent: Math.round((n / limit) * 1000) / 10 });
  }
  return views;
}

type Attempt = <T>(what: string, fn: () => Promise<T>) => Promise<T | undefined>;

/** Every read status makes; a failed read is recorded and the rest carry on. */
export async function readStatus(
  ctx: Context,
  clients: Clients,
  region: string,
  plan: StatusPlan,
): Promise<StatusData> {
  const cfn = clients.cloudformation(region);
  const warnings: string[] = [];
  const errors: string[] = [];
  const attempt: Attempt = async (what, fn) => {
    try {
      return await fn();
    } catch (err) {
      errors.push(`could not read ${what}: ${errorText(err)}`);
      return undefined;
    }
  };
  progress(ctx, `reading central stack ${plan.centralStack}`);
  const central = await attempt(`stack ${plan.centralStack}`, () => readCentralStack(cfn, plan.centralStack));
  if (central === undefined && !errors.length)
    warnings.push(`central stack ${plan.centralStack} not found in ${region}`);
  const outputs = Object.fromEntries((central?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue]));
  const stackStatus = (await attempt('agency stacks', () => agencyStacks(cfn, plan.agencyStackPattern))) ?? new Map();
  const agencies = plan.agencies ?? [...stackStatus.keys()].sort();
  progress(ctx, 'reading activations');
  const activations =
    (await attempt('activations', () => listActivations(clients, region, outputs.ManagedNodeRoleName))) ?? [];
  progress(ctx, `reading StackSet ${plan.stackSetName}`);
  const instances =
    (await attempt(`StackSet ${plan.stackSetName}`, () =>
      stackInstances(cfn, plan.stackSetName, plan.callAs, warnings),
    )) ?? [];
  const tableName = outputs.SyncTableName;
  if (!tableName && central) warnings.push(`central stack has no SyncTableName output: sync state not shown`);
  progress(ctx, `reading sync state of ${agencies.length} agencies`);
  const sync = new Map<string, SyncSummary>();
  await mapLimit(tableName ? agencies : [], 4, async (account) => {
    const s = await attempt(`sync state of ${account}`, () => syncSummary(clients, region, tableName!, account));
    if (s) sync.set(account, s);
  });
  progress(ctx, 'counting managed nodes');
  const regions = await countRegions(clients, plan.nodeRegions ?? [region], plan.standardTierNodeLimit, attempt);
  const centralStack = plan.centralStack;
  return {
    region,
    centralStack,
    central,
    outputs,
    stackStatus,
    activations,
    instances,
    sync,
    regions,
    agencies,
    warnings,
    errors,
  };
}

export function agencyViews(data: StatusData, tagKey: string, now: Date): AgencyView[] {
  return data.agencies.map((account) => ({
    account,
    permissionsStack: data.stackStatus.get(account) ?? 'NOT_FOUND',
    activation: currentActivation(data.activations, tagKey, account, now),
    stackInstances: data.instances
      .filter((i) => i.Account === account)
      .map((i) => ({
        region: i.Region ?? '',
        status: i.StackInstanceStatus?.DetailedStatus ?? i.Status ?? 'UNKNOWN',
        detail: i.StatusReason,
      }))
      .sort((a, b) => a.region.localeCompare(b.region)),
    ...data.sync.get(account),
  }));
}

/** The warnings about one agency: pure, so each rule is tested from a table of views. */
export function agencyWarnings(a: AgencyView, rotateAtUsagePercent: number, activationsReadable: boolean): string[] {
  const w: string[] = [];
  if (a.permissionsStack === 'NOT_FOUND')
    w.push(`agency ${a.account}: no permissions stack (run \`ssm-hub onboard --agencies ${a.account}\`)`);
  if (!a.activation) {
    if (activationsReadable) w.push(`agency ${a.account}: no activation found`);
  } else if (a.activation.daysLeft <= 0) {
    w.push(`agency ${a.account}: activation ${a.activation.activationId} has expired`);
  } else if (a.activation.daysLeft < EXPIRY_WARN_DAYS) {
    w.push(
      `agency ${a.account}: activation ${a.activation.activationId} expires in ${a.activation.daysLeft} days (${a.activation.expiresAt}); rotation should have replaced it`,
    );
  }
  const act = a.activation;
  if (act && act.limit > 0 && (act.registrations / act.limit) * 100 >= rotateAtUsagePercent)
    w.push(`agency ${a.account}: activation used ${act.registrations}/${act.limit} registrations`);
  for (const i of a.stackInstances) {
    if (i.status !== 'SUCCEEDED' && i.status !== 'CURRENT')
      w.push(`agency ${a.account}: stack instance in ${i.region} is ${i.status}${i.detail ? `: ${i.detail}` : ''}`);
  }
  if (a.errorNodes)
    w.push(`agency ${a.account}: ${a.errorNodes} node(s) with a sync error; latest: ${a.latestError?.error}`);
  return w;
}

export function regionWarnings(r: RegionView): string[] {
  if (r.managedNodes >= r.limit)
    return [
      `${r.region}: ${r.managedNodes} managed nodes reached the ${r.limit}-node standard-tier limit; new registrations fail until the advanced tier is enabled`,
    ];
  if (r.managedNodes >= r.limit * NODE_WARN_RATIO)
    return [`${r.region}: ${r.managedNodes} managed nodes is ${r.percent}% of the ${r.limit}-node standard-tier limit`];
  return [];
}

export interface StatusReport {
  data: StatusData;
  views: AgencyView[];
  warnings: string[];
}

export function statusFindings(data: StatusData, config: BuildConfig, now: Date): StatusReport {
  const tagKey = `${config.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.activationAgency}`;
  const views = agencyViews(data, tagKey, now);
  const activationsReadable = data.activations.length > 0 || !data.errors.length;
  const warnings = [
    ...data.warnings,
    ...views.flatMap((a) => agencyWarnings(a, config.activation.rotateAtUsagePercent, activationsReadable)),
    ...data.regions.flatMap(regionWarnings),
  ];
  return { data, views, warnings };
}

function printStatus(ctx: Context, { data, views, warnings }: StatusReport): void {
  ctx.stdout(`central stack ${data.centralStack} (${data.region}): ${data.central?.StackStatus ?? 'NOT FOUND'}\n\n`);
  const headers = [
    'agency',
    'permissions stack',
    'activation expires',
    'registrations',
    'stack instances',
    'nodes',
    'last sync',
    'errors',
  ];
  const rows = views.map((a) => [
    a.account,
    a.permissionsStack,
    a.activation ? `${a.activation.expiresAt.slice(0, 16).replace('T', ' ')} (${a.activation.daysLeft}d)` : '-',
    a.activation ? `${a.activation.registrations}/${a.activation.limit}` : '-',
    a.stackInstances.map((i) => `${i.region}:${i.status}`).join(' ') || '-',
    a.syncedNodes === undefined ? '-' : String(a.syncedNodes),
    a.lastSyncAt ?? '-',
    a.errorNodes === undefined ? '-' : String(a.errorNodes),
  ]);
  ctx.stdout(`${table(headers, rows)}\n\n`);
  const regionRows = data.regions.map((r) => [r.region, String(r.managedNodes), String(r.limit), `${r.percent}%`]);
  ctx.stdout(`${table(['region', 'managed nodes', 'standard-tier limit', 'used'], regionRows)}\n`);
  for (const a of views) {
    const e = a.latestError;
    if (e)
      ctx.stdout(`\nlast error for ${a.account} (${e.managedInstanceId}, ${e.at ?? 'time unknown'}): ${e.error}\n`);
  }
  if (warnings.length) ctx.stdout(`\n${warnings.map((w) => `WARNING: ${w}`).join('\n')}\n`);
  if (data.errors.length) ctx.stdout(`\n${data.errors.map((e) => `ERROR: ${e}`).join('\n')}\n`);
}

export function reportStatus(ctx: Context, report: StatusReport, json: boolean): number {
  const { data } = report;
  if (json) {
    const doc = {
      region: data.region,
      centralStack: {
        name: data.centralStack,
        status: data.central?.StackStatus ?? 'NOT_FOUND',
        outputs: data.outputs,
      },
      agencies: report.views,
      regions: data.regions,
      warnings: report.warnings,
      errors: data.errors,
    };
    ctx.stdout(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    printStatus(ctx, report);
  }
  return data.errors.length ? EXIT.failed : EXIT.ok;
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o) => {
    const { config, names } = loadConfig(ctx, o.config);
    const plan: StatusPlan = {
      agencies: o.agencies,
      nodeRegions: o.regions,
      centralStack: o['central-stack'] ?? names.centralStackName,
      callAs: o['call-as'],
      stackSetName: names.stackSetName,
      agencyStackPattern: new RegExp(`^${names.agencyPermissionsStackName('')}(${ACCOUNT_ID_BODY})$`),
      standardTierNodeLimit: config.standardTierNodeLimit,
    };
    const region = await resolveRegion(ctx, o.region, o.profile);
    const data = await readStatus(ctx, makeClients(ctx, o.profile), region, plan);
    return reportStatus(ctx, statusFindings(data, config, ctx.now()), o.json);
  });
}
