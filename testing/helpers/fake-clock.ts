// Runs a promise under vitest's fake clock while real sockets do their I/O, and says how much
// clock time passed before it settled. Lets a test check a 310 s timeout in a few real seconds:
// the SDK's timers (@smithy/node-http-handler's `timing.setTimeout`, the retry delays) read the
// global setTimeout at call time, so they run on the fake clock; loopback connections are real.
import { vi } from 'vitest';

export interface Settled<T> {
  /** Fake milliseconds from start to settlement (or to `maxMs` when still pending). */
  elapsedMs: number;
  outcome: { kind: 'resolved'; value: T } | { kind: 'rejected'; error: Error } | { kind: 'pending' };
}

/**
 * Starts `start` with the fake clock installed and advances it `stepMs` at a time, letting real
 * I/O run between steps, until the promise settles or `maxMs` of fake time have passed.
 */
export async function settleOnFakeClock<T>(
  start: () => Promise<T>,
  { stepMs = 250, maxMs }: { stepMs?: number; maxMs: number },
): Promise<Settled<T>> {
  const realSleep = globalThis.setTimeout;
  const pause = () => new Promise<void>((r) => realSleep(r, 2));
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  try {
    const began = Date.now();
    let outcome: Settled<T>['outcome'] = { kind: 'pending' };
    start().then(
      (value) => (outcome = { kind: 'resolved', value }),
      (error: Error) => (outcome = { kind: 'rejected', error }),
    );
    while (outcome.kind === 'pending' && Date.now() - began < maxMs) {
      await pause();
      await vi.advanceTimersByTimeAsync(stepMs);
    }
    await pause();
    return { elapsedMs: Date.now() - began, outcome };
  } finally {
    vi.useRealTimers();
  }
}
