// `ssm-hub rollout`: creates or updates the two agency StackSets (agency-collector, then
// agency-registration, with the same targets and preferences) and their stack instances, waits on
// each operation with a live per-account/per-Region view, and ends with a table of every stack
// instance that failed, so nothing is hidden behind "operation failed".
// Three steps: plan (every input checked, no AWS call), execute, report.
import type { CallAs, Parameter, StackInstanceSummary, StackSet } from '@aws-sdk/client-cloudformation';
import type { StackSetOperationPreferences } from '@aws-sdk/client-cloudformation';
import { GetTemplateSummaryCommand } from '@aws-sdk/client-cloudformation';
import { callerAccount, makeClients, partitionOf, resolveRegion, type Clients } from './aws.ts';
import {
  choice,
  defaultContext,
  defineCommand,
  errorText,
  EXIT,
  flag,
  integer,
  list,
  OperationError,
} from '../kit/index.ts';
import { progress, repeatable, runCommand, table, text, UsageError, type Context, type Values } from '../kit/index.ts';
import { SSM_MAX_KEY_LENGTH, SSM_MAX_VALUE_LENGTH, STACK_INSTANCES_MAX_OUS } from '../../contract/limits.ts';
import { patternOf, SCHEDULE_EXPRESSION_PATTERN, SSM_TAG_CHARACTERS } from '../../contract/patterns.ts';
import * as v from '../kit/validate.ts';
import { AWS_OPTIONS, callAsOption, centralStackOption, concurrencyOption, GENERATED_DIR_OPTION } from './common.ts';
import { generatedDir, loadConfig, templateUrlOption, timeoutOption } from './common.ts';
import { parseAssignments } from './generated.ts';
import {
  inheritedValues,
  instancesOutsideTargets,
  planAgencyStackSets,
  STACKSET_DESCRIPTIONS,
} from './agency-stacksets.ts';
import { type AgencyStackSet, type Assignment } from './agency-stacksets.ts';
import type { AgencyTemplateName } from '../../contract/names.ts';
import { activeAccountsUnder } from './orgs.ts';
import { onboardAccounts, previewOnboard, reportOutcomes, resolveAccounts, type OnboardSettings } from './agencies.ts';
import { withoutHub } from './agencies.ts';
import { permissionsStackNames } from './agency-stacks.ts';
import { notDone } from './agencies.ts';
import { allowReplacementOption } from './change-risk.ts';
import { announceTarget, listInstances, parameterDiff, printStackPreviews, templateDiff } from './preview.ts';
import { createInstances, createStackSet, describeStackSet, stackSetAction, updateStackSet } from './stackset.ts';
import { type InstanceResult, type InstanceTargets, type OperationReport, type StackSetRequest } from './stackset.ts';
import { OperationMayStillRun, settingsOnUpdate } from './stackset.ts';
import { AUTO_DEPLOYMENT_CHOICES, AUTO_DEPLOYMENT_VALUES, inheritedSettings } from './stackset-settings.ts';
import { settingChanges, type AutoDeploymentChoice, type StackSetSettings } from './stackset-settings.ts';

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
    'Create or update the agency-collector and agency-registration StackSets and deploy them to agency accounts and Regions (onboarding them first).',
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
      defaultText: "AWSCloudFormationStackSetAdministrationRole; an existing StackSet's own",
    }),
    text('execution-role-name', {
      arg: 'NAME',
      help: 'self-managed: execution role',
      check: roleNameRule,
      defaultText: "AWSCloudFormationStackSetExecutionRole; an existing StackSet's own",
    }),
    choice('auto-deployment', {
      help: 'service-managed: deploy to accounts that join the OUs (enabled-retain-stacks: keep the stacks of accounts that leave)',
      values: AUTO_DEPLOYMENT_VALUES,
      arg: 'MODE',
      defaultText: "enabled; an existing StackSet's own",
    }),
    callAsOption('DELEGATED_ADMIN when run from a delegated administrator account'),
    templateUrlOption('published agency-collector template (default: generated/templates/agency-collector.json)'),
    text('registration-template-url', {
      arg: 'URL',
      help: 'published agency-registration template (default: generated/templates/agency-registration.json)',
      check: v.s3TemplateUrl,
    }),
    text('central-account', {
      arg: 'ACCOUNT',
      help: 'CentralAccountId parameter (agency-collector)',
      check: v.accountId,
      defaultText: "the caller's account",
    }),
    text('central-region', {
      arg: 'REGION',
      help: 'CentralRegion parameter (both templates)',
      check: v.region,
      defaultText: '--region',
    }),
    text('reconcile-schedule', {
      arg: 'EXPR',
      help: 'ReconcileSchedule parameter (agency-collector), e.g. "rate(1 hour)"',
      check: scheduleRule,
    }),
    choice('zero-touch', {
      help: 'EnableZeroTouchRegistration parameter (agency-registration)',
      values: ['true', 'false'],
    }),
    text('opt-in-tag-key', { arg: 'KEY', help: 'OptInTagKey parameter (agency-registration)', check: tagKeyRule }),
    text('opt-in-tag-value', {
      arg: 'VALUE',
      help: 'OptInTagValue parameter (agency-registration)',
      check: tagValueRule,
      allowEmpty: true,
    }),
    repeatable('param', {
      arg: 'NAME=VALUE',
      help: 'any other parameter of either agency template (goes to those that declare it), e.g. AlarmEmail=ops@example.org',
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
    allowReplacementOption('resources of an agency-permissions stack while onboarding'),
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
    'On an existing StackSet, the roles and auto-deployment you do not name keep their current values; the defaults apply to a new one.',
    `At most ${STACK_INSTANCES_MAX_OUS} OUs (CreateStackInstances takes no more in one operation): target a parent OU instead.`,
    'agency-collector goes first; agency-registration is left alone when the collector operation did not succeed.',
    'Exit code 1 when any stack instance of either StackSet failed, even if the operation stayed within its failure tolerance.',
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
  if (selfManaged && given.has('auto-deployment'))
    throw new UsageError('--auto-deployment is only used with service-managed StackSets (drop --self-managed)');
  if (ous && ous.length > STACK_INSTANCES_MAX_OUS)
    throw new UsageError(
      `--ou: ${ous.length} OUs given, but CreateStackInstances takes at most ${STACK_INSTANCES_MAX_OUS} in one operation; target a parent OU (or the root) that holds them`,
    );
  if (!o.regions) throw new UsageError('--regions is required (comma-separated Region names)');
  if (o['call-as'] === 'DELEGATED_ADMIN' && selfManaged)
    throw new UsageError('--call-as DELEGATED_ADMIN works only with service-managed StackSets (drop --self-managed)');
  return { selfManaged, ous, accounts, regions: o.regions };
}

/** The parameter values this run sets, from their own flags and --param, in that order. */
export function parameterAssignments(o: Options): Assignment[] {
  const fromFlags: Array<[flag: string, name: string, value: string | undefined]> = [
    ['central-account', 'CentralAccountId', o['central-account']],
    ['central-region', 'CentralRegion', o['central-region']],
    ['reconcile-schedule', 'ReconcileSchedule', o['reconcile-schedule']],
    ['zero-touch', 'EnableZeroTouchRegistration', o['zero-touch']],
    ['opt-in-tag-key', 'OptInTagKey', o['opt-in-tag-key']],
    ['opt-in-tag-value', 'OptInTagValue', o['opt-in-tag-value']],
  ];
  const out: Assignment[] = fromFlags
    .filter(([, , value]) => value !== undefined)
    .map(([flag, name, value]) => ({ flag: `--${flag}`, name, value: value! }));
  for (const { name, value } of parseAssignments('--param', o.param)) {
    if (name === 'CentralAccountId' || name === 'CentralRegion')
      throw new UsageError(
        `--param: set ${name} with --${name === 'CentralAccountId' ? 'central-account' : 'central-region'}`,
      );
    const earlier = out.find((a) => a.name === name);
    if (earlier)
      throw new UsageError(
        `--param: ${name} is ${earlier.flag === '--param' ? 'given twice' : 'already set by its own flag'}`,
      );
    out.push({ flag: '--param', name, value });
  }
  return out;
}

export interface RolloutPlan {
  targets: InstanceTargets;
  callAs: CallAs;
  prefs: StackSetOperationPreferences;
  centralAccount?: string;
  /** agency-collector first, then agency-registration. */
  stackSets: AgencyStackSet[];
  /** Absent with --skip-onboard. */
  onboard?: OnboardSettings;
  adminRoleArn?: string;
  executionRoleName?: string;
  autoDeployment?: AutoDeploymentChoice;
  timeoutMs: number;
  dryRun: boolean;
}

/** Every input checked, the template read: nothing here calls AWS. */
export function planRollout(ctx: Context, o: Options, given: ReadonlySet<string>, centralStack: string): RolloutPlan {
  const targets = instanceTargets(o, given);
  const assignments = parameterAssignments(o);
  if (o['skip-onboard']) {
    for (const f of ['central-stack', 'concurrency'])
      if (given.has(f)) throw new UsageError(`--${f} configures onboarding and cannot be used with --skip-onboard`);
  }
  const gen = generatedDir(ctx, o['generated-dir']);
  const urls = { 'agency-collector': o['template-url'], 'agency-registration': o['registration-template-url'] };
  const stackSets = planAgencyStackSets(gen, urls, assignments);
  const timeoutMs = o['timeout-minutes'] * 60_000;
  return {
    targets,
    callAs: o['call-as'],
    prefs: operationPreferences(o, given, targets.regions),
    centralAccount: o['central-account'],
    stackSets,
    // Onboarding deploys the local agency-permissions template (--template-url names the collector's).
    onboard: o['skip-onboard']
      ? undefined
      : {
          centralStack: o['central-stack'] ?? centralStack,
          keepCentralStackOnUpdate: o['central-stack'] === undefined,
          concurrency: o.concurrency,
          timeoutMs,
          generatedDir: gen,
          allowReplacement: o['allow-replacement'],
        },
    adminRoleArn: o['administration-role-arn'],
    executionRoleName: o['execution-role-name'],
    autoDeployment: o['auto-deployment'],
    timeoutMs,
    dryRun: o['dry-run'],
  };
}

const toParameters = (values: Record<string, string>): Parameter[] =>
  Object.entries(values).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue }));

