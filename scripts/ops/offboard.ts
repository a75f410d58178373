// `ssm-hub offboard`: deletes agency-permissions stacks. The agency loses its alias permission and
// its activation; nodes it already registered stay until deregistered.
import {
  defaultContext,
  defineCommand,
  flag,
  mapLimit,
  progress,
  runCommand,
  UsageError,
  type Context,
} from '../kit/index.ts';
import { AWS_OPTIONS, concurrencyOption, loadConfig, timeoutOption } from './common.ts';
import { parseTargets, reachTargets, reportOutcomes, TARGET_OPTIONS } from './agencies.ts';
import { deleteStack } from './stacks.ts';

export const spec = defineCommand({
  name: 'offboard',
  summary:
    'Delete the agency-permissions stacks of some agencies (the agency can no longer sync or fetch activations).',
  options: [
    ...TARGET_OPTIONS,
    flag('yes', 'confirm the deletion (required)'),
    concurrencyOption('stacks deleted at once'),
    timeoutOption('stack'),
    ...AWS_OPTIONS,
  ],
  usage: ['--agencies 111111111111,… --yes [options]', '--ou ou-xxxx-xxxxxxxx --yes [options]'],
});

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o, given) => {
    const { names } = loadConfig(ctx, o.config);
    const targets = parseTargets(o, given);
    if (!o.yes) throw new UsageError('offboard deletes stacks: pass --yes to confirm');
    const { region, clients, accounts } = await reachTargets(ctx, o, targets);
    const cfn = clients.cloudformation(region);
    const outcomes = await mapLimit(accounts, o.concurrency, async (account) => {
      const stackName = names.agencyPermissionsStackName(account);
      const timeoutMs = o['timeout-minutes'] * 60_000;
      const outcome = await deleteStack(ctx, cfn, { stackName, timeoutMs }, (line) =>
        progress(ctx, `[${account}] ${stackName}: ${line}`),
      );
      return { account, ...outcome };
    });
    return reportOutcomes(ctx, outcomes, o.json, { region });
  });
}
