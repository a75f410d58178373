// What onboard, offboard and rollout share about agencies: the target flags, the accounts they
// resolve to, the onboarding settings, deploying one permissions stack per agency, and the report.
import type { Capability } from '@aws-sdk/client-cloudformation';
import { makeClients, resolveRegion, type Clients } from './aws.ts';
import { EXIT, list, mapLimit, OperationError, progress, table, UsageError, type Context } from '../kit/index.ts';
import * as v from '../kit/validate.ts';
import { readTemplate, templateBodyOrUrl } from './generated.ts';
import { activeAccountsUnder } from './orgs.ts';
import { deployStack, type StackOutcome } from './stacks.ts';
import { previewStack, type StackPreview } from './preview.ts';

export const TARGET_OPTIONS = [
  list('agencies', { arg: 'ACCOUNT,…', help: 'agency account IDs (12 digits each)', check: v.accountIds }),
  list('ou', {
    arg: 'ou-…,…',
    help: 'every ACTIVE account under these OUs (child OUs included) or root r-…',
    check: v.ouIds,
  }),
] as const;

export interface Targets {
  agencies?: string[];
  ous?: string[];
}

/** Checks the target flags: exactly one of --agencies / --ou. */
export function parseTargets(values: Targets & { ou?: string[] }, given: ReadonlySet<string>): Targets {
  v.exclusive(given, 'agencies', 'ou');
  if (!values.agencies && !values.ou) throw new UsageError('one of --agencies or --ou is required');
  return { agencies: values.agencies, ous: values.ou };
}

export async function resolveAccounts(clients: Clients, region: string, t: Targets): Promise<string[]> {
  if (t.agencies) return t.agencies;
  const accounts = await activeAccountsUnder(clients.organizations(region), t.ous!);
  if (!accounts.length) throw new OperationError(`no ACTIVE accounts under ${t.ous!.join(', ')}`);
  return accounts;
}

/** The Region, the clients and the agency accounts a command's target flags name. */
export async function reachTargets(
  ctx: Context,
  o: { region?: string; profile?: string },
  targets: Targets,
): Promise<{ region: string; clients: Clients; accounts: string[] }> {
  const region = await resolveRegion(ctx, o.region, o.profile);
  const clients = makeClients(ctx, o.profile);
  return { region, clients, accounts: await resolveAccounts(clients, region, targets) };
}

export interface OnboardSettings {
  templateUrl?: string;
  centralStack: string;
  registrationLimit?: number;
  activationExpiryDays?: number;
  concurrency: number;
  timeoutMs: number;
  generatedDir: string;
  /** Execute an update that replaces or removes a resource (e.g. AgencyActivation, whose Delete handler deletes the activation). */
  allowReplacement?: boolean;
  /** On update, keep the stack's CentralManagerStackName (onboard without --central-stack): README 2b. */
  keepCentralStackOnUpdate?: boolean;
}

export interface AgencyOutcome extends StackOutcome {
  account: string;
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

/** What onboard checks and keeps of an agency's existing stack (its owner, a ROLLBACK_FAILED, the central stack name). */
const stackRules = (account: string, s: OnboardSettings) => ({
  agency: account,
  refuseRollbackFailed: true,
  keepOnUpdate: s.keepCentralStackOnUpdate ? ['CentralManagerStackName'] : [],
});

/** The parameters of one agency's permissions stack. */
export function permissionsParameters(
  account: string,
  s: OnboardSettings,
  declared: string[] | undefined,
): Record<string, string> {
  const parameters: Record<string, string> = { AgencyAccountId: account, CentralManagerStackName: s.centralStack };
  if (declared && !declared.includes('CentralManagerStackName')) delete parameters.CentralManagerStackName;
  if (s.registrationLimit !== undefined) parameters.RegistrationLimit = String(s.registrationLimit);
  if (s.activationExpiryDays !== undefined) parameters.ActivationExpiryDays = String(s.activationExpiryDays);
  return parameters;
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
    const outcome = await deployStack(
      ctx,
      cfn,
      {
        stackName,
        template,
        parameters: permissionsParameters(account, s, declared),
        templateParameters: declared,
        capabilities,
        description: `ssm-hub onboard ${account}`,
        timeoutMs: s.timeoutMs,
        refuseDestructive: !s.allowReplacement,
        ...stackRules(account, s),
      },
      (line) => progress(ctx, `[${account}] ${stackName}: ${line}`),
    );
    return { account, ...outcome };
  });
}

/** What onboarding would change per agency, from read-only calls (--dry-run). */
export async function previewOnboard(
  clients: Clients,
  region: string,
  accounts: string[],
  s: OnboardSettings,
  stackNameOf: (a: string) => string,
): Promise<Array<StackPreview & { account: string }>> {
  const { template, declared } = prepareTemplate(s);
  const cfn = clients.cloudformation(region);
  return mapLimit(accounts, s.concurrency, async (account) => ({
    account,
    ...(await previewStack(
      cfn,
      stackNameOf(account),
      template,
      permissionsParameters(account, s, declared),
      stackRules(account, s),
    )),
  }));
}

/** An agency whose stack was not brought up to date: failed, or refused (--allow-replacement). */
export const notDone = (o: StackOutcome): boolean => o.result === 'failed' || o.result === 'refused';

/** Human summary plus the failed events of every failed stack; returns the exit code. */
export function reportOutcomes(
  ctx: Context,
  outcomes: AgencyOutcome[],
  json: boolean,
  extra: Record<string, unknown> = {},
): number {
  const failed = outcomes.filter(notDone);
  if (json) {
    ctx.stdout(`${JSON.stringify({ ...extra, results: outcomes, failed: failed.length }, null, 2)}\n`);
    return failed.length ? EXIT.failed : EXIT.ok;
  }
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
  ctx.stdout(`\n${outcomes.length - failed.length} succeeded, ${failed.length} failed or refused\n`);
  return failed.length ? EXIT.failed : EXIT.ok;
}

/**
 * The hub's own account is never an agency (the membership automation leaves it out too, and would
 * offboard it later): refused in --agencies before any change, left out of --ou with a line saying so.
 */
export function withoutHub(
  ctx: Context,
  accounts: string[],
  hub: string,
  targets: Targets,
  accountsFlag = 'agencies',
): string[] {
  if (!accounts.includes(hub)) return accounts;
  if (targets.agencies)
    throw new UsageError(
      `--${accountsFlag}: ${hub} is the hub's own account (the caller, STS GetCallerIdentity), not an agency; nothing done`,
    );
  progress(ctx, `leaving out ${hub}: it is the hub's own account (the caller), not an agency`);
  const rest = accounts.filter((a) => a !== hub);
  if (!rest.length)
    throw new OperationError(`no agency accounts under ${targets.ous!.join(', ')} (only the hub's own)`);
  return rest;
}
