// Small pure pieces of the tag manager: identity from the invoked ARN, the concurrency pool,
// drift scheduling and configuration.
import { describe, expect, it } from 'vitest';
import { agencyFromArn } from '../../../lambda/tag-manager/identity.ts';
import { mapPool } from '../../../lambda/shared/pool.ts';
import { driftCheckDue, nodePhase } from '../../../lambda/tag-manager/sync.ts';
import { readConfig } from '../../../lambda/tag-manager/config.ts';
import { ownershipFromSsm } from '../../../lambda/tag-manager/ownership.ts';
import { managedNodeArn } from '../../../lambda/tag-manager/tagging-io.ts';
import type { ActivationRecord } from '../../../lambda/shared/activation-record.ts';

const FN = 'arn:aws:lambda:eu-west-1:999999999999:function:ssm-hub-tag-manager';

describe('agency identity from the invoked ARN', () => {
  it('takes the agency from an agency alias', () => {
    expect(agencyFromArn(`${FN}:agency-123456789012`)).toEqual({
      ok: true,
      agencyAccountId: '123456789012',
      alias: 'agency-123456789012',
      hub: { partition: 'aws', region: 'eu-west-1', account: '999999999999' },
    });
    expect(agencyFromArn(`arn:aws-us-gov:lambda:us-gov-west-1:999999999999:function:f:agency-123456789012`).ok).toBe(
      true,
    );
  });
  it.each([
    FN,
    `${FN}:1`,
    `${FN}:$LATEST`,
    `${FN}:agency-12345678901`,
    `${FN}:Agency-123456789012`,
    `${FN}:agency-123456789012:extra`,
    'not-an-arn',
    '',
  ])('refuses %j', (arn) => expect(agencyFromArn(arn).ok).toBe(false));
});

describe('bounded concurrency', () => {
  it('never runs more than the limit at once and keeps input order', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapPool([...Array(20).keys()], 3, async (i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, (i * 7) % 5));
      running--;
      return i * 2;
    });
    expect(peak).toBe(3);
    expect(out).toEqual([...Array(20).keys()].map((i) => i * 2));
  });
});

describe('drift scheduling', () => {
  const now = new Date('2030-01-10T00:00:00Z');
  const HOUR = 3_600_000;
  const row = (id: string, lastDriftCheckAt?: string) => ({
    managedInstanceId: id,
    agencyAccountId: 'a',
    ...(lastDriftCheckAt ? { lastDriftCheckAt } : {}),
  });
  it('is due when never checked', () => {
    expect(driftCheckDue(undefined, now, 168, 'mi-00000000000000001')).toBe(true);
    expect(driftCheckDue(row('mi-00000000000000001'), now, 168, 'mi-00000000000000001')).toBe(true);
  });
  it("is due exactly when the node's own period has passed, not a second before", () => {
    const id = 'mi-0123456789abcdef0';
    const period = 168 * HOUR * (0.5 + nodePhase(id) / 2);
    const at = (ms: number) => new Date(now.getTime() - ms).toISOString();
    expect(driftCheckDue(row(id, at(period)), now, 168, id)).toBe(true);
    expect(driftCheckDue(row(id, at(period - 1000)), now, 168, id)).toBe(false);
  });
  it('is never due before half the period nor later than the whole period', () => {
    for (let n = 0; n < 200; n++) {
      const id = `mi-${n.toString(16).padStart(17, '0')}`;
      const at = (hours: number) => new Date(now.getTime() - hours * HOUR).toISOString();
      expect(driftCheckDue(row(id, at(83.9)), now, 168, id)).toBe(false);
      expect(driftCheckDue(row(id, at(168)), now, 168, id)).toBe(true);
    }
  });
  it('spreads the drift checks of nodes first synced together across the second half of the period', () => {
    const perHour = new Map<number, number>();
    for (let n = 0; n < 10_000; n++) {
      const id = `mi-${(0xabc000 + n).toString(16).padStart(17, '0')}`;
      const dueHour = Math.floor(168 * (0.5 + nodePhase(id) / 2));
      perHour.set(dueHour, (perHour.get(dueHour) ?? 0) + 1);
    }
    // 84 hours share 10,000 nodes: about 119 an hour; no hour may take a large share.
    expect(perHour.size).toBeGreaterThanOrEqual(84);
    expect(Math.max(...perHour.values())).toBeLessThan(250);
  });
});

