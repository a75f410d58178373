// `ssm-hub onboard`: one agency-permissions stack per agency, in the central account.
import { defaultContext, defineCommand, integer, progress, runCommand, type Context } from '../kit/index.ts';
import * as common from './common.ts';
import { ACTIVATION_MAX_EXPIRY_DAYS, ACTIVATION_MAX_REGISTRATION_LIMIT } from '../../contract/limits.ts';
import {
  onboardAccounts,
  parseTargets,
  prepareTemplate,
  reachTargets,
  reportOutcomes,
  TARGET_OPTIONS,
} from './agencies.ts';

export const spec = defineCommand({
  name: 'onboard',
  summary:
    'Create or update one agency-permissions stack per agency in the central account (change sets; skips stacks already up to date).',
  usage: ['--agencies 111111111111,222222222222 [options]', '--ou ou-xxxx-xxxxxxxx [options]'],
  options: [
    ...TARGET_OPTIONS,
    common.templateUrlOption(
      'use a published template (https S3 URL) instead of generated/templates/agency-permissions.json',
    ),
    common.centralStackOption('CentralManagerStackName parameter'),
    integer('registration-limit', {
      help: 'RegistrationLimit per activation',
      defaultText: 'the template default',
      min: 1,
      max: ACTIVATION_MAX_REGISTRATION_LIMIT,
    }),
    integer('activation-expiry-days', {
      help: 'ActivationExpiryDays',
      defaultText: 'the template default',
      min: 8,
      max: ACTIVATION_MAX_EXPIRY_DAYS,
    }),
    common.concurrencyOption('stacks deployed at once'),
    common.timeoutOption('stack'),
    common.GENERATED_DIR_OPTION,
    ...common.AWS_OPTIONS,
  ],
});

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o, given) => {
    const { names } = common.loadConfig(ctx, o.config);
    const targets = parseTargets(o, given);
    const settings = {
      templateUrl: o['template-url'],
      centralStack: o['central-stack'] ?? names.centralStackName,
      registrationLimit: o['registration-limit'],
      activationExpiryDays: o['activation-expiry-days'],
      concurrency: o.concurrency,
      timeoutMs: o['timeout-minutes'] * 60_000,
      generatedDir: common.generatedDir(ctx, o['generated-dir']),
    };
    prepareTemplate(settings);
    const { region, clients, accounts } = await reachTargets(ctx, o, targets);
    progress(ctx, `onboarding ${accounts.length} agenc${accounts.length === 1 ? 'y' : 'ies'} in ${region}`);
    const outcomes = await onboardAccounts(ctx, clients, region, accounts, settings, names.agencyPermissionsStackName);
    return reportOutcomes(ctx, outcomes, o.json, { region });
  });
}
