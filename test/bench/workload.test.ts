// The benchmark fleet, the collector-style batching, and turning measured counts into simulated work.
import { describe, expect, it } from 'vitest';
import { buildFleet, changedIndexes, describePages, requestsByAgency } from '../../scripts/bench/workload.ts';
import { toSimAgency, toSimRequest } from '../../scripts/bench/workload.ts';
import { deriveAgencies } from '../../scripts/bench/analysis.ts';
import type { MeasuredRequest } from '../../scripts/bench/sync-bench.ts';

describe('fleet', () => {
  it('spreads nodes evenly over agencies with unique, valid IDs', () => {
    const fleet = buildFleet({ nodes: 300, agencies: 3 });
    expect(new Set(fleet.map((f) => f.managedInstanceId)).size).toBe(300);
    expect(
      fleet.every((f) => /^mi-[0-9a-f]{17}$/.test(f.managedInstanceId) && /^i-[0-9a-f]{17}$/.test(f.ec2InstanceId)),
    ).toBe(true);
    expect(new Set(fleet.map((f) => f.agency)).size).toBe(3);
  });

  it('refuses a fleet that does not divide evenly over its agencies', () => {
    expect(() => buildFleet({ nodes: 10, agencies: 3 })).toThrow(/divide evenly/);
  });

  it('batches each agency into requests of at most 100 instances, as the collector does', () => {
    const groups = requestsByAgency(buildFleet({ nodes: 500, agencies: 2 }));
    expect(groups.map((g) => g.requests.map((r) => r.instances.length))).toEqual([
      [100, 100, 50],
      [100, 100, 50],
    ]);
  });

  it('changes 1% of instances, spread evenly', () => {
    const idx = changedIndexes(1000, 0.01, 37);
    expect(idx).toHaveLength(10);
    expect(idx.slice(0, 3)).toEqual([37, 137, 237]);
  });

  it('reads one DescribeInstances page per 1,000 instances, at least one', () => {
    expect([0, 1, 1000, 1001, 100_000].map(describePages)).toEqual([1, 1, 1, 2, 100]);
  });
});

describe('measured counts to simulated work', () => {
  it('puts per-request calls first and spreads per-node calls over the nodes', () => {
    const req = toSimRequest(
      { BatchGetItem: 1, GetParameter: 1, DescribeInstanceInformation: 2, AddTagsToResource: 3, PutItem: 3 },
      4,
    );
    expect(req.head).toEqual([
      'BatchGetItem',
      'GetParameter',
      'DescribeInstanceInformation',
      'DescribeInstanceInformation',
    ]);
    expect(req.nodes).toEqual([
      ['AddTagsToResource', 'PutItem'],
      ['AddTagsToResource', 'PutItem'],
      ['AddTagsToResource', 'PutItem'],
      [],
    ]);
  });

  it('refuses a call it does not know where to place', () => {
    expect(() => toSimRequest({ CreateActivation: 1 }, 1)).toThrow(/CreateActivation/);
  });

  it('gives each simulated agency its EC2 pages before its requests', () => {
    const a = toSimAgency(2500, [{ counts: { BatchGetItem: 1 }, nodes: 100 }]);
    expect(a.collectorCalls).toEqual(['DescribeInstances', 'DescribeInstances', 'DescribeInstances']);
    expect(a.requests).toHaveLength(1);
  });

  it('derives a larger fleet by replaying measured agencies in turn', () => {
    const m = (agency: string, add: number): MeasuredRequest => ({
      agency,
      nodes: 100,
      counts: { AddTagsToResource: add },
      attempts: {},
      throttled: {},
      statuses: {},
    });
    const derived = deriveAgencies([m('a', 1), m('b', 2)], 5);
    expect(derived.map((d) => d.requests[0]!.counts.AddTagsToResource)).toEqual([1, 2, 1, 2, 1]);
  });
});
