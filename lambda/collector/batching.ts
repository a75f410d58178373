// Splits instances into hub requests that respect both the contract's instance count and a
// byte budget safely under Lambda's 6 MB synchronous payload limit. Pure.
import type { SyncInstance } from '../shared/contract.ts';
import { MAX_INSTANCES_PER_REQUEST } from './answers.ts';

/** Bytes of JSON per request: 6 MB (6,291,456 bytes) minus headroom. */
export const MAX_REQUEST_BYTES = 5_000_000;

export interface BatchLimits {
  maxInstances: number;
  maxBytes: number;
}

export const DEFAULT_LIMITS: BatchLimits = { maxInstances: MAX_INSTANCES_PER_REQUEST, maxBytes: MAX_REQUEST_BYTES };

export interface Batches<T> {
  batches: T[][];
  /** Instances that would not fit in a request even alone; never sent. */
  oversize: T[];
}

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * Greedy, order-preserving batching. The size of a request is exactly
 * `{"op":"<op>","instances":[` + entries joined by commas + `]}`, as JSON.stringify writes it.
 */
export function batchInstances<T extends object = SyncInstance>(
  op: 'sync' | 'deregister',
  instances: readonly T[],
  limits: BatchLimits = DEFAULT_LIMITS,
): Batches<T> {
  const envelope = utf8(JSON.stringify({ op, instances: [] }));
  const batches: T[][] = [];
  const oversize: T[] = [];
  let current: T[] = [];
  let bytes = envelope;
  for (const instance of instances) {
    const size = utf8(JSON.stringify(instance));
    if (envelope + size > limits.maxBytes) {
      oversize.push(instance);
      continue;
    }
    const added = size + (current.length > 0 ? 1 : 0);
    if (current.length >= limits.maxInstances || bytes + added > limits.maxBytes) {
      batches.push(current);
      current = [];
      bytes = envelope;
    }
    bytes += size + (current.length > 0 ? 1 : 0);
    current.push(instance);
  }
  if (current.length > 0) batches.push(current);
  return { batches, oversize };
}
