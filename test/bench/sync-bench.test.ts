// The sync harness itself, on a small fleet: the real bundled tag manager against the SSM fake and
// dynalite, with every call counted. Proves the counts the benchmark reports come from real calls.
import { beforeAll, describe, expect, it } from 'vitest';
import { runSyncBench, type ScenarioRun } from '../../scripts/bench/sync-bench.ts';
import { analyseFleet, ssmCalls, ssmWrites, type ScenarioResult } from '../../scripts/bench/analysis.ts';

const total = (run: ScenarioRun, api: string) => run.requests.reduce((a, r) => a + (r.counts[api] ?? 0), 0);
const statuses = (run: ScenarioRun) => {
  const out: Record<string, number> = {};
  for (const r of run.requests) for (const [k, v] of Object.entries(r.statuses)) out[k] = (out[k] ?? 0) + v;
  return out;
};

let runs: ScenarioRun[];
let results: ScenarioResult[];
beforeAll(async () => {
  runs = await runSyncBench({ nodes: 200, agencies: 2 }, { blog: true });
  results = await analyseFleet(runs, { nodes: 200, agencies: 2 }, 'measured');
}, 60_000);
const run = (id: string) => runs.find((r) => r.id === id)!;

describe('sync benchmark harness (200 nodes, 2 agencies)', () => {
  it('applies every node on the first sync: one AddTagsToResource and one PutItem each', () => {
    expect(statuses(run('a'))).toEqual({ applied: 200 });
    expect(total(run('a'), 'AddTagsToResource')).toBe(200);
    expect(total(run('a'), 'PutItem')).toBe(200);
    expect(total(run('a'), 'BatchGetItem')).toBe(2);
    // The first sync reads the new nodes' tags in bulk: one GetResources per request of 100.
    expect(total(run('a'), 'GetResources')).toBe(2);
    expect(total(run('a'), 'ListTagsForResource')).toBe(0);
  });

  it('makes no SSM call at all in steady state, only one table read per request', () => {
    expect(statuses(run('b'))).toEqual({ unchanged: 200 });
    const b = results.find((r) => r.id === 'b')!;
    expect(ssmCalls(b.calls)).toBe(0);
    expect(b.calls.BatchGetItem).toBe(2);
  });

  it('reads tags in bulk when every drift check is due, re-reads only the drifted nodes and repairs them', () => {
    expect(total(run('drift'), 'GetResources')).toBe(2);
    // 1% of 200 nodes had a tag changed directly in SSM: those two are re-read and repaired.
    expect(run('drift').drift).toEqual({ planted: 2, repaired: 2 });
    expect(total(run('drift'), 'ListTagsForResource')).toBe(2);
    expect(ssmWrites(results.find((r) => r.id === 'drift')!.calls)).toBe(2);
    expect(statuses(run('drift'))).toEqual({ applied: 2, unchanged: 198 });
  });

  it('makes no SSM call and no tag read in the steady state after the drift pass', () => {
    const after = results.find((r) => r.id === 'after-drift')!;
    expect(ssmCalls(after.calls)).toBe(0);
    expect(after.calls.GetResources ?? 0).toBe(0);
  });

  it('touches only the changed nodes when 1% changed', () => {
    expect(run('c').changedNodes).toBe(2);
    expect(statuses(run('c'))).toEqual({ applied: 2, unchanged: 198 });
    expect(ssmCalls(results.find((r) => r.id === 'c')!.calls)).toBe(2);
  });

  it('really throttles in (d), and the retries still land every change', () => {
    const d = run('d');
    expect(statuses(d)).toEqual({ applied: 2, unchanged: 198 });
    const attempts = d.requests.reduce((a, r) => a + (r.attempts.AddTagsToResource ?? 0), 0);
    const throttled = d.requests.reduce((a, r) => a + (r.throttled.AddTagsToResource ?? 0), 0);
    expect(attempts - throttled).toBe(2);
  });

  it("counts the blog's approach as one AddTagsToResource per instance per run", () => {
    expect(total(run('blog'), 'AddTagsToResource')).toBe(200);
    expect(total(run('blog'), 'PutItem')).toBe(0);
  });

  it('simulates the first sync as bounded by the SSM rate, and steady state as nearly free', () => {
    const a = results.find((r) => r.id === 'a')!;
    const b = results.find((r) => r.id === 'b')!;
    // 200 AddTagsToResource at the assumed 5 per second take at least 39 s.
    expect(a.sim.wallMs).toBeGreaterThanOrEqual(39_000);
    expect(b.sim.wallMs).toBeLessThan(1_000);
  });
});
