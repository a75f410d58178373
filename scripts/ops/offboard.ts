// `ssm-hub offboard`: deletes agency-permissions stacks. The agency loses its alias permission and
// its activation; nodes it already registered stay until deregistered.
import { callerAccount, makeClients, resolveRegion } from './aws.ts';
import { announceTarget, collectorsStillDeployed, listInstances, previewDelete } from './preview.ts';
import { printStackPreviews } from './preview.ts';
import { defaultContext, defineCommand, flag, mapLimit, progress, runCommand, UsageError } from '../kit/index.ts';
import { type Context } from '../kit/index.ts';
import { AWS_OPTIONS, callAsOption, concurrencyOption, loadConfig, timeoutOption } from './common.ts';
import { parseTargets, reportOutcomes, resolveAccounts, TARGET_OPTIONS } from './agencies.ts';
import { deleteStack } from './stacks.ts';

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

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o, given) => {
    const { names } = loadConfig(ctx, o.config);
    const targets = parseTargets(o, given);
    if (!o.yes && !o['dry-run']) throw new UsageError('offboard deletes stacks: pass --yes to confirm (or --dry-run)');
    const region = await resolveRegion(ctx, o.region, o.profile);
    const clients = makeClients(ctx, o.profile);
    const accounts = await resolveAccounts(clients, region, targets);
    const cfn = clients.cloudformation(region);
    const caller = await callerAccount(clients, region);
    const deployed = collectorsStillDeployed(await listInstances(cfn, names.stackSetName, o['call-as']), accounts);
    const registering = collectorsStillDeployed(
      await listInstances(cfn, names.registrationStackSetName, o['call-as']),
      accounts,
    );
    const warnings = [
      ...[...deployed].map(
        ([a, regions]) =>
          `agency ${a} still has collector stack instances in ${regions.join(', ')}: they will fail to sync until removed from StackSet ${names.stackSetName}`,
      ),
      ...[...registering].map(
        ([a, regions]) =>
          `agency ${a} still has registration stack instances in ${regions.join(', ')}: zero-touch registration there fails once its activation is gone, until they are removed from StackSet ${names.registrationStackSetName}`,
      ),
    ];
    for (const w of warnings) progress(ctx, `WARNING: ${w}`);
    if (o['dry-run']) {
      announceTarget(ctx, caller, region, `dry run: what offboarding would delete (nothing is changed)`);
      const previews = await mapLimit(accounts, o.concurrency, async (account) => ({
        account,
        ...(await previewDelete(cfn, names.agencyPermissionsStackName(account))),
      }));
      if (o.json)
        ctx.stdout(
          `${JSON.stringify({ dryRun: true, account: caller, region, stacks: previews, warnings }, null, 2)}\n`,
        );
      else printStackPreviews(ctx, previews);
      return 0;
    }
    announceTarget(ctx, caller, region, `deleting the permissions stacks of ${accounts.length} agencies`);
    const outcomes = await mapLimit(accounts, o.concurrency, async (account) => {
      const stackName = names.agencyPermissionsStackName(account);
      const outcome = await deleteStack(ctx, cfn, { stackName, timeoutMs: o['timeout-minutes'] * 60_000 }, (line) =>
        progress(ctx, `[${account}] ${stackName}: ${line}`),
      );
      return { account, ...outcome };
    });
    return reportOutcomes(ctx, outcomes, o.json, { region, warnings });
  });
}
