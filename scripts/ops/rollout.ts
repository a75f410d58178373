// `ssm-hub rollout`: creates or updates the agency-collector StackSet and its stack instances,
// waits on each operation with a live per-account/per-Region view, and ends with a table of
// every stack instance that failed, so nothing is hidden behind "operation failed".
// Three steps: plan (every input checked, no AWS call), execute, report.
import type { CallAs, Parameter, StackSetOperationPreferences } from '@aws-sdk/client-cloudformation';
import { callerAccount, makeClients, partitionOf, resolveRegion, type Clients } from './aws.ts';
import { choice, defaultContext, defineCommand, EXIT, flag, integer, list, OperationError } from '../kit/index.ts';
import { progress, repeatable, runCommand, table, text, UsageError, type Context, type Values } from '../kit/index.ts';
import { SSM_MAX_KEY_LENGTH, SSM_MAX_VALUE_LENGTH } from '../../contract/limits.ts';
import { patternOf, SCHEDULE_EXPRESSION_PATTERN, SSM_TAG_CHARACTERS } from '../../contract/patterns.ts';
import * as v from '../kit/validate.ts';
import { AWS_OPTIONS, callAsOption, centralStackOption, concurrencyOption, GENERATED_DIR_OPTION } from './common.ts';
import { generatedDir, loadConfig, templateUrlOption, timeoutOption } from './common.ts';
import { checkParameter, parseAssignments, readTemplate, templateBodyOrUrl } from './generated.ts';
import { onboardAccounts, previewOnboard, reportOutcomes, resolveAccounts, type OnboardSettings } from './agencies.ts';
import { announceTarget, listInstances, parameterDiff, printStackPreviews, templateDiff } from './preview.ts';
import { createInstances, createStackSet, describeStackSet, stackSetAction, updateStackSet } from './stackset.ts';
import { type InstanceResult, type InstanceTargets, type OperationReport, type StackSetRequest } from './stackset.ts';

const SCHEDULE = SCHEDULE_EXPRESSION_PATTERN;
const TAG_KEY = patternOf(['^[', SSM_TAG_CHARACTERS, ']{1,', SSM_MAX_KEY_LENGTH, '}$'], 'u');
const TAG_VALUE = patternOf(['^[', SSM_TAG_CHARACTERS, ']{0,', SSM_MAX_VALUE_LENGTH, '}$'], 'u');

const scheduleRule = (f: string, rs: string) => {
  if (!SCHEDULE.test(rs))
    throw new UsageError(`--${f}: "${rs}" is not a schedule expression such as rate(1 hour) or cron(0 * * * ? *)`);
  return rs;
};
const tagKeyRule = (f: string, tk: string) => {
  if (!TAG_KEY.test(tk) || tk.toLowerCase().startsWith('aws:'))
    throw new UsageError(
      `--${f}: "${tk}" is not a valid tag key (1–${SSM_MAX_KEY_LENGTH} characters SSM allows, not aws:)`,
    );
  return tk;
};
const tagValueRule = (f: string, tv: string) => {
  if (!TAG_VALUE.test(tv))
    throw new UsageError(`--${f}: "${tv}" is not a valid tag value (0–${SSM_MAX_VALUE_LENGTH} characters SSM allows)`);
  return tv;
};
const roleArnRule = (f: string, arn: string) => {
  if (!v.IAM_ROLE_ARN.test(arn)) throw new UsageError(`--${f}: "${arn}" is not an IAM role ARN`);
  return arn;
};
const roleNameRule = (f: string, name: string) => {
  if (!v.ROLE_NAME.test(name))
    throw new UsageError(`--${f}: "${name}" is not an IAM role name (1–64 of letters, digits and +=,.@_-)`);
  return name;
};

