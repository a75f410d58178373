// PASS/MISS verdicts and margins for the goals.
import { describe, expect, it } from 'vitest';
import * as goal from '../../scripts/bench/goals.ts';

describe('goals', () => {
  it('passes a value under its limit and reports the headroom', () => {
    expect(goal.atMost(300, 500)).toEqual({ pass: true, margin: '200 under (40% headroom)' });
  });

  it('misses a value over its limit and says by how much', () => {
    expect(goal.atMost(1250, 500)).toEqual({ pass: false, margin: 'over by 750 (2.5× the limit)' });
  });

  it('misses the build goal when the build takes longer than half a second', () => {
    const g = goal.buildTimeGoal(1800);
    expect(g.pass).toBe(false);
    expect(g.margin).toBe('over by 1.3 s (3.6× the limit)');
  });

  it('checks the agency-collector template against the 51,200-byte TemplateBody limit', () => {
    expect(goal.templateSizeGoal('agency-collector', 51_200).pass).toBe(true);
    expect(goal.templateSizeGoal('agency-collector', 51_201).pass).toBe(false);
  });

  it('allows no SSM write at all in steady state', () => {
    expect(goal.steadyWritesGoal(1000, 0).pass).toBe(true);
    expect(goal.steadyWritesGoal(1000, 1)).toMatchObject({ pass: false, margin: 'over by 1' });
  });

  it('allows at most N/100 SSM reads in steady state', () => {
    expect(goal.steadyReadsGoal(10_000, 100).pass).toBe(true);
    expect(goal.steadyReadsGoal(10_000, 101).pass).toBe(false);
  });

  it('counts SSM calls per changed node against the limit of 3', () => {
    expect(goal.changedNodeGoal(1000, 30, 10).pass).toBe(true);
    const g = goal.changedNodeGoal(1000, 31, 10);
    expect(g.pass).toBe(false);
    expect(g.measured).toBe('3.10 per node (31 calls)');
  });

  it('compares a simulated sync with one 900-second Lambda run', () => {
    expect(goal.lambdaRunGoal(10_000, '(a)', 900_000).pass).toBe(true);
    expect(goal.lambdaRunGoal(10_000, '(a)', 2_000_000)).toMatchObject({
      pass: false,
      margin: 'over by 18.3 min (2.2× the limit)',
    });
  });

  it.each([
    ['200 tag reads, every drift repaired', 200, { planted: 100, repaired: 100 }, [true, true]],
    ['201 tag reads', 201, { planted: 100, repaired: 100 }, [false, true]],
    ['one drift left unrepaired', 150, { planted: 100, repaired: 99 }, [true, false]],
  ])('judges the drift pass at 10,000 nodes: %s', (_label, reads, drift, verdicts) => {
    expect(goal.driftPassGoals(10_000, reads, drift).map((g) => g.pass)).toEqual(verdicts);
  });

  it('allows no SSM call in the steady state after the drift pass', () => {
    expect(goal.afterDriftGoal(10_000, 0).pass).toBe(true);
    expect(goal.afterDriftGoal(10_000, 1).pass).toBe(false);
  });
});
