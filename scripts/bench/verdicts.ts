// Which goals each sync scenario is held to, so every row of the sync tables can say whether it
// meets them. Pure: results in, goal verdicts out.
import { ssmCalls, ssmReads, ssmWrites, tagReads, type ScenarioResult } from './analysis.ts';
import { API_ASSUMPTIONS, LAMBDA_MAX_SECONDS } from './assumptions.ts';
import {
  afterDriftGoal,
  changedNodeGoal,
  driftPassGoals,
  firstSyncRateGoal,
  lambdaRunGoal,
  rateBound,
  steadyReadsGoal,
  steadyWritesGoal,
  type GoalResult,
} from './goals.ts';
import { SCENARIO_LABELS } from './sync-bench.ts';

/**
 * The goals of one scenario row: (a) the API's rate bound; (b) no SSM write and at most N/100
 * reads; (b*) at most N/50 tag reads and every planted drift repaired (measured rows only: a
 * derived row scales the measured counts, so it cannot test them); (b**) no SSM call; (c) at
 * most 3 SSM calls per changed node; (c) and (d) at 10,000 nodes also within one Lambda run.
 * The blog's approach is a yardstick with no goal of its own.
 */
export function scenarioGoals(r: ScenarioResult): GoalResult[] {
  const n = r.nodes;
  const oneRun = () => lambdaRunGoal(n, SCENARIO_LABELS[r.id as 'c' | 'd'], r.sim.wallMs, LAMBDA_MAX_SECONDS);
  switch (r.id) {
    case 'a': {
      const bound = rateBound(r.calls, API_ASSUMPTIONS);
      return bound ? [firstSyncRateGoal(n, bound, r.sim.wallMs)] : [];
    }
    case 'b':
      return [steadyWritesGoal(n, ssmWrites(r.calls)), steadyReadsGoal(n, ssmReads(r.calls))];
    case 'drift':
      return r.drift && r.source === 'measured' ? driftPassGoals(n, tagReads(r.calls), r.drift) : [];
    case 'after-drift':
      return [afterDriftGoal(n, ssmCalls(r.calls))];
    case 'c':
      return [changedNodeGoal(n, ssmCalls(r.calls), r.changedNodes), ...(n === 10_000 ? [oneRun()] : [])];
    case 'd':
      return n === 10_000 ? [oneRun()] : [];
    default:
      return [];
  }
}

/** "PASS", "MISS" or "—" (no goal) for a row. */
export function rowVerdict(r: ScenarioResult): string {
  const goals = scenarioGoals(r);
  if (goals.length === 0) return '—';
  return goals.every((g) => g.pass) ? 'PASS' : '**MISS**';
}