export const spec = defineCommand({
  name: 'rollout',
  summary:
    'Create or update the agency-collector StackSet and deploy it to agency accounts and Regions (onboarding them first).',
  usage: [
    '--ou ou-xxxx-xxxxxxxx[,…] --regions us-east-1,us-west-2 [options]      (service-managed, auto-deployment)',
    '--ou ou-… --accounts 111111111111,… --regions …                   (service-managed, only those accounts)',
    '--self-managed --accounts 111111111111,… --regions … [options]',
  ],
  options: [
    list('ou', { arg: 'ou-…,…', help: 'target organizational units (or root r-…); service-managed', check: v.ouIds }),
    list('accounts', {
      arg: 'ACCOUNT,…',
      help: 'target accounts (self-managed; with --ou, only these accounts of the OUs)',
      check: v.accountIds,
    }),
    list('regions', { arg: 'r1,r2', help: 'Regions to deploy stack instances in (required)', check: v.regions }),
    flag('self-managed', 'self-managed permissions instead of service-managed (Organizations)'),
    text('administration-role-arn', {
      arg: 'ARN',
      help: 'self-managed: admin role',
      check: roleArnRule,
      defaultText: 'AWSCloudFormationStackSetAdministrationRole',
    }),
    text('execution-role-name', {
      arg: 'NAME',
      help: 'self-managed: execution role',
      check: roleNameRule,
      defaultText: 'AWSCloudFormationStackSetExecutionRole',
    }),
    callAsOption('DELEGATED_ADMIN when run from a delegated administrator account'),
    templateUrlOption('published agency-collector template (default: generated/templates/agency-collector.json)'),
    text('central-account', {
      arg: 'ACCOUNT',
      help: 'CentralAccountId parameter',
      check: v.accountId,
      defaultText: "the caller's account",
    }),
    text('central-region', {
      arg: 'REGION',
      help: 'CentralRegion parameter',
      check: v.region,
      defaultText: '--region',
    }),
    text('reconcile-schedule', {
      arg: 'EXPR',
      help: 'ReconcileSchedule parameter, e.g. "rate(1 hour)"',
      check: scheduleRule,
    }),
    choice('zero-touch', { help: 'EnableZeroTouchRegistration parameter', values: ['true', 'false'] }),
    text('opt-in-tag-key', { arg: 'KEY', help: 'OptInTagKey parameter', check: tagKeyRule }),
    text('opt-in-tag-value', { arg: 'VALUE', help: 'OptInTagValue parameter', check: tagValueRule, allowEmpty: true }),
    repeatable('param', {
      arg: 'NAME=VALUE',
      help: 'any other agency-collector parameter, e.g. AlarmEmail=ops@example.org',
    }),
    integer('failure-tolerance-count', {
      help: 'accounts per Region that may fail before the Region stops',
      min: 0,
      max: 1000,
    }),
    integer('failure-tolerance-percentage', { help: 'same, as a percentage', min: 0, max: 100 }),
    integer('max-concurrent-count', { help: 'accounts deployed at once per Region', min: 1, max: 1000 }),
    integer('max-concurrent-percentage', { help: 'same, as a percentage', min: 1, max: 100 }),
    choice('concurrency-mode', {
      help: 'how failures count against the tolerance',
      values: ['STRICT_FAILURE_TOLERANCE', 'SOFT_FAILURE_TOLERANCE'],
      arg: 'MODE',
      defaultText: 'STRICT_FAILURE_TOLERANCE',
    }),
    choice('region-concurrency', {
      help: 'Regions one after another or at once',
      values: ['SEQUENTIAL', 'PARALLEL'],
      arg: 'TYPE',
      defaultText: 'SEQUENTIAL',
    }),
    list('region-order', { arg: 'r1,r2', help: 'order of Regions (each must be in --regions)', check: v.regions }),
    flag('skip-onboard', 'do not create/update the agency-permissions stacks first'),
    flag(
      'dry-run',
      'show the onboarding changes, the StackSet change, its stack instances and operation preferences; change nothing',
    ),
    centralStackOption('onboarding: CentralManagerStackName parameter'),
    concurrencyOption('onboarding: stacks deployed at once'),
    timeoutOption('stack or operation'),
    GENERATED_DIR_OPTION,
    ...AWS_OPTIONS,
  ],
  notes: [
    'Operation preferences do not apply to auto-deployment (accounts that join an OU later).',
    'Exit code 1 when any stack instance failed, even if the operation stayed within its failure tolerance.',
  ],
});

type Options = Values<typeof spec.options>;

