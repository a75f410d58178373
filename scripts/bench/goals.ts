// The goals, evaluated as PASS or MISS with the margin. Pure: numbers in, verdicts out.
// A missed goal is reported with how far off it is; the goal itself never moves.
import { AGENCY_TEMPLATE_MAX_BYTES, TEMPLATE_BODY_MAX_BYTES } from '../../contract/limits.ts';
import { AGENCY_TEMPLATE_NAMES } from '../../contract/names.ts';
import { duration, int } from './stats.ts';

export interface GoalResult {
  goal: string;
  target: string;
  measured: string;
  pass: boolean;
  margin: string;
}

/** "PASS, 38% headroom" / "MISS by 1,234 (2.5× the limit)" for a value that must stay at or under a limit. */
export function atMost(
  value: number,
  limit: number,
  fmt: (n: number) => string = int,
): { pass: boolean; margin: string } {
  if (value <= limit) {
    const pct = limit === 0 ? 100 : ((limit - value) / limit) * 100;
    const headroom = pct > 0 && pct < 1 ? pct.toFixed(1) : String(Math.round(pct));
    return {
      pass: true,
      margin: limit === 0 ? 'exactly at the limit of zero' : `${fmt(limit - value)} under (${headroom}% headroom)`,
    };
  }
  const times = limit === 0 ? '' : ` (${(value / limit).toFixed(1)}× the limit)`;
  return { pass: false, margin: `over by ${fmt(value - limit)}${times}` };
}

export function buildTimeGoal(medianWallMs: number, limitMs = 500): GoalResult {
  return {
    goal: 'all of generated/ built (`npm run build`, median wall time)',
    target: `< ${duration(limitMs)}`,
    measured: duration(medianWallMs),
    ...atMost(medianWallMs, limitMs, duration),
  };
}

export function templateSizeGoal(name: string, bytes: number, limit = TEMPLATE_BODY_MAX_BYTES): GoalResult {
  return {
    goal:
      limit === AGENCY_TEMPLATE_MAX_BYTES
        ? `${name} template keeps 10% headroom under the TemplateBody limit (compact JSON)`
        : `${name} template fits a TemplateBody / StackSet without S3 (compact JSON)`,
    target: `≤ ${int(limit)} bytes`,
    measured: `${int(bytes)} bytes`,
    ...atMost(bytes, limit),
  };
}

/**
 * Both agency templates (each its own StackSet) against the TemplateBody limit and the 46,080-byte
 * agency budget; a template the build did not size is left out.
 */
export function agencyTemplateGoals(sizes: ReadonlyArray<{ name: string; kind: string; bytes: number }>): GoalResult[] {
  return AGENCY_TEMPLATE_NAMES.flatMap((name) => {
    const row = sizes.find((s) => s.kind === 'template' && s.name === name);
    return row ? [templateSizeGoal(name, row.bytes), templateSizeGoal(name, row.bytes, AGENCY_TEMPLATE_MAX_BYTES)] : [];
  });
}

export function steadyWritesGoal(nodes: number, ssmWrites: number): GoalResult {
  return {
    goal: `steady state makes zero SSM write calls (N = ${int(nodes)})`,
    target: '0',
    measured: int(ssmWrites),
    ...atMost(ssmWrites, 0),
  };
}

export function steadyReadsGoal(nodes: number, ssmReads: number): GoalResult {
  const limit = Math.ceil(nodes / 100);
  return {
    goal: `steady state makes O(N/100) SSM reads (N = ${int(nodes)})`,
    target: `≤ ${int(limit)}`,
    measured: int(ssmReads),
    ...atMost(ssmReads, limit),
  };
}

export function changedNodeGoal(nodes: number, ssmCalls: number, changedNodes: number, perNode = 3): GoalResult {
  const per = changedNodes === 0 ? 0 : ssmCalls / changedNodes;
  return {
    goal: `(c) at most ${perNode} SSM calls per changed node (N = ${int(nodes)}, ${int(changedNodes)} changed)`,
    target: `≤ ${perNode} per node`,
    measured: `${per.toFixed(2)} per node (${int(ssmCalls)} calls)`,
    ...atMost(per, perNode, (n) => n.toFixed(2)),
  };
}