/** What a new StackSet takes from the StackSet before it (the registration StackSet from the collector's). */
export interface Inherited {
  parameters?: Record<string, string>;
  settings?: StackSetSettings;
}

/** What the registration StackSet takes from the collector's, when it is new. */
const inheritedFrom = (plan: RolloutPlan, collector: StackSet | undefined): Inherited => ({
  parameters: inheritedValues(collector?.Parameters, plan.stackSets[0]!.given),
  settings: inheritedSettings(collector),
});

/** One agency StackSet's request, once the caller's account and the home Region are known. */
export function stackSetRequest(
  plan: RolloutPlan,
  set: AgencyStackSet,
  stackSetName: string,
  caller: string,
  region: string,
  inherited: Inherited = {},
): StackSetRequest {
  // A new StackSet gets defaults for the parameters its template declares: the values the StackSet
  // before it holds (an upgrade keeps the zero-touch settings the single agency StackSet had), else
  // the caller's account and this Region. An existing one changes only what this run names, so a
  // re-run without --central-region never repoints collectors.
  const defaults: Record<string, string> = {};
  if (set.declares.has('CentralAccountId')) defaults.CentralAccountId = caller;
  if (set.declares.has('CentralRegion')) defaults.CentralRegion = region;
  for (const [name, value] of Object.entries(inherited.parameters ?? {}))
    if (set.declares.has(name)) defaults[name] = value;
  const settings = stackSetSettings(plan, caller, region, inherited.settings ?? {});
  return {
    stackSetName,
    template: set.source,
    description: STACKSET_DESCRIPTIONS[set.template],
    createParameters: toParameters({ ...defaults, ...set.given }),
    givenParameters: toParameters(set.given),
    declaredKeys: set.declaredKeys,
    permissionModel: plan.targets.selfManaged ? 'SELF_MANAGED' : 'SERVICE_MANAGED',
    ...settings,
    callAs: plan.callAs,
    prefs: plan.prefs,
    timeoutMs: plan.timeoutMs,
  };
}

