// PASS/MISS verdicts and margins for the goals.
import { describe, expect, it } from 'vitest';
import { afterDriftGoal, atMost, buildTimeGoal, driftPassGoals, changedNodeGoal } from '../../scripts/bench/goals.ts';
import { lambdaRunGoal, steadyReadsGoal, steadyWritesGoal, templateSizeGoal } from '../../scripts/bench/goals.ts';
import { cdkRatioGoal, coldStartGoal, rateBound, firstSyncRateGoal } from '../../scripts/bench/goals.ts';
import { agencyTemplateGoals } from '../../scripts/bench/goals.ts';
import { AGENCY_TEMPLATE_MAX_BYTES } from '../../contract/limits.ts';

describe('goals', () => {
  it('passes a value under its limit and reports the headroom', () => {
    expect(atMost(300, 500)).toEqual({ pass: true, margin: '200 under (40% headroom)' });
  });

  it('misses a value over its limit and says by how much', () => {
    expect(atMost(1250, 500)).toEqual({ pass: false, margin: 'over by 750 (2.5× the limit)' });
  });

  it('misses the build goal when the build takes longer than half a second', () => {
    const g = buildTimeGoal(1800);
    expect(g.pass).toBe(false);
    expect(g.margin).toBe('over by 1.3 s (3.6× the limit)');
  });

  it('checks the agency-collector template against the 51,200-byte TemplateBody limit', () => {
    expect(templateSizeGoal('agency-collector', 51_200).pass).toBe(true);
    expect(templateSizeGoal('agency-collector', 51_201).pass).toBe(false);
  });

  it('checks the agency-collector template against its 46,080-byte budget', () => {
    expect(templateSizeGoal('agency-collector', 46_080, AGENCY_TEMPLATE_MAX_BYTES).pass).toBe(true);
    const g = templateSizeGoal('agency-collector', 46_081, AGENCY_TEMPLATE_MAX_BYTES);
    expect(g).toMatchObject({ pass: false, target: '≤ 46,080 bytes' });
    expect(g.goal).toContain('10% headroom');
  });

  it('checks both agency templates, each against the TemplateBody limit and the agency budget', () => {
    const goals = agencyTemplateGoals([
      { name: 'central-manager', kind: 'template', bytes: 200_000 },
      { name: 'agency-collector', kind: 'template', bytes: 29_413 },
      { name: 'agency-registration', kind: 'template', bytes: 46_081 },
      { name: 'agency-registration', kind: 'lambda', bytes: 1 },
    ]);
    expect(goals.map((g) => [g.goal.split(' ')[0], g.target, g.pass])).toEqual([
      ['agency-collector', '≤ 51,200 bytes', true],
      ['agency-collector', '≤ 46,080 bytes', true],
      ['agency-registration', '≤ 51,200 bytes', true],
      ['agency-registration', '≤ 46,080 bytes', false],
    ]);
  });

  it.each([
    { case: '12× exactly passes', build: 500, cdk: 6000, pass: true, measured: '12.0× (500 ms against 6.0 s)' },
    { case: '10.6× misses', build: 626, cdk: 6662, pass: false, measured: '10.6× (626 ms against 6.7 s)' },
  ])('compares the build with the CDK synth: $case', ({ build, cdk, pass, measured }) => {
    expect(cdkRatioGoal(build, cdk)).toMatchObject({ pass, measured });
  });

  it('holds a cold start to 150 ms over bare node', () => {
    expect(coldStartGoal('collector', 150).pass).toBe(true);
    expect(coldStartGoal('collector', 355)).toMatchObject({ pass: false, margin: 'over by 205 ms (2.4× the limit)' });
  });

  const APIS = [
    { api: 'AddTagsToResource', rate: 5, scope: 'account' as const },
    { api: 'DescribeInstanceInformation', rate: 5, scope: 'account' as const },
    { api: 'GetParameter', rate: 40, scope: 'account' as const },
    { api: 'BatchGetItem', rate: Infinity, scope: 'account' as const },
    { api: 'DescribeInstances', rate: 20, scope: 'agency' as const },
  ];
  it.each<{ case: string; calls: Record<string, number>; expected: unknown }>([
    {
      case: 'the busiest rate-limited API binds',
      calls: { AddTagsToResource: 10_000, DescribeInstanceInformation: 200, GetParameter: 100, BatchGetItem: 100 },
      expected: { api: 'AddTagsToResource', calls: 10_000, rate: 5, ms: 2_000_000 },
    },
    {
      case: 'a faster API with more calls does not bind',
      calls: { AddTagsToResource: 10, GetParameter: 200 },
      expected: { api: 'GetParameter', calls: 200, rate: 40, ms: 5_000 },
    },
    {
      case: 'unlimited and per-agency APIs never bind',
      calls: { BatchGetItem: 1_000_000, DescribeInstances: 1_000_000 },
      expected: undefined,
    },
  ])('rateBound: $case', ({ calls, expected }) => {
    expect(rateBound(calls, APIS)).toEqual(expected);
  });

  it('passes a first sync within 10% of its rate bound and reports the achieved rate', () => {
    const bound = { api: 'AddTagsToResource', calls: 10_000, rate: 5, ms: 2_000_000 };
    const ok = firstSyncRateGoal(10_000, bound, 2_010_000);
    expect(ok.pass).toBe(true);
    expect(ok.goal).toContain('achieved 4.98 calls/s of 5/s configured');
    expect(firstSyncRateGoal(10_000, bound, 2_200_001).pass).toBe(false);
  });

  it('allows no SSM write at all in steady state', () => {
    expect(steadyWritesGoal(1000, 0).pass).toBe(true);
    expect(steadyWritesGoal(1000, 1)).toMatchObject({ pass: false, margin: 'over by 1' });
  });

  it('allows at most N/100 SSM reads in steady state', () => {
    expect(steadyReadsGoal(10_000, 100).pass).toBe(true);
    expect(steadyReadsGoal(10_000, 101).pass).toBe(false);
  });

  it('counts SSM calls per changed node against the limit of 3', () => {
    expect(changedNodeGoal(1000, 30, 10).pass).toBe(true);
    const g = changedNodeGoal(1000, 31, 10);
    expect(g.pass).toBe(false);
    expect(g.measured).toBe('3.10 per node (31 calls)');
  });

  it('compares a simulated sync with one 900-second Lambda run', () => {
    expect(lambdaRunGoal(10_000, '(a)', 900_000).pass).toBe(true);
    expect(lambdaRunGoal(10_000, '(a)', 2_000_000)).toMatchObject({
      pass: false,
      margin: 'over by 18.3 min (2.2× the limit)',
    });
  });

  it.each([
    ['200 tag reads, every drift repaired', 200, { planted: 100, repaired: 100 }, [true, true]],
    ['201 tag reads', 201, { planted: 100, repaired: 100 }, [false, true]],
    ['one drift left unrepaired', 150, { planted: 100, repaired: 99 }, [true, false]],
  ])('judges the drift pass at 10,000 nodes: %s', (_label, reads, drift, verdicts) => {
    expect(driftPassGoals(10_000, reads, drift).map((g) => g.pass)).toEqual(verdicts);
  });

  it('allows no SSM call in the steady state after the drift pass', () => {
    expect(afterDriftGoal(10_000, 0).pass).toBe(true);
    expect(afterDriftGoal(10_000, 1).pass).toBe(false);
  });
});