export function lambdaRunGoal(nodes: number, scenario: string, simWallMs: number, limitSeconds = 900): GoalResult {
  return {
    goal: `${int(nodes)} nodes sync within one Lambda run: ${scenario} (simulated)`,
    target: `≤ ${duration(limitSeconds * 1000)}`,
    measured: duration(simWallMs),
    ...atMost(simWallMs, limitSeconds * 1000, duration),
  };
}

/** (b*) every drift check due: tag reads at most N/50, and every drift planted in SSM repaired. */
export function driftPassGoals(
  nodes: number,
  tagReadCalls: number,
  drift: { planted: number; repaired: number },
): GoalResult[] {
  const limit = Math.floor(nodes / 50);
  return [
    {
      goal: `(b*) drift pass with every check due reads tags at most N/50 times (N = ${int(nodes)}; GetResources + ListTagsForResource)`,
      target: `≤ ${int(limit)}`,
      measured: int(tagReadCalls),
      ...atMost(tagReadCalls, limit),
    },
    {
      goal: `(b*) every drift planted directly in SSM is repaired (N = ${int(nodes)})`,
      target: `${int(drift.planted)} of ${int(drift.planted)}`,
      measured: `${int(drift.repaired)} of ${int(drift.planted)}`,
      ...atMost(drift.planted - drift.repaired, 0),
    },
  ];
}

export function afterDriftGoal(nodes: number, ssmCallCount: number): GoalResult {
  return {
    goal: `(b**) steady state after the drift pass makes zero SSM calls (N = ${int(nodes)})`,
    target: '0',
    measured: int(ssmCallCount),
    ...atMost(ssmCallCount, 0),
  };
}

/** `npm run build` against the CDK synth of the same stacks, timed side by side: at least `times` faster. */
export function cdkRatioGoal(buildMs: number, cdkMs: number, times = 12): GoalResult {
  const r = cdkMs / buildMs;
  return {
    goal: '`npm run build` against an AWS CDK app synthesizing the same four stacks, same run (median wall times)',
    target: `≥ ${times}× faster`,
    measured: `${r.toFixed(1)}× (${duration(buildMs)} against ${duration(cdkMs)})`,
    pass: r >= times,
    margin: r >= times ? `${(r - times).toFixed(1)}× to spare` : `short by ${(times - r).toFixed(1)}×`,
  };
}

/** A bundle's cold-start proxy over bare node, for one kind of run. */
export function coldStartGoal(what: string, overBareMs: number, limitMs = 150): GoalResult {
  return {
    goal: `${what} cold-start proxy over bare node`,
    target: `≤ ${duration(limitMs)}`,
    measured: duration(overBareMs),
    ...atMost(overBareMs, limitMs, duration),
  };
}

/** The API whose calls take longest at its assumed rate, and how long: the time no schedule can beat. */
export interface RateBound {
  api: string;
  calls: number;
  rate: number;
  ms: number;
}

/**
 * The rate bound of a run: each rate-limited, account-wide API has its own bucket, so a run cannot
 * end before its busiest API's calls ÷ that API's rate. Pure.
 */
export function rateBound(
  calls: Readonly<Record<string, number>>,
  apis: ReadonlyArray<{ api: string; rate: number; scope: 'account' | 'agency' }>,
): RateBound | undefined {
  let best: RateBound | undefined;
  for (const a of apis) {
    const n = calls[a.api] ?? 0;
    if (a.scope !== 'account' || !Number.isFinite(a.rate) || a.rate <= 0 || n === 0) continue;
    const ms = (n / a.rate) * 1000;
    if (!best || ms > best.ms) best = { api: a.api, calls: n, rate: a.rate, ms };
  }
  return best;
}

/** (a) a first sync runs at the rate bound: its time within `slack` (10%) of calls ÷ rate. */
export function firstSyncRateGoal(nodes: number, bound: RateBound, wallMs: number, slack = 0.1): GoalResult {
  const limit = bound.ms * (1 + slack);
  const achieved = bound.calls / (wallMs / 1000);
  return {
    goal: `(a) first full sync runs at the API's rate bound (N = ${int(nodes)}: ${int(bound.calls)} ${bound.api} at an assumed ${bound.rate}/s = ${duration(bound.ms)}); achieved ${achieved.toFixed(2)} calls/s of ${bound.rate}/s configured`,
    target: `≤ ${duration(limit)} (bound + ${Math.round(slack * 100)}%)`,
    measured: `${duration(wallMs)} (simulated)`,
    ...atMost(wallMs, limit, duration),
  };
}