/**
 * Roles (self-managed) or AutoDeployment (service-managed): those this run names by flag, and
 * those a new StackSet gets, which are the named ones, else the StackSet before it's, else the
 * defaults (the AWSCloudFormationStackSet roles; automatic deployment that deletes the stacks of an
 * account leaving the OUs). An existing StackSet keeps what is not named (stackset-settings.ts).
 */
function stackSetSettings(plan: RolloutPlan, caller: string, region: string, inherited: StackSetSettings) {
  if (plan.targets.selfManaged) {
    const given = {
      ...(plan.adminRoleArn ? { AdministrationRoleARN: plan.adminRoleArn } : {}),
      ...(plan.executionRoleName ? { ExecutionRoleName: plan.executionRoleName } : {}),
    };
    const createSettings = {
      AdministrationRoleARN:
        inherited.AdministrationRoleARN ??
        `arn:${partitionOf(region)}:iam::${caller}:role/AWSCloudFormationStackSetAdministrationRole`,
      ExecutionRoleName: inherited.ExecutionRoleName ?? 'AWSCloudFormationStackSetExecutionRole',
      ...given,
    };
    return { givenSettings: given, createSettings };
  }
  const given = plan.autoDeployment ? { AutoDeployment: { ...AUTO_DEPLOYMENT_CHOICES[plan.autoDeployment] } } : {};
  const AutoDeployment = given.AutoDeployment ?? inherited.AutoDeployment ?? { ...AUTO_DEPLOYMENT_CHOICES.enabled };
  return { givenSettings: given, createSettings: { AutoDeployment } };
}

