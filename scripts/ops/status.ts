// `ssm-hub status`: one view of every agency: permissions stack, activation expiry and usage,
// StackSet instances, synced nodes and errors, and managed-node counts against the standard-tier
// limit. It reads only: no activation is decrypted (DescribeActivations never returns codes).
// Three steps: read (every AWS call, each failure recorded), findings (pure), report.
import { paginateListStackInstances } from '@aws-sdk/client-cloudformation';
import { type CallAs, type CloudFormationClient, type Stack } from '@aws-sdk/client-cloudformation';
import { type StackInstanceSummary } from '@aws-sdk/client-cloudformation';
import { paginateDescribeActivations, paginateDescribeInstanceInformation } from '@aws-sdk/client-ssm';
import { paginateListNodesSummary, type Activation } from '@aws-sdk/client-ssm';
import { paginateQuery } from '@aws-sdk/lib-dynamodb';
import { PROVENANCE_TAG_SUFFIXES, SYNC_TABLE } from '../../lambda/shared/names.ts';
import type { BuildConfig } from '../../templates-src/config.ts';
import { agencyStackPattern, agencyStacks } from './agency-stacks.ts';
import { describeStack } from './stacks.ts';
import { SSM_DESCRIBE_INSTANCE_INFORMATION_MAX_RESULTS } from '../../contract/page-sizes.ts';
import { makeClients, resolveRegion, type Clients } from './aws.ts';
import { awsFailureText, failureKind, type FailureKind } from './aws-errors.ts';
import { defaultContext, defineCommand, EXIT, list, mapLimit, progress, runCommand, table } from '../kit/index.ts';
import { type Context } from '../kit/index.ts';
import * as v from '../kit/validate.ts';
import { AWS_OPTIONS, callAsOption, centralStackOption, loadConfig } from './common.ts';
import { activationTier, registrationErrorRegionsText, registrationErrorSummary } from './lifecycle-status.ts';
import { standardTierApplies } from './lifecycle-status.ts';
import { type ActivationTier, type RegionErrorCount, type RegistrationErrorSummary } from './lifecycle-status.ts';
import { COLLECTOR_SILENT_HOURS } from '../../contract/limits.ts';
import { addNodeRow, emptySummary, reportedAgencies, summariesByAgency, SUMMARY_PROJECTION } from './status-table.ts';

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

export interface InstanceView {
  region: string;
  status: string;
  detail?: string;
}

export interface AgencyView extends Partial<RegistrationErrorSummary> {
  account: string;
  permissionsStack: string;
  activation?: ActivationView;
  /** The agency-collector StackSet's instances in this account. */
  stackInstances: InstanceView[];
  /** The agency-registration StackSet's instances in this account. */
  registrationInstances?: InstanceView[];
  syncedNodes?: number;
  lastSyncAt?: string;
  errorNodes?: number;
  latestError?: { managedInstanceId: string; at?: string; error: string };
  /**
   * Collector Regions whose last report is older than COLLECTOR_SILENT_HOURS: the orphan sweep's
   * guard takes the oldest Region's report, so the agency's sweep waits for them.
   */
  silentCollectors?: Array<{ region?: string; reportedAt: string; hoursAgo: number }>;
}

/** Pure: the collector Regions of an agency that have not reported for `hours` (hourly reconciles). */
export function silentCollectors(
  byRegion: readonly RegionErrorCount[] = [],
  now: Date,
  hours = COLLECTOR_SILENT_HOURS,
): NonNullable<AgencyView['silentCollectors']> {
  const silent: NonNullable<AgencyView['silentCollectors']> = [];
  for (const r of byRegion) {
    const at = r.reportedAt === undefined ? NaN : Date.parse(r.reportedAt);
    if (Number.isNaN(at)) continue;
    const hoursAgo = Math.floor((now.getTime() - at) / 3_600_000);
    if (hoursAgo >= hours)
      silent.push({ ...(r.region ? { region: r.region } : {}), reportedAt: r.reportedAt!, hoursAgo });
  }
  return silent;
}

