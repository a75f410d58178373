import { describe, expect, it } from 'vitest';
import { batchInstances, DEFAULT_LIMITS, MAX_REQUEST_BYTES } from '../../../lambda/collector/batching.ts';
import { MAX_INSTANCES_PER_REQUEST, type SyncInstance } from '../../../lambda/shared/contract.ts';

const inst = (n: number, tagBytes = 0): SyncInstance => ({
  ec2InstanceId: `i-${n.toString(16).padStart(17, '0')}`,
  managedInstanceId: `mi-${n.toString(16).padStart(17, '0')}`,
  tags: tagBytes ? { big: 'x'.repeat(tagBytes) } : {},
});
const requestBytes = (batch: SyncInstance[]) => Buffer.byteLength(JSON.stringify({ op: 'sync', instances: batch }));

describe('batchInstances', () => {
  it('returns no batch for no instances', () => {
    expect(batchInstances('sync', [])).toEqual({ batches: [], oversize: [] });
  });

  it('cuts at the contract count limit and keeps order', () => {
    const all = Array.from({ length: 250 }, (_, n) => inst(n));
    const { batches, oversize } = batchInstances('sync', all);
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50]);
    expect(batches.flat()).toEqual(all);
    expect(oversize).toEqual([]);
    expect(DEFAULT_LIMITS).toEqual({ maxInstances: MAX_INSTANCES_PER_REQUEST, maxBytes: MAX_REQUEST_BYTES });
  });

  it('cuts at the byte limit, measuring the exact serialized request', () => {
    const all = Array.from({ length: 10 }, (_, n) => inst(n, 300));
    const one = requestBytes([all[0]!]);
    // Room for exactly three: three fit, four do not.
    const limit = requestBytes(all.slice(0, 3));
    expect(requestBytes(all.slice(0, 4))).toBeGreaterThan(limit);
    const { batches } = batchInstances('sync', all, { maxInstances: 100, maxBytes: limit });
    expect(batches.map((b) => b.length)).toEqual([3, 3, 3, 1]);
    for (const b of batches) expect(requestBytes(b)).toBeLessThanOrEqual(limit);
    expect(one).toBeLessThan(limit);
  });

  it('counts multi-byte characters as UTF-8 bytes, not string length', () => {
    const wide = (n: number): SyncInstance => ({ ...inst(n), tags: { k: '漢'.repeat(100) } });
    const all = [wide(1), wide(2)];
    const limit = requestBytes(all) - 1;
    expect(JSON.stringify({ op: 'sync', instances: all }).length).toBeLessThan(limit);
    expect(batchInstances('sync', all, { maxInstances: 100, maxBytes: limit }).batches).toHaveLength(2);
  });

  it('sets aside an instance too large for any request and sends the rest', () => {
    const all = [inst(1), inst(2, 2000), inst(3)];
    const { batches, oversize } = batchInstances('sync', all, { maxInstances: 100, maxBytes: 1000 });
    expect(oversize).toEqual([all[1]]);
    expect(batches).toEqual([[all[0], all[2]]]);
  });

  it('sizes deregister requests with their own envelope', () => {
    const d = [{ ec2InstanceId: 'i-12345678', managedInstanceId: 'mi-0123456789abcdef0' }];
    const exact = Buffer.byteLength(JSON.stringify({ op: 'deregister', instances: d }));
    expect(batchInstances('deregister', d, { maxInstances: 1, maxBytes: exact }).batches).toHaveLength(1);
    expect(batchInstances('deregister', d, { maxInstances: 1, maxBytes: exact - 1 }).oversize).toHaveLength(1);
  });

  it('stays within the default limits for a large mixed input', () => {
    const all = Array.from({ length: 1000 }, (_, n) => inst(n, (n * 7919) % 120_000));
    const { batches, oversize } = batchInstances('sync', all);
    expect(oversize).toEqual([]);
    expect(batches.flat()).toHaveLength(1000);
    expect(batches.length).toBeGreaterThan(10); // the byte budget, not only the count, cut them
    for (const b of batches) {
      expect(b.length).toBeLessThanOrEqual(MAX_INSTANCES_PER_REQUEST);
      expect(requestBytes(b)).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
    }
  });
});
