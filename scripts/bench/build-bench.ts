// Build speed and size: `npm run build` timed as a child process (wall time and peak RSS, median
// of several runs), the same build without npm, bare node and node+tsx start-up, and the phases
// inside one build. Timed builds write to a scratch folder so generated/ is never touched.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../build/bundle.ts';
import { median } from './stats.ts';

export interface TimedRun {
  wallMs: number;
  /** Peak resident set of the process tree in KiB (NaN when it could not be measured). */
  peakRssKiB: number;
}

export interface CommandTiming {
  label: string;
  command: string;
  runs: TimedRun[];
  medianWallMs: number;
  medianPeakRssKiB: number;
}

export interface BuildPhases {
  /** In `node scripts/build/run.mjs` (cache hit): checking the cache and loading the bundled build. */
  launcherMs: number;
  /** In the same process: the build itself (renderAll, checks, writing generated/). */
  buildMs: number;
  importMs: number;
  renderMs: number;
  bundleWarmMs: number;
  writeMs: number;
}

export interface SizeRow {
  name: string;
  kind: 'template' | 'document' | 'lambda';
  bytes: number;
  yamlBytes?: number;
}

export interface BuildBench {
  commands: CommandTiming[];
  /** The same four stacks as an AWS CDK app (cdk-synth.mjs), timed run for run beside `npm run build`. */
  cdk: CommandTiming;
  /** `npm run build` with the build cache off (SSM_HUB_BUILD_CACHE=off): a clean checkout's first build. */
  noCache: CommandTiming;
  /** The installed aws-cdk-lib version. */
  cdkVersion: string;
  phases: BuildPhases;
  sizes: SizeRow[];
  runs: number;
}

const GNU_TIME = '/usr/bin/time';

/** Peak RSS of a process and its descendants, sampled from /proc (fallback when GNU time is absent). */
function sampleTreeRss(rootPid: number, peak: { kib: number }): () => void {
  const read = () => {
    try {
      const children = new Map<number, number[]>();
      for (const e of readdirSync('/proc')) {
        if (!/^\d+$/.test(e)) continue;
        try {
          const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
          const list = children.get(ppid) ?? [];
          list.push(Number(e));
          children.set(ppid, list);
        } catch {
          // The process ended between readdir and read.
        }
      }
      const stack = [rootPid];
      while (stack.length) {
        const pid = stack.pop()!;
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
          if (m) peak.kib = Math.max(peak.kib, Number(m[1]));
        } catch {
          // Gone already.
        }
        stack.push(...(children.get(pid) ?? []));
      }
    } catch {
      peak.kib = NaN;
    }
  };
  const timer = setInterval(read, 20);
  return () => clearInterval(timer);
}

/** Runs a command once, timing it with GNU time when present, else hrtime plus /proc sampling. */
export async function timeCommand(
  argv: string[],
  cwd = PROJECT_ROOT,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TimedRun> {
  if (existsSync(GNU_TIME)) {
    const out = spawnSync(GNU_TIME, ['-f', '%e %M', '--', ...argv], { cwd, encoding: 'utf8', env });
    if (out.status !== 0) throw new Error(`${argv.join(' ')} failed: ${out.stderr.slice(-500)}`);
    const last = out.stderr.trim().split('\n').pop() ?? '';
    const m = /^([\d.]+) (\d+)$/.exec(last);
    if (!m) throw new Error(`could not read GNU time output: ${last}`);
    return { wallMs: Number(m[1]) * 1000, peakRssKiB: Number(m[2]) };
  }
  const peak = { kib: 0 };
  const started = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const stop = process.platform === 'linux' && child.pid ? sampleTreeRss(child.pid, peak) : () => (peak.kib = NaN);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  stop();
  if (code !== 0) throw new Error(`${argv.join(' ')} failed: ${stderr.slice(-500)}`);
  return { wallMs: Number(process.hrtime.bigint() - started) / 1e6, peakRssKiB: peak.kib || NaN };
}

const timing = (label: string, argv: string[], timed: TimedRun[]): CommandTiming => ({
  label,
  command: argv.join(' '),
  runs: timed,
  medianWallMs: median(timed.map((r) => r.wallMs)),
  medianPeakRssKiB: median(timed.map((r) => r.peakRssKiB)),
});

async function timeMany(
  label: string,
  argv: string[],
  runs: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CommandTiming> {
  await timeCommand(argv, PROJECT_ROOT, env); // warm the file cache; not counted
  const timed: TimedRun[] = [];
  for (let i = 0; i < runs; i++) timed.push(await timeCommand(argv, PROJECT_ROOT, env));
  return timing(label, argv, timed);
}

/**
 * Two commands timed in turn, run for run (a, b, a, b, …) after one warm-up each, so a change in
 * the machine's load during the bench weighs on both alike.
 */
async function timePaired(
  a: { label: string; argv: string[] },
  b: { label: string; argv: string[] },
  runs: number,
): Promise<[CommandTiming, CommandTiming]> {
  await timeCommand(a.argv);
  await timeCommand(b.argv);
  const ta: TimedRun[] = [];
  const tb: TimedRun[] = [];
  for (let i = 0; i < runs; i++) {
    ta.push(await timeCommand(a.argv));
    tb.push(await timeCommand(b.argv));
  }
  return [timing(a.label, a.argv, ta), timing(b.label, b.argv, tb)];
}

/** The launcher's own account of one build (SSM_HUB_BUILD_TIMING=1). */
function launcherPhases(outDir: string): { launcherMs: number; buildMs: number } {
  const out = spawnSync(process.execPath, ['scripts/build/run.mjs', '--out', outDir, '--quiet'], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    env: { ...process.env, SSM_HUB_BUILD_TIMING: '1' },
  });
  const line = /^build-timing (.+)$/m.exec(out.stderr)?.[1];
  if (out.status !== 0 || !line) throw new Error(`build timing failed: ${out.stderr.slice(-500)}`);
  return JSON.parse(line) as { launcherMs: number; buildMs: number };
}

/** Phases inside one build, measured in a fresh process by probe-build.ts. */
function buildPhases(outDir: string): BuildPhases {
  const out = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(PROJECT_ROOT, 'scripts/bench/probe-build.ts'), outDir],
    { cwd: PROJECT_ROOT, encoding: 'utf8' },
  );
  if (out.status !== 0) throw new Error(`build probe failed: ${out.stderr.slice(-500)}`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!) as BuildPhases;
}

