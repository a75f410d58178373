// The collector checks the hub's answers without zod (bundle size). These tests parse every
// input with both the collector's checks and the contract's zod schemas: they must agree.
import { describe, expect, it } from 'vitest';
import * as answers from '../../../lambda/collector/answers.ts';
import * as contract from '../../../lambda/shared/contract.ts';

const agree = (
  mine: (b: unknown) => answers.Checked<unknown>,
  schema: { safeParse: (b: unknown) => { success: boolean; data?: unknown } },
  inputs: unknown[],
) => {
  for (const input of inputs) {
    const a = mine(input);
    const z = schema.safeParse(input);
    expect(a.ok, JSON.stringify(input)).toBe(z.success);
    if (a.ok) expect(a.data, JSON.stringify(input)).toEqual(z.data);
  }
};

describe('contract mirror', () => {
  it('uses the same patterns, limits and enumerations as the contract', () => {
    expect(answers.EC2_INSTANCE_ID_PATTERN.source).toBe(contract.EC2_INSTANCE_ID_PATTERN.source);
    expect(answers.MANAGED_INSTANCE_ID_PATTERN.source).toBe(contract.MANAGED_INSTANCE_ID_PATTERN.source);
    expect(answers.MAX_INSTANCES_PER_REQUEST).toBe(contract.MAX_INSTANCES_PER_REQUEST);
    expect([...answers.RESULT_STATUSES]).toEqual([...contract.RESULT_STATUSES]);
    expect([...answers.ERROR_CODES]).toEqual([...contract.ERROR_CODES]);
  });

  it('accepts and rejects the same error answers as the contract schema', () => {
    agree(answers.checkErrorAnswer, contract.errorResponseSchema, [
      { error: { code: 'Unauthorized', message: 'no' } },
      { error: { code: 'InvalidRequest', message: 'instances[0]: bad', field: 'instances[0]' } },
      { error: { code: 'NotFound', message: 'x', extra: 1 }, other: true },
      { error: { code: 'Teapot', message: 'x' } },
      { error: { code: 'Internal' } },
      { error: { code: 'Internal', message: 'x', field: 3 } },
      { error: 'Unauthorized' },
      { results: [] },
      null,
      'error',
      [],
    ]);
  });

  it('accepts and rejects the same batch answers as the contract schema', () => {
    const r = { managedInstanceId: 'mi-0123456789abcdef0', status: 'applied' };
    agree(answers.checkBatchAnswer, contract.batchResponseSchema, [
      { results: [] },
      { results: [r, { ...r, status: 'unchanged', ec2InstanceId: 'i-12345678' }] },
      { results: [{ ...r, status: 'rejected', reason: 'not yours', extra: 'dropped' }] },
      { results: [{ ...r, status: 'failed', skippedTags: [{ key: 'aws:x', reason: 'aws: prefix', more: 1 }] }] },
      { results: [{ ...r, skippedTags: [] }] },
      { results: [{ ...r, status: 'done' }] },
      { results: [{ ...r, managedInstanceId: 7 }] },
      { results: [{ ...r, reason: null }] },
      { results: [{ ...r, skippedTags: [{ key: 'k' }] }] },
      { results: [{ ...r, skippedTags: {} }] },
      { results: [r, 'x'] },
      { results: {} },
      {},
      null,
    ]);
  });

  it('accepts and rejects the same activation answers as the contract schema', () => {
    const a = { activationId: 'act', activationCode: 'code', region: 'eu-west-1', expiresAt: '2030-01-31T23:59:59Z' };
    agree(answers.checkActivationAnswer, contract.activationResponseSchema, [
      a,
      { ...a, expiresAt: '2030-01-31T23:59:59.123456Z', extra: 'dropped' },
      { ...a, expiresAt: '2028-02-29T00:00:00.000Z' },
      { ...a, expiresAt: '2030-02-29T00:00:00Z' },
      { ...a, expiresAt: '2030-02-30T00:00:00Z' },
      { ...a, expiresAt: '2030-13-01T00:00:00Z' },
      { ...a, expiresAt: '2030-01-31T24:00:00Z' },
      { ...a, expiresAt: '2030-01-31T23:59Z' },
      { ...a, expiresAt: '2030-01-31T23:59:59+01:00' },
      { ...a, expiresAt: '2030-01-31' },
      { ...a, expiresAt: 1_900_000_000 },
      { ...a, activationCode: '' },
      { ...a, activationId: undefined },
      { ...a, region: 5 },
      null,
    ]);
  });

  it('names the field that broke the contract without echoing its value', () => {
    const secret = 'PLANTED-CODE-xyz';
    const res = answers.checkActivationAnswer({
      activationId: 'a',
      activationCode: secret,
      region: 'r',
      expiresAt: 'soon',
    });
    expect(res).toEqual({ ok: false, field: 'expiresAt' });
    expect(
      answers.checkBatchAnswer({
        results: [{ managedInstanceId: 'mi', status: 'applied', skippedTags: [{ key: 1 }] }],
      }),
    ).toEqual({
      ok: false,
      field: 'results[0].skippedTags[0].key',
    });
  });
});
