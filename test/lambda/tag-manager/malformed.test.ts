// Malformed requests: each gets one clear error naming the field (or, for a bad entry in a
// batch, a failed result naming it), and nothing is written to SSM or to the sync table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENCY_A, AGENCY_B, ec2Id, miId, startHarness, type Harness } from './harness.ts';

let h: Harness;
const goodNode = miId(1);
beforeAll(async () => {
  h = await startHarness();
  h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: 'irrelevant-code' });
  h.registerNode(1, AGENCY_A, 'act-aaaa');
});
afterAll(async () => h?.close());

const good = () => ({ ec2InstanceId: ec2Id(1), managedInstanceId: goodNode, tags: { Name: 'x' } });

// [label, request, field the error must name]
const ENVELOPE_CASES: Array<[string, unknown, string]> = [
  ['a null request', null, '(request)'],
  ['a string request', 'sync everything', '(request)'],
  ['an array request', [good()], '(request)'],
  ['a missing op', { instances: [good()] }, 'op'],
  ['an unknown op', { op: 'tag', instances: [good()] }, 'op'],
  ['an op in the wrong case', { op: 'SYNC', instances: [good()] }, 'op'],
  ['an op that is not a string', { op: 1, instances: [good()] }, 'op'],
  ['sync without instances', { op: 'sync' }, 'instances'],
  ['instances that is an object', { op: 'sync', instances: { 0: good() } }, 'instances'],
  ['an empty instances list', { op: 'sync', instances: [] }, 'instances'],
  ['101 instances', { op: 'sync', instances: Array.from({ length: 101 }, () => good()) }, 'instances'],
  ['deregister without instances', { op: 'deregister' }, 'instances'],
  [
    'an agency account ID in the envelope',
    { op: 'sync', agencyAccountId: AGENCY_B, instances: [good()] },
    'agencyAccountId',
  ],
  ['an alias in the envelope', { op: 'sync', alias: `agency-${AGENCY_B}`, instances: [good()] }, 'alias'],
  ['extra fields on activation', { op: 'activation', instances: [good()] }, 'instances'],
];

// [label, entry, field the failed result must name]
const ENTRY_CASES: Array<[string, unknown, string]> = [
  ['an entry that is not an object', 'mi-00000000000000001', 'instances[0]'],
  ['a missing managedInstanceId', { ec2InstanceId: ec2Id(1), tags: {} }, 'instances[0].managedInstanceId'],
  [
    'an EC2 ID as managedInstanceId',
    { ec2InstanceId: ec2Id(1), managedInstanceId: ec2Id(1), tags: {} },
    'instances[0].managedInstanceId',
  ],
  [
    'a managed node ID in upper case',
    { ec2InstanceId: ec2Id(1), managedInstanceId: goodNode.toUpperCase(), tags: {} },
    'instances[0].managedInstanceId',
  ],
  [
    'a managed node ID one digit short',
    { ec2InstanceId: ec2Id(1), managedInstanceId: goodNode.slice(0, -1), tags: {} },
    'instances[0].managedInstanceId',
  ],
  ['a missing ec2InstanceId', { managedInstanceId: goodNode, tags: {} }, 'instances[0].ec2InstanceId'],
  [
    'a malformed ec2InstanceId',
    { ec2InstanceId: 'i-xyz', managedInstanceId: goodNode, tags: {} },
    'instances[0].ec2InstanceId',
  ],
  ['missing tags', { ec2InstanceId: ec2Id(1), managedInstanceId: goodNode }, 'instances[0].tags'],
  [
    'tags as a list',
    { ec2InstanceId: ec2Id(1), managedInstanceId: goodNode, tags: [{ Key: 'Name', Value: 'x' }] },
    'instances[0].tags',
  ],
  [
    'a numeric tag value',
    { ec2InstanceId: ec2Id(1), managedInstanceId: goodNode, tags: { Count: 3 } },
    'instances[0].tags.Count',
  ],
  [
    'a null tag value',
    { ec2InstanceId: ec2Id(1), managedInstanceId: goodNode, tags: { Name: null } },
    'instances[0].tags.Name',
  ],
  [
    'an agency account ID inside an entry',
    { ...{ ec2InstanceId: ec2Id(1), managedInstanceId: goodNode, tags: {} }, agencyAccountId: AGENCY_B },
    'instances[0].agencyAccountId',
  ],
];

