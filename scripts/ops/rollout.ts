// `ssm-hub rollout`: creates or updates the agency-collector StackSet and its stack instances,
// waits on each operation with a live per-account/per-Region view, and ends with a table of
// every stack instance that failed, so nothing is hidden behind "operation failed".
import {
  CreateStackInstancesCommand,
  CreateStackSetCommand,
  DescribeStackSetCommand,
  DescribeStackSetOperationCommand,
  ListStackSetOperationResultsCommand,
  UpdateStackSetCommand,
  type CallAs,
  type CloudFormationClient,
  type Parameter,
  type StackSetOperationPreferences,
  type StackSetOperationResultSummary,
} from '@aws-sdk/client-cloudformation';
import { randomUUID } from 'node:crypto';
import { callerAccount, makeClients, partitionOf, resolveRegion } from './aws.ts';
import {
  defaultContext,
  list,
  progress,
  runCommand,
  str,
  table,
  type CommandSpec,
  type Context,
  type Flags,
} from './cli-kit.ts';
import { GENERATED_DIR_OPTION, generatedDir, loadConfig } from './common.ts';
import { describeError, EXIT, OperationError, UsageError } from './errors.ts';
import { checkParameter, parseAssignments, readTemplate, templateBodyOrUrl } from './generated.ts';
import { onboardAccounts, parseOnboardSettings, reportOutcomes, resolveAccounts } from './onboard.ts';
import { updateParameters } from './stacks.ts';
import * as v from './validate.ts';

export const spec: CommandSpec = {
  name: 'rollout',
  summary:
    'Create or update the agency-collector StackSet and deploy it to agency accounts and Regions (onboarding them first).',
  usage: [
    '--ou ou-xxxx-xxxxxxxx[,…] --regions us-east-1,us-west-2 [options]      (service-managed, auto-deployment)',
    '--ou ou-… --accounts 111111111111,… --regions …                   (service-managed, only those accounts)',
    '--self-managed --accounts 111111111111,… --regions … [options]',
  ],
  options: [
    { name: 'ou', type: 'string', arg: 'ou-…,…', help: 'target organizational units (or root r-…); service-managed' },
    {
      name: 'accounts',
      type: 'string',
      arg: 'ACCOUNT,…',
      help: 'target accounts (self-managed; with --ou, only these accounts of the OUs)',
    },
    { name: 'regions', type: 'string', arg: 'r1,r2', help: 'Regions to deploy stack instances in (required)' },
    {
      name: 'self-managed',
      type: 'boolean',
      help: 'self-managed permissions instead of service-managed (Organizations)',
    },
    {
      name: 'administration-role-arn',
      type: 'string',
      arg: 'ARN',
      help: 'self-managed: admin role (default: AWSCloudFormationStackSetAdministrationRole)',
    },
    {
      name: 'execution-role-name',
      type: 'string',
      arg: 'NAME',
      help: 'self-managed: execution role (default: AWSCloudFormationStackSetExecutionRole)',
    },
    {
      name: 'call-as',
      type: 'string',
      arg: 'SELF|DELEGATED_ADMIN',
      help: 'DELEGATED_ADMIN when run from a delegated administrator account',
    },
    {
      name: 'template-url',
      type: 'string',
      arg: 'URL',
      help: 'published agency-collector template (default: generated/templates/agency-collector.json)',
    },
    {
      name: 'central-account',
      type: 'string',
      arg: 'ACCOUNT',
      help: "CentralAccountId parameter (default: the caller's account)",
    },
    { name: 'central-region', type: 'string', arg: 'REGION', help: 'CentralRegion parameter (default: --region)' },
    {
      name: 'reconcile-schedule',
      type: 'string',
      arg: 'EXPR',
      help: 'ReconcileSchedule parameter, e.g. "rate(1 hour)"',
    },
    { name: 'zero-touch', type: 'string', arg: 'true|false', help: 'EnableZeroTouchRegistration parameter' },
    { name: 'opt-in-tag-key', type: 'string', arg: 'KEY', help: 'OptInTagKey parameter' },
    { name: 'opt-in-tag-value', type: 'string', arg: 'VALUE', help: 'OptInTagValue parameter' },
    {
      name: 'param',
      type: 'string',
      arg: 'NAME=VALUE',
      multiple: true,
      help: 'any other agency-collector parameter, e.g. AlarmEmail=ops@example.org (repeatable)',
    },
    {
      name: 'failure-tolerance-count',
      type: 'string',
      arg: 'N',
      help: 'accounts per Region that may fail before the Region stops (0–1000)',
    },
    { name: 'failure-tolerance-percentage', type: 'string', arg: 'N', help: 'same, as a percentage (0–100)' },
    { name: 'max-concurrent-count', type: 'string', arg: 'N', help: 'accounts deployed at once per Region (1–1000)' },
    { name: 'max-concurrent-percentage', type: 'string', arg: 'N', help: 'same, as a percentage (1–100)' },
    {
      name: 'concurrency-mode',
      type: 'string',
      arg: 'MODE',
      help: 'STRICT_FAILURE_TOLERANCE (default) or SOFT_FAILURE_TOLERANCE',
    },
    { name: 'region-concurrency', type: 'string', arg: 'TYPE', help: 'SEQUENTIAL (default) or PARALLEL' },
    { name: 'region-order', type: 'string', arg: 'r1,r2', help: 'order of Regions (each must be in --regions)' },
    { name: 'skip-onboard', type: 'boolean', help: 'do not create/update the agency-permissions stacks first' },
    { name: 'central-stack', type: 'string', arg: 'NAME', help: 'onboarding: CentralManagerStackName parameter' },
    { name: 'concurrency', type: 'string', arg: 'N', help: 'onboarding: stacks deployed at once, 1–20 (default 4)' },
    {
      name: 'timeout-minutes',
      type: 'string',
      arg: 'N',
      help: 'give up waiting on one stack or operation after N minutes, 1–720 (default 60)',
    },
    GENERATED_DIR_OPTION,
  ],
  notes: [
    'Operation preferences do not apply to auto-deployment (accounts that join an OU later).',
    'Exit code 1 when any stack instance failed, even if the operation stayed within its failure tolerance.',
  ],
};

