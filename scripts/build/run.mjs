// `npm run build` starts here: a plain-JavaScript launcher that bundles the build's TypeScript
// sources with esbuild (npm packages stay external) and runs them. It halves the start-up that
// a general TypeScript loader costs, and the build is what CI and every edit run most.
// Each source keeps its own import.meta.url, so paths resolve exactly as when run through tsx.
import { build } from 'esbuild';
import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CLI_BUNDLE, writeCliBundle } from './cli-bundle.mjs';

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

const bundled = await build({
  absWorkingDir: root,
  entryPoints: ['scripts/build/index.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  write: false,
  plugins: [keepImportMetaUrl],
  logLevel: 'silent',
});

// Inside the project, so the external packages resolve from its node_modules.
const dir = join(root, '.tmp', 'build-runner');
await mkdir(dir, { recursive: true });
const file = join(dir, `build-${process.pid}.mjs`);
await writeFile(file, bundled.outputFiles[0].text);
let mod;
try {
  mod = await import(pathToFileURL(file).href);
} finally {
  await rm(file, { force: true });
}
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