export interface RegionView {
  region: string;
  /** Hybrid managed nodes SSM counts in the Region (what the standard-tier limit applies to). */
  managedNodes: number;
  limit: number;
  percent: number;
  /** Nodes the sync-state table tracks (the hub's Region only, when every agency was read). */
  syncedNodes?: number;
  /** The activation tier in force (GetServiceSetting); the limit applies to the standard tier only. */
  tier?: ActivationTier;
}

/** A Region whose nodes could not be counted: kept in `regions`, with the reason (also in `errors`). */
export interface UnreadRegion {
  region: string;
  limit: number;
  error: string;
}

export type RegionEntry = RegionView | UnreadRegion;

/** Pure: whether the Region's nodes were counted. */
export const wasCounted = (r: RegionEntry): r is RegionView => !('error' in r);

/** A read that failed, and what kind of failure it was (never mistaken for absence). */
export interface ReadFailure {
  what: string;
  kind: FailureKind;
  message: string;
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

const MANAGED_INSTANCE = 'ManagedInstance';

/**
 * Hybrid managed nodes in a Region, counted by SSM in one ListNodesSummary call (Count aggregator
 * on ResourceType, filtered to ManagedInstance: SSM API reference, ListNodesSummary and
 * NodeAggregator) rather than by listing every node. Each summary entry is a map of the aggregated
 * attribute and "Count"; entries for other resource types are skipped. Where ListNodesSummary is
 * not available, nodes are counted from DescribeInstanceInformation pages of 50.
 */
export async function countManagedNodes(
  clients: Clients,
  region: string,
  onFallback: (why: string) => void = () => undefined,
): Promise<number> {
  const ssm = clients.ssm(region);
  try {
    let count = 0;
    const input = {
      Aggregators: [
        { AggregatorType: 'Count' as const, TypeName: 'Instance' as const, AttributeName: 'ResourceType' as const },
      ],
      Filters: [{ Key: 'ResourceType' as const, Values: [MANAGED_INSTANCE], Type: 'Equal' as const }],
    };
    for await (const page of paginateListNodesSummary({ client: ssm }, input)) {
      for (const entry of page.Summary ?? []) {
        if (entry.ResourceType !== undefined && entry.ResourceType !== MANAGED_INSTANCE) continue;
        count += Number(entry.Count ?? 0) || 0;
      }
    }
    return count;
  } catch (err) {
    if (failureKind(err) === 'unreachable' || failureKind(err) === 'credentials') throw err;
    onFallback(`ListNodesSummary in ${region} failed (${awsFailureText(err)}); counted node by node instead`);
  }
  let count = 0;
  const input = { Filters: [{ Key: 'ResourceType', Values: [MANAGED_INSTANCE] }] };
  for await (const page of paginateDescribeInstanceInformation(
    { client: ssm, pageSize: SSM_DESCRIBE_INSTANCE_INFORMATION_MAX_RESULTS },
    input,
  ))
    count += page.InstanceInformationList?.length ?? 0;
  return count;
}

type SyncSummary = Pick<AgencyView, 'syncedNodes' | 'lastSyncAt' | 'errorNodes' | 'latestError'> &
  Partial<RegistrationErrorSummary>;

/** One agency's node rows, by a query of the byAgency index (status --agencies). */
async function syncSummary(clients: Clients, region: string, tableName: string, account: string): Promise<SyncSummary> {
  const s = emptySummary();
  const input = {
    TableName: tableName,
    IndexName: SYNC_TABLE.agencyIndexName,
    KeyConditionExpression: '#agency = :agency',
    ExpressionAttributeNames: { ...SUMMARY_PROJECTION.names },
    ExpressionAttributeValues: { ':agency': account },
    ProjectionExpression: SUMMARY_PROJECTION.expression,
  };
  for await (const page of paginateQuery({ client: clients.dynamodb(region) }, input))
    for (const item of page.Items ?? []) addNodeRow(s, item);
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
  /** Stack instances of the agency-collector StackSet. */
  instances: StackInstanceSummary[];
  /** Stack instances of the agency-registration StackSet; undefined when it does not exist or could not be read. */
  registrationInstances: StackInstanceSummary[] | undefined;
  sync: Map<string, SyncSummary>;
  /** Every Region asked for, in order; one whose count failed carries `error`. */
  regions: RegionEntry[];
  agencies: string[];
  /** Findings made while reading (a missing StackSet, a missing output). */
  warnings: string[];
  /** One line per failed read, with its kind ("could not read X (access-denied): …"). */
  errors: string[];
  /** The failed reads, each with its kind: not found, access denied, unreachable, credentials… */
  failures: ReadFailure[];
  /** Whether the central stack was read and found, read and absent, or not readable. */
  centralState: 'found' | 'not-found' | 'unreadable';
  /** Whether the agencies' permissions stacks could be listed. */
  agencyStacksRead: boolean;
}

interface StatusPlan {
  agencies?: string[];
  nodeRegions?: string[];
  centralStack: string;
  callAs: CallAs;
  stackSetName: string;
  registrationStackSetName: string;
  agencyStackPattern: RegExp;
  standardTierNodeLimit: number;
}

async function stackInstances(
  cfn: CloudFormationClient,
  stackSetName: string,
  callAs: CallAs,
  warnings: string[],
): Promise<StackInstanceSummary[] | undefined> {
  const all: StackInstanceSummary[] = [];
  try {
    const input = { StackSetName: stackSetName, CallAs: callAs };
    for await (const page of paginateListStackInstances({ client: cfn }, input)) all.push(...(page.Summaries ?? []));
  } catch (err) {
    if ((err as { name?: string }).name !== 'StackSetNotFoundException') throw err;
    warnings.push(`StackSet ${stackSetName} does not exist yet (run \`ssm-hub rollout\`)`);
    return undefined;
  }
  return all;
}

async function countRegions(
  clients: Clients,
  regions: string[],
  limit: number,
  attempt: Attempt,
  warnings: string[],
  failures: readonly ReadFailure[],
): Promise<RegionEntry[]> {
  const views: RegionEntry[] = [];
  for (const r of regions) {
    const failed = failures.length;
    const n = await attempt(`managed nodes in ${r}`, () => countManagedNodes(clients, r, (w) => warnings.push(w)));
    if (n === undefined) {
      const f = failures[failed];
      views.push({ region: r, limit, error: f ? `${f.kind}: ${f.message}` : 'could not be counted' });
      continue;
    }
    const tier = await attempt(`activation tier in ${r}`, () => activationTier(clients.ssm(r)));
    views.push({ region: r, managedNodes: n, limit, percent: Math.round((n / limit) * 1000) / 10, tier });
  }
  return views;
}

type Attempt = <T>(what: string, fn: () => Promise<T>) => Promise<T | undefined>;

/** Records each failed read with its kind, so a denied or unreachable read is never shown as absence. */
function failureRecorder(errors: string[], failures: ReadFailure[]): Attempt {
  return async (what, fn) => {
    try {
      return await fn();
    } catch (err) {
      const failure = { what, kind: failureKind(err), message: awsFailureText(err) };
      failures.push(failure);
      errors.push(`could not read ${what} (${failure.kind}): ${failure.message}`);
      return undefined;
    }
  };
}

/** Nodes the sync-state table tracks against the nodes SSM counts, in the hub's Region. */
function withTableCounts(regions: RegionEntry[], hubRegion: string, sync: Map<string, SyncSummary>, all: boolean) {
  if (!all || !sync.size) return regions;
  const tracked = [...sync.values()].reduce((n, s) => n + (s.syncedNodes ?? 0), 0);
  return regions.map((r) => (r.region === hubRegion && wasCounted(r) ? { ...r, syncedNodes: tracked } : r));
}

/** Every read status makes; a failed read is recorded with its kind and the rest carry on. */
export async function readStatus(
  ctx: Context,
  clients: Clients,
  region: string,
  plan: StatusPlan,
): Promise<StatusData> {
  const cfn = clients.cloudformation(region);
  const warnings: string[] = [];
  const errors: string[] = [];
  const failures: ReadFailure[] = [];
  const attempt = failureRecorder(errors, failures);
  progress(ctx, `reading central stack ${plan.centralStack}`);
  const centralRead = await attempt(`stack ${plan.centralStack}`, async () => ({
    stack: await describeStack(cfn, plan.centralStack),
  }));
  const central = centralRead?.stack;
  const centralState = !centralRead ? 'unreadable' : central ? 'found' : 'not-found';
  if (centralState === 'not-found') warnings.push(`central stack ${plan.centralStack} not found in ${region}`);
  const outputs = Object.fromEntries((central?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue]));
  const listed = await attempt('agency stacks', () => agencyStacks(cfn, plan.agencyStackPattern));
  const stackStatus = new Map(
    [...(listed ?? [])].map(([a, s]) => [a, s.others ? `${s.status}; also ${s.others.join(', ')}` : s.status]),
  );
  const tableName = outputs.SyncTableName;
  // Agencies with node rows but no permissions stack (offboarded, nodes kept) are listed too.
  const inTable =
    plan.agencies || !tableName
      ? undefined
      : await attempt('sync state', () => summariesByAgency(clients.dynamodb(region), tableName));
  const agencies = plan.agencies ?? reportedAgencies(stackStatus.keys(), inTable?.keys());
  progress(ctx, 'reading activations');
  const activations =
    (await attempt('activations', () => listActivations(clients, region, outputs.ManagedNodeRoleName))) ?? [];
  // undefined: the StackSet does not exist or could not be read (each said in warnings or errors).
  const readInstances = async (name: string) => {
    progress(ctx, `reading StackSet ${name}`);
    return attempt(`StackSet ${name}`, () => stackInstances(cfn, name, plan.callAs, warnings));
  };
  const instances = (await readInstances(plan.stackSetName)) ?? [];
  const registrationInstances = await readInstances(plan.registrationStackSetName);
  if (!tableName && central) warnings.push(`central stack has no SyncTableName output: sync state not shown`);
  progress(ctx, `reading sync state of ${agencies.length} agencies`);
  const sync = new Map<string, SyncSummary>();
  await mapLimit(tableName ? agencies : [], 4, async (account) => {
    // Without --agencies the scan above summed every agency's rows (none: no node row yet).
    const s = inTable
      ? (inTable.get(account) ?? emptySummary())
      : await attempt(`sync state of ${account}`, () => syncSummary(clients, region, tableName!, account));
    const r = await attempt(`registration errors of ${account}`, () =>
      registrationErrorSummary(clients.dynamodb(region), tableName!, account),
    );
    if (s) sync.set(account, { ...s, ...r });
  });
  progress(ctx, 'counting managed nodes');
  const counted = await countRegions(
    clients,
    plan.nodeRegions ?? [region],
    plan.standardTierNodeLimit,
    attempt,
    warnings,
    failures,
  );
  const everyAgency = !plan.agencies && listed !== undefined && inTable !== undefined && sync.size === agencies.length;
  const regions = withTableCounts(counted, region, sync, everyAgency);
  return {
    ...{ region, centralStack: plan.centralStack, central, outputs, stackStatus, activations, instances },
    ...{ registrationInstances, sync, regions, agencies, warnings, errors, failures, centralState },
    agencyStacksRead: listed !== undefined,
  };
}