/** --dry-run only: what one StackSet change would do. */
export interface StackSetPreview {
  stackSet: { name: string; action: string; permissionModel: string };
  parameters: ReturnType<typeof parameterDiff>;
  /** Roles or auto-deployment: each one the change sets, old and new (every one, for a new StackSet). */
  settings: ReturnType<typeof settingChanges>;
  resources: ReturnType<typeof templateDiff>;
  instances: { create: string; existing: number; updatedByTheStackSetChange: number };
}

/** What happened (or, with --dry-run, would happen) to one agency StackSet. */
export interface StackSetOutcome {
  template: AgencyTemplateName;
  stackSetName: string;
  /**
   * `dry run` with --dry-run (see preview); `failed` when an AWS call threw; `unknown` when an
   * operation was started but following it failed, so it may still be running (see reason).
   */
  stackSet: 'created' | 'updated' | 'unchanged' | 'not started' | 'failed' | 'unknown' | 'dry run';
  operations: OperationReport[];
  /** Why no stack instances were deployed, or what failed. */
  reason?: string;
  preview?: StackSetPreview;
}

export interface RolloutResult {
  dryRun: boolean;
  /** agency-collector first, then agency-registration. */
  stackSets: StackSetOutcome[];
  onboarded?: Array<{ account: string; result: string }>;
  operationPreferences: StackSetOperationPreferences;
  /** --dry-run only: what onboarding would change. */
  onboardPreview?: Awaited<ReturnType<typeof previewOnboard>>;
}

type RolloutNames = {
  stackSetName: string;
  registrationStackSetName: string;
  agencyPermissionsStackName: (a: string) => string;
};

const stackSetNameOf = (names: RolloutNames, template: AgencyTemplateName): string =>
  template === 'agency-collector' ? names.stackSetName : names.registrationStackSetName;

/** Onboards the target agencies first; a failure stops the rollout before the StackSet changes. */
async function onboardFirst(
  ctx: Context,
  clients: Clients,
  region: string,
  plan: RolloutPlan,
  stackNameOf: (a: string) => string,
  caller: string,
  json: boolean,
) {
  const { accounts, stackOf, hubLeftOut } = await agenciesToOnboard(
    ctx,
    clients,
    region,
    plan.targets,
    stackNameOf,
    caller,
  );
  progress(ctx, `onboarding ${accounts.length} agenc${accounts.length === 1 ? 'y' : 'ies'} before the rollout`);
  const outcomes = await onboardAccounts(ctx, clients, region, accounts, plan.onboard!, stackOf);
  const failed = outcomes.filter(notDone);
  if (failed.length) {
    reportOutcomes(ctx, outcomes, json, { phase: 'onboard' });
    throw new OperationError(
      `onboarding failed for ${failed.map((f) => f.account).join(', ')}; the rollout was not started`,
    );
  }
  return { outcomes: outcomes.map((o) => ({ account: o.account, result: o.result })), hubLeftOut };
}

/**
 * The agencies onboarding reaches, as `onboard` finds them: never the hub's own account, and each
 * agency's permissions stack whatever its name (agency-stacks.ts).
 */
async function agenciesToOnboard(
  ctx: Context,
  clients: Clients,
  region: string,
  t: InstanceTargets,
  stackNameOf: (a: string) => string,
  caller: string,
) {
  const targets = t.accounts ? { agencies: t.accounts } : { ous: t.ous };
  const reached = await resolveAccounts(clients, region, targets);
  const accounts = withoutHub(ctx, reached, caller, targets, 'accounts');
  const stackOf = await permissionsStackNames(ctx, clients.cloudformation(region), stackNameOf, accounts);
  return { accounts, stackOf, hubLeftOut: reached.includes(caller) };
}

/**
 * The stack instances leave out the hub's own account when onboarding left it out of the OUs:
 * StackSets skip only the management account, so a hub that is a member or the delegated
 * administrator would otherwise get agency stacks. Pure.
 */
