// The goals, evaluated as PASS or MISS with the margin. Pure: numbers in, verdicts out.
// A missed goal is reported with how far off it is; the goal itself never moves.
import { duration, int } from './stats.ts';
import { TEMPLATE_BODY_MAX_BYTES } from '../../contract/limits.ts';

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
    goal: `${name} template fits a TemplateBody / StackSet without S3 (compact JSON)`,
    target: `≤ ${int(limit)} bytes`,
    measured: `${int(bytes)} bytes`,
    ...atMost(bytes, limit),
  };
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
