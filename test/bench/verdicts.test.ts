// Each sync scenario row says whether it meets its own goals.
import { describe, expect, it } from 'vitest';
import type { ScenarioResult } from '../../scripts/bench/analysis.ts';
import { scenarioRow } from './scenario-row.ts';
import { rowVerdict, scenarioGoals } from '../../scripts/bench/verdicts.ts';

const row = (id: ScenarioResult['id'], calls: Record<string, number>, more: Partial<ScenarioResult> = {}) =>
  scenarioRow(
    {
      nodes: 10_000,
      agencies: 100,
      sim: { wallMs: 2_010_000, maxRequestMs: 1, maxAgencyMs: 1, attempts: {}, throttled: {}, failedCalls: 0 },
    },
    id,
    calls,
    more,
  );
const at = (wallMs: number) => ({
  sim: { wallMs, maxRequestMs: 1, maxAgencyMs: 1, attempts: {}, throttled: {}, failedCalls: 0 },
});

describe('rowVerdict', () => {
  it.each([
    { case: '(a) within 10% of its rate bound', r: row('a', { AddTagsToResource: 10_000 }), verdict: 'PASS' },
    {
      case: '(a) slower than its rate bound + 10%',
      r: row('a', { AddTagsToResource: 10_000 }, at(2_300_000)),
      verdict: '**MISS**',
    },
    { case: '(b) with no SSM call', r: row('b', { BatchGetItem: 100 }), verdict: 'PASS' },
    { case: '(b) with one SSM write', r: row('b', { AddTagsToResource: 1 }), verdict: '**MISS**' },
    {
      case: '(b*) with 200 tag reads and every drift repaired',
      r: row('drift', { GetResources: 100, ListTagsForResource: 100 }, { drift: { planted: 100, repaired: 100 } }),
      verdict: 'PASS',
    },
    {
      case: '(b*) with one drift left',
      r: row('drift', { GetResources: 100, ListTagsForResource: 100 }, { drift: { planted: 100, repaired: 99 } }),
      verdict: '**MISS**',
    },
    {
      case: '(b*) derived (no goal: the counts are scaled, not measured)',
      r: row('drift', { GetResources: 1000 }, { source: 'derived', drift: { planted: 1000, repaired: 1000 } }),
      verdict: '—',
    },
    { case: '(b**) with one SSM call', r: row('after-drift', { ListTagsForResource: 1 }), verdict: '**MISS**' },
    { case: '(c) at one call per changed node', r: row('c', { AddTagsToResource: 100 }, at(20_000)), verdict: 'PASS' },
    {
      case: '(d) over one Lambda run at 10,000 nodes',
      r: row('d', { AddTagsToResource: 100 }, at(901_000)),
      verdict: '**MISS**',
    },
    { case: "the blog's approach", r: row('blog', { AddTagsToResource: 10_000 }), verdict: '—' },
  ])('$case: $verdict', ({ r, verdict }) => {
    expect(rowVerdict(r)).toBe(verdict);
  });

  it('holds (c) at 10,000 nodes to both its call count and one Lambda run', () => {
    expect(scenarioGoals(row('c', { AddTagsToResource: 100 }, at(20_000))).map((g) => g.goal)).toEqual([
      '(c) at most 3 SSM calls per changed node (N = 10,000, 100 changed)',
      '10,000 nodes sync within one Lambda run: (c) 1% of instances changed one tag (simulated)',
    ]);
  });
});
