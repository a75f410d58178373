// `ssm-hub offboard`: deletes agency-permissions stacks. The agency loses its alias permission and
// its activation. Before deleting, it says what offboarding does not undo: the agency's hub nodes
// stay under central control until they are given back, the membership automation onboards an
// agency still in its OUs again, and collectors stay deployed (or cannot be seen with this --call-as).
import { type CallAs, type CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { callerAccount, makeClients, resolveRegion, type Clients } from './aws.ts';
import { announceTarget, collectorsStillDeployed, instancesIfVisible, previewDelete } from './preview.ts';
import { printStackPreviews } from './preview.ts';
import {
  defaultContext,
  defineCommand,
  errorText,
  flag,
  mapLimit,
  progress,
  runCommand,
  UsageError,
} from '../kit/index.ts';
import { type Context } from '../kit/index.ts';
import { AWS_OPTIONS, callAsOption, concurrencyOption, loadConfig, timeoutOption } from './common.ts';
import { parseTargets, reportOutcomes, resolveAccounts, TARGET_OPTIONS } from './agencies.ts';
import { deleteStack, describeStack } from './stacks.ts';
import { permissionsStackNames } from './agency-stacks.ts';
import { fleetKeys, type FleetKeys } from './fleet.ts';
import { agencyNodeCount, membershipWarning, membershipWouldReturn } from './offboard-checks.ts';
import { nodeWarning, stackSetNotSeen, type NodeCount } from './offboard-checks.ts';

export const spec = defineCommand({
  name: 'offboard',
  usage: ['--agencies 111111111111,… --yes [options]', '--ou ou-xxxx-xxxxxxxx --yes [options]'],
  summary:
    'Delete the agency-permissions stacks of some agencies (the agency can no longer sync or fetch activations).',
  options: [
    ...TARGET_OPTIONS,
    flag('yes', 'confirm the deletion (required unless --dry-run)'),
    flag('dry-run', 'show each stack to delete and the resources it holds; change nothing'),
    callAsOption('how to read the agency StackSets (to warn about collectors and registration still deployed)'),
    concurrencyOption('stacks deleted at once'),
    timeoutOption('stack'),
    ...AWS_OPTIONS,
  ],
});

const keys = (config: { reservedTagPrefix: string }): FleetKeys => fleetKeys(config.reservedTagPrefix);

interface Names {
  stackSetName: string;
  registrationStackSetName: string;
  centralStackName: string;
}

async function stackSetWarnings(cfn: CloudFormationClient, names: Names, accounts: string[], callAs: CallAs) {
  const warnings: string[] = [];
  const sets = [
    [
      names.stackSetName,
      (a: string, r: string[]) =>
        `agency ${a} still has collector stack instances in ${r.join(', ')}: they will fail to sync until removed from StackSet ${names.stackSetName}`,
    ],
    [
      names.registrationStackSetName,
      (a: string, r: string[]) =>
        `agency ${a} still has registration stack instances in ${r.join(', ')}: zero-touch registration there fails once its activation is gone, until they are removed from StackSet ${names.registrationStackSetName}`,
    ],
  ] as const;
  for (const [name, say] of sets) {
    const read = () => instancesIfVisible(cfn, name, callAs);
    const instances = await orWarn(
      warnings,
      `the stack instances of StackSet ${name} (CloudFormation ListStackInstances)`,
      read,
    );
    if (instances === false) continue;
    if (!instances) warnings.push(stackSetNotSeen(name, callAs));
    else for (const [a, regions] of collectorsStillDeployed(instances, accounts)) warnings.push(say(a, regions));
  }
  return warnings;
}

/**
 * A read offboard needs only for a warning: when it fails (AccessDenied, say), a warning naming the
 * call and the reason takes its place, and offboard goes on. False when it failed.
 */
async function orWarn<T>(warnings: string[], what: string, read: () => Promise<T>): Promise<T | false> {
  try {
    return await read();
  } catch (err) {
    warnings.push(`could not check ${what}: ${errorText(err)}`);
    return false;
  }
}

/** Everything offboarding these agencies does not undo; the same in the dry run and the real run. */
async function offboardWarnings(
  clients: Clients,
  region: string,
  names: Names,
  keys: FleetKeys,
  accounts: string[],
  callAs: CallAs,
): Promise<{ warnings: string[]; nodes: Record<string, NodeCount> }> {
  const cfn = clients.cloudformation(region);
  const warnings = await stackSetWarnings(cfn, names, accounts, callAs);
  const centralName = names.centralStackName;
  const read = () => describeStack(cfn, centralName);
  const central = await orWarn(warnings, `stack ${centralName} (CloudFormation DescribeStacks)`, read);
  const membership = `whether the membership automation onboards these agencies again (Organizations ListAccountsForParent, ListOrganizationalUnitsForParent)`;
  const back = await orWarn(warnings, membership, () =>
    membershipWouldReturn(clients, region, central || undefined, accounts),
  );
  for (const a of back || []) warnings.push(membershipWarning(a, centralName));
  const doc = central ? central.Outputs?.find((x) => x.OutputKey === 'DeregisterDocumentName')?.OutputValue : undefined;
  const nodes: Record<string, NodeCount> = {};
  const ssm = clients.ssm(region);
  for (const a of accounts) {
    const what = `the hub nodes of agency ${a} (SSM DescribeInstanceInformation)`;
    const count = await orWarn(warnings, what, () => agencyNodeCount(ssm, keys, a));
    if (!count) continue;
    nodes[a] = count;
    if (count.total) warnings.push(nodeWarning(a, count, doc));
  }
  return { warnings, nodes };
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o, given) => {
    const { names, config } = loadConfig(ctx, o.config);
    const targets = parseTargets(o, given);
    if (!o.yes && !o['dry-run']) throw new UsageError('offboard deletes stacks: pass --yes to confirm (or --dry-run)');
    const region = await resolveRegion(ctx, o.region, o.profile);
    const clients = makeClients(ctx, o.profile);
    const accounts = await resolveAccounts(clients, region, targets);
    const cfn = clients.cloudformation(region);
    const caller = await callerAccount(clients, region);
    const { warnings, nodes } = await offboardWarnings(clients, region, names, keys(config), accounts, o['call-as']);
    for (const w of warnings) progress(ctx, `WARNING: ${w}`);
    const stackOf = await permissionsStackNames(ctx, cfn, names.agencyPermissionsStackName, accounts);
    if (o['dry-run']) {
      announceTarget(ctx, caller, region, `dry run: what offboarding would delete (nothing is changed)`);
      const previews = await mapLimit(accounts, o.concurrency, async (account) => ({
        account,
        ...(await previewDelete(cfn, stackOf(account), account)),
      }));
      if (o.json)
        ctx.stdout(
          `${JSON.stringify({ dryRun: true, account: caller, region, stacks: previews, nodes, warnings }, null, 2)}\n`,
        );
      else printStackPreviews(ctx, previews);
      return 0;
    }
    announceTarget(ctx, caller, region, `deleting the permissions stacks of ${accounts.length} agencies`);
    const outcomes = await mapLimit(accounts, o.concurrency, async (account) => {
      const stackName = stackOf(account);
      const target = { stackName, timeoutMs: o['timeout-minutes'] * 60_000, agency: account };
      const outcome = await deleteStack(ctx, cfn, target, (line) =>
        progress(ctx, `[${account}] ${stackName}: ${line}`),
      );
      return { account, ...outcome };
    });
    const code = reportOutcomes(ctx, outcomes, o.json, { region, nodes, warnings });
    // Said again after the table: these are what is left to do.
    if (!o.json) for (const w of warnings) progress(ctx, `WARNING: ${w}`);
    return code;
  });
}