/** Sizes from the manifest of a build output folder (templates as compact JSON). */
export function readSizes(outDir: string): SizeRow[] {
  const manifest = JSON.parse(readFileSync(join(outDir, 'manifest.json'), 'utf8')) as {
    artifacts: Array<{ path: string; kind: 'template' | 'document'; bytes: number }>;
    lambdaBundles: Array<{ name: string; bytes: number }>;
  };
  const rows: SizeRow[] = [];
  for (const a of manifest.artifacts) {
    if (!a.path.endsWith('.json')) continue;
    const name = a.path.replace(/^.*\//, '').replace(/\.json$/, '');
    const compact = Buffer.byteLength(JSON.stringify(JSON.parse(readFileSync(join(outDir, a.path), 'utf8'))));
    const yaml = manifest.artifacts.find((y) => y.path === a.path.replace(/\.json$/, '.yaml'));
    rows.push({ name, kind: a.kind, bytes: compact, yamlBytes: yaml?.bytes });
  }
  for (const b of manifest.lambdaBundles) rows.push({ name: b.name, kind: 'lambda', bytes: b.bytes });
  return rows;
}

export async function runBuildBench(runs: number, progress: (l: string) => void): Promise<BuildBench> {
  const scratch = join(PROJECT_ROOT, '.tmp', 'bench', 'generated');
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const commands: CommandTiming[] = [];
  const npmBuild = [npm, 'run', '-s', 'build', '--', '--out', scratch, '--quiet'];
  progress(`  build: npm run build and the CDK synth of the same stacks, in turn x${runs}`);
  const cdkOut = join(PROJECT_ROOT, '.tmp', 'bench', 'cdk.out');
  const [built, cdk] = await timePaired(
    { label: '`npm run build`', argv: npmBuild },
    {
      label: 'the same four stacks as an AWS CDK app (`app.synth()`)',
      argv: [process.execPath, 'scripts/bench/cdk-synth.mjs', join(PROJECT_ROOT, 'generated'), cdkOut],
    },
    runs,
  );
  commands.push(built);
  progress(`  build: node scripts/build/run.mjs x${runs}`);
  commands.push(
    await timeMany(
      'same build without npm',
      [process.execPath, 'scripts/build/run.mjs', '--out', scratch, '--quiet'],
      runs,
    ),
  );
  progress('  build: start-up baselines');
  commands.push(await timeMany('node + tsx start-up only', [process.execPath, '--import', 'tsx', '-e', '0'], runs));
  progress(`  build: node --import tsx scripts/cli.ts build x${runs}`);
  commands.push(
    await timeMany(
      'same build through tsx (`ssm-hub build`)',
      [process.execPath, '--import', 'tsx', 'scripts/cli.ts', 'build', '--out', scratch, '--quiet'],
      runs,
    ),
  );
  commands.push(await timeMany('bare node start-up', [process.execPath, '-e', '0'], runs));
  progress(`  build: npm run build without the build cache x${runs}`);
  const noCache = await timeMany('`npm run build`, build cache off (`SSM_HUB_BUILD_CACHE=off`)', npmBuild, runs, {
    ...process.env,
    SSM_HUB_BUILD_CACHE: 'off',
  });
  for (const c of [...commands, cdk, noCache]) {
    c.command = c.command
      .replace(process.execPath, 'node')
      .replace(scratch, '<scratch dir>')
      .replaceAll(`${PROJECT_ROOT}/`, '');
  }
  const phaseRuns = Array.from({ length: Math.min(runs, 3) }, () => buildPhases(join(scratch, '..', 'probe-out')));
  const launcherRuns = Array.from({ length: runs }, () => launcherPhases(join(scratch, '..', 'probe-out')));
  const phases: BuildPhases = {
    launcherMs: median(launcherRuns.map((p) => p.launcherMs)),
    buildMs: median(launcherRuns.map((p) => p.buildMs)),
    importMs: median(phaseRuns.map((p) => p.importMs)),
    renderMs: median(phaseRuns.map((p) => p.renderMs)),
    bundleWarmMs: median(phaseRuns.map((p) => p.bundleWarmMs)),
    writeMs: median(phaseRuns.map((p) => p.writeMs)),
  };
  const cdkPackage = join(PROJECT_ROOT, 'node_modules', 'aws-cdk-lib', 'package.json');
  const cdkVersion = (JSON.parse(readFileSync(cdkPackage, 'utf8')) as { version: string }).version;
  return { commands, cdk, noCache, cdkVersion, phases, sizes: readSizes(scratch), runs };
}