export function operationPreferences(
  o: Options,
  given: ReadonlySet<string>,
  regions: string[],
): StackSetOperationPreferences {
  v.exclusive(given, 'failure-tolerance-count', 'failure-tolerance-percentage');
  v.exclusive(given, 'max-concurrent-count', 'max-concurrent-percentage');
  for (const r of o['region-order'] ?? []) {
    if (!regions.includes(r))
      throw new UsageError(`--region-order: ${r} is not one of --regions (${regions.join(', ')})`);
  }
  const prefs: StackSetOperationPreferences = {
    FailureToleranceCount: o['failure-tolerance-count'],
    FailureTolerancePercentage: o['failure-tolerance-percentage'],
    MaxConcurrentCount: o['max-concurrent-count'],
    MaxConcurrentPercentage: o['max-concurrent-percentage'],
    ConcurrencyMode: o['concurrency-mode'],
    RegionConcurrencyType: o['region-concurrency'],
    RegionOrder: o['region-order'],
  };
  return Object.fromEntries(Object.entries(prefs).filter(([, x]) => x !== undefined)) as StackSetOperationPreferences;
}

/** Targets: service-managed StackSets target OUs (optionally narrowed to accounts); self-managed ones accounts. */
export function instanceTargets(o: Options, given: ReadonlySet<string>): InstanceTargets {
  const selfManaged = o['self-managed'];
  const { ou: ous, accounts } = o;
  if (selfManaged) {
    if (ous)
      throw new UsageError(
        '--ou cannot be used with --self-managed (self-managed StackSets target accounts: use --accounts)',
      );
    if (!accounts) throw new UsageError('--self-managed needs --accounts');
  } else {
    if (!ous) {
      throw new UsageError(
        accounts
          ? '--accounts alone needs --self-managed; service-managed StackSets target OUs (add --ou to limit the OUs to those accounts)'
          : 'one of --ou or --accounts is required',
      );
    }
    for (const f of ['administration-role-arn', 'execution-role-name'])
      if (given.has(f)) throw new UsageError(`--${f} is only used with --self-managed`);
  }
  if (!o.regions) throw new UsageError('--regions is required (comma-separated Region names)');
  if (o['call-as'] === 'DELEGATED_ADMIN' && selfManaged)
    throw new UsageError('--call-as DELEGATED_ADMIN works only with service-managed StackSets (drop --self-managed)');
  return { selfManaged, ous, accounts, regions: o.regions };
}

/** The collector parameters named by their own flags and by --param. */
export function collectorParameters(o: Options): Record<string, string> {
  const extra: Record<string, string> = {};
  if (o['reconcile-schedule'] !== undefined) extra.ReconcileSchedule = o['reconcile-schedule'];
  if (o['zero-touch'] !== undefined) extra.EnableZeroTouchRegistration = o['zero-touch'];
  if (o['opt-in-tag-key'] !== undefined) extra.OptInTagKey = o['opt-in-tag-key'];
  if (o['opt-in-tag-value'] !== undefined) extra.OptInTagValue = o['opt-in-tag-value'];
  for (const { name, value } of parseAssignments('--param', o.param)) {
    if (name === 'CentralAccountId' || name === 'CentralRegion')
      throw new UsageError(
        `--param: set ${name} with --${name === 'CentralAccountId' ? 'central-account' : 'central-region'}`,
      );
    if (name in extra) throw new UsageError(`--param: ${name} is already set by its own flag`);
    extra[name] = value;
  }
  return extra;
}

export interface RolloutPlan {
  targets: InstanceTargets;
  callAs: CallAs;
  prefs: StackSetOperationPreferences;
  centralAccount?: string;
  centralRegion?: string;
  extraParams: Record<string, string>;
  template: StackSetRequest['template'];
  declaredKeys?: Set<string>;
  /** Absent with --skip-onboard. */
  onboard?: OnboardSettings;
  adminRoleArn?: string;
  executionRoleName?: string;
  timeoutMs: number;
  dryRun: boolean;
}