/** One account's stack instances of a StackSet, by Region. */
function instanceViews(instances: StackInstanceSummary[], account: string): InstanceView[] {
  return instances
    .filter((i) => i.Account === account)
    .map((i) => ({
      region: i.Region ?? '',
      status: i.StackInstanceStatus?.DetailedStatus ?? i.Status ?? 'UNKNOWN',
      detail: i.StatusReason,
    }))
    .sort((a, b) => a.region.localeCompare(b.region));
}

export function agencyViews(data: StatusData, tagKey: string, now: Date): AgencyView[] {
  return data.agencies.map((account) => ({
    account,
    permissionsStack: data.stackStatus.get(account) ?? (data.agencyStacksRead === false ? 'UNKNOWN' : 'NOT_FOUND'),
    activation: currentActivation(data.activations, tagKey, account, now),
    stackInstances: instanceViews(data.instances, account),
    registrationInstances: data.registrationInstances && instanceViews(data.registrationInstances, account),
    ...data.sync.get(account),
    ...silentView(data.sync.get(account)?.registrationErrorsByRegion, now),
  }));
}

const silentView = (byRegion: RegionErrorCount[] | undefined, now: Date) => {
  const silent = silentCollectors(byRegion, now);
  return silent.length ? { silentCollectors: silent } : {};
};

