// `ssm-hub onboard`: one agency-permissions stack per agency, in the central account.
import type { Capability } from '@aws-sdk/client-cloudformation';
import { makeClients, resolveRegion, type Clients } from './aws.ts';
import {
  defaultContext,
  mapLimit,
  progress,
  runCommand,
  str,
  table,
  type CommandSpec,
  type Context,
  type Flags,
} from './cli-kit.ts';
import { GENERATED_DIR_OPTION, generatedDir, loadConfig } from './common.ts';
import { EXIT, OperationError, UsageError } from './errors.ts';
import { readTemplate, templateBodyOrUrl } from './generated.ts';
import { activeAccountsUnder } from './orgs.ts';
import { deployStack, type StackOutcome } from './stacks.ts';
import * as v from './validate.ts';

export const TARGET_OPTIONS = [
  { name: 'agencies', type: 'string', arg: 'ACCOUNT,…', help: 'agency account IDs (12 digits each)' },
  {
    name: 'ou',
    type: 'string',
    arg: 'ou-…,…',
    help: 'every ACTIVE account under these OUs (child OUs included) or root r-…',
  },
] as const;

export const spec: CommandSpec = {
  name: 'onboard',
  summary:
    'Create or update one agency-permissions stack per agency in the central account (change sets; skips stacks already up to date).',
  usage: ['--agencies 111111111111,222222222222 [options]', '--ou ou-xxxx-xxxxxxxx [options]'],
  options: [
    ...TARGET_OPTIONS,
    {
      name: 'template-url',
      type: 'string',
      arg: 'URL',
      help: 'use a published template (https S3 URL) instead of generated/templates/agency-permissions.json',
    },
    {
      name: 'central-stack',
      type: 'string',
      arg: 'NAME',
      help: 'CentralManagerStackName parameter (default: <namePrefix>-central-manager)',
    },
    {
      name: 'registration-limit',
      type: 'string',
      arg: 'N',
      help: 'RegistrationLimit per activation, 1–1000 (default: template default)',
    },
    {
      name: 'activation-expiry-days',
      type: 'string',
      arg: 'N',
      help: 'ActivationExpiryDays, 8–30 (default: template default)',
    },
    { name: 'concurrency', type: 'string', arg: 'N', help: 'stacks deployed at once, 1–20 (default 4)' },
    {
      name: 'timeout-minutes',
      type: 'string',
      arg: 'N',
      help: 'give up waiting on one stack after N minutes, 1–720 (default 60)',
    },
    GENERATED_DIR_OPTION,
  ],
};

export interface OnboardSettings {
  templateUrl?: string;
  centralStack: string;
  registrationLimit?: number;
  activationExpiryDays?: number;
  concurrency: number;
  timeoutMs: number;
  generatedDir: string;
}

export interface AgencyOutcome extends StackOutcome {
  account: string;
}

/** Checks the target flags: exactly one of --agencies / --ou. */
export function parseTargets(flags: Flags, required = true): { agencies?: string[]; ous?: string[] } {
  v.exclusive(flags, 'agencies', 'ou');
  const agencies = str(flags, 'agencies');
  const ou = str(flags, 'ou');
  if (!agencies && !ou && required) throw new UsageError('one of --agencies or --ou is required');
  return {
    agencies: agencies ? v.accountIds('agencies', agencies) : undefined,
    ous: ou ? v.ouIds('ou', ou) : undefined,
  };
}

export function parseOnboardSettings(flags: Flags, gen: string, centralStackDefault: string): OnboardSettings {
  const templateUrl = str(flags, 'template-url');
  if (templateUrl) v.s3TemplateUrl('template-url', templateUrl);
  const rl = str(flags, 'registration-limit');
  const exp = str(flags, 'activation-expiry-days');
  const conc = str(flags, 'concurrency');
  const tmo = str(flags, 'timeout-minutes');
  const cs = str(flags, 'central-stack');
  return {
    templateUrl,
    centralStack: cs ? v.stackName('central-stack', cs) : centralStackDefault,
    registrationLimit: rl === undefined ? undefined : v.integer('registration-limit', rl, 1, 1000),
    activationExpiryDays: exp === undefined ? undefined : v.integer('activation-expiry-days', exp, 8, 30),
    concurrency: conc === undefined ? 4 : v.integer('concurrency', conc, 1, 20),
    timeoutMs: (tmo === undefined ? 60 : v.integer('timeout-minutes', tmo, 1, 720)) * 60_000,
    generatedDir: gen,
  };
}