/** Every input checked, the template read: nothing here calls AWS. */
export function planRollout(ctx: Context, o: Options, given: ReadonlySet<string>, centralStack: string): RolloutPlan {
  const targets = instanceTargets(o, given);
  const extraParams = collectorParameters(o);
  if (o['skip-onboard']) {
    for (const f of ['central-stack', 'concurrency'])
      if (given.has(f)) throw new UsageError(`--${f} configures onboarding and cannot be used with --skip-onboard`);
  }
  const gen = generatedDir(ctx, o['generated-dir']);
  const templateUrl = o['template-url'];
  const template = templateBodyOrUrl(gen, 'agency-collector', templateUrl);
  let declaredKeys: Set<string> | undefined;
  if (!templateUrl) {
    const json = readTemplate(gen, 'agency-collector').json;
    for (const p of ['CentralAccountId', 'CentralRegion']) {
      if (!json.Parameters?.[p])
        throw new UsageError(`agency-collector template declares no ${p} parameter: rebuild with \`npm run build\``);
    }
    for (const [name, value] of Object.entries(extraParams))
      checkParameter('--param', 'agency-collector', json, name, value);
    declaredKeys = new Set(Object.keys(json.Parameters ?? {}));
  }
  const timeoutMs = o['timeout-minutes'] * 60_000;
  return {
    targets,
    callAs: o['call-as'],
    prefs: operationPreferences(o, given, targets.regions),
    centralAccount: o['central-account'],
    centralRegion: o['central-region'],
    extraParams,
    template,
    declaredKeys,
    // Onboarding deploys the local agency-permissions template (--template-url names the collector's).
    onboard: o['skip-onboard']
      ? undefined
      : { centralStack: o['central-stack'] ?? centralStack, concurrency: o.concurrency, timeoutMs, generatedDir: gen },
    adminRoleArn: o['administration-role-arn'],
    executionRoleName: o['execution-role-name'],
    timeoutMs,
    dryRun: o['dry-run'],
  };
}

const toParameters = (values: Record<string, string>): Parameter[] =>
  Object.entries(values).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue }));

/** The StackSet request, once the caller's account and the home Region are known. */
export function stackSetRequest(
  plan: RolloutPlan,
  stackSetName: string,
  caller: string,
  region: string,
): StackSetRequest {
  const selfManaged = plan.targets.selfManaged;
  return {
    stackSetName,
    template: plan.template,
    // A new StackSet gets defaults (the caller's account, this Region); an existing one changes
    // only what this run names, so a re-run without --central-region never repoints collectors.
    createParameters: toParameters({
      CentralAccountId: plan.centralAccount ?? caller,
      CentralRegion: plan.centralRegion ?? region,
      ...plan.extraParams,
    }),
    givenParameters: toParameters({
      ...(plan.centralAccount ? { CentralAccountId: plan.centralAccount } : {}),
      ...(plan.centralRegion ? { CentralRegion: plan.centralRegion } : {}),
      ...plan.extraParams,
    }),
    declaredKeys: plan.declaredKeys,
    permissionModel: selfManaged ? 'SELF_MANAGED' : 'SERVICE_MANAGED',
    selfManagedRoles: selfManaged
      ? {
          AdministrationRoleARN:
            plan.adminRoleArn ??
            `arn:${partitionOf(region)}:iam::${caller}:role/AWSCloudFormationStackSetAdministrationRole`,
          ExecutionRoleName: plan.executionRoleName ?? 'AWSCloudFormationStackSetExecutionRole',
        }
      : {},
    autoDeployment: selfManaged ? undefined : { Enabled: true, RetainStacksOnAccountRemoval: false },
    callAs: plan.callAs,
    prefs: plan.prefs,
    timeoutMs: plan.timeoutMs,
  };
}

export interface RolloutResult {
  stackSetName: string;
  stackSet: 'created' | 'updated' | 'unchanged';
  onboarded?: Array<{ account: string; result: string }>;
  operationPreferences: StackSetOperationPreferences;
  operations: OperationReport[];
  /** --dry-run only: what onboarding and the StackSet would change. */
  onboardPreview?: Awaited<ReturnType<typeof previewOnboard>>;
  preview?: {
    stackSet: { name: string; action: string; permissionModel: string };
    parameters: ReturnType<typeof parameterDiff>;
    resources: ReturnType<typeof templateDiff>;
    instances: { create: string; existing: number; updatedByTheStackSetChange: number };
  };
}

/** Onboards the target agencies first; a failure stops the rollout before the StackSet changes. */
async function onboardFirst(
  ctx: Context,
  clients: Clients,
  region: string,
  plan: RolloutPlan,
  stackNameOf: (a: string) => string,
  json: boolean,
) {
  const { targets } = plan;
  const accounts = await resolveAccounts(
    clients,
    region,
    targets.accounts ? { agencies: targets.accounts } : { ous: targets.ous },
  );
  progress(ctx, `onboarding ${accounts.length} agenc${accounts.length === 1 ? 'y' : 'ies'} before the rollout`);
  const outcomes = await onboardAccounts(ctx, clients, region, accounts, plan.onboard!, stackNameOf);
  const failed = outcomes.filter((o) => o.result === 'failed');
  if (failed.length) {
    reportOutcomes(ctx, outcomes, json, { phase: 'onboard' });
    throw new OperationError(
      `onboarding failed for ${failed.map((f) => f.account).join(', ')}; the rollout was not started`,
    );
  }
  return outcomes.map((o) => ({ account: o.account, result: o.result }));
}

