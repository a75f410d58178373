// Loads the real bundled Lambda code (the bytes that go into Code.ZipFile) so tests exercise
// exactly what ships. Each call gets a fresh module instance, so clients pick up the
// environment (endpoints, table names) set by the test before loading. The files go to one
// folder per test run (testing/helpers/global-setup.ts removes it at the end); outside vitest (the
// bench) to one folder per process, removed when the process exits.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { bundleLambda, PROJECT_ROOT, type LambdaName } from '../../scripts/build/bundle.ts';

const cache = new Map<LambdaName, string>();
let counter = 0;

/** Set by the global setup: the folder of this test run's bundles. */
export const BUNDLE_DIR_VARIABLE = 'SSM_HUB_TEST_BUNDLE_DIR';

let ownDir: string | undefined;
function bundleDir(): string {
  const shared = process.env[BUNDLE_DIR_VARIABLE];
  if (shared) return shared;
  if (!ownDir) {
    const dir = join(PROJECT_ROOT, '.tmp', 'bundles', `pid-${process.pid}`);
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    ownDir = dir;
  }
  return ownDir;
}

export interface BundledHandler {
  handler: (event: unknown, context: unknown) => Promise<unknown>;
  [exported: string]: unknown;
}

export async function loadBundledHandler(name: LambdaName): Promise<BundledHandler> {
  let code = cache.get(name);
  if (!code) {
    code = await bundleLambda(name);
    cache.set(name, code);
  }
  return loadCode(code, name);
}

/** Loads Lambda code as the runtime does: index.js of a CommonJS package. A fresh instance each call. */
export function loadCode(code: string, label: string): BundledHandler {
  // Inside the project so the external @aws-sdk/* imports resolve from node_modules.
  const dir = join(bundleDir(), `${label}-${process.pid}-${counter++}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'index.js');
  // The project is ESM ("type": "module"); the bundle is CommonJS like Code.ZipFile's index.js.
  writeFileSync(join(dir, 'package.json'), '{"type":"commonjs"}\n');
  writeFileSync(file, code);
  const require = createRequire(file);
  return require(file) as BundledHandler;
}

/** A Lambda context as the runtime passes it; only the fields the handlers read. */
export function lambdaContext(invokedFunctionArn: string, overrides: Record<string, unknown> = {}) {
  return {
    invokedFunctionArn,
    functionName: invokedFunctionArn.split(':')[6] ?? 'fn',
    awsRequestId: 'req-0000-test',
    // A fresh invocation of the longest-running function (the collector: 900 s).
    getRemainingTimeInMillis: () => 900_000,
    ...overrides,
  };
}