export const withoutHubInstances = (t: InstanceTargets, hub: string, hubLeftOut: boolean): InstanceTargets =>
  hubLeftOut && t.ous && !t.accounts ? { ...t, excludeAccounts: [...new Set([...(t.excludeAccounts ?? []), hub])] } : t;

/** "OUs ou-… (the whole organization for a root) × Regions", for the target line and the preview. */
export function targetText(t: InstanceTargets): string {
  const where = t.ous
    ? `OUs ${t.ous.join(', ')}${t.ous.some((x) => x.startsWith('r-')) ? ' (a root: the whole organization)' : ''}${t.accounts ? `, only accounts ${t.accounts.join(', ')}` : ''}${t.excludeAccounts?.length ? `, leaving out ${t.excludeAccounts.join(', ')}` : ''}`
    : `accounts ${t.accounts!.join(', ')}`;
  return `${where} in ${t.regions.join(', ')}`;
}

/** The dry run: every change the rollout would make, from read-only calls. */
async function previewRollout(
  ctx: Context,
  clients: Clients,
  region: string,
  plan: RolloutPlan,
  names: RolloutNames,
  caller: string,
  existingSets: Array<StackSet | undefined>,
): Promise<RolloutResult> {
  announceTarget(ctx, caller, region, `dry run: rollout to ${targetText(plan.targets)} (nothing is changed)`);
  const cfn = clients.cloudformation(region);
  const t = plan.targets;
  const toOnboard = plan.onboard
    ? await agenciesToOnboard(ctx, clients, region, t, names.agencyPermissionsStackName, caller)
    : undefined;
  const onboarding =
    plan.onboard && toOnboard
      ? await previewOnboard(clients, region, toOnboard.accounts, plan.onboard, toOnboard.stackOf)
      : [];
  const stackSets: StackSetOutcome[] = [];
  const inherited = inheritedFrom(plan, existingSets[0]);
  for (const [i, set] of plan.stackSets.entries()) {
    const name = stackSetNameOf(names, set.template);
    const req = stackSetRequest(plan, set, name, caller, region, i === 0 ? {} : inherited);
    const preview = await previewStackSet(
      cfn,
      req,
      existingSets[i],
      withoutHubInstances(t, caller, toOnboard?.hubLeftOut === true),
    );
    stackSets.push({ template: set.template, stackSetName: name, stackSet: 'dry run', operations: [], preview });
  }
  return { dryRun: true, stackSets, operationPreferences: plan.prefs, onboardPreview: onboarding };
}

/** One StackSet's preview: its action, parameter and resource changes, and its stack instances. */
async function previewStackSet(
  cfn: ReturnType<Clients['cloudformation']>,
  req: StackSetRequest,
  existing: StackSet | undefined,
  targets: InstanceTargets,
): Promise<StackSetPreview> {
  const action = stackSetAction(existing, req);
  const next = 'TemplateBody' in req.template ? JSON.parse(req.template.TemplateBody) : undefined;
  const current = existing?.TemplateBody ? JSON.parse(existing.TemplateBody) : undefined;
  const instances = existing ? await listInstances(cfn, req.stackSetName, req.callAs) : [];
  return {
    stackSet: { name: req.stackSetName, action, permissionModel: req.permissionModel },
    parameters: existing
      ? parameterDiff(
          existing.Parameters,
          Object.fromEntries(req.givenParameters.map((p) => [p.ParameterKey!, p.ParameterValue!])),
        )
      : req.createParameters.map((p) => ({ key: p.ParameterKey!, to: p.ParameterValue! })),
    settings: settingChanges(existing, existing ? settingsOnUpdate(existing, req) : req.createSettings),
    resources: next ? templateDiff(current, next) : [],
    instances: {
      create: targetText(targets),
      existing: instances.length,
      updatedByTheStackSetChange: action === 'update' ? instances.length : 0,
    },
  };
}

