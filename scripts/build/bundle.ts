// Bundles each Lambda handler into one CommonJS file for Code.ZipFile: minified, with the
// runtime's AWS SDK v3 left external. No timestamps or absolute paths reach the output, so
// the same sources give the same bytes.
import type { BuildOptions } from 'esbuild';
import { basename } from 'node:path';
import { PROJECT_ROOT } from '../../contract/project.ts';
import { cachedStep } from './cache.mjs';

export { PROJECT_ROOT };

/** Every Lambda the templates embed, by bundle name. */
export const LAMBDA_ENTRIES = {
  'tag-manager': 'lambda/tag-manager/index.ts',
  'activation-manager': 'lambda/activation-manager/index.ts',
  collector: 'lambda/collector/index.ts',
  'fleet-lifecycle': 'lambda/fleet-lifecycle/index.ts',
} as const;
export type LambdaName = keyof typeof LAMBDA_ENTRIES;

/** esbuild target matching the oldest runtime the build allows. */
const NODE_TARGET = 'node22';

const BUILD_OPTIONS = {
  absWorkingDir: PROJECT_ROOT,
  bundle: true,
  platform: 'node',
  target: NODE_TARGET,
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  charset: 'utf8',
  sourcemap: false,
  write: false,
  treeShaking: true,
  external: ['@aws-sdk/*', '@smithy/*'],
  // A handler may load an SDK client only when a run needs it (`await import(…)`). esbuild turns
  // that into a deferred require(): the runtime's SDK is found through NODE_PATH, which Node's
  // require honours and its ES module resolution does not.
  supported: { 'dynamic-import': false },
  logLevel: 'silent',
} as const satisfies BuildOptions;

export async function bundleLambda(name: LambdaName): Promise<string> {
  const { build } = await import('esbuild');
  const result = await build({ ...BUILD_OPTIONS, entryPoints: [LAMBDA_ENTRIES[name]] });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`esbuild produced no output for ${name}`);
  return file.text;
}

/**
 * All bundles in one esbuild call: the shared dependencies (zod) are parsed once. Kept in the
 * build cache (cache.mjs) while none of the files esbuild read changes; esbuild is loaded only
 * when it must run.
 */
export async function bundleAllLambdas(): Promise<Record<LambdaName, string>> {
  const names = Object.keys(LAMBDA_ENTRIES) as LambdaName[];
  const options = {
    ...BUILD_OPTIONS,
    entryPoints: Object.fromEntries(names.map((n) => [n, LAMBDA_ENTRIES[n]])),
    outdir: 'bundles',
  };
  const outputs = await cachedStep(PROJECT_ROOT, 'lambdas', JSON.stringify(options), async () => {
    const { build } = await import('esbuild');
    const result = await build({ ...options, metafile: true });
    return {
      outputs: Object.fromEntries(result.outputFiles.map((f) => [basename(f.path, '.js'), f.text])),
      inputs: Object.keys(result.metafile.inputs),
    };
  });
  return Object.fromEntries(
    names.map((n) => {
      const code = outputs[n];
      if (!code) throw new Error(`esbuild produced no output for ${n}`);
      return [n, code];
    }),
  ) as Record<LambdaName, string>;
}
