// Pieces several AWS-facing subcommands share: their common options, the build configuration,
// the generated/ location and the names derived from them.
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, derivedNames, loadBuildConfig, type BuildConfig } from '../../templates-src/config.ts';
import { choice, flag, integer, text, UsageError, type Context } from '../kit/index.ts';
import * as v from '../kit/validate.ts';

/** Options every AWS-facing command accepts (listed last in its help). */
export const AWS_OPTIONS = [
  text('profile', { arg: 'NAME', help: 'AWS shared-config profile (default: the standard credential chain)' }),
  text('region', {
    arg: 'REGION',
    help: 'home Region of the central account',
    check: v.region,
    defaultText: "AWS_REGION or the profile's Region",
  }),
  text('config', { arg: 'FILE', help: 'build configuration', defaultText: 'build.config.json' }),
  flag('json', 'print one JSON document on stdout instead of human output'),
  choice('output', {
    help: 'output format (--output json is --json)',
    values: ['json', 'table'],
    defaultText: 'table',
  }),
] as const;

export const GENERATED_DIR_OPTION = text('generated-dir', {
  arg: 'DIR',
  help: 'build output to read',
  defaultText: 'generated/',
});

export const concurrencyOption = (help: string) => integer('concurrency', { help, min: 1, max: 20, default: 4 });

export const timeoutOption = (what: string) =>
  integer('timeout-minutes', { help: `give up waiting on one ${what} after N minutes`, min: 1, max: 720, default: 60 });

export const centralStackOption = (help: string) =>
  text('central-stack', {
    arg: 'NAME',
    help,
    check: v.stackName,
    defaultText: '<namePrefix>-central-manager',
  });

export const callAsOption = (help: string) =>
  choice('call-as', { help, values: ['SELF', 'DELEGATED_ADMIN'], default: 'SELF' });

export const templateUrlOption = (help: string) => text('template-url', { arg: 'URL', help, check: v.s3TemplateUrl });

/**
 * A file named in a flag resolves against the folder the operator ran the command from; without
 * the flag, the default resolves against the project root.
 */
export function flagPath(ctx: Context, flagValue: string | undefined, defaultInProject: string): string {
  if (flagValue === undefined) return resolve(ctx.root, defaultInProject);
  return isAbsolute(flagValue) ? flagValue : resolve(ctx.cwd, flagValue);
}

export function loadConfig(
  ctx: Context,
  configFlag: string | undefined,
): { config: BuildConfig; names: ReturnType<typeof derivedNames> } {
  const path = flagPath(ctx, configFlag, 'build.config.json');
  try {
    const config = loadBuildConfig(path, ctx.now());
    return { config, names: derivedNames(config) };
  } catch (err) {
    if (err instanceof ConfigError)
      throw new UsageError(`--config: ${err.message.replace(/:?\n\s*/g, (m) => (m.startsWith(':') ? ': ' : '; '))}`, {
        cause: err,
      });
    throw err;
  }
}

export function generatedDir(ctx: Context, flagValue: string | undefined): string {
  return flagPath(ctx, flagValue, 'generated');
}
