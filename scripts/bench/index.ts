// `npm run bench`: build speed and sizes, a cold-start proxy, and the sync cost of the real tag
// manager at 1,000 / 10,000 / 100,000 nodes, with PASS/MISS against the goals of issue 6.
// Prints a summary and writes BENCHMARKS.md.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  defaultContext,
  defineCommand,
  flag,
  integer,
  list,
  OperationError,
  runCommand,
  pathWithDefault,
} from '../kit/index.ts';
import { oneOf } from '../kit/validate.ts';
import { PROJECT_ROOT } from '../build/bundle.ts';
import { analyseFleet, type ScenarioResult } from './analysis.ts';
import { runBuildBench, type BuildBench } from './build-bench.ts';
import { runColdStartBench, type ColdStartBench } from './cold-start.ts';
import { agencyTemplateGoals, buildTimeGoal, cdkRatioGoal, coldStartGoal, type GoalResult } from './goals.ts';
import { loadAverageNow, machineInfo } from './machine.ts';
import { renderConsole, renderMarkdown, type BenchResults } from './report.ts';
import { runSyncBench } from './sync-bench.ts';
import { scenarioGoals } from './verdicts.ts';
import { COLLECTOR_ENV, TAG_MANAGER_ENV } from '../../lambda/shared/names.ts';

export const spec = defineCommand({
  name: 'bench',
  summary:
    'Measures build speed and sizes, a cold-start proxy for each Lambda bundle, and the AWS calls and simulated wall time of syncing 1,000 / 10,000 / 100,000 nodes with the real tag manager against local fakes. Prints a summary and writes BENCHMARKS.md.',
  usage: ['[--quick] [--runs N] [--only build,cold,sync] [--out FILE]'],
  options: [
    flag('quick', '3 timing runs; measure sync at 1,000 nodes only and derive the larger fleets'),
    integer('runs', {
      help: 'timing runs per build/cold-start measurement',
      min: 3,
      max: 50,
      defaultText: '5, or 3 with --quick',
    }),
    list('only', {
      arg: 'LIST',
      help: 'run only some parts: build, cold, sync',
      check: (f, value) => value.split(',').map((p) => oneOf(f, p.trim(), PARTS)),
    }),
    pathWithDefault('out', {
      arg: 'FILE',
      help: 'where to write the report',
      default: join(PROJECT_ROOT, 'BENCHMARKS.md'),
      defaultText: 'BENCHMARKS.md',
    }),
  ],
});

const PARTS = ['build', 'cold', 'sync'] as const;

const FLEETS = [
  { nodes: 1_000, agencies: 10 },
  { nodes: 10_000, agencies: 100 },
  { nodes: 100_000, agencies: 1_000 },
];

const progress = (line: string) => process.stderr.write(`${line}\n`);

export async function main(argv: string[]): Promise<number> {
  return runCommand(spec, argv, defaultContext(), async (args) => {
    const runs = args.runs ?? (args.quick ? 3 : 5);
    const parts = new Set<string>(args.only ?? PARTS);
    const started = performance.now();
    const machine = machineInfo();
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
    ensureBuilt();
    let build: BuildBench | undefined;
    let coldStart: ColdStartBench | undefined;
    if (parts.has('build')) {
      progress('build speed and sizes');
      build = await runBuildBench(runs, progress);
    }
    if (parts.has('cold')) {
      progress('cold start proxy');
      coldStart = await runColdStartBench(Math.max(runs, 5));
    }
    const fleets = parts.has('sync') ? await syncFleets(args.quick) : { sync: [], measuredSizes: [], derivedSizes: [] };
    const results: BenchResults = {
      date: new Date().toISOString().slice(0, 10),
      machine,
      benchSeconds: (performance.now() - started) / 1000,
      loadAverageAtEnd: loadAverageNow(),
      build,
      coldStart,
      ...fleets,
      goals: evaluateGoals(build, fleets.sync, coldStart),
      limits: {
        tagManagerTimeoutS: functionTimeout(
          join(PROJECT_ROOT, 'generated/templates/central-manager.json'),
          TAG_MANAGER_ENV.ssmConcurrency,
        ),
        collectorTimeoutS: functionTimeout(
          join(PROJECT_ROOT, 'generated/templates/agency-collector.json'),
          COLLECTOR_ENV.hubFunctionArn,
        ),
      },
    };
    writeFileSync(args.out, renderMarkdown(results));
    process.stdout.write(renderConsole(results));
    process.stdout.write(
      `\nwrote ${args.out.replace(`${PROJECT_ROOT}/`, '')} in ${Math.round(results.benchSeconds)} s\n`,
    );
    return 0;
  });
}