describe('configuration', () => {
  const base = { SYNC_TABLE_NAME: 't', ACTIVATION_PARAMETER_PREFIX: '/p' };
  it('applies the defaults', () => {
    expect(readConfig(base)).toEqual({
      syncTableName: 't',
      activationParameterPrefix: '/p',
      reservedTagPrefix: 'central-it:',
      metricNamespace: 'SsmHub',
      ssmConcurrency: 5,
      driftCheckHours: 168,
      agencyRequestsPerMinute: 600,
      ssmMaxAttempts: 8,
      retryBaseDelayMs: undefined,
    });
  });
  it('names the missing or bad variable', () => {
    expect(() => readConfig({ ACTIVATION_PARAMETER_PREFIX: '/p' })).toThrow(/SYNC_TABLE_NAME/);
    expect(() => readConfig({ ...base, SSM_CONCURRENCY: '0' })).toThrow(/SSM_CONCURRENCY/);
    expect(() => readConfig({ ...base, DRIFT_CHECK_HOURS: 'soon' })).toThrow(/DRIFT_CHECK_HOURS/);
  });
});

describe('ownership from what SSM says (nodes the sync table does not know)', () => {
  const A = '111111111111';
  const B = '222222222222';
  const P = 'central-it:';
  const stamp = (agency: string) => ({ [`${P}activation-agency`]: agency, Name: 'n' });
  const record = (agency: string, ids: string[]): ActivationRecord =>
    ({
      agencyAccountId: agency,
      current: {
        activationId: ids[0]!,
        activationCode: 'c',
        region: 'us-east-1',
        expiresAt: '',
        createdAt: '',
        registrationLimit: 1,
      },
      previous: [],
      knownActivationIds: ids,
    }) as unknown as ActivationRecord;
  const [recA, recB, recAB] = [record(A, ['act-a']), record(B, ['act-b']), record(A, ['act-b'])];
  const plain = { Name: 'n' };
  // [case, the node's activation ID, its tags, the record filed under A, the verdict]
  it.each([
    ['a node SSM does not know', 'act-a', undefined, recA, 'refused:unknown-node'],
    ["A's activation ID and A's stamp", 'act-a', stamp(A), recA, 'owned:activation-id'],
    ["A's activation ID and no stamp", 'act-a', plain, recA, 'owned:activation-id'],
    ["A's stamp only (activation ID retired)", 'act-old', stamp(A), recA, 'owned:activation-tag'],
    ["B's record filed under A, B's node", 'act-b', stamp(B), recB, 'refused:stamp-of-other-agency'],
    ["B's record filed under A, unstamped node", 'act-b', plain, recB, 'refused:no-proof'],
    ["A's record holding B's activation, B's stamp", 'act-b', stamp(B), recAB, 'refused:stamp-of-other-agency'],
    ['no record, no stamp', 'act-a', plain, undefined, 'refused:no-proof'],
    ['no record, own stamp', 'act-a', stamp(A), undefined, 'owned:activation-tag'],
  ] as const)('%s', (_label, activationId, tags, rec, expected) => {
    const o = ownershipFromSsm({ activationId }, tags, rec, P, A);
    expect(o.kind === 'owned' ? `owned:${o.proof}` : o.kind === 'refused' ? `refused:${o.cause}` : o.kind).toBe(
      expected,
    );
  });
});

describe('managed node ARNs for the Tagging API', () => {
  it.each([
    [
      { partition: 'aws', region: 'us-east-1', account: '999999999999' },
      'arn:aws:ssm:us-east-1:999999999999:managed-instance/mi-0123456789abcdef0',
    ],
    [
      { partition: 'aws-us-gov', region: 'us-gov-west-1', account: '111122223333' },
      'arn:aws-us-gov:ssm:us-gov-west-1:111122223333:managed-instance/mi-0123456789abcdef0',
    ],
  ])('builds the ARN in the hub partition, Region and account (%o)', (hub, arn) => {
    expect(managedNodeArn(hub, 'mi-0123456789abcdef0')).toBe(arn);
  });
});
