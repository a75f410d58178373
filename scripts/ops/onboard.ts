// `ssm-hub onboard`: one agency-permissions stack per agency, in the central account.
import { callerAccount, makeClients, resolveRegion } from './aws.ts';
import { defaultContext, defineCommand, flag, integer, runCommand, type Context } from '../kit/index.ts';
import { OperationError, progress, UsageError } from '../kit/index.ts';
import { announceTarget, printStackPreviews } from './preview.ts';
import { AWS_OPTIONS, centralStackOption, concurrencyOption, GENERATED_DIR_OPTION, generatedDir } from './common.ts';
import { loadConfig, templateUrlOption, timeoutOption } from './common.ts';
import {
  onboardAccounts,
  parseTargets,
  previewOnboard,
  prepareTemplate,
  reportOutcomes,
  withoutHub,
} from './agencies.ts';
import { resolveAccounts, TARGET_OPTIONS, type Targets } from './agencies.ts';
import { ALLOW_REPLACEMENT_FLAG, allowReplacementOption } from './change-risk.ts';
import { permissionsStackNames } from './agency-stacks.ts';

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
    allowReplacementOption('a resource of an existing stack (AgencyActivation: its activation is deleted)'),
    flag('dry-run', 'show each stack to create or update, its parameter and resource changes; change nothing'),
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
      allowReplacement: o['allow-replacement'],
      keepCentralStackOnUpdate: o['central-stack'] === undefined,
    };
    prepareTemplate(settings);
    const region = await resolveRegion(ctx, o.region, o.profile);
    const clients = makeClients(ctx, o.profile);
    const caller = await callerAccount(clients, region);
    const accounts = withoutHub(ctx, await resolveAccounts(clients, region, targets), caller, targets);
    const agencies = `${accounts.length} agenc${accounts.length === 1 ? 'y' : 'ies'}`;
    // An agency whose permissions stack was created under another name (the console link) has it
    // updated in place: a second stack would give it a second activation.
    const stackOf = await permissionsStackNames(
      ctx,
      clients.cloudformation(region),
      names.agencyPermissionsStackName,
      accounts,
    );
    if (o['dry-run']) {
      announceTarget(ctx, caller, region, `dry run: what onboarding ${agencies} would change (nothing is changed)`);
      const previews = await previewOnboard(clients, region, accounts, settings, stackOf);
      if (o.json)
        ctx.stdout(`${JSON.stringify({ dryRun: true, account: caller, region, stacks: previews }, null, 2)}\n`);
      else printStackPreviews(ctx, previews);
      if (!o.json && !o['allow-replacement'] && previews.some((p) => p.resources.some((r) => r.action !== 'Add')))
        ctx.stdout(
          `an update whose change set replaces or removes a resource is refused without --${ALLOW_REPLACEMENT_FLAG} (AgencyActivation: replacing or removing it deletes the agency's activation)\n`,
        );
      return 0;
    }
    announceTarget(ctx, caller, region, `onboarding ${agencies}: one agency-permissions stack each`);
    const outcomes = await onboardAccounts(ctx, clients, region, accounts, settings, stackOf);
    return reportOutcomes(ctx, outcomes, o.json, { region });
  });
}