const CONCURRENCY_MODES = ['STRICT_FAILURE_TOLERANCE', 'SOFT_FAILURE_TOLERANCE'] as const;
const REGION_CONCURRENCY = ['SEQUENTIAL', 'PARALLEL'] as const;
const SCHEDULE = /^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$/;
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;

export function operationPreferences(flags: Flags, regions: string[]): StackSetOperationPreferences {
  v.exclusive(flags, 'failure-tolerance-count', 'failure-tolerance-percentage');
  v.exclusive(flags, 'max-concurrent-count', 'max-concurrent-percentage');
  const prefs: StackSetOperationPreferences = {};
  const n = (flag: string, min: number, max: number) => {
    const s = str(flags, flag);
    return s === undefined ? undefined : v.integer(flag, s, min, max);
  };
  prefs.FailureToleranceCount = n('failure-tolerance-count', 0, 1000);
  prefs.FailureTolerancePercentage = n('failure-tolerance-percentage', 0, 100);
  prefs.MaxConcurrentCount = n('max-concurrent-count', 1, 1000);
  prefs.MaxConcurrentPercentage = n('max-concurrent-percentage', 1, 100);
  const mode = str(flags, 'concurrency-mode');
  if (mode) prefs.ConcurrencyMode = v.oneOf('concurrency-mode', mode, CONCURRENCY_MODES);
  const rc = str(flags, 'region-concurrency');
  if (rc) prefs.RegionConcurrencyType = v.oneOf('region-concurrency', rc, REGION_CONCURRENCY);
  const order = str(flags, 'region-order');
  if (order) {
    prefs.RegionOrder = v.regions('region-order', order);
    for (const r of prefs.RegionOrder) {
      if (!regions.includes(r))
        throw new UsageError(`--region-order: ${r} is not one of --regions (${regions.join(', ')})`);
    }
  }
  return Object.fromEntries(Object.entries(prefs).filter(([, x]) => x !== undefined)) as StackSetOperationPreferences;
}

interface RolloutPlan {
  ous?: string[];
  accounts?: string[];
  regions: string[];
  selfManaged: boolean;
  adminRoleArn?: string;
  executionRoleName?: string;
  callAs: CallAs;
  prefs: StackSetOperationPreferences;
  centralAccount?: string;
  centralRegion?: string;
  extraParams: Record<string, string>;
  skipOnboard: boolean;
  timeoutMs: number;
}

