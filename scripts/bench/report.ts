// Renders BENCHMARKS.md and the console summary. Pure: the same results give the same text, so
// the file changes only where a measured number changes.
import type { BuildBench } from './build-bench.ts';
import type { ColdStartBench } from './cold-start.ts';
import type { GoalResult } from './goals.ts';
import type { MachineInfo } from './machine.ts';
import { API_ASSUMPTIONS, INVOKE_OVERHEAD_MS, LAMBDA_MAX_SECONDS, POOL_SIZE } from './assumptions.ts';
import { ddbCalls, ssmCalls, ssmReads, ssmWrites, type ScenarioResult } from './analysis.ts';
import { DRIFT_SHARE, SCENARIO_LABELS } from './sync-bench.ts';
import { duration, int, mib, ratio, sum } from './stats.ts';
import { rowVerdict } from './verdicts.ts';

export interface BenchResults {
  date: string;
  machine: MachineInfo;
  benchSeconds: number;
  /** 1-minute load average when the bench ended. */
  loadAverageAtEnd?: number;
  build?: BuildBench;
  coldStart?: ColdStartBench;
  sync: ScenarioResult[];
  goals: GoalResult[];
  /** Fleet sizes measured for real and derived, for the method notes. */
  measuredSizes: number[];
  derivedSizes: Array<{ nodes: number; from: number }>;
  /** Timeouts the generated templates set, when they could be read. */
  limits?: { tagManagerTimeoutS?: number; collectorTimeoutS?: number };
}

