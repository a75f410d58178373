// The simulated clock: replays a sync workload (the AWS calls the real handler made, counted by
// the fakes) in virtual time against per-API rate limits, per-call latencies, a bounded worker
// pool per request and the SDK's backoff on throttling. Pure apart from its own PRNG: the same
// input gives the same result, so tests can check it and BENCHMARKS.md stays reproducible.
import { prng } from '../../testing/fakes/loopback.ts';
import { mapPool } from '../../lambda/shared/pool.ts';

/** The seeded PRNG the fakes throttle with, so the model and the fakes draw the same numbers. */
export { prng };

/** How one API behaves in the model. */
export interface ApiModel {
  /** Sustained requests per second for the whole account (Infinity: no limit at this scale). */
  rate: number;
  /** Requests that may start back to back before the sustained rate applies. */
  burst: number;
  /** Time one call takes once it is allowed to start. */
  latencyMs: number;
  /** Whether injected throttling (scenario d) applies to this API. */
  throttleable: boolean;
  /** Account-wide limit (shared by every agency) or one bucket per agency (e.g. the agency's own EC2). */
  scope: 'account' | 'agency';
}

/** One tag-manager request (one Lambda invocation by a collector). */
export interface SimRequest {
  /** Calls made one after the other before the per-node work (table read, ownership proofs). */
  head: string[];
  /** Per-node call sequences, run by a pool of `poolSize` workers (SSM_CONCURRENCY). */
  nodes: string[][];
}

/** One agency's collector run: its own calls first, then its requests one after the other. */
export interface SimAgency {
  collectorCalls: string[];
  requests: SimRequest[];
}

export interface SimOptions {
  apis: Record<string, ApiModel>;
  poolSize: number;
  /** Overhead of one synchronous Lambda invoke (collector → tag manager), warm. */
  invokeOverheadMs: number;
  /** Share of attempts on throttleable APIs answered with ThrottlingException. */
  throttleRatio: number;
  /** Attempts per call before the SDK gives up (the tag manager's SSM_MAX_ATTEMPTS default). */
  maxAttempts: number;
  seed: number;
  /** Backoff on throttling: random * min(base * 2^retry, cap), the AWS SDK v3 standard strategy. */
  throttleBackoffBaseMs: number;
  backoffCapMs: number;
}

export interface SimResult {
  /** Time until the last agency's collector run finished. */
  wallMs: number;
  /** Longest single tag-manager invocation. */
  maxRequestMs: number;
  /** Longest single collector run. */
  maxAgencyMs: number;
  attempts: Record<string, number>;
  throttled: Record<string, number>;
  /** Calls that ran out of attempts. */
  failedCalls: number;
}

/**
 * A rate limiter in virtual time (GCRA, equivalent to a token bucket): `reserve(t)` returns the
 * earliest start time at or after t, and books it. Callers queue in the order they ask.
 */
export class VirtualBucket {
  private tat = -Infinity;
  private readonly interval: number;
  private readonly tolerance: number;
  constructor(rate: number, burst: number) {
    this.interval = rate === Infinity || rate <= 0 ? 0 : 1000 / rate;
    this.tolerance = Math.max(0, burst - 1) * this.interval;
  }
  reserve(t: number): number {
    if (this.interval === 0) return t;
    const start = Math.max(t, this.tat - this.tolerance);
    this.tat = Math.max(this.tat, start) + this.interval;
    return start;
  }
}