/** The warnings about one agency: pure, so each rule is tested from a table of views. */
export function agencyWarnings(a: AgencyView, rotateAtUsagePercent: number, activationsReadable: boolean): string[] {
  const w: string[] = [];
  if (a.permissionsStack === 'NOT_FOUND' && a.syncedNodes)
    w.push(
      `agency ${a.account}: no permissions stack, but ${a.syncedNodes} node(s) in the sync-state table (offboarded? its nodes are still managed and tagged as its own; see \`ssm-hub nodes --agencies ${a.account}\`)`,
    );
  else if (a.permissionsStack === 'NOT_FOUND')
    w.push(`agency ${a.account}: no permissions stack (run \`ssm-hub onboard --agencies ${a.account}\`)`);
  else if (a.permissionsStack.includes('; also '))
    w.push(
      `agency ${a.account}: more than one permissions stack (${a.permissionsStack}), each holding an activation: delete the extra one`,
    );
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
  // Since the agency template split, each collector stack instance has a registration one beside
  // it; one missing is an upgrade or a rollout that did not finish (its document is gone).
  const registered = new Set((a.registrationInstances ?? []).map((i) => i.region));
  for (const i of a.registrationInstances ? a.stackInstances : []) {
    if (!registered.has(i.region))
      w.push(
        `agency ${a.account}: the collector in ${i.region} has no registration stack instance (re-run \`ssm-hub rollout\`)`,
      );
  }
  for (const i of a.registrationInstances ?? []) {
    if (i.status !== 'SUCCEEDED' && i.status !== 'CURRENT')
      w.push(
        `agency ${a.account}: registration stack instance in ${i.region} is ${i.status}${i.detail ? `: ${i.detail}` : ''}`,
      );
  }
  if (a.errorNodes)
    w.push(`agency ${a.account}: ${a.errorNodes} node(s) with a sync error; latest: ${a.latestError?.error}`);
  for (const s of a.silentCollectors ?? [])
    w.push(
      `agency ${a.account}: its collector${s.region ? ` in ${s.region}` : ' (a release that names no Region)'} last reported ${s.hoursAgo} h ago (${s.reportedAt}): the orphan sweep of this agency's nodes waits until it reports again (a collector removed on purpose: see the README, "A collector Region that is gone")`,
    );
  if (a.registrationErrors)
    w.push(
      `agency ${a.account}: ${a.registrationErrors} instance(s) failed to register (${registrationErrorRegionsText(a.registrationErrorsByRegion)})`,
    );
  return w;
}

