// `ssm-hub onboard`: one agency-permissions stack per agency, in the central account.
import { makeClients, resolveRegion } from './aws.ts';
import { defaultContext, defineCommand, integer, progress, runCommand, type Context } from '../kit/index.ts';
import {
  AWS_OPTIONS,
  centralStackOption,
  concurrencyOption,
  GENERATED_DIR_OPTION,
  generatedDir,
  loadConfig,
  templateUrlOption,
  timeoutOption,
} from './common.ts';
import {
  onboardAccounts,
  parseTargets,
  prepareTemplate,
  reportOutcomes,
  resolveAccounts,
  TARGET_OPTIONS,
} from './agencies.ts';

export const spec = defineCommand({
  name: 'onboard',
  summary:
    'Create or update one agency-permissions stack per agency in the central account (change sets; skips stacks already up to date).',
  usage: ['--agencies 111111111111,222222222222 [options]', '--ou ou-xxxx-xxxxxxxx [options]'],
  options: [
    ...TARGET_OPTIONS,
    templateUrlOption('use a published template (https S3 URL) instead of generated/templates/agency-permissions.json'),
    centralStackOption('CentralManagerStackName parameter'),
    integer('registration-limit', {
      help: 'RegistrationLimit per activation',
      defaultText: 'the template default',
      min: 1,
      max: 1000,
    }),
    integer('activation-expiry-days', {
      help: 'ActivationExpiryDays',
      defaultText: 'the template default',
      min: 8,
      max: 30,
    }),
    concurrencyOption('stacks deployed at once'),
    timeoutOption('stack'),
    GENERATED_DIR_OPTION,
    ...AWS_OPTIONS,
  ],
});

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o, given) => {
    const { names } = loadConfig(ctx, o.config);
    const targets = parseTargets(o, given);
    const settings = {
      templateUrl: o['template-url'],
      centralStack: o['central-stack'] ?? names.centralStackName,
      registrationLimit: o['registration-limit'],
      activationExpiryDays: o['activation-expiry-days'],
      concurrency: o.concurrency,
      timeoutMs: o['timeout-minutes'] * 60_000,
      generatedDir: generatedDir(ctx, o['generated-dir']),
    };
    prepareTemplate(settings);
    const region = await resolveRegion(ctx, o.region, o.profile);
    const clients = makeClients(ctx, o.profile);
    const accounts = await resolveAccounts(clients, region, targets);
    progress(ctx, `onboarding ${accounts.length} agenc${accounts.length === 1 ? 'y' : 'ies'} in ${region}`);
    const outcomes = await onboardAccounts(ctx, clients, region, accounts, settings, names.agencyPermissionsStackName);
    return reportOutcomes(ctx, outcomes, o.json, { region });
  });
}