/** "OUs ou-… (the whole organization for a root) × Regions", for the target line and the preview. */
export function targetText(t: InstanceTargets): string {
  const where = t.ous
    ? `OUs ${t.ous.join(', ')}${t.ous.some((x) => x.startsWith('r-')) ? ' (a root: the whole organization)' : ''}${t.accounts ? `, only accounts ${t.accounts.join(', ')}` : ''}`
    : `accounts ${t.accounts!.join(', ')}`;
  return `${where} in ${t.regions.join(', ')}`;
}

/** The dry run: every change the rollout would make, from read-only calls. */
async function previewRollout(
  ctx: Context,
  clients: Clients,
  region: string,
  plan: RolloutPlan,
  names: { stackSetName: string; agencyPermissionsStackName: (a: string) => string },
  caller: string,
): Promise<RolloutResult> {
  announceTarget(ctx, caller, region, `dry run: rollout to ${targetText(plan.targets)} (nothing is changed)`);
  const cfn = clients.cloudformation(region);
  const t = plan.targets;
  const onboarding = plan.onboard
    ? await previewOnboard(
        clients,
        region,
        await resolveAccounts(clients, region, t.accounts ? { agencies: t.accounts } : { ous: t.ous }),
        plan.onboard,
        names.agencyPermissionsStackName,
      )
    : [];
  const req = stackSetRequest(plan, names.stackSetName, caller, region);
  const existing = await describeStackSet(cfn, req.stackSetName, req.callAs);
  const action = stackSetAction(existing, req);
  const next = 'TemplateBody' in req.template ? JSON.parse(req.template.TemplateBody) : undefined;
  const current = existing?.TemplateBody ? JSON.parse(existing.TemplateBody) : undefined;
  const instances = existing ? await listInstances(cfn, req.stackSetName, req.callAs) : [];
  const preview = {
    stackSet: { name: req.stackSetName, action, permissionModel: req.permissionModel },
    parameters: existing
      ? parameterDiff(
          existing.Parameters,
          Object.fromEntries(req.givenParameters.map((p) => [p.ParameterKey!, p.ParameterValue!])),
        )
      : req.createParameters.map((p) => ({ key: p.ParameterKey!, to: p.ParameterValue! })),
    resources: next ? templateDiff(current, next) : [],
    instances: {
      create: targetText(t),
      existing: instances.length,
      updatedByTheStackSetChange: action === 'update' ? instances.length : 0,
    },
  };
  return {
    stackSetName: req.stackSetName,
    stackSet: 'unchanged',
    operationPreferences: plan.prefs,
    operations: [],
    onboardPreview: onboarding,
    preview,
  };
}

async function executeRollout(
  ctx: Context,
  clients: Clients,
  region: string,
  plan: RolloutPlan,
  names: { stackSetName: string; agencyPermissionsStackName: (a: string) => string },
  json: boolean,
): Promise<RolloutResult> {
  const cfn = clients.cloudformation(region);
  const caller = await callerAccount(clients, region);
  const centralAccount = plan.centralAccount ?? caller;
  if (plan.onboard && centralAccount !== caller) {
    throw new UsageError(
      `onboarding creates stacks in the caller's account ${caller}, but --central-account is ${centralAccount}: run \`onboard\` with the central account's credentials, then rollout with --skip-onboard`,
    );
  }
  if (plan.dryRun) return previewRollout(ctx, clients, region, plan, names, caller);
  announceTarget(ctx, caller, region, `rollout of StackSet ${names.stackSetName} to ${targetText(plan.targets)}`);
  const onboarded = plan.onboard
    ? await onboardFirst(ctx, clients, region, plan, names.agencyPermissionsStackName, json)
    : undefined;
  const req = stackSetRequest(plan, names.stackSetName, caller, region);
  const existing = await describeStackSet(cfn, req.stackSetName, req.callAs);
  const action = stackSetAction(existing, req);
  const operations: OperationReport[] = [];
  if (action === 'create') await createStackSet(ctx, cfn, req);
  else if (action === 'update') operations.push(await updateStackSet(ctx, cfn, req, existing!));
  else progress(ctx, `StackSet ${req.stackSetName} template and parameters unchanged`);
  operations.push(await createInstances(ctx, cfn, req, plan.targets));
  const stackSet = action === 'create' ? 'created' : action === 'update' ? 'updated' : 'unchanged';
  return { stackSetName: req.stackSetName, stackSet, onboarded, operationPreferences: plan.prefs, operations };
}