export function regionWarnings(r: RegionView): string[] {
  const w = tableWarnings(r);
  if (!standardTierApplies(r.tier)) return w;
  if (r.managedNodes >= r.limit)
    return [
      ...w,
      `${r.region}: ${r.managedNodes} managed nodes reached the ${r.limit}-node standard-tier limit; new registrations fail until the advanced tier is enabled`,
    ];
  if (r.managedNodes >= r.limit * NODE_WARN_RATIO)
    return [
      ...w,
      `${r.region}: ${r.managedNodes} managed nodes is ${r.percent}% of the ${r.limit}-node standard-tier limit`,
    ];
  return w;
}

/**
 * SSM and the sync-state table disagree: nodes not synced by the hub, or rows whose node is gone.
 * Net totals: N of each cancel out (SSM counts per Region, not per agency; README, Check).
 */
function tableWarnings(r: RegionView): string[] {
  if (r.syncedNodes === undefined || r.syncedNodes === r.managedNodes) return [];
  const diff = r.managedNodes - r.syncedNodes;
  return [
    diff > 0
      ? `${r.region}: SSM counts ${r.managedNodes} hybrid nodes, the sync-state table ${r.syncedNodes}: ${diff} node(s) not synced by the hub (registered but not yet synced, orphaned, or not from an agency)`
      : `${r.region}: the sync-state table tracks ${r.syncedNodes} nodes, SSM counts ${r.managedNodes}: ${-diff} row(s) for nodes SSM no longer has`,
  ];
}

