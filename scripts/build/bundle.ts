// Bundles each Lambda handler into one CommonJS file for Code.ZipFile: minified, with the
// runtime's AWS SDK v3 left external. No timestamps or absolute paths reach the output, so
// the same sources give the same bytes.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Every Lambda the templates embed, by bundle name. */
export const LAMBDA_ENTRIES = {
  'tag-manager': 'lambda/tag-manager/index.ts',
  'activation-manager': 'lambda/activation-manager/index.ts',
  collector: 'lambda/collector/index.ts',
} as const;
export type LambdaName = keyof typeof LAMBDA_ENTRIES;

/** esbuild target matching the oldest runtime the build allows. */
const NODE_TARGET = 'node22';

export async function bundleLambda(name: LambdaName): Promise<string> {
  const result = await build({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [LAMBDA_ENTRIES[name]],
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
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`esbuild produced no output for ${name}`);
  return file.text;
}

export async function bundleAllLambdas(): Promise<Record<LambdaName, string>> {
  const names = Object.keys(LAMBDA_ENTRIES) as LambdaName[];
  const codes = await Promise.all(names.map((n) => bundleLambda(n)));
  return Object.fromEntries(names.map((n, i) => [n, codes[i]!])) as Record<LambdaName, string>;
}