const table = (head: string[], rows: string[][], align?: Array<'l' | 'r'>): string => {
  const sep = head.map((_, i) => ((align?.[i] ?? 'r') === 'l' ? '---' : '---:'));
  return [head, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
};

const label = (r: ScenarioResult): string =>
  r.id === 'blog-d' ? "blog's approach, 20% of SSM calls throttled" : SCENARIO_LABELS[r.id];

function goalsSection(goals: GoalResult[]): string {
  const missed = goals.filter((g) => !g.pass);
  return [
    '## Goals',
    '',
    table(
      ['goal', 'target', 'measured', 'verdict', 'margin'],
      goals.map((g) => [g.goal, g.target, g.measured, g.pass ? 'PASS' : '**MISS**', g.margin]),
      ['l', 'r', 'r', 'l', 'l'],
    ),
    '',
    missed.length === 0
      ? 'Every goal is met.'
      : `${missed.length} of ${goals.length} goals are missed; the goals stay as the issue set them and the margin says by how much.`,
  ].join('\n');
}

function buildSection(b: BuildBench): string {
  const out = ['## Build', ''];
  out.push(
    `Median of ${b.runs} runs after one warm-up run, each a child process timed with GNU time (wall time, peak RSS of the process tree). Timed builds write to a scratch folder, not generated/.`,
    '',
    table(
      ['what', 'command', 'median wall', 'median peak RSS'],
      [...b.commands, b.noCache, b.cdk].map((c) => [
        c.label,
        `\`${c.command}\``,
        duration(c.medianWallMs),
        mib(c.medianPeakRssKiB),
      ]),
      ['l', 'l', 'r', 'r'],
    ),
    '',
    'Where the time goes (median; the launcher and the build itself as `node scripts/build/run.mjs` reports them with `SSM_HUB_BUILD_TIMING=1`, the esbuild and write rows from scripts/bench/probe-build.ts):',
    '',
    table(
      ['phase', 'time'],
      [
        [
          'npm start-up (npm run build minus the direct build)',
          duration(b.commands[0]!.medianWallMs - b.commands[1]!.medianWallMs),
        ],
        ['node start-up (`node -e 0`)', duration(b.commands[4]!.medianWallMs)],
        [
          "the launcher: checks the build cache and loads the build's own TypeScript (bundled once by esbuild) with its packages",
          duration(b.phases.launcherMs),
        ],
        [
          'the build itself: 3 Lambda bundles (from the build cache), templates, documents, checks, writing generated/',
          duration(b.phases.buildMs),
        ],
        [
          'esbuild bundling the 3 Lambdas when a source changed (cache off, esbuild warm)',
          duration(b.phases.bundleWarmMs),
        ],
        ['writing generated/', duration(b.phases.writeMs)],
      ],
      ['l', 'r'],
    ),
    '',
    '`npm run build` runs scripts/build/run.mjs, which bundles the build sources with esbuild instead of loading them file by file through tsx, as `ssm-hub build` does (compare the rows above). Its three esbuild steps (the build sources, the Lambda bundles, the operator CLI bundle generated/cli/ssm-hub.mjs) are kept in a content-addressed cache (scripts/build/cache.mjs, `.tmp/build-cache/`) keyed by every file esbuild read, its folder listing, package.json, package-lock.json, tsconfig.json and the options; a hit gives the same bytes, so the output stays deterministic. The "cache off" row is a clean checkout\'s first build.',
    '',
    `The AWS CDK row is scripts/bench/cdk-synth.mjs: the same four stacks as a CDK app (aws-cdk-lib ${b.cdkVersion}, each stack including the generated template with cloudformation-include, so CDK bundles no Lambda), synthesized in a fresh node process. It ran in turn with \`npm run build\`, run for run, so both saw the same load: \`npm run build\` was ${(b.cdk.medianWallMs / b.commands[0]!.medianWallMs).toFixed(1)}× faster by the medians.`,
    '',
    '### Sizes',
    '',
    table(
      ['artifact', 'kind', 'bytes (templates: compact JSON)', 'YAML bytes'],
      b.sizes.map((s) => [s.name, s.kind, int(s.bytes), s.yamlBytes === undefined ? '' : int(s.yamlBytes)]),
      ['l', 'l', 'r', 'r'],
    ),
    '',
    'CloudFormation accepts a TemplateBody of up to 51,200 bytes; larger templates must be deployed from S3 (TemplateURL, up to 1 MB).',
  );
  return out.join('\n');
}

function coldSection(c: ColdStartBench): string {
  const short = (pkgs: string[]) =>
    pkgs.length ? pkgs.map((p) => p.replace('@aws-sdk/client-', '')).join(', ') : 'none';
  return [
    '## Cold start proxy',
    '',
    `A fresh \`node\` process loads each bundle (the exact Code.ZipFile bytes), then loads and constructs the SDK clients one kind of run needs. The collector loads each client on first use, so a tag-change event (its most frequent run) loads the Lambda client only, and a reconcile all three. Median of ${c.runs} runs; bare \`node -e 0\` takes ${duration(c.bareNodeMs)}. The SDK is loaded from node_modules here, from the runtime in Lambda, so this is a proxy for init time, not a Lambda measurement.`,
    '',
    table(
      [
        'bundle',
        'run',
        'bytes',
        'SDK clients loaded at init',
        'SDK clients the run needs',
        'require(bundle)',
        'load + construct clients',
        'process wall',
        'over bare node',
      ],
      c.rows.map((r) => [
        r.name,
        r.run,
        int(r.bytes),
        short(r.atInit),
        r.clients.join(', '),
        duration(r.loadMs),
        duration(r.clientsMs),
        duration(r.processMs),
        duration(r.overBareMs),
      ]),
      ['l', 'l', 'r', 'l', 'l', 'r', 'r', 'r', 'r'],
    ),
  ].join('\n');
}

function syncRows(rows: ScenarioResult[]): string[][] {
  return rows.map((r) => [
    label(r),
    r.source,
    rowVerdict(r),
    int(r.calls.AddTagsToResource ?? 0),
    int(r.calls.RemoveTagsFromResource ?? 0),
    int(r.calls.ListTagsForResource ?? 0),
    int(r.calls.GetResources ?? 0),
    int(r.calls.DescribeInstanceInformation ?? 0),
    int(r.calls.GetParameter ?? 0),
    int(ssmWrites(r.calls)),
    int(ssmReads(r.calls)),
    int(r.calls.BatchGetItem ?? 0),
    int((r.calls.PutItem ?? 0) + (r.calls.UpdateItem ?? 0) + (r.calls.DeleteItem ?? 0)),
    int(r.invokes),
    int(r.ec2Pages),
    int(sum(r.sim.throttled)),
    duration(r.sim.wallMs),
    duration(r.sim.maxRequestMs),
  ]);
}

function syncSection(results: BenchResults): string {
  const sizes = [...new Set(results.sync.map((r) => r.nodes))].sort((a, b) => a - b);
  const out = [
    '## Sync cost',
    '',
    "The real bundled tag manager, called with sync requests of 100 instances built by the collector's own batching, against the SSM and Tagging API fakes and dynalite (through a counting proxy). Every AWS call is counted by API. Calls are successful calls; throttled attempts are counted separately. Each instance carries 10 EC2 tags, 2 of them `aws:` tags that SSM refuses.",
    '',
    `Measured for real: N = ${results.measuredSizes.map(int).join(', ')}. ` +
      (results.derivedSizes.length
        ? results.derivedSizes
            .map(
              (d) =>
                `N = ${int(d.nodes)} is **derived, not measured**: each of its agencies replays the per-request call counts measured at N = ${int(d.from)} (every agency holds 100 nodes, one request, in both), and the simulated clock runs the whole derived fleet.`,
            )
            .join(' ')
        : ''),
    '',
    "Columns: whether the row meets its goals (listed under Goals; — for the blog's approach, which has none), SSM calls by API (and the Tagging API's GetResources, the drift pass's bulk read), then SSM writes and reads in total, DynamoDB BatchGetItem and item writes (PutItem/UpdateItem/DeleteItem), collector → tag manager Lambda invokes, the collectors' EC2 DescribeInstances pages (computed: 1,000 instances per page), throttled SSM attempts in the simulation, the simulated wall time until the last collector finished, and the longest single tag-manager invocation.",
  ];
  for (const n of sizes) {
    const rows = results.sync.filter((r) => r.nodes === n);
    out.push(
      '',
      `### N = ${int(n)} nodes, ${int(rows[0]!.agencies)} agencies`,
      '',
      table(
        [
          'scenario',
          'source',
          'goal',
          'AddTags',
          'RemoveTags',
          'ListTags',
          'GetResources',
          'DescribeInstInfo',
          'GetParameter',
          'SSM writes',
          'SSM reads',
          'BatchGetItem',
          'item writes',
          'invokes',
          'EC2 pages',
          'throttled',
          'simulated wall',
          'longest invocation',
        ],
        syncRows(rows),
        ['l', 'l'],
      ),
    );
  }
  out.push(...timeoutsPart(results), ...blogPart(results, sizes));
  return out.join('\n');
}

/** The longest invocations against the functions' own timeouts (nothing when the timeouts are unknown). */
function timeoutsPart(results: BenchResults): string[] {
  const out: string[] = [];
  const lim = results.limits ?? {};
  if (lim.tagManagerTimeoutS || lim.collectorTimeoutS) {
    const over = (ms: number, s?: number) =>
      s === undefined ? 'n/a' : ms <= s * 1000 ? 'within' : `**over by ${duration(ms - s * 1000)}**`;
    out.push(
      '',
      "### Against the functions' own timeouts",
      '',
      `Each invocation must also finish within the timeout the templates set: tag manager ${lim.tagManagerTimeoutS ?? 'n/a'} s, collector ${lim.collectorTimeoutS ?? 'n/a'} s. All collectors start together here, so they share the SSM rate. An invocation that would outlast its timeout is not lost: the tag manager stops starting nodes 20 s before its deadline and answers the rest as deferred, the collector starts a hub request only with a whole tag-manager call of time left, and the next scheduled reconcile carries on (unchanged nodes cost nothing). A row over its timeout therefore means that work takes several reconcile runs, not that it fails.`,
      '',
      table(
        [
          'N',
          'scenario',
          'longest tag-manager invocation',
          'vs its timeout',
          'longest collector run',
          'vs its timeout',
        ],
        results.sync
          .filter((r) => r.id !== 'blog' && r.id !== 'blog-d')
          .map((r) => [
            int(r.nodes),
            label(r),
            duration(r.sim.maxRequestMs),
            over(r.sim.maxRequestMs, lim.tagManagerTimeoutS),
            duration(r.sim.maxAgencyMs),
            over(r.sim.maxAgencyMs, lim.collectorTimeoutS),
          ]),
        ['r', 'l'],
      ),
    );
  }
  return out;
}

/** This project against the blog's stateless approach, per fleet size. */
function blogPart(results: BenchResults, sizes: number[]): string[] {
  const out: string[] = [];
  out.push(
    '',
    "### Against the blog's approach",
    '',
    "The blog's approach keeps no state: every run re-applies every tag of every instance, one AddTagsToResource per instance. It ran through the same fakes and counters, with the same batching and concurrency. Ratios are blog ÷ this project; higher means this project is cheaper.",
    '',
  );
  const cmp: string[][] = [];
  for (const n of sizes) {
    const rows = results.sync.filter((r) => r.nodes === n);
    const blog = rows.find((r) => r.id === 'blog');
    const blogD = rows.find((r) => r.id === 'blog-d');
    if (!blog || !blogD) continue;
    for (const id of ['a', 'b', 'c', 'd'] as const) {
      const ours = rows.find((r) => r.id === id);
      if (!ours) continue;
      const theirs = id === 'd' ? blogD : blog;
      const all = (r: ScenarioResult) => ssmCalls(r.calls) + ddbCalls(r.calls);
      cmp.push([
        int(n),
        SCENARIO_LABELS[id],
        int(ssmCalls(theirs.calls)),
        int(ssmCalls(ours.calls)),
        ratio(ssmCalls(theirs.calls), ssmCalls(ours.calls)),
        ratio(all(theirs), all(ours)),
        duration(theirs.sim.wallMs),
        duration(ours.sim.wallMs),
        ratio(theirs.sim.wallMs, ours.sim.wallMs),
      ]);
    }
  }
  out.push(
    table(
      [
        'N',
        'scenario',
        'blog SSM calls',
        'our SSM calls',
        'SSM calls ratio',
        'all AWS calls ratio',
        'blog simulated',
        'our simulated',
        'time ratio',
      ],
      cmp,
      ['r', 'l'],
    ),
  );
  return out;
}

/** Consequences read straight off the tables, so nobody has to dig for them. */
function notesSection(r: BenchResults): string {
  const find = (n: number, id: ScenarioResult['id']) => r.sync.find((s) => s.nodes === n && s.id === id);
  const notes: string[] = [];
  const sizes = [...new Set(r.sync.map((s) => s.nodes))].sort((a, b) => a - b);
  const addTags = API_ASSUMPTIONS.find((a) => a.api === 'AddTagsToResource')!;
  const a = sizes.map((n) => find(n, 'a')).filter((x): x is ScenarioResult => x !== undefined);
  if (a.length) {
    notes.push(
      `A first full sync needs one AddTagsToResource per node, so at the assumed ${addTags.rate} per second it is bound by that rate: ${a.map((x) => `${duration(x.sim.wallMs)} for ${int(x.nodes)} nodes`).join(', ')}. It happens once per node; later runs cost only what changed.`,
    );
  }
  const drift = sizes.map((n) => find(n, 'drift')).filter((x): x is ScenarioResult => x !== undefined);
  if (drift.length) {
    notes.push(
      `The drift pass (DRIFT_CHECK_HOURS, 168 h by default) re-reads every node's SSM tags once per period. Each node's period is between half and all of that, fixed by a hash of its ID, so nodes first synced together come due spread over 84 hours. It reads in bulk: one Tagging API GetResources per request of up to 100 nodes, and ListTagsForResource only for nodes whose bulk answer differs from what the table says was last applied (or that the bulk read did not return). The (b*) rows force every node due in one run, the worst case, with a tag changed directly in SSM on ${Math.round(DRIFT_SHARE * 100)}% of the nodes: ${drift.map((x) => `${int(x.calls.GetResources ?? 0)} GetResources + ${int(x.calls.ListTagsForResource ?? 0)} ListTagsForResource${x.drift ? `, ${int(x.drift.repaired)} of ${int(x.drift.planted)} drifts repaired` : ''} (${duration(x.sim.wallMs)}) at N = ${int(x.nodes)}`).join('; ')}. The (b**) rows are the run after it.`,
    );
  }
  if (sizes.some((n) => n > 1000)) {
    notes.push(
      'More than 1,000 hybrid nodes in one account and Region need the advanced-instances tier; the standard tier stops at 1,000.',
    );
  }
  notes.push(
    'Steady state reads DynamoDB, not SSM: one BatchGetItem per request of 100 nodes, which is where the O(N/100) reads are.',
  );
  return ['## Notes', '', ...notes.map((n) => `- ${n}`)].join('\n');
}

function modelSection(): string {
  return [
    '## Throughput model (simulated clock)',
    '',
    `The simulated clock replays the counted calls in virtual time: every agency's collector starts at the same moment (the worst case for shared quotas), reads its EC2 pages, then invokes the tag manager once per request, one request after the other (${duration(INVOKE_OVERHEAD_MS)} invoke overhead each). Inside a request the table read and the ownership look-ups run first, then the per-node calls run ${POOL_SIZE} at a time (SSM_CONCURRENCY). Each API has an account-wide rate limit (a token bucket; callers queue for it, as the SDK's adaptive retry mode converges to) and a latency. In (d) each attempt on an SSM API is throttled with probability 0.2 and retried after the AWS SDK v3 backoff (random × min(1 s × 2^retry, 20 s)), up to 8 attempts. "One Lambda run" means ${LAMBDA_MAX_SECONDS} s, Lambda's maximum timeout.`,
    '',
    '**The rates below are assumptions** unless a source is named: no AWS account or live documentation was reachable when this was written. Change them in scripts/bench/assumptions.ts and rerun.',
    '',
    table(
      ['API', 'rate (per s)', 'burst', 'latency', 'scope', 'source'],
      API_ASSUMPTIONS.map((a) => [
        a.api,
        a.rate === Infinity ? 'unlimited' : String(a.rate),
        a.burst === Infinity ? '—' : String(a.burst),
        duration(a.latencyMs),
        a.scope,
        a.source,
      ]),
      ['l', 'r', 'r', 'r', 'l', 'l'],
    ),
  ].join('\n');
}

/** States the machine's load, and that timings taken under load are slower than on an idle machine. */
export function loadLine(start: number | undefined, end: number | undefined, cores: number): string[] {
  if (start === undefined) return [];
  const loads = end === undefined ? `${start}` : `${start} at the start, ${end} at the end`;
  const busy = Math.max(start, end ?? 0) > cores;
  return [
    `- Load average (1 min): ${loads}, on ${cores} cores${busy ? '. **The timings were taken under load** (other work shared the machine): wall times, the cold-start proxy and the build rows are slower than on an idle machine; the call counts and simulated times are not affected' : ''}`,
  ];
}

export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const parts = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (scripts/bench/). Numbers are from one run on the machine below; rerun to get yours. Every number in the sync tables is either measured against local fakes or derived from measured counts, and says which; every wall time of a sync is simulated from the throughput model at the end.',
    '',
    `- Date: ${r.date}`,
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB memory, ${m.platform}`,
    `- Node.js: ${m.node}`,
    ...loadLine(m.loadAverage, r.loadAverageAtEnd, m.cores),
    `- \`npm run bench\` took ${duration(r.benchSeconds * 1000)} in total`,
    '',
    goalsSection(r.goals),
  ];
  if (r.build) parts.push('', buildSection(r.build));
  if (r.coldStart) parts.push('', coldSection(r.coldStart));
  if (r.sync.length) parts.push('', syncSection(r), '', notesSection(r), '', modelSection());
  return `${parts.join('\n')}\n`;
}

/** The console summary: goals, then one line per sync scenario. */
export function renderConsole(r: BenchResults): string {
  const lines: string[] = [];
  const pad = (rows: string[][], leftCols = 1) => {
    const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    return rows.map((row) =>
      row
        .map((c, i) => (i < leftCols ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
        .join('  ')
        .trimEnd(),
    );
  };
  lines.push(
    '',
    'Goals',
    ...pad(
      [
        ['verdict', 'goal', 'measured', 'target'],
        ...r.goals.map((g) => [g.pass ? 'PASS' : 'MISS', g.goal, g.measured, g.target]),
      ],
      2,
    ),
  );
  if (r.sync.length) {
    lines.push('', 'Sync cost (simulated wall time from the throughput model)');
    lines.push(
      ...pad(
        [
          ['N / scenario', 'source', 'SSM writes', 'SSM reads', 'DynamoDB', 'invokes', 'simulated wall'],
          ...r.sync.map((s) => [
            `${int(s.nodes)} ${label(s)}`,
            s.source,
            int(ssmWrites(s.calls)),
            int(ssmReads(s.calls)),
            int(ddbCalls(s.calls)),
            int(s.invokes),
            duration(s.sim.wallMs),
          ]),
        ],
        2,
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}
