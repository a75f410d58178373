// BENCHMARKS.md rendering: misses are stated with their margin, and the text depends only on the results.
import { describe, expect, it } from 'vitest';
import { loadLine, renderConsole, renderMarkdown, type BenchResults } from '../../scripts/bench/report.ts';
import { buildTimeGoal, steadyWritesGoal } from '../../scripts/bench/goals.ts';
import type { ScenarioResult } from '../../scripts/bench/analysis.ts';
import { scenarioRow } from './scenario-row.ts';

const sim = {
  wallMs: 200_000,
  maxRequestMs: 408_000,
  maxAgencyMs: 200_000,
  attempts: {},
  throttled: {},
  failedCalls: 0,
};
const row = (id: ScenarioResult['id'], calls: Record<string, number>) =>
  scenarioRow({ nodes: 1000, agencies: 10, sim }, id, calls);

function results(): BenchResults {
  return {
    date: '2030-01-02',
    machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 4, node: 'v20.0.0', platform: 'linux x64' },
    benchSeconds: 120,
    sync: [
      row('a', { AddTagsToResource: 1000, PutItem: 1000, BatchGetItem: 10 }),
      row('b', { BatchGetItem: 10 }),
      row('blog', { AddTagsToResource: 1000 }),
      row('blog-d', { AddTagsToResource: 1000 }),
    ],
    goals: [buildTimeGoal(1500), steadyWritesGoal(1000, 0)],
    measuredSizes: [1000],
    derivedSizes: [{ nodes: 100_000, from: 1000 }],
    limits: { tagManagerTimeoutS: 300, collectorTimeoutS: 600 },
  };
}

describe('report', () => {
  it('says a goal was missed, and by how much', () => {
    const md = renderMarkdown(results());
    expect(md).toContain('| **MISS** | over by 1.0 s (3.0× the limit) |');
    expect(md).toContain('1 of 2 goals are missed');
  });

  it('names the machine, the date and which fleet sizes were derived rather than measured', () => {
    const md = renderMarkdown(results());
    expect(md).toContain('Test CPU, 2 cores, 4 GiB memory');
    expect(md).toContain('- Date: 2030-01-02');
    expect(md).toMatch(/N = 100,000 is \*\*derived, not measured\*\*/);
  });

  it("compares with the blog's approach as a ratio, infinite when we make no SSM call", () => {
    const md = renderMarkdown(results());
    expect(md).toMatch(/\| 1,000 \| \(b\) steady state, no change \| 1,000 \| 0 \| ∞ \|/);
  });

  it('flags an invocation that would outlast the function timeout', () => {
    expect(renderMarkdown(results())).toContain('**over by 108.0 s**');
  });

  it('renders the same text for the same results', () => {
    expect(renderMarkdown(results())).toBe(renderMarkdown(results()));
    expect(renderConsole(results())).toMatch(/MISS +all of generated\/ built/);
  });
});

describe('load note', () => {
  it.each([
    { case: 'an idle machine', start: 0.5, end: 0.7, note: false },
    { case: 'a machine busier than its cores at the start', start: 9, end: 1, note: true },
    { case: 'a machine that got busy during the run', start: 1, end: 3, note: true },
  ])('says the timings were taken under load only on $case', ({ start, end, note }) => {
    const [line] = loadLine(start, end, 2);
    expect(line).toContain(`Load average (1 min): ${start} at the start, ${end} at the end, on 2 cores`);
    expect(line!.includes('taken under load')).toBe(note);
  });
});