async function executeRollout(
  ctx: Context,
  clients: Clients,
  region: string,
  plan: RolloutPlan,
  names: RolloutNames,
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
  const setNames = plan.stackSets.map((set) => stackSetNameOf(names, set.template));
  const existing = await Promise.all(setNames.map((n) => describeStackSet(cfn, n, plan.callAs)));
  // A StackSet of the other permission model is refused first: nothing else would help.
  plan.stackSets.forEach((set, i) =>
    stackSetAction(existing[i], stackSetRequest(plan, set, setNames[i]!, caller, region, {})),
  );
  const instances = await Promise.all(
    setNames.map((n, i) => (existing[i] ? listInstances(cfn, n, plan.callAs) : Promise.resolve([]))),
  );
  await refuseUnreachedCollectors(clients, region, plan, setNames, instances);
  if (plan.dryRun) return previewRollout(ctx, clients, region, plan, names, caller, existing);
  announceTarget(ctx, caller, region, `rollout of StackSets ${setNames.join(' then ')} to ${targetText(plan.targets)}`);
  const onboarding = plan.onboard
    ? await onboardFirst(ctx, clients, region, plan, names.agencyPermissionsStackName, caller, json)
    : undefined;
  const targets = withoutHubInstances(plan.targets, caller, onboarding?.hubLeftOut === true);
  const stackSets = await deployStackSets(ctx, cfn, { ...plan, targets }, setNames, existing, {
    caller,
    region,
    instances,
  });
  return { dryRun: false, stackSets, onboarded: onboarding?.outcomes, operationPreferences: plan.prefs };
}

const instanceKey = (i: { Account?: string; Region?: string }) => `${i.Account}/${i.Region}`;

/**
 * Every collector stack instance without a registration stack instance beside it must be in this
 * run's targets: the collector's update reaches every instance it has (on an upgrade from the
 * single agency template it removes their register document and association), while registration
 * is deployed to the targets only. Decided from the instances, so a re-run after a failed step is
 * held to it too. An instance deployed through a child OU records that OU; a run naming its parent
 * reaches it, so OUs are resolved to accounts before refusing. Read-only: refused before any change.
 */
async function refuseUnreachedCollectors(
  clients: Clients,
  region: string,
  plan: RolloutPlan,
  setNames: string[],
  instances: StackInstanceSummary[][],
): Promise<void> {
  const registered = new Set(instances[1]!.map(instanceKey));
  const pending = instances[0]!.filter((i) => !registered.has(instanceKey(i)));
  let outside = instancesOutsideTargets(pending, plan.targets);
  if (outside.length && plan.targets.ous && !plan.targets.selfManaged) {
    const reached = new Set(await activeAccountsUnder(clients.organizations(region), plan.targets.ous));
    outside = instancesOutsideTargets(pending, plan.targets, reached);
  }
  if (!outside.length) return;
  const shown = outside.slice(0, 10).join(', ') + (outside.length > 10 ? `, and ${outside.length - 10} more` : '');
  throw new OperationError(
    `StackSet ${setNames[0]} has stack instances with no ${setNames[1]} stack instance beside them that this rollout does not target (${shown}). Updating ${setNames[0]} reaches all of its instances (on an upgrade it removes their register document), so target them too (their OUs or accounts, and Regions). Nothing was changed.`,
  );
}

/** Whether a StackSet's outcome keeps the next one from deploying stack instances. */
const blocksNext = (s: StackSetOutcome): boolean =>
  s.reason !== undefined || s.operations.some((op) => op.status !== 'SUCCEEDED');

/** Accounts with a collector stack instance that did not succeed in this run: registration skips them. */
const failedAccounts = (s: StackSetOutcome): string[] =>
  [
    ...new Set(
      latestResults(s.operations)
        .filter((r) => r.status !== 'SUCCEEDED')
        .map((r) => r.account),
    ),
  ].sort();

/**
 * Creates every StackSet that does not exist yet first (CreateStackSet deploys nothing), so the
 * registration StackSet holds the settings the collector StackSet had before its update even if a
 * later step fails and the run is repeated. Then, in order, updates each and adds its stack
 * instances. A collector operation that did not succeed keeps registration from deploying; an
 * account whose collector instance failed within the failure tolerance is left out of
 * registration. An AWS error is recorded with what was already done.
 */
