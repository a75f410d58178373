// From measured runs to the numbers in the tables: totals by API, the larger fleet derived from a
// measured one, and the simulated wall time of each scenario.
import { simulate, type SimResult } from './model.ts';
import { simOptions } from './assumptions.ts';
import { THROTTLE_RATIO_D, type MeasuredRequest, type ScenarioId, type ScenarioRun } from './sync-bench.ts';
import { addCounts, describePages, toSimAgency, type CallCounts } from './workload.ts';
import { sum } from './stats.ts';

export const SSM_WRITE_APIS = [
  'AddTagsToResource',
  'RemoveTagsFromResource',
  'DeregisterManagedInstance',
  'PutParameter',
] as const;
export const SSM_READ_APIS = ['ListTagsForResource', 'DescribeInstanceInformation', 'GetParameter'] as const;
export const SSM_APIS = [...SSM_WRITE_APIS, ...SSM_READ_APIS] as const;
export const DDB_APIS = ['BatchGetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] as const;
/** Reads of nodes' current tags: in bulk (Tagging API) and one node at a time (SSM). */
export const TAG_READ_APIS = ['GetResources', 'ListTagsForResource'] as const;

export interface ScenarioResult {
  nodes: number;
  agencies: number;
  id: ScenarioId | 'blog' | 'blog-d';
  source: 'measured' | 'derived';
  /** Successful calls by API. */
  calls: CallCounts;
  /** Requests the fakes received (throttled ones included), by API. */
  attempts: CallCounts;
  throttled: CallCounts;
  statuses: Record<string, number>;
  /** Collector → tag manager invocations (one per request). */
  invokes: number;
  /** The collectors' DescribeInstances pages (computed: 1,000 instances per page). */
  ec2Pages: number;
  changedNodes: number;
  /** (b*) only: planted drifts and how many were repaired (measured runs; scaled when derived). */
  drift?: { planted: number; repaired: number };
  sim: SimResult;
  localMs?: number;
}

export const ssmWrites = (c: CallCounts) => sum(c, SSM_WRITE_APIS);
export const ssmReads = (c: CallCounts) => sum(c, SSM_READ_APIS);
export const ssmCalls = (c: CallCounts) => sum(c, SSM_APIS);
export const ddbCalls = (c: CallCounts) => sum(c, DDB_APIS);
export const tagReads = (c: CallCounts) => sum(c, TAG_READ_APIS);

interface AgencyWork {
  agency: string;
  requests: MeasuredRequest[];
}

function byAgency(requests: readonly MeasuredRequest[]): AgencyWork[] {
  const map = new Map<string, MeasuredRequest[]>();
  for (const r of requests) map.set(r.agency, [...(map.get(r.agency) ?? []), r]);
  return [...map].map(([agency, reqs]) => ({ agency, requests: reqs }));
}

/**
 * A fleet of `agencies` agencies derived from a measured run: agency k replays the measured
 * requests of measured agency (k mod M). Exact when every agency has the same number of nodes.
 */
export function deriveAgencies(measured: readonly MeasuredRequest[], agencies: number): AgencyWork[] {
  const base = byAgency(measured);
  if (base.length === 0) throw new Error('deriveAgencies: nothing measured');
  return Array.from({ length: agencies }, (_, k) => ({
    agency: `derived-${k}`,
    requests: base[k % base.length]!.requests,
  }));
}

export async function analyse(
  run: ScenarioRun,
  spec: { nodes: number; agencies: number },
  source: 'measured' | 'derived',
  opts: { throttleRatio?: number; id?: ScenarioResult['id'] } = {},
): Promise<ScenarioResult> {
  const work = source === 'measured' ? byAgency(run.requests) : deriveAgencies(run.requests, spec.agencies);
  const calls: CallCounts = {};
  const attempts: CallCounts = {};
  const throttled: CallCounts = {};
  const statuses: Record<string, number> = {};
  let invokes = 0;
  let ec2Pages = 0;
  const simAgencies = work.map((w) => {
    const instances = w.requests.reduce((a, r) => a + r.nodes, 0);
    for (const r of w.requests) {
      addCounts(calls, r.counts);
      addCounts(attempts, r.attempts);
      addCounts(throttled, r.throttled);
      addCounts(statuses, r.statuses);
    }
    invokes += w.requests.length;
    ec2Pages += describePages(instances);
    return toSimAgency(
      instances,
      w.requests.map((r) => ({ counts: r.counts, nodes: r.nodes })),
    );
  });
  const id = opts.id ?? run.id;
  const ratio = opts.throttleRatio ?? (run.id === 'd' ? THROTTLE_RATIO_D : 0);
  const sim = await simulate(simAgencies, simOptions(ratio));
  const scale = source === 'derived' ? spec.nodes / run.requests.reduce((a, r) => a + r.nodes, 0) : 1;
  return {
    nodes: spec.nodes,
    agencies: spec.agencies,
    id,
    source,
    calls,
    attempts,
    throttled,
    statuses,
    invokes,
    ec2Pages,
    changedNodes: Math.round(run.changedNodes * scale),
    ...(run.drift
      ? { drift: { planted: Math.round(run.drift.planted * scale), repaired: Math.round(run.drift.repaired * scale) } }
      : {}),
    sim,
    localMs: source === 'measured' ? run.localMs : undefined,
  };
}

/** Every row for one fleet size: the measured scenarios, plus the blog's approach with and without throttling. */
export async function analyseFleet(
  runs: readonly ScenarioRun[],
  spec: { nodes: number; agencies: number },
  source: 'measured' | 'derived',
): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = [];
  for (const run of runs) {
    out.push(await analyse(run, spec, source));
    if (run.id === 'blog')
      out.push(await analyse(run, spec, source, { throttleRatio: THROTTLE_RATIO_D, id: 'blog-d' }));
  }
  return out;
}
