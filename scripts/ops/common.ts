// Pieces several subcommands share: the build configuration, the generated/ location and the
// names derived from them.
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, derivedNames, loadBuildConfig, type BuildConfig } from '../../templates-src/config.ts';
import { str, type Context, type Flags, type OptionSpec } from './cli-kit.ts';
import { UsageError } from './errors.ts';

export const GENERATED_DIR_OPTION: OptionSpec = {
  name: 'generated-dir',
  type: 'string',
  arg: 'DIR',
  help: 'build output to read (default: generated/)',
};

export function projectPath(ctx: Context, p: string): string {
  return isAbsolute(p) ? p : resolve(ctx.root, p);
}

export function loadConfig(
  ctx: Context,
  flags: Flags,
): { config: BuildConfig; names: ReturnType<typeof derivedNames> } {
  const path = projectPath(ctx, str(flags, 'config') ?? 'build.config.json');
  try {
    const config = loadBuildConfig(path, ctx.now());
    return { config, names: derivedNames(config) };
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(`--config: ${err.message}`);
    throw err;
  }
}

export function generatedDir(ctx: Context, flags: Flags): string {
  return projectPath(ctx, str(flags, 'generated-dir') ?? 'generated');
}
