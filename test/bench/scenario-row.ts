// One measured sync-scenario row for the bench tests: a fleet of `nodes` nodes over `agencies`
// agencies, one invoke, one EC2 page and one changed node per agency, every call attempted once.
import type { ScenarioResult } from '../../scripts/bench/analysis.ts';

export const scenarioRow = (
  fleet: { nodes: number; agencies: number; sim: ScenarioResult['sim'] },
  id: ScenarioResult['id'],
  calls: Record<string, number>,
  more: Partial<ScenarioResult> = {},
): ScenarioResult => ({
  nodes: fleet.nodes,
  agencies: fleet.agencies,
  id,
  source: 'measured',
  calls,
  attempts: calls,
  throttled: {},
  statuses: {},
  invokes: fleet.agencies,
  ec2Pages: fleet.agencies,
  changedNodes: fleet.agencies,
  sim: fleet.sim,
  ...more,
});