/** Reads the template up front so a missing or oversized file is a usage error, before AWS. */
export function prepareTemplate(s: OnboardSettings) {
  const template = templateBodyOrUrl(s.generatedDir, 'agency-permissions', s.templateUrl);
  const declared = s.templateUrl
    ? undefined
    : Object.keys(readTemplate(s.generatedDir, 'agency-permissions').json.Parameters ?? {});
  if (declared) {
    const need: Array<[string, string | undefined]> = [['AgencyAccountId', undefined]];
    if (s.registrationLimit !== undefined) need.push(['RegistrationLimit', '--registration-limit']);
    if (s.activationExpiryDays !== undefined) need.push(['ActivationExpiryDays', '--activation-expiry-days']);
    for (const [p, flag] of need) {
      if (!declared.includes(p)) {
        throw new UsageError(
          `agency-permissions template declares no ${p} parameter${flag ? ` (${flag})` : ''}: rebuild with \`npm run build\``,
        );
      }
    }
  }
  return { template, declared };
}

export async function resolveAccounts(
  clients: Clients,
  region: string,
  t: { agencies?: string[]; ous?: string[] },
): Promise<string[]> {
  if (t.agencies) return t.agencies;
  const accounts = await activeAccountsUnder(clients.organizations(region), t.ous!);
  if (!accounts.length) throw new OperationError(`no ACTIVE accounts under ${t.ous!.join(', ')}`);
  return accounts;
}

export async function onboardAccounts(
  ctx: Context,
  clients: Clients,
  region: string,
  accounts: string[],
  s: OnboardSettings,
  stackNameOf: (a: string) => string,
): Promise<AgencyOutcome[]> {
  const { template, declared } = prepareTemplate(s);
  const cfn = clients.cloudformation(region);
  const capabilities: Capability[] = []; // agency-permissions creates no named IAM resources
  return mapLimit(accounts, s.concurrency, async (account) => {
    const stackName = stackNameOf(account);
    const parameters: Record<string, string> = { AgencyAccountId: account, CentralManagerStackName: s.centralStack };
    if (declared && !declared.includes('CentralManagerStackName')) delete parameters.CentralManagerStackName;
    if (s.registrationLimit !== undefined) parameters.RegistrationLimit = String(s.registrationLimit);
    if (s.activationExpiryDays !== undefined) parameters.ActivationExpiryDays = String(s.activationExpiryDays);
    const outcome = await deployStack(
      ctx,
      cfn,
      {
        stackName,
        template,
        parameters,
        templateParameters: declared,
        capabilities,
        description: `ssm-hub onboard ${account}`,
        timeoutMs: s.timeoutMs,
      },
      (line) => progress(ctx, `[${account}] ${stackName}: ${line}`),
    );
    return { account, ...outcome };
  });
}

/** Human summary plus the failed events of every failed stack; returns the exit code. */
export function reportOutcomes(
  ctx: Context,
  outcomes: AgencyOutcome[],
  json: boolean,
  extra: Record<string, unknown> = {},
): number {
  const failed = outcomes.filter((o) => o.result === 'failed');
  if (json) {
    ctx.stdout(`${JSON.stringify({ ...extra, results: outcomes, failed: failed.length }, null, 2)}\n`);
  } else {
    ctx.stdout(
      `${table(
        ['account', 'stack', 'result', 'detail'],
        outcomes.map((o) => [o.account, o.stackName, o.result, o.detail]),
      )}\n`,
    );
    for (const f of failed) {
      if (!f.events.length) continue;
      ctx.stdout(`\nfailed events of ${f.stackName} (${f.account}):\n`);
      ctx.stdout(
        `${table(
          ['time', 'logical resource', 'status', 'reason'],
          f.events.map((e) => [e.timestamp, e.logicalResourceId, e.resourceStatus, e.resourceStatusReason]),
        )}\n`,
      );
    }
    ctx.stdout(`\n${outcomes.length - failed.length} succeeded, ${failed.length} failed\n`);
  }
  return failed.length ? EXIT.failed : EXIT.ok;
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (flags) => {
    const { names } = loadConfig(ctx, flags);
    const targets = parseTargets(flags);
    const settings = parseOnboardSettings(flags, generatedDir(ctx, flags), names.centralStackName);
    prepareTemplate(settings);
    const profile = str(flags, 'profile');
    const region = await resolveRegion(ctx, str(flags, 'region'), profile);
    const clients = makeClients(ctx, profile);
    const accounts = await resolveAccounts(clients, region, targets);
    progress(ctx, `onboarding ${accounts.length} agenc${accounts.length === 1 ? 'y' : 'ies'} in ${region}`);
    const outcomes = await onboardAccounts(ctx, clients, region, accounts, settings, names.agencyPermissionsStackName);
    return reportOutcomes(ctx, outcomes, flags['json'] === true, { region });
  });
}