async function deployStackSets(
  ctx: Context,
  cfn: ReturnType<Clients['cloudformation']>,
  plan: RolloutPlan,
  setNames: string[],
  existing: Array<StackSet | undefined>,
  at: { caller: string; region: string; instances: StackInstanceSummary[][] },
): Promise<StackSetOutcome[]> {
  const inherited = inheritedFrom(plan, existing[0]);
  const reqs = plan.stackSets.map((set, i) =>
    stackSetRequest(plan, set, setNames[i]!, at.caller, at.region, i === 0 ? {} : inherited),
  );
  // An unchanged StackSet with OUTDATED stack instances (an earlier update that failed there; the
  // StackSet itself keeps the new template, per the UpdateStackSet reference) is updated again,
  // which re-applies it to every instance.
  const actions = reqs.map((req, i) => {
    const action = stackSetAction(existing[i], req);
    return action === 'unchanged' && at.instances[i]!.some((x) => x.Status === 'OUTDATED') ? 'update' : action;
  });
  await declaredByPublishedTemplates(
    cfn,
    reqs.filter((_, i) => actions[i] === 'update'),
  );
  const created = await createMissing(
    ctx,
    cfn,
    reqs,
    actions,
    plan.stackSets.map((set) => set.template),
  );
  if (created.error) return created.error;
  const outcomes: StackSetOutcome[] = [];
  for (const [i, set] of plan.stackSets.entries()) {
    const base = { template: set.template, stackSetName: setNames[i]! };
    const blocker = outcomes.find(blocksNext);
    if (blocker) {
      const reason = `no stack instances deployed: StackSet ${blocker.stackSetName} did not succeed; re-run rollout after fixing it`;
      outcomes.push({ ...base, stackSet: actions[i] === 'create' ? 'created' : 'not started', operations: [], reason });
      continue;
    }
    const skip = outcomes.flatMap(failedAccounts);
    outcomes.push(await deployOne(ctx, cfn, reqs[i]!, existing[i], actions[i]!, plan.targets, skip, base));
  }
  return outcomes;
}

/** The StackSets that do not exist yet, defined in order; an error stops there and is reported. */
async function createMissing(
  ctx: Context,
  cfn: ReturnType<Clients['cloudformation']>,
  reqs: StackSetRequest[],
  actions: string[],
  templates: AgencyTemplateName[],
): Promise<{ error?: StackSetOutcome[] }> {
  const done: boolean[] = [];
  for (const [i, req] of reqs.entries()) {
    if (actions[i] !== 'create') continue;
    try {
      await createStackSet(ctx, cfn, req);
      done[i] = true;
    } catch (err) {
      return {
        error: reqs.map((r, j) => ({
          template: templates[j]!,
          stackSetName: r.stackSetName,
          stackSet: j === i ? 'failed' : done[j] ? 'created' : 'not started',
          operations: [],
          reason:
            j === i
              ? `creating it failed: ${errorText(err)}`
              : `no stack instances deployed: creating StackSet ${req.stackSetName} failed`,
        })),
      };
    }
  }
  return {};
}

/** One StackSet: its update when it changed, then its stack instances (accounts in `skip` left out). */
async function deployOne(
  ctx: Context,
  cfn: ReturnType<Clients['cloudformation']>,
  req: StackSetRequest,
  existing: StackSet | undefined,
  action: 'create' | 'update' | 'unchanged',
  targets: InstanceTargets,
  skip: string[],
  base: Pick<StackSetOutcome, 'template' | 'stackSetName'>,
): Promise<StackSetOutcome> {
  const done = action === 'create' ? 'created' : action === 'update' ? 'updated' : 'unchanged';
  const operations: OperationReport[] = [];
  try {
    if (action === 'update') operations.push(await updateStackSet(ctx, cfn, req, existing!));
    else if (action === 'unchanged') progress(ctx, `StackSet ${req.stackSetName} template and parameters unchanged`);
    const reach = withoutAccounts(targets, skip);
    if (reach) operations.push(await createInstances(ctx, cfn, req, reach));
    const reason = skip.length
      ? `no stack instances in ${skip.join(', ')}: their collector stack instance did not succeed; re-run rollout after fixing it`
      : undefined;
    return { ...base, stackSet: done, operations, ...(reason ? { reason } : {}) };
  } catch (err) {
    const step = operations.length || action !== 'update' ? 'adding its stack instances' : 'updating it';
    const prefix = action === 'create' ? 'created; ' : '';
    if (err instanceof OperationMayStillRun)
      return {
        ...base,
        stackSet: 'unknown',
        operations: [...operations, err.report],
        reason: `${prefix}${step}: ${err.message}`,
      };
    return { ...base, stackSet: 'failed', operations, reason: `${prefix}${step} failed: ${errorText(err)}` };
  }
}

/** The targets without some accounts (undefined when none is left). Pure. */
export function withoutAccounts(t: InstanceTargets, skip: readonly string[]): InstanceTargets | undefined {
  if (!skip.length) return t;
  if (t.accounts) {
    const accounts = t.accounts.filter((a) => !skip.includes(a));
    return accounts.length ? { ...t, accounts } : undefined;
  }
  return { ...t, excludeAccounts: [...new Set([...(t.excludeAccounts ?? []), ...skip])] };
}

