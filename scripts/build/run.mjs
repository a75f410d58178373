// `npm run build` starts here: a plain-JavaScript launcher that bundles the build's TypeScript
// sources with esbuild (npm packages stay external) and runs them. It halves the start-up that
// a general TypeScript loader costs, and the build is what CI and every edit run most.
// Each source keeps its own import.meta.url, so paths resolve exactly as when run through tsx.
// The bundle is kept in the build cache (cache.mjs) while none of its sources changes, and
// esbuild is loaded only when it must run.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CLI_BUNDLE, writeCliBundle } from './cli-bundle.mjs';
import { cachedStep } from './cache.mjs';

const started = performance.now();
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// The operator CLI's bundle is made alongside (esbuild works in its own process meanwhile).
const cliBundle = writeCliBundle(root, { check: process.argv.includes('--check') });

const keepImportMetaUrl = {
  name: 'keep-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async ({ path }) => ({
      contents: (await readFile(path, 'utf8')).replaceAll('import.meta.url', JSON.stringify(pathToFileURL(path).href)),
      loader: 'ts',
    }));
  },
};

const OPTIONS = {
  absWorkingDir: root,
  entryPoints: ['scripts/build/index.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // zod and yaml are bundled in too: one file parses faster than their dozens of modules. esbuild
  // stays a package (it has a native binary), and so do the AWS SDK and aws-cdk-lib.
  external: ['esbuild', '@aws-sdk/*', '@smithy/*', 'aws-cdk-lib', 'constructs'],
  // yaml's Node entry is CommonJS and requires node built-ins.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  // Smaller to parse on every build; names stay, so a stack trace still reads.
  minifyWhitespace: true,
  minifySyntax: true,
  write: false,
  logLevel: 'silent',
};

// The bundle is written once into the cache folder, named by its hash, and imported from there:
// inside the project, so the external packages resolve from its node_modules. The root is part of
// the salt: the bundle holds each source's absolute file URL.
const cacheDir = join(root, '.tmp', 'build-cache');
const bundleLauncher = async () => {
  const { build } = await import('esbuild');
  const bundled = await build({ ...OPTIONS, plugins: [keepImportMetaUrl], metafile: true });
  const code = bundled.outputFiles[0].text;
  const name = `launcher-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`;
  const file = join(cacheDir, name);
  if (!existsSync(file)) {
    // Bundles of older sources go; a build still running one has it loaded already.
    for (const old of existsSync(cacheDir) ? await readdir(cacheDir) : []) {
      if (/^launcher-[0-9a-f]{16}\.mjs$/.test(old)) await rm(join(cacheDir, old), { force: true });
    }
    await mkdir(cacheDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, code);
    await rename(tmp, file);
  }
  return { outputs: { file }, inputs: Object.keys(bundled.metafile.inputs) };
};
let { file } = await cachedStep(root, 'launcher', JSON.stringify({ ...OPTIONS, plugin: 1 }), bundleLauncher);
if (!existsSync(file)) ({ file } = (await bundleLauncher()).outputs);

let mod;
try {
  mod = await import(pathToFileURL(file).href);
} catch (err) {
  process.stderr.write(`build: cannot load the build sources: ${err?.message ?? String(err)}\n`);
  process.exit(1);
}
const loaded = performance.now();
try {
  process.exitCode = await mod.main(process.argv.slice(2));
  if ((await cliBundle).stale) {
    process.stderr.write(`build --check: ${CLI_BUNDLE} is stale\n`);
    process.exitCode = 1;
  }
} catch (err) {
  // Expected failures (a bad build.config.json, a template check) are typed errors for people.
  process.stderr.write(`build: ${err?.message ?? String(err)}\n`);
  process.exitCode = 1;
}
// SSM_HUB_BUILD_TIMING=1: the bench's view of where a build's time goes, on stderr.
if (process.env.SSM_HUB_BUILD_TIMING === '1') {
  const ms = (n) => Math.round(n * 10) / 10;
  const timing = { launcherMs: ms(loaded - started), buildMs: ms(performance.now() - loaded) };
  process.stderr.write(`build-timing ${JSON.stringify(timing)}\n`);
}