/** The latest result per account/Region wins (an update may fail where a later create succeeds). */
export function latestResults(operations: OperationReport[]): InstanceResult[] {
  const latest = new Map<string, InstanceResult>();
  for (const op of operations) for (const r of op.results) latest.set(`${r.account}/${r.region}`, r);
  return [...latest.values()];
}

function printRolloutPreview(ctx: Context, r: RolloutResult): number {
  const p = r.preview!;
  if (r.onboardPreview?.length) {
    ctx.stdout('onboarding (agency-permissions stacks):\n');
    printStackPreviews(ctx, r.onboardPreview);
  }
  ctx.stdout(`\n${p.stackSet.action.toUpperCase()} StackSet ${p.stackSet.name} (${p.stackSet.permissionModel})\n`);
  for (const c of p.parameters) ctx.stdout(`  parameter ${c.key}: ${c.from ?? '(unset)'} -> ${c.to}\n`);
  if (p.resources.length)
    ctx.stdout(
      `${table(
        ['resource', 'type', 'action'],
        p.resources.map((x) => [x.logicalId, x.type, x.action]),
      ).replace(/^/gm, '  ')}\n`,
    );
  if (p.instances.updatedByTheStackSetChange)
    ctx.stdout(`  the update reaches the ${p.instances.updatedByTheStackSetChange} existing stack instances\n`);
  ctx.stdout(`CREATE stack instances: ${p.instances.create}\n`);
  const prefs = Object.entries(r.operationPreferences).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`);
  ctx.stdout(
    `operation preferences: ${prefs.join(' ') || 'CloudFormation defaults (one account at a time, no failure tolerated)'}\n`,
  );
  return EXIT.ok;
}

export function reportRollout(ctx: Context, r: RolloutResult, json: boolean): number {
  if (r.preview && json) {
    ctx.stdout(`${JSON.stringify({ dryRun: true, ...r }, null, 2)}\n`);
    return EXIT.ok;
  }
  if (r.preview) return printRolloutPreview(ctx, r);
  const latest = latestResults(r.operations);
  const failed = latest
    .filter((x) => x.status === 'FAILED')
    .sort((a, b) => (a.account + a.region).localeCompare(b.account + b.region));
  const cancelled = latest.filter((x) => x.status === 'CANCELLED');
  const badOps = r.operations.filter((o) => o.status !== 'SUCCEEDED');
  if (json) {
    ctx.stdout(`${JSON.stringify({ ...r, failed, cancelled: cancelled.length }, null, 2)}\n`);
    return failed.length || badOps.length ? EXIT.failed : EXIT.ok;
  }
  ctx.stdout(`StackSet ${r.stackSetName}: ${r.stackSet}\n`);
  for (const op of r.operations) {
    const ok = op.results.filter((x) => x.status === 'SUCCEEDED').length;
    ctx.stdout(
      `operation ${op.action} ${op.operationId}: ${op.status}, ${ok}/${op.results.length} stack instances succeeded\n`,
    );
  }
  if (failed.length) {
    ctx.stdout(`\n${failed.length} stack instance${failed.length === 1 ? '' : 's'} failed:\n`);
    const rows = failed.map((f) => [f.account, f.region, f.status, f.reason]);
    ctx.stdout(`${table(['account', 'region', 'status', 'reason'], rows)}\n`);
  }
  if (cancelled.length)
    ctx.stdout(
      `${cancelled.length} stack instance(s) were cancelled (failure tolerance reached): re-run rollout after fixing the failures\n`,
    );
  return failed.length || badOps.length ? EXIT.failed : EXIT.ok;
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o, given) => {
    const { names } = loadConfig(ctx, o.config);
    const plan = planRollout(ctx, o, given, names.centralStackName);
    const region = await resolveRegion(ctx, o.region, o.profile);
    // Input is valid; from here on we talk to AWS.
    const clients = makeClients(ctx, o.profile);
    const result = await executeRollout(ctx, clients, region, plan, names, o.json);
    return reportRollout(ctx, result, o.json);
  });
}