export function parsePlan(flags: Flags): RolloutPlan {
  const ouFlag = str(flags, 'ou');
  const accountsFlag = str(flags, 'accounts');
  const selfManaged = flags['self-managed'] === true;
  const ous = ouFlag ? v.ouIds('ou', ouFlag) : undefined;
  const accounts = accountsFlag ? v.accountIds('accounts', accountsFlag) : undefined;
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
    if (flags['administration-role-arn'] !== undefined)
      throw new UsageError('--administration-role-arn is only used with --self-managed');
    if (flags['execution-role-name'] !== undefined)
      throw new UsageError('--execution-role-name is only used with --self-managed');
  }
  const regionsFlag = str(flags, 'regions');
  if (!regionsFlag) throw new UsageError('--regions is required (comma-separated Region names)');
  const regions = v.regions('regions', regionsFlag);
  const callAs = v.oneOf('call-as', str(flags, 'call-as') ?? 'SELF', ['SELF', 'DELEGATED_ADMIN'] as const);
  if (callAs === 'DELEGATED_ADMIN' && selfManaged)
    throw new UsageError('--call-as DELEGATED_ADMIN works only with service-managed StackSets (drop --self-managed)');
  const adminRoleArn = str(flags, 'administration-role-arn');
  if (adminRoleArn && !v.IAM_ROLE_ARN.test(adminRoleArn))
    throw new UsageError(`--administration-role-arn: "${adminRoleArn}" is not an IAM role ARN`);
  const executionRoleName = str(flags, 'execution-role-name');
  if (executionRoleName && !v.ROLE_NAME.test(executionRoleName)) {
    throw new UsageError(
      `--execution-role-name: "${executionRoleName}" is not an IAM role name (1–64 of letters, digits and +=,.@_-)`,
    );
  }
  const centralAccount = str(flags, 'central-account');
  if (centralAccount) v.accountId('central-account', centralAccount);
  const centralRegion = str(flags, 'central-region');
  if (centralRegion) v.region('central-region', centralRegion);
  const extraParams: Record<string, string> = {};
  const rs = str(flags, 'reconcile-schedule');
  if (rs !== undefined) {
    if (!SCHEDULE.test(rs))
      throw new UsageError(
        `--reconcile-schedule: "${rs}" is not a schedule expression such as rate(1 hour) or cron(0 * * * ? *)`,
      );
    extraParams.ReconcileSchedule = rs;
  }
  const zt = str(flags, 'zero-touch');
  if (zt !== undefined) extraParams.EnableZeroTouchRegistration = v.oneOf('zero-touch', zt, ['true', 'false'] as const);
  const tk = str(flags, 'opt-in-tag-key');
  if (tk !== undefined) {
    if (!TAG_KEY.test(tk) || tk.toLowerCase().startsWith('aws:'))
      throw new UsageError(`--opt-in-tag-key: "${tk}" is not a valid tag key (1–128 characters SSM allows, not aws:)`);
    extraParams.OptInTagKey = tk;
  }
  const tv = flags['opt-in-tag-value'];
  if (typeof tv === 'string') {
    if (!TAG_VALUE.test(tv))
      throw new UsageError(`--opt-in-tag-value: "${tv}" is not a valid tag value (0–256 characters SSM allows)`);
    extraParams.OptInTagValue = tv;
  }
  for (const { name, value } of parseAssignments('--param', list(flags, 'param'))) {
    if (name === 'CentralAccountId' || name === 'CentralRegion')
      throw new UsageError(
        `--param: set ${name} with --${name === 'CentralAccountId' ? 'central-account' : 'central-region'}`,
      );
    if (name in extraParams) throw new UsageError(`--param: ${name} is already set by its own flag`);
    extraParams[name] = value;
  }
  const skipOnboard = flags['skip-onboard'] === true;
  for (const f of ['central-stack', 'concurrency']) {
    if (skipOnboard && flags[f] !== undefined)
      throw new UsageError(`--${f} configures onboarding and cannot be used with --skip-onboard`);
  }
  const tmo = str(flags, 'timeout-minutes');
  return {
    ous,
    accounts,
    regions,
    selfManaged,
    adminRoleArn,
    executionRoleName,
    callAs,
    prefs: operationPreferences(flags, regions),
    centralAccount,
    centralRegion,
    extraParams,
    skipOnboard,
    timeoutMs: (tmo === undefined ? 60 : v.integer('timeout-minutes', tmo, 1, 720)) * 60_000,
  };
}