/** Min-heap of timed wake-ups; ties keep insertion order, so runs are deterministic. */
class Timeline {
  private heap: Array<{ t: number; seq: number; wake: () => void }> = [];
  private seq = 0;
  now = 0;
  at(t: number, wake: () => void): void {
    const h = this.heap;
    h.push({ t, seq: this.seq++, wake });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }
  private less(a: { t: number; seq: number }, b: { t: number; seq: number }): boolean {
    return a.t < b.t || (a.t === b.t && a.seq < b.seq);
  }
  pop(): { t: number; wake: () => void } | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Runs `work` to completion in virtual time: wakes the earliest sleeper, then lets every
 * continuation it triggers run (they only schedule later wake-ups) before taking the next one.
 */
async function runInVirtualTime(timeline: Timeline, work: Promise<unknown>): Promise<void> {
  let done = false;
  let failure: unknown;
  const all = work.then(
    () => {
      done = true;
    },
    (err: unknown) => {
      done = true;
      failure = err;
    },
  );
  await new Promise<void>((r) => setImmediate(r));
  while (!done) {
    const ev = timeline.pop();
    if (!ev) break;
    timeline.now = ev.t;
    ev.wake();
    await new Promise<void>((r) => setImmediate(r));
  }
  await all;
  if (failure) throw failure;
}

/** Runs the workload in virtual time. All agencies start at t = 0 (every collector fires at once). */
export async function simulate(agencies: readonly SimAgency[], opts: SimOptions): Promise<SimResult> {
  const timeline = new Timeline();
  const random = prng(opts.seed);
  const accountBuckets = new Map<string, VirtualBucket>();
  const attempts: Record<string, number> = {};
  const throttled: Record<string, number> = {};
  let failedCalls = 0;
  let maxRequestMs = 0;
  let maxAgencyMs = 0;

  const modelOf = (api: string): ApiModel => {
    const m = opts.apis[api];
    if (!m) throw new Error(`simulate: no model for API ${api}`);
    return m;
  };
  const sleepUntil = (t: number) => new Promise<void>((resolve) => timeline.at(t, resolve));

  async function call(api: string, agencyBuckets: Map<string, VirtualBucket>): Promise<void> {
    const m = modelOf(api);
    const buckets = m.scope === 'account' ? accountBuckets : agencyBuckets;
    let bucket = buckets.get(api);
    if (!bucket) buckets.set(api, (bucket = new VirtualBucket(m.rate, m.burst)));
    for (let attempt = 0; attempt < opts.maxAttempts; attempt++) {
      const start = bucket.reserve(timeline.now);
      attempts[api] = (attempts[api] ?? 0) + 1;
      await sleepUntil(start + m.latencyMs);
      const isThrottled = m.throttleable && opts.throttleRatio > 0 && random() < opts.throttleRatio;
      if (!isThrottled) return;
      throttled[api] = (throttled[api] ?? 0) + 1;
      if (attempt + 1 < opts.maxAttempts) {
        const delay = Math.floor(random() * Math.min(opts.throttleBackoffBaseMs * 2 ** attempt, opts.backoffCapMs));
        await sleepUntil(timeline.now + delay);
      }
    }
    failedCalls++;
  }

  async function runRequest(req: SimRequest, agencyBuckets: Map<string, VirtualBucket>): Promise<void> {
    const started = timeline.now;
    await sleepUntil(timeline.now + opts.invokeOverheadMs);
    for (const api of req.head) await call(api, agencyBuckets);
    // The handler's own bounded pool over the nodes of the request.
    await mapPool(req.nodes, opts.poolSize, async (seq) => {
      for (const api of seq) await call(api, agencyBuckets);
    });
    maxRequestMs = Math.max(maxRequestMs, timeline.now - started);
  }

  async function runAgency(agency: SimAgency): Promise<void> {
    const buckets = new Map<string, VirtualBucket>();
    for (const api of agency.collectorCalls) await call(api, buckets);
    for (const req of agency.requests) await runRequest(req, buckets);
    maxAgencyMs = Math.max(maxAgencyMs, timeline.now);
  }

  // Every API must have a model before anything runs, so a gap fails fast and clearly.
  for (const a of agencies) {
    for (const api of a.collectorCalls) modelOf(api);
    for (const r of a.requests) for (const api of [...r.head, ...r.nodes.flat()]) modelOf(api);
  }

  await runInVirtualTime(timeline, Promise.all(agencies.map((a) => runAgency(a))));
  return { wallMs: timeline.now, maxRequestMs, maxAgencyMs, attempts, throttled, failedCalls };
}
