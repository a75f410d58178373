// Cold-start proxy: how long a fresh node process takes to load each Lambda bundle (the exact
// Code.ZipFile bytes) and construct the SDK clients a run of it uses, compared with a bare
// `node -e 0`. A bundle may load a client only when a run needs it (the collector does), so each
// kind of run is a row of its own. The SDK comes from node_modules here; in Lambda it comes from
// the runtime, so this is a proxy.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleAllLambdas, PROJECT_ROOT, type LambdaName } from '../build/bundle.ts';
import { median } from './stats.ts';

export interface ColdStartRow {
  name: string;
  /** The kind of run: which SDK clients it needs. */
  run: string;
  bytes: number;
  /** SDK clients the bundle loads as soon as it is required. */
  atInit: string[];
  clients: string[];
  /** In-process: require(bundle). */
  loadMs: number;
  /** In-process: constructing each SDK client the bundle uses. */
  clientsMs: number;
  /** Whole process, spawn to exit. */
  processMs: number;
  /** processMs minus bare node's. */
  overBareMs: number;
}

export interface ColdStartBench {
  bareNodeMs: number;
  rows: ColdStartRow[];
  runs: number;
}

/**
 * The kinds of run measured per bundle, and the SDK client packages each needs; a bundle not
 * listed needs every client it requires. The collector's most frequent run is a tag-change event,
 * which only invokes the hub; a reconcile also pages EC2 and refreshes the activation parameters.
 */
export const COLD_START_RUNS: Partial<Record<LambdaName, Array<{ run: string; clients: string[] }>>> = {
  collector: [
    { run: 'tag-change event', clients: ['@aws-sdk/client-lambda'] },
    { run: 'reconcile', clients: ['@aws-sdk/client-ec2', '@aws-sdk/client-lambda', '@aws-sdk/client-ssm'] },
  ],
};

/** The SDK client packages a bundle requires (left external by esbuild). Pure. */
export function sdkClientPackages(code: string): string[] {
  const found = new Set<string>();
  for (const m of code.matchAll(/require\(["'](@aws-sdk\/client-[a-z0-9-]+)["']\)/g)) found.add(m[1]!);
  return [...found].sort();
}

const PROBE = `
const t0 = process.hrtime.bigint();
require(process.env.BENCH_BUNDLE);
const t1 = process.hrtime.bigint();
const atInit = Object.keys(require.cache).map((f) => (f.match(/@aws-sdk.client-[a-z0-9-]+/) || [])[0]).filter(Boolean).map((p) => '@aws-sdk/' + p.slice(9));
const names = [];
for (const pkg of JSON.parse(process.env.BENCH_CLIENTS)) {
  const mod = require(require.resolve(pkg, { paths: [process.env.BENCH_DIR] }));
  const cls = Object.keys(mod).filter((k) => /^[A-Z][A-Za-z0-9]*Client$/.test(k) && typeof mod[k] === 'function').sort((a, b) => a.length - b.length)[0];
  new mod[cls]({ region: 'us-east-1' });
  names.push(cls);
}
const t2 = process.hrtime.bigint();
process.stdout.write(JSON.stringify({ loadMs: Number(t1 - t0) / 1e6, clientsMs: Number(t2 - t1) / 1e6, names, atInit: [...new Set(atInit)].sort() }));
`;

function timeSpawn(args: string[], env: NodeJS.ProcessEnv): { ms: number; stdout: string } {
  const t = process.hrtime.bigint();
  const out = spawnSync(process.execPath, args, { cwd: PROJECT_ROOT, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (out.status !== 0) throw new Error(`cold-start probe failed: ${out.stderr.slice(-500)}`);
  return { ms, stdout: out.stdout };
}

export async function runColdStartBench(runs: number): Promise<ColdStartBench> {
  const bundles = await bundleAllLambdas();
  const env = {
    ...process.env,
    AWS_REGION: 'us-east-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  timeSpawn(['-e', '0'], env);
  const bare = median(Array.from({ length: runs }, () => timeSpawn(['-e', '0'], env).ms));
  const rows: ColdStartRow[] = [];
  for (const name of (Object.keys(bundles) as LambdaName[]).sort()) {
    const code = bundles[name];
    // Inside the project so the external @aws-sdk/* requires resolve from node_modules.
    const dir = join(PROJECT_ROOT, '.tmp', 'bench', 'cold', name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'index.js');
    writeFileSync(file, code);
    for (const kind of COLD_START_RUNS[name] ?? [{ run: 'any', clients: sdkClientPackages(code) }]) {
      const probeEnv = { ...env, BENCH_BUNDLE: file, BENCH_DIR: dir, BENCH_CLIENTS: JSON.stringify(kind.clients) };
      timeSpawn(['-e', PROBE], probeEnv); // warm the file cache
      const samples = Array.from({ length: runs }, () => {
        const { ms, stdout } = timeSpawn(['-e', PROBE], probeEnv);
        return {
          ms,
          ...(JSON.parse(stdout) as { loadMs: number; clientsMs: number; names: string[]; atInit: string[] }),
        };
      });
      const processMs = median(samples.map((s) => s.ms));
      rows.push({
        name,
        run: kind.run,
        bytes: Buffer.byteLength(code),
        atInit: samples[0]!.atInit,
        clients: samples[0]!.names,
        loadMs: median(samples.map((s) => s.loadMs)),
        clientsMs: median(samples.map((s) => s.clientsMs)),
        processMs,
        overBareMs: processMs - bare,
      });
    }
  }
  return { bareNodeMs: bare, rows, runs };
}
