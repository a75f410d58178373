// Small pure pieces of the tag manager: identity from the invoked ARN, the concurrency pool,
// drift scheduling and configuration.
import { describe, expect, it } from 'vitest';
import { agencyFromArn } from '../../../lambda/tag-manager/identity.ts';
import { mapPool } from '../../../lambda/tag-manager/pool.ts';
import { driftCheckDue } from '../../../lambda/tag-manager/sync.ts';
import { readConfig } from '../../../lambda/tag-manager/config.ts';

const FN = 'arn:aws:lambda:eu-west-1:999999999999:function:ssm-hub-tag-manager';

describe('agency identity from the invoked ARN', () => {
  it('takes the agency from an agency alias', () => {
    expect(agencyFromArn(`${FN}:agency-123456789012`)).toEqual({ ok: true, agencyAccountId: '123456789012', alias: 'agency-123456789012' });
    expect(agencyFromArn(`arn:aws-us-gov:lambda:us-gov-west-1:999999999999:function:f:agency-123456789012`).ok).toBe(true);
  });
  it.each([FN, `${FN}:1`, `${FN}:$LATEST`, `${FN}:agency-12345678901`, `${FN}:Agency-123456789012`, `${FN}:agency-123456789012:extra`, 'not-an-arn', ''])(
    'refuses %j',
    (arn) => expect(agencyFromArn(arn).ok).toBe(false),
  );
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
  it('is due when never checked or older than the period, not before', () => {
    expect(driftCheckDue(undefined, now, 168)).toBe(true);
    expect(driftCheckDue({ managedInstanceId: 'm', agencyAccountId: 'a' }, now, 168)).toBe(true);
    expect(driftCheckDue({ managedInstanceId: 'm', agencyAccountId: 'a', lastDriftCheckAt: '2030-01-03T00:00:00Z' }, now, 168)).toBe(true);
    expect(driftCheckDue({ managedInstanceId: 'm', agencyAccountId: 'a', lastDriftCheckAt: '2030-01-03T00:00:01Z' }, now, 168)).toBe(false);
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
    });
  });
  it('names the missing or bad variable', () => {
    expect(() => readConfig({ ACTIVATION_PARAMETER_PREFIX: '/p' })).toThrow(/SYNC_TABLE_NAME/);
    expect(() => readConfig({ ...base, SSM_CONCURRENCY: '0' })).toThrow(/SSM_CONCURRENCY/);
    expect(() => readConfig({ ...base, DRIFT_CHECK_HOURS: 'soon' })).toThrow(/DRIFT_CHECK_HOURS/);
  });
});