/**
 * With --template-url, an update drops the parameters the published template does not declare
 * (CloudFormation refuses them): GetTemplateSummary reads them, so a published copy of another
 * build is handled as what it is.
 */
async function declaredByPublishedTemplates(cfn: ReturnType<Clients['cloudformation']>, reqs: StackSetRequest[]) {
  for (const req of reqs) {
    if (!('TemplateURL' in req.template)) continue;
    const summary = await cfn.send(new GetTemplateSummaryCommand({ TemplateURL: req.template.TemplateURL }));
    req.declaredKeys = new Set((summary.Parameters ?? []).flatMap((p) => (p.ParameterKey ? [p.ParameterKey] : [])));
  }
}

/** The latest result per account/Region wins (an update may fail where a later create succeeds). */
export function latestResults(operations: OperationReport[]): InstanceResult[] {
  const latest = new Map<string, InstanceResult>();
  for (const op of operations) for (const r of op.results) latest.set(`${r.account}/${r.region}`, r);
  return [...latest.values()];
}

function printRolloutPreview(ctx: Context, r: RolloutResult): number {
  if (r.onboardPreview?.length) {
    ctx.stdout('onboarding (agency-permissions stacks):\n');
    printStackPreviews(ctx, r.onboardPreview);
  }
  for (const { preview: p } of r.stackSets) {
    if (!p) continue;
    ctx.stdout(`\n${p.stackSet.action.toUpperCase()} StackSet ${p.stackSet.name} (${p.stackSet.permissionModel})\n`);
    for (const c of p.parameters) ctx.stdout(`  parameter ${c.key}: ${c.from ?? '(unset)'} -> ${c.to}\n`);
    for (const c of p.settings) ctx.stdout(`  ${c.key}: ${c.from ?? '(unset)'} -> ${c.to}\n`);
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
  }
  const prefs = Object.entries(r.operationPreferences).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`);
  ctx.stdout(
    `operation preferences: ${prefs.join(' ') || 'CloudFormation defaults (one account at a time, no failure tolerated)'}\n`,
  );
  return EXIT.ok;
}

/** One StackSet's failed and cancelled stack instances, and whether it counts as failed. */
function instanceOutcome(s: StackSetOutcome) {
  const latest = latestResults(s.operations);
  const failed = latest
    .filter((x) => x.status === 'FAILED')
    .sort((a, b) => (a.account + a.region).localeCompare(b.account + b.region));
  const cancelled = latest.filter((x) => x.status === 'CANCELLED').length;
  const bad = failed.length > 0 || s.reason !== undefined || s.operations.some((o) => o.status !== 'SUCCEEDED');
  return { failed, cancelled, bad };
}

function printStackSetOutcome(ctx: Context, s: StackSetOutcome): void {
  const { failed, cancelled } = instanceOutcome(s);
  ctx.stdout(`StackSet ${s.stackSetName}: ${s.stackSet}${s.reason ? ` (${s.reason})` : ''}\n`);
  for (const op of s.operations) {
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
  if (cancelled)
    ctx.stdout(
      `${cancelled} stack instance(s) were cancelled (failure tolerance reached): re-run rollout after fixing the failures\n`,
    );
}

/** Exit 1 when any stack instance of either StackSet failed, an operation did not succeed, or a StackSet was not started. */
export function reportRollout(ctx: Context, r: RolloutResult, json: boolean): number {
  if (r.dryRun && json) {
    ctx.stdout(`${JSON.stringify(r, null, 2)}\n`);
    return EXIT.ok;
  }
  if (r.dryRun) return printRolloutPreview(ctx, r);
  const outcomes = r.stackSets.map((s) => ({ ...s, ...instanceOutcome(s) }));
  const code = outcomes.some((s) => s.bad) ? EXIT.failed : EXIT.ok;
  if (json) {
    const stackSets = outcomes.map(({ bad: _, ...s }) => s);
    const operations = r.stackSets.flatMap((s) => s.operations.map((op) => ({ stackSetName: s.stackSetName, ...op })));
    const failed = outcomes.flatMap((s) => s.failed.map((f) => ({ stackSetName: s.stackSetName, ...f })));
    const cancelled = outcomes.reduce((n, s) => n + s.cancelled, 0);
    ctx.stdout(`${JSON.stringify({ ...r, stackSets, operations, failed, cancelled }, null, 2)}\n`);
    return code;
  }
  for (const s of r.stackSets) printStackSetOutcome(ctx, s);
  return code;
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
