// One collector per agency and Region, one registration-error row per agency: the real collector
// bundle (run as if in two Regions: the Lambda runtime sets AWS_REGION) reports through its alias to
// the real tag manager bundle, and the orphan sweep's guard takes the oldest Region's report. A
// collector whose syncs failed does not report, so its Region's time stays old.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadBundledHandler, lambdaContext, type BundledHandler } from '../../testing/helpers/bundled.ts';
import { AgencyAccount } from '../../testing/helpers/agency-account.ts';
import { AGENCY_A, FUNCTION_ARN, ec2Id, startHarness, type Harness } from '../lambda/tag-manager/harness.ts';
import { guardReportedAt } from '../../lambda/fleet-lifecycle/sweep-rules.ts';

const scheduled = { version: '0', source: 'aws.events', 'detail-type': 'Scheduled Event', resources: [], detail: {} };
let hub: Harness;
let collector: BundledHandler;
const agency = new AgencyAccount();
const { ec2, lambda } = agency;
let syncFails = false;

const runIn = async (region: string) => {
  vi.stubEnv('AWS_REGION', region);
  try {
    return await collector.handler(
      scheduled,
      lambdaContext(`arn:aws:lambda:${region}:${AGENCY_A}:function:ssm-hub-collector`),
    );
  } finally {
    vi.stubEnv('AWS_REGION', 'us-east-1');
  }
};
const regErrRow = async () => (await hub.allItems()).find((r) => r.managedInstanceId === `regerr#${AGENCY_A}`);

beforeAll(async () => {
  hub = await startHarness();
  const endpoints = await agency.start(hub.ssm.endpoint);
  vi.stubEnv('AWS_ENDPOINT_URL_SSM', endpoints.ssm);
  vi.stubEnv('AWS_ENDPOINT_URL_EC2', endpoints.ec2);
  vi.stubEnv('AWS_ENDPOINT_URL_LAMBDA', endpoints.lambda);
  vi.stubEnv('HUB_FUNCTION_ARN', `${FUNCTION_ARN}:agency-${AGENCY_A}`);
  vi.stubEnv('ACTIVATION_PARAMETER_PATH', '/central-hub/activation');
  collector = await loadBundledHandler('collector');
  (collector.setLogSink as (s: (l: string) => void) => void)(() => undefined);
  hub.plantActivation(AGENCY_A, { activationId: 'act-a', code: 'PLANTED-CODE-A' });
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all([hub.close(), agency.stop()]);
});
beforeEach(() => {
  syncFails = false;
  lambda.reset(async (payload, meta) => {
    // The hub unavailable for syncs (throttled, or the tag manager erroring); reports still work.
    if (syncFails && (payload as { op?: string }).op === 'sync') throw new Error('hub sync unavailable');
    return hub.invoke(meta.qualifier ? `${FUNCTION_ARN}:${meta.qualifier}` : meta.functionName, payload);
  });
  ec2.instances = [{ instanceId: ec2Id(1), tags: { Name: 'web-1' } }];
});

describe('the "collector reported" time with collectors in several Regions', () => {
  it("keeps each Region's report time, and the guard takes the oldest", async () => {
    await runIn('eu-west-1');
    const first = await regErrRow();
    await new Promise((r) => setTimeout(r, 5));
    await runIn('us-east-1');
    const row = (await regErrRow())!;
    expect(row['reportedAt#eu-west-1']).toBe(first!['reportedAt#eu-west-1']);
    expect(Date.parse(row['reportedAt#us-east-1'])).toBeGreaterThan(Date.parse(row['reportedAt#eu-west-1']));
    expect(guardReportedAt(row)).toEqual(new Date(row['reportedAt#eu-west-1']));
  });

  it('a healthy collector in one Region never vouches for a broken one in another', async () => {
    await runIn('eu-west-1');
    await runIn('us-east-1');
    const before = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    // eu-west-1's collector now fails every sync; us-east-1's keeps working.
    ec2.instances = [{ instanceId: ec2Id(1), tags: { Name: 'web-1', managedinstanceid: 'mi-0123456789abcdef0' } }];
    syncFails = true;
    await expect(runIn('eu-west-1')).rejects.toThrow(/collector run failed/);
    syncFails = false;
    await runIn('us-east-1');
    const row = (await regErrRow())!;
    expect(Date.parse(row['reportedAt#us-east-1'])).toBeGreaterThan(before);
    expect(Date.parse(row.reportedAt)).toBeGreaterThan(before);
    expect(guardReportedAt(row)!.getTime()).toBeLessThan(before);
  });
});