/** The bench reads generated/: build it first on a fresh clone. */
function ensureBuilt(): void {
  if (existsSync(join(PROJECT_ROOT, 'generated', 'manifest.json'))) return;
  progress('generated/ is missing: running npm run build first');
  const out = spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '-s', 'build', '--', '--quiet'], {
    cwd: PROJECT_ROOT,
    stdio: 'inherit',
  });
  if (out.status !== 0) throw new OperationError('npm run build failed');
}

/** Measures the smaller fleets and derives the larger ones from the largest measured. */
async function syncFleets(quick: boolean) {
  const sync: ScenarioResult[] = [];
  const measuredSizes: number[] = [];
  const derivedSizes: Array<{ nodes: number; from: number }> = [];
  const measured = quick ? FLEETS.slice(0, 1) : FLEETS.slice(0, 2);
  let largest: { runs: Awaited<ReturnType<typeof runSyncBench>>; nodes: number } | undefined;
  for (const fleet of measured) {
    progress(`sync cost, N = ${fleet.nodes} (measured)`);
    const r = await runSyncBench(fleet, { progress });
    sync.push(...(await analyseFleet(r, fleet, 'measured')));
    measuredSizes.push(fleet.nodes);
    largest = { runs: r, nodes: fleet.nodes };
  }
  for (const fleet of FLEETS.slice(measured.length)) {
    progress(`sync cost, N = ${fleet.nodes} (derived from N = ${largest!.nodes})`);
    sync.push(...(await analyseFleet(largest!.runs, fleet, 'derived')));
    derivedSizes.push({ nodes: fleet.nodes, from: largest!.nodes });
  }
  return { sync, measuredSizes, derivedSizes };
}

/** The Timeout of the template's Lambda function that has `envVar` in its environment. */
export function functionTimeout(templateFile: string, envVar: string): number | undefined {
  try {
    const t = JSON.parse(readFileSync(templateFile, 'utf8')) as {
      Resources?: Record<string, { Type?: string; Properties?: Record<string, any> }>;
    };
    for (const r of Object.values(t.Resources ?? {})) {
      if (r.Type === 'AWS::Lambda::Function' && r.Properties?.Environment?.Variables?.[envVar] !== undefined) {
        return typeof r.Properties.Timeout === 'number' ? r.Properties.Timeout : 3;
      }
    }
  } catch {
    // No template to read: the report leaves the limits out.
  }
  return undefined;
}

export function evaluateGoals(
  build: BuildBench | undefined,
  sync: readonly ScenarioResult[],
  coldStart?: ColdStartBench,
): GoalResult[] {
  const goals: GoalResult[] = [];
  if (build) {
    goals.push(buildTimeGoal(build.commands[0]!.medianWallMs));
    goals.push(cdkRatioGoal(build.commands[0]!.medianWallMs, build.cdk.medianWallMs));
    goals.push(...agencyTemplateGoals(build.sizes));
  }
  for (const row of coldStart?.rows.filter((r) => r.name === 'collector') ?? []) {
    goals.push(coldStartGoal(`collector (${row.run})`, row.overBareMs));
  }
  // Each scenario's own goals, fleet by fleet (scripts/bench/verdicts.ts).
  const sizes = [...new Set(sync.map((s) => s.nodes))].sort((a, b) => a - b);
  for (const n of sizes) for (const r of sync.filter((s) => s.nodes === n)) goals.push(...scenarioGoals(r));
  return goals;
}