describe('malformed envelopes', () => {
  it.each(ENVELOPE_CASES)(
    'refuses %s with one error naming the field, writing nothing',
    async (_label, request, field) => {
      const before = h.ssm.totalCalls();
      const res = await h.invokeAs(AGENCY_A, request);
      expect(Object.keys(res)).toEqual(['error']);
      expect(res.error.code).toBe('InvalidRequest');
      expect(res.error.field).toBe(field);
      expect(res.error.message.startsWith(`${field}: `)).toBe(true);
      expect(res.error.message).not.toMatch(/\n\s+at /);
      expect(h.ssm.totalCalls()).toBe(before);
      expect(h.ssm.writeCalls()).toBe(0);
      expect(await h.rows()).toHaveLength(0);
    },
  );
});

describe('malformed entries', () => {
  it.each(ENTRY_CASES)('reports %s as failed naming the field, writing nothing', async (_label, entry, field) => {
    const res = await h.invokeAs(AGENCY_A, { op: 'sync', instances: [entry] });
    expect(res.results).toHaveLength(1);
    expect(res.results[0].status).toBe('failed');
    expect(res.results[0].reason.startsWith(`invalid: ${field}: `)).toBe(true);
    expect(h.ssm.writeCalls()).toBe(0);
    expect(await h.rows()).toHaveLength(0);
  });

  it('processes the good entries of a batch and reports the bad ones in place', async () => {
    const res = await h.invokeAs(AGENCY_A, {
      op: 'sync',
      instances: [{ ec2InstanceId: 'nope', managedInstanceId: miId(2), tags: {} }, good(), { ...good() }],
    });
    expect(res.results.map((r: { status: string }) => r.status)).toEqual(['failed', 'applied', 'failed']);
    expect(res.results[0].reason).toMatch(/^invalid: instances\[0\]\.ec2InstanceId: /);
    expect(res.results[2].reason).toMatch(/^invalid: instances\[2\]\.managedInstanceId: duplicate of instances\[1\]/);
    expect(h.ssm.calls.AddTagsToResource).toBe(1);
    expect((await h.rows()).map((r) => r.managedInstanceId)).toEqual([goodNode]);
  });

  it('caps a 200 KB tag key in the skipped-tags answer', async () => {
    const huge = 'k'.repeat(200_000);
    const res = await h.invokeAs(AGENCY_A, {
      op: 'sync',
      instances: [{ ...good(), tags: { Name: 'x', [huge]: 'v' } }],
    });
    expect(res.results[0].status).not.toBe('failed');
    expect(res.results[0].skippedTags).toEqual([{ key: `${'k'.repeat(128)}…`, reason: expect.any(String) }]);
    expect(JSON.stringify(res).length).toBeLessThan(2_000);
  });
});

describe('echoed field names are capped', () => {
  const huge = 'f'.repeat(200_000);
  it('caps a 200 KB unknown field name of an entry', async () => {
    const res = await h.invokeAs(AGENCY_A, { op: 'sync', instances: [{ ...good(), [huge]: 1 }] });
    expect(res.results[0].status).toBe('failed');
    expect(res.results[0].reason).toContain(`instances[0].${'f'.repeat(128)}…`);
    expect(JSON.stringify(res).length).toBeLessThan(2_000);
  });

  it('caps a 200 KB unknown field name of the envelope', async () => {
    const res = await h.invokeAs(AGENCY_A, { op: 'sync', instances: [good()], [huge]: 1 });
    expect(res.error).toMatchObject({ code: 'InvalidRequest', field: `${'f'.repeat(128)}…` });
    expect(JSON.stringify(res).length).toBeLessThan(2_000);
  });

  it('caps a 200 KB tag key named in an invalid tag value', async () => {
    const res = await h.invokeAs(AGENCY_A, { op: 'sync', instances: [{ ...good(), tags: { [huge]: 7 } }] });
    expect(res.results[0].reason).toMatch(/^invalid: instances\[0\]\.tags\.f{128}…: tag values must be strings/);
    expect(JSON.stringify(res).length).toBeLessThan(2_000);
  });

  it('lists at most five of ten thousand unknown fields', async () => {
    const many = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`extra${i}-${'x'.repeat(100)}`, 1]));
    const res = await h.invokeAs(AGENCY_A, { op: 'sync', instances: [{ ...good(), ...many }] });
    expect(res.results[0].status).toBe('failed');
    expect(JSON.stringify(res).length).toBeLessThan(2_000);
  });
});