export interface InstanceResult {
  account: string;
  region: string;
  status: string;
  reason: string;
}

interface OperationReport {
  action: string;
  operationId: string;
  status: string;
  results: InstanceResult[];
}

async function operationResults(
  cfn: CloudFormationClient,
  stackSetName: string,
  operationId: string,
  callAs: CallAs,
): Promise<InstanceResult[]> {
  const out: StackSetOperationResultSummary[] = [];
  let NextToken: string | undefined;
  do {
    const page = await cfn.send(
      new ListStackSetOperationResultsCommand({
        StackSetName: stackSetName,
        OperationId: operationId,
        CallAs: callAs,
        NextToken,
      }),
    );
    out.push(...(page.Summaries ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return out.map((s) => ({
    account: s.Account ?? '',
    region: s.Region ?? '',
    status: s.Status ?? 'UNKNOWN',
    reason: s.StatusReason ?? s.AccountGateResult?.StatusReason ?? '',
  }));
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'STOPPED']);

/** Polls an operation, printing each account/Region whose status changed, until it ends. */
export async function waitForOperation(
  ctx: Context,
  cfn: CloudFormationClient,
  stackSetName: string,
  operationId: string,
  action: string,
  callAs: CallAs,
  timeoutMs: number,
): Promise<OperationReport> {
  const seen = new Map<string, string>();
  const deadline = ctx.now().getTime() + timeoutMs;
  let lastOpStatus = '';
  for (;;) {
    const op = await cfn.send(
      new DescribeStackSetOperationCommand({ StackSetName: stackSetName, OperationId: operationId, CallAs: callAs }),
    );
    const status = op.StackSetOperation?.Status ?? 'UNKNOWN';
    const results = await operationResults(cfn, stackSetName, operationId, callAs);
    for (const r of results) {
      const key = `${r.account}/${r.region}`;
      if (seen.get(key) !== r.status) {
        seen.set(key, r.status);
        progress(
          ctx,
          `  ${r.account}  ${r.region.padEnd(14)}  ${r.status}${r.reason && r.status !== 'SUCCEEDED' ? `: ${r.reason}` : ''}`,
        );
      }
    }
    const count = (s: string) => results.filter((r) => r.status === s).length;
    const line = `${action} ${operationId}: ${status} (${count('SUCCEEDED')} succeeded, ${count('FAILED')} failed, ${count('RUNNING') + count('PENDING')} in progress)`;
    if (line !== lastOpStatus) progress(ctx, line);
    lastOpStatus = line;
    if (TERMINAL.has(status)) return { action, operationId, status, results };
    if (ctx.now().getTime() > deadline) {
      return {
        action,
        operationId,
        status: `TIMED_OUT (last status ${status}; the operation keeps running in AWS)`,
        results,
      };
    }
    await ctx.sleep(ctx.pollMs);
  }
}

/** True when every parameter this run sets already has that value in the StackSet. */
const givenParamsUnchanged = (existing: Parameter[] = [], given: Parameter[]) =>
  given.every((g) => existing.some((e) => e.ParameterKey === g.ParameterKey && e.ParameterValue === g.ParameterValue));

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (flags) => {
    const { names } = loadConfig(ctx, flags);
    const plan = parsePlan(flags);
    const gen = generatedDir(ctx, flags);
    const templateUrl = str(flags, 'template-url');
    if (templateUrl) v.s3TemplateUrl('template-url', templateUrl);
    const template = templateBodyOrUrl(gen, 'agency-collector', templateUrl);
    if (!templateUrl) {
      const json = readTemplate(gen, 'agency-collector').json;
      for (const p of ['CentralAccountId', 'CentralRegion']) {
        if (!json.Parameters?.[p])
          throw new UsageError(`agency-collector template declares no ${p} parameter: rebuild with \`npm run build\``);
      }
      for (const [name, value] of Object.entries(plan.extraParams))
        checkParameter('--param', 'agency-collector', json, name, value);
    }
    const onboardSettings = plan.skipOnboard ? undefined : parseOnboardSettings(flags, gen, names.centralStackName);
    const profile = str(flags, 'profile');
    const region = await resolveRegion(ctx, str(flags, 'region'), profile);

    // Input is valid; from here on we talk to AWS.
    const clients = makeClients(ctx, profile);
    const cfn = clients.cloudformation(region);
    const caller = await callerAccount(clients, region);
    const centralAccount = plan.centralAccount ?? caller;
    if (!plan.skipOnboard && centralAccount !== caller) {
      throw new UsageError(
        `onboarding creates stacks in the caller's account ${caller}, but --central-account is ${centralAccount}: run \`onboard\` with the central account's credentials, then rollout with --skip-onboard`,
      );
    }

    let onboarded: unknown;
    if (onboardSettings) {
      const accounts = await resolveAccounts(
        clients,
        region,
        plan.accounts ? { agencies: plan.accounts } : { ous: plan.ous },
      );
      progress(ctx, `onboarding ${accounts.length} agenc${accounts.length === 1 ? 'y' : 'ies'} before the rollout`);
      const outcomes = await onboardAccounts(
        ctx,
        clients,
        region,
        accounts,
        onboardSettings,
        names.agencyPermissionsStackName,
      );
      const failed = outcomes.filter((o) => o.result === 'failed');
      if (failed.length) {
        reportOutcomes(ctx, outcomes, flags['json'] === true, { phase: 'onboard' });
        throw new OperationError(
          `onboarding failed for ${failed.map((f) => f.account).join(', ')}; the rollout was not started`,
        );
      }
      onboarded = outcomes.map((o) => ({ account: o.account, result: o.result }));
    }

    const stackSetName = names.stackSetName;
    const toParameters = (values: Record<string, string>): Parameter[] =>
      Object.entries(values).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue }));
    // A new StackSet gets defaults (the caller's account, this Region); an existing one changes
    // only what this run names, so a re-run without --central-region never repoints collectors.
    const parameters = toParameters({
      CentralAccountId: centralAccount,
      CentralRegion: plan.centralRegion ?? region,
      ...plan.extraParams,
    });
    const givenParameters = toParameters({
      ...(plan.centralAccount ? { CentralAccountId: plan.centralAccount } : {}),
      ...(plan.centralRegion ? { CentralRegion: plan.centralRegion } : {}),
      ...plan.extraParams,
    });
    const declaredKeys = templateUrl
      ? undefined
      : new Set(Object.keys(readTemplate(gen, 'agency-collector').json.Parameters ?? {}));
    const permissionModel = plan.selfManaged ? 'SELF_MANAGED' : 'SERVICE_MANAGED';
    const selfManagedRoles = plan.selfManaged
      ? {
          AdministrationRoleARN:
            plan.adminRoleArn ??
            `arn:${partitionOf(region)}:iam::${caller}:role/AWSCloudFormationStackSetAdministrationRole`,
          ExecutionRoleName: plan.executionRoleName ?? 'AWSCloudFormationStackSetExecutionRole',
        }
      : {};
    const autoDeployment = plan.selfManaged ? undefined : { Enabled: true, RetainStacksOnAccountRemoval: false };

    let existing;
    try {
      existing = (await cfn.send(new DescribeStackSetCommand({ StackSetName: stackSetName, CallAs: plan.callAs })))
        .StackSet;
    } catch (err) {
      if ((err as { name?: string }).name !== 'StackSetNotFoundException') throw err;
    }
    if (existing?.PermissionModel && existing.PermissionModel !== permissionModel) {
      throw new OperationError(
        `StackSet ${stackSetName} is ${existing.PermissionModel}; it cannot be switched to ${permissionModel}`,
      );
    }

    const operations: OperationReport[] = [];
    let stackSetAction: 'created' | 'updated' | 'unchanged';
    if (!existing) {
      progress(ctx, `creating StackSet ${stackSetName} (${permissionModel})`);
      await cfn.send(
        new CreateStackSetCommand({
          StackSetName: stackSetName,
          Description: 'ssm-hub agency collector: copies EC2 tags to the central SSM hub',
          ...template,
          Parameters: parameters,
          Capabilities: ['CAPABILITY_NAMED_IAM'],
          PermissionModel: permissionModel,
          AutoDeployment: autoDeployment,
          ...selfManagedRoles,
          CallAs: plan.callAs,
          ManagedExecution: { Active: true },
        }),
      );
      stackSetAction = 'created';
    } else if (
      'TemplateURL' in template ||
      existing.TemplateBody !== template.TemplateBody ||
      !givenParamsUnchanged(existing.Parameters, givenParameters)
    ) {
      progress(ctx, `updating StackSet ${stackSetName} and its existing instances`);
      const operationId = randomUUID();
      await cfn.send(
        new UpdateStackSetCommand({
          StackSetName: stackSetName,
          ...template,
          Parameters: updateParameters(existing.Parameters, givenParameters, declaredKeys),
          Capabilities: ['CAPABILITY_NAMED_IAM'],
          PermissionModel: permissionModel,
          AutoDeployment: autoDeployment,
          ...selfManagedRoles,
          OperationPreferences: plan.prefs,
          OperationId: operationId,
          CallAs: plan.callAs,
        }),
      );
      operations.push(
        await waitForOperation(ctx, cfn, stackSetName, operationId, 'update', plan.callAs, plan.timeoutMs),
      );
      stackSetAction = 'updated';
    } else {
      progress(ctx, `StackSet ${stackSetName} template and parameters unchanged`);
      stackSetAction = 'unchanged';
    }

    const operationId = randomUUID();
    progress(ctx, `creating stack instances in ${plan.regions.join(', ')}`);
    try {
      await cfn.send(
        new CreateStackInstancesCommand({
          StackSetName: stackSetName,
          ...(plan.selfManaged
            ? { Accounts: plan.accounts }
            : {
                DeploymentTargets: {
                  OrganizationalUnitIds: plan.ous,
                  ...(plan.accounts ? { Accounts: plan.accounts, AccountFilterType: 'INTERSECTION' as const } : {}),
                },
              }),
          Regions: plan.regions,
          OperationPreferences: plan.prefs,
          OperationId: operationId,
          CallAs: plan.callAs,
        }),
      );
    } catch (err) {
      throw new OperationError(`CreateStackInstances failed: ${describeError(err)}`);
    }
    operations.push(
      await waitForOperation(ctx, cfn, stackSetName, operationId, 'create-instances', plan.callAs, plan.timeoutMs),
    );

    // The latest result per account/Region wins (an update may fail where a later create succeeds).
    const latest = new Map<string, InstanceResult>();
    for (const op of operations) for (const r of op.results) latest.set(`${r.account}/${r.region}`, r);
    const failed = [...latest.values()]
      .filter((r) => r.status === 'FAILED')
      .sort((a, b) => (a.account + a.region).localeCompare(b.account + b.region));
    const cancelled = [...latest.values()].filter((r) => r.status === 'CANCELLED');
    const badOps = operations.filter((o) => o.status !== 'SUCCEEDED');

    if (flags['json'] === true) {
      ctx.stdout(
        `${JSON.stringify(
          {
            stackSetName,
            stackSet: stackSetAction,
            onboarded,
            operationPreferences: plan.prefs,
            operations,
            failed,
            cancelled: cancelled.length,
          },
          null,
          2,
        )}\n`,
      );
    } else {
      ctx.stdout(`StackSet ${stackSetName}: ${stackSetAction}\n`);
      for (const op of operations) {
        const ok = op.results.filter((r) => r.status === 'SUCCEEDED').length;
        ctx.stdout(
          `operation ${op.action} ${op.operationId}: ${op.status}, ${ok}/${op.results.length} stack instances succeeded\n`,
        );
      }
      if (failed.length) {
        ctx.stdout(`\n${failed.length} stack instance${failed.length === 1 ? '' : 's'} failed:\n`);
        ctx.stdout(
          `${table(
            ['account', 'region', 'status', 'reason'],
            failed.map((f) => [f.account, f.region, f.status, f.reason]),
          )}\n`,
        );
      }
      if (cancelled.length)
        ctx.stdout(
          `${cancelled.length} stack instance(s) were cancelled (failure tolerance reached): re-run rollout after fixing the failures\n`,
        );
    }
    return failed.length || badOps.length ? EXIT.failed : EXIT.ok;
  });
}