export interface StatusReport {
  data: StatusData;
  views: AgencyView[];
  warnings: string[];
}

export function statusFindings(data: StatusData, config: BuildConfig, now: Date): StatusReport {
  const tagKey = `${config.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.activationAgency}`;
  const views = agencyViews(data, tagKey, now);
  const activationsReadable = !data.failures.some((f) => f.what === 'activations');
  const warnings = [
    ...data.warnings,
    ...views.flatMap((a) => agencyWarnings(a, config.activation.rotateAtUsagePercent, activationsReadable)),
    ...data.regions.filter(wasCounted).flatMap(regionWarnings),
  ];
  return { data, views, warnings };
}

const centralFailure = (data: StatusData) => data.failures.find((f) => f.what === `stack ${data.centralStack}`);

/** NOT_FOUND only when CloudFormation said so; a read that failed is UNREADABLE, with its kind. */
export function centralStatus(data: StatusData): string {
  if (data.centralState === 'unreadable') return 'UNREADABLE';
  return data.central?.StackStatus ?? 'NOT_FOUND';
}

function centralText(data: StatusData): string {
  const f = centralFailure(data);
  if (f) return `could not be read (${f.kind}): ${f.message}`;
  return data.central?.StackStatus ?? 'NOT FOUND';
}

function printStatus(ctx: Context, { data, views, warnings }: StatusReport): void {
  ctx.stdout(`central stack ${data.centralStack} (${data.region}): ${centralText(data)}\n\n`);
  const headers = [
    'agency',
    'permissions stack',
    'activation expires',
    'registrations',
    'stack instances',
    'registration',
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
    (a.registrationInstances ?? []).map((i) => `${i.region}:${i.status}`).join(' ') || '-',
    a.syncedNodes === undefined ? '-' : String(a.syncedNodes),
    a.lastSyncAt ?? '-',
    a.errorNodes === undefined ? '-' : String(a.errorNodes),
  ]);
  ctx.stdout(`${table(headers, rows)}\n\n`);
  const regionRows = data.regions.map((r) =>
    wasCounted(r)
      ? [
          r.region,
          String(r.managedNodes),
          r.syncedNodes === undefined ? '-' : String(r.syncedNodes),
          String(r.limit),
          `${r.percent}%`,
        ]
      : [r.region, 'not counted (see ERROR)', '-', String(r.limit), '-'],
  );
  const regionHeaders = ['region', 'managed nodes (SSM)', 'synced (table)', 'standard-tier limit', 'used'];
  ctx.stdout(`${table(regionHeaders, regionRows)}\n`);
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
        status: centralStatus(data),
        ...(centralFailure(data) ? { error: centralFailure(data) } : {}),
        outputs: data.outputs,
      },
      agencies: report.views,
      regions: data.regions,
      warnings: report.warnings,
      errors: data.errors,
      failures: data.failures,
    };
    ctx.stdout(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    printStatus(ctx, report);
  }
  return data.errors.length ? EXIT.failed : EXIT.ok;
}

/** What `status` (and `report`) read: the names the build configuration derives, and the run's choices. */
export function statusPlan(
  config: BuildConfig,
  names: ReturnType<typeof loadConfig>['names'],
  run: Pick<StatusPlan, 'agencies' | 'nodeRegions' | 'callAs'> & { centralStack?: string },
): StatusPlan {
  return {
    ...run,
    centralStack: run.centralStack ?? names.centralStackName,
    stackSetName: names.stackSetName,
    registrationStackSetName: names.registrationStackSetName,
    agencyStackPattern: agencyStackPattern(names.agencyPermissionsStackName),
    standardTierNodeLimit: config.standardTierNodeLimit,
  };
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o) => {
    const { config, names } = loadConfig(ctx, o.config);
    const plan = statusPlan(config, names, {
      agencies: o.agencies,
      nodeRegions: o.regions,
      centralStack: o['central-stack'],
      callAs: o['call-as'],
    });
    const region = await resolveRegion(ctx, o.region, o.profile);
    const data = await readStatus(ctx, makeClients(ctx, o.profile), region, plan);
    return reportStatus(ctx, statusFindings(data, config, ctx.now()), o.json);
  });
}
