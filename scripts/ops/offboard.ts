// `ssm-hub offboard`: deletes agency-permissions stacks. The agency loses its alias permission and
// its activation; nodes it already registered stay until deregistered.
import { makeClients, resolveRegion } from './aws.ts';
import { defaultContext, mapLimit, progress, runCommand, str, type CommandSpec, type Context } from './cli-kit.ts';
import { loadConfig } from './common.ts';
import { UsageError } from './errors.ts';
import { parseTargets, reportOutcomes, resolveAccounts, TARGET_OPTIONS } from './onboard.ts';
import { deleteStack } from './stacks.ts';
import * as v from './validate.ts';

export const spec: CommandSpec = {
  name: 'offboard',
  summary:
    'Delete the agency-permissions stacks of some agencies (the agency can no longer sync or fetch activations).',
  usage: ['--agencies 111111111111,… --yes [options]', '--ou ou-xxxx-xxxxxxxx --yes [options]'],
  options: [
    ...TARGET_OPTIONS,
    { name: 'yes', type: 'boolean', help: 'confirm the deletion (required)' },
    { name: 'concurrency', type: 'string', arg: 'N', help: 'stacks deleted at once, 1–20 (default 4)' },
    {
      name: 'timeout-minutes',
      type: 'string',
      arg: 'N',
      help: 'give up waiting on one stack after N minutes, 1–720 (default 60)',
    },
  ],
};

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (flags) => {
    const { names } = loadConfig(ctx, flags);
    const targets = parseTargets(flags);
    const conc = str(flags, 'concurrency');
    const concurrency = conc === undefined ? 4 : v.integer('concurrency', conc, 1, 20);
    const tmo = str(flags, 'timeout-minutes');
    const timeoutMs = (tmo === undefined ? 60 : v.integer('timeout-minutes', tmo, 1, 720)) * 60_000;
    if (flags['yes'] !== true) throw new UsageError('offboard deletes stacks: pass --yes to confirm');
    const profile = str(flags, 'profile');
    const region = await resolveRegion(ctx, str(flags, 'region'), profile);
    const clients = makeClients(ctx, profile);
    const accounts = await resolveAccounts(clients, region, targets);
    const cfn = clients.cloudformation(region);
    const outcomes = await mapLimit(accounts, concurrency, async (account) => {
      const stackName = names.agencyPermissionsStackName(account);
      const o = await deleteStack(ctx, cfn, stackName, timeoutMs, (line) =>
        progress(ctx, `[${account}] ${stackName}: ${line}`),
      );
      return { account, ...o };
    });
    return reportOutcomes(ctx, outcomes, flags['json'] === true, { region });
  });
}
