// The simulated clock: rate limits, worker pools, per-agency scopes and throttling backoff.
import { describe, expect, it } from 'vitest';
import { simulate, VirtualBucket, type ApiModel, type SimAgency, type SimOptions } from '../../scripts/bench/model.ts';

const api = (over: Partial<ApiModel> = {}): ApiModel => ({
  rate: 5,
  burst: 1,
  latencyMs: 0,
  throttleable: true,
  scope: 'account',
  ...over,
});
const options = (over: Partial<SimOptions> = {}): SimOptions => ({
  apis: {
    Tag: api(),
    Read: api({ rate: Infinity, burst: Infinity, latencyMs: 10, throttleable: false }),
    Page: api({ rate: 1, burst: 1, scope: 'agency' }),
  },
  poolSize: 5,
  invokeOverheadMs: 0,
  throttleRatio: 0,
  maxAttempts: 8,
  seed: 1,
  throttleBackoffBaseMs: 1000,
  backoffCapMs: 20_000,
  ...over,
});
const agency = (nodes: string[][], head: string[] = [], collectorCalls: string[] = []): SimAgency => ({
  collectorCalls,
  requests: [{ head, nodes }],
});

describe('VirtualBucket', () => {
  it('spaces calls at the sustained rate once the burst is spent', () => {
    const b = new VirtualBucket(5, 2);
    expect([0, 0, 0, 0].map(() => b.reserve(0))).toEqual([0, 0, 200, 400]);
  });

  it('lets a caller that arrives after the bucket refilled start at once', () => {
    const b = new VirtualBucket(5, 1);
    b.reserve(0);
    expect(b.reserve(1000)).toBe(1000);
  });

  it('never limits an API modelled as unlimited', () => {
    const b = new VirtualBucket(Infinity, Infinity);
    expect([0, 0, 0].map(() => b.reserve(7))).toEqual([7, 7, 7]);
  });
});

describe('simulate', () => {
  it('takes N / rate seconds for N rate-limited calls, whatever the pool size', async () => {
    const nodes = Array.from({ length: 50 }, () => ['Tag']);
    const r = await simulate([agency(nodes)], options());
    // 50 calls at 5 per second with no burst: the last one starts at 9.8 s.
    expect(r.wallMs).toBe(9800);
    expect(r.attempts.Tag).toBe(50);
  });

  it('shares an account-wide limit between agencies running at the same time', async () => {
    const one = await simulate([agency(Array.from({ length: 10 }, () => ['Tag']))], options());
    const two = await simulate(
      [0, 1].map(() => agency(Array.from({ length: 10 }, () => ['Tag']))),
      options(),
    );
    expect(two.wallMs).toBeGreaterThan(one.wallMs * 1.9);
  });

  it('gives each agency its own bucket for agency-scoped APIs', async () => {
    const three = await simulate(
      [0, 1, 2].map(() => agency([], [], ['Page', 'Page'])),
      options(),
    );
    // Two pages at 1 per second in each agency, all agencies in parallel: 1 s, not 5 s.
    expect(three.wallMs).toBe(1000);
  });

  it('is bounded by latency and the pool when nothing is rate-limited', async () => {
    const r = await simulate(
      [
        agency(
          Array.from({ length: 20 }, () => ['Read']),
          ['Read'],
        ),
      ],
      options(),
    );
    // One head call (10 ms), then 20 calls of 10 ms run 5 at a time: 4 rounds.
    expect(r.wallMs).toBe(10 + 4 * 10);
    expect(r.maxRequestMs).toBe(50);
  });

  it('retries throttled attempts with backoff, so throttling costs calls and time', async () => {
    const nodes = Array.from({ length: 200 }, () => ['Tag']);
    const calm = await simulate(
      [agency(nodes)],
      options({ apis: { Tag: api({ rate: Infinity, burst: Infinity, latencyMs: 50 }) } }),
    );
    const rough = await simulate(
      [agency(nodes)],
      options({ apis: { Tag: api({ rate: Infinity, burst: Infinity, latencyMs: 50 }) }, throttleRatio: 0.2 }),
    );
    expect(calm.throttled.Tag ?? 0).toBe(0);
    expect(rough.throttled.Tag).toBeGreaterThan(20);
    expect(rough.throttled.Tag).toBeLessThan(80);
    expect(rough.attempts.Tag).toBe(200 + rough.throttled.Tag!);
    expect(rough.wallMs).toBeGreaterThan(calm.wallMs);
    expect(rough.failedCalls).toBe(0);
  });

  it('counts a call as failed once it runs out of attempts', async () => {
    const r = await simulate([agency([['Tag']])], options({ throttleRatio: 1, maxAttempts: 3 }));
    expect(r.attempts.Tag).toBe(3);
    expect(r.failedCalls).toBe(1);
  });

  it('gives the same result for the same seed', async () => {
    const nodes = Array.from({ length: 100 }, () => ['Tag']);
    const a = await simulate([agency(nodes)], options({ throttleRatio: 0.3 }));
    const b = await simulate([agency(nodes)], options({ throttleRatio: 0.3 }));
    expect(b).toEqual(a);
  });

  it('refuses an API it has no model for', async () => {
    await expect(simulate([agency([['Mystery']])], options())).rejects.toThrow(/no model for API Mystery/);
  });
});
