// Registration outcomes reach central IT: the real collector bundle reports the instances that
// carry a registration-error tag through its own alias; the real tag manager bundle records them
// under the agency the alias names; `status --json` shows the count per agency.
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudFormationClient, DescribeStacksCommand, ListStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeInstanceInformationCommand, GetServiceSettingCommand, SSMClient } from '@aws-sdk/client-ssm';
import { loadBundledHandler, lambdaContext, type BundledHandler } from '../../testing/helpers/bundled.ts';
import { AgencyAccount } from '../../testing/helpers/agency-account.ts';
import { AGENCY_A, AGENCY_B, FUNCTION_ARN, PREFIX, ec2Id, startHarness } from '../lambda/tag-manager/harness.ts';
import { type Harness } from '../lambda/tag-manager/harness.ts';
import { main as status } from '../../scripts/ops/status.ts';
import { regionWarnings } from '../../scripts/ops/status.ts';
import { registrationErrorRecord } from '../../lambda/tag-manager/report.ts';
import { REGISTRATION_ERROR_MAX_CHARS } from '../../contract/names.ts';
import { testContext } from '../cli/helpers.ts';

const ERROR_TAG = `${PREFIX}registration-error`;
const scheduled = { version: '0', source: 'aws.events', 'detail-type': 'Scheduled Event', resources: [], detail: {} };

let hub: Harness;
let collector: BundledHandler;
const agency = new AgencyAccount();
const { ec2, lambda } = agency;
const runCollectorOf = (agency: string) =>
  collector.handler(scheduled, lambdaContext(`arn:aws:lambda:us-east-1:${agency}:function:ssm-hub-collector`));
// The collector names its Region (AWS_REGION, us-east-1 in tests): its list has a row of its own.
// A report without a Region (a collector of an earlier release) keeps its list in the agency row.
const regErrRow = async (agency: string, region = 'us-east-1') =>
  (await hub.allItems()).find((r) => r.managedInstanceId === `regerr#${agency}${region ? `#${region}` : ''}`);

beforeAll(async () => {
  hub = await startHarness();
  const endpoints = await agency.start(hub.ssm.endpoint);
  process.env.AWS_ENDPOINT_URL_SSM = endpoints.ssm;
  process.env.AWS_ENDPOINT_URL_EC2 = endpoints.ec2;
  process.env.AWS_ENDPOINT_URL_LAMBDA = endpoints.lambda;
  Object.assign(process.env, {
    HUB_FUNCTION_ARN: `${FUNCTION_ARN}:agency-${AGENCY_A}`,
    ACTIVATION_PARAMETER_PATH: '/central-hub/activation',
  });
  collector = await loadBundledHandler('collector');
  (collector.setLogSink as (s: (l: string) => void) => void)(() => undefined);
  hub.plantActivation(AGENCY_A, { activationId: 'act-a', code: 'PLANTED-CODE-A' });
});
afterAll(async () => {
  await Promise.all([hub.close(), agency.stop()]);
});
beforeEach(() => {
  lambda.reset((payload, meta) =>
    hub.invoke(meta.qualifier ? `${FUNCTION_ARN}:${meta.qualifier}` : meta.functionName, payload),
  );
});

describe('registration errors reach the central table', () => {
  it("records an agency instance's registration error (truncated) under the agency its alias names", async () => {
    const long = `register failed: ${'x'.repeat(400)}`;
    ec2.instances = [
      { instanceId: ec2Id(1), tags: { Name: 'web-1', [ERROR_TAG]: long } },
      { instanceId: ec2Id(2), tags: { Name: 'web-2', [ERROR_TAG]: 'agent not found' } },
      { instanceId: ec2Id(3), tags: { Name: 'gone', [ERROR_TAG]: 'old' }, state: 'terminated' },
      { instanceId: ec2Id(4), tags: { Name: 'healthy' } },
    ];
    await runCollectorOf(AGENCY_A);
    const row = await regErrRow(AGENCY_A);
    expect(row).toMatchObject({ reportedBy: AGENCY_A, registrationErrorCount: 2 });
    expect(row!.registrationErrors).toEqual({
      [ec2Id(1)]: long.slice(0, REGISTRATION_ERROR_MAX_CHARS),
      [ec2Id(2)]: 'agent not found',
    });
    expect(hub.metrics('RegistrationErrors')).toBeGreaterThanOrEqual(2);
  });

  it('clears an instance from the record once its error tag is gone', async () => {
    ec2.instances = [{ instanceId: ec2Id(2), tags: { Name: 'web-2', [ERROR_TAG]: 'agent not found' } }];
    await runCollectorOf(AGENCY_A);
    ec2.instances = [{ instanceId: ec2Id(2), tags: { Name: 'web-2' } }];
    await runCollectorOf(AGENCY_A);
    expect(await regErrRow(AGENCY_A)).toMatchObject({ registrationErrorCount: 0, registrationErrors: {} });
  });

  it("never lets an agency write or clear another agency's record, nor name the agency in the payload", async () => {
    ec2.instances = [{ instanceId: ec2Id(5), tags: { [ERROR_TAG]: 'failed' } }];
    await runCollectorOf(AGENCY_A);
    // Agency B, through its own alias, reports nothing: only its own record changes.
    expect(await hub.invokeAs(AGENCY_B, { op: 'report', registrationErrors: [] })).toEqual({ recorded: 0 });
    expect(await regErrRow(AGENCY_A)).toMatchObject({ registrationErrorCount: 1 });
    expect(await regErrRow(AGENCY_B, '')).toMatchObject({ reportedBy: AGENCY_B, registrationErrorCount: 0 });
    const spoof = await hub.invokeAs(AGENCY_B, {
      op: 'report',
      agencyAccountId: AGENCY_A,
      registrationErrors: [],
    });
    expect(spoof.error).toMatchObject({ code: 'InvalidRequest', field: 'agencyAccountId' });
    expect(await regErrRow(AGENCY_A)).toMatchObject({ registrationErrorCount: 1 });
  });

  it.each([
    { case: 'an instance ID that is not one', entry: { ec2InstanceId: 'mi-1', error: 'x' }, field: 'ec2InstanceId' },
    {
      case: 'an error text over 256 characters',
      entry: { ec2InstanceId: ec2Id(9), error: 'e'.repeat(257) },
      field: 'error',
    },
  ])('refuses a report with $case, naming the field', async ({ entry, field }) => {
    const answer = await hub.invokeAs(AGENCY_A, { op: 'report', registrationErrors: [entry] });
    expect(answer.error.code).toBe('InvalidRequest');
    expect(answer.error.field).toBe(`registrationErrors[0].${field}`);
  });

  it('keeps instance IDs as data: __proto__-like keys cannot reach the record', () => {
    const r = registrationErrorRecord(AGENCY_A, [{ ec2InstanceId: ec2Id(1), error: 'a' }], 'now');
    expect(Object.keys(r.registrationErrors)).toEqual([ec2Id(1)]);
  });
});

describe('status --json', () => {
  it('shows the registration errors per agency from the central table', async () => {
    ec2.instances = [
      { instanceId: ec2Id(11), tags: { [ERROR_TAG]: 'failed 1' } },
      { instanceId: ec2Id(12), tags: { [ERROR_TAG]: 'failed 2' } },
      { instanceId: ec2Id(13), tags: { [ERROR_TAG]: 'failed 3' } },
    ];
    await runCollectorOf(AGENCY_A);
    // The operator CLI's own clients are mocked only now: the bundles share the SDK's classes.
    const cfn = mockClient(CloudFormationClient);
    const ssm = mockClient(SSMClient);
    onTestFinished(() => {
      cfn.restore();
      ssm.restore();
    });
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'ssm-hub-central-manager',
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: [{ OutputKey: 'SyncTableName', OutputValue: hub.db.tableName }],
        },
      ],
    });
    cfn.on(ListStacksCommand).resolves({ StackSummaries: [] });
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
    ssm.on(GetServiceSettingCommand).resolves({ ServiceSetting: { SettingValue: 'standard' } });
    const ctx = testContext(new Date());
    ctx.awsConfig = { dynamodb: { endpoint: hub.db.endpoint } };
    await status(['--agencies', `${AGENCY_A},${AGENCY_B}`, '--json'], ctx);
    const report = JSON.parse(ctx.stdoutText());
    const byAccount = Object.fromEntries(report.agencies.map((a: any) => [a.account, a]));
    expect(byAccount[AGENCY_A].registrationErrors).toBe(3);
    expect(byAccount[AGENCY_B].registrationErrors).toBe(0);
    expect(report.warnings).toContain(`agency ${AGENCY_A}: 3 instance(s) failed to register (us-east-1: 3)`);
    expect(report.regions[0].tier).toBe('standard');
  });
});

describe('the standard-tier warning follows the tier in force', () => {
  it.each([
    { tier: 'standard' as const, warned: true },
    { tier: undefined, warned: true },
    { tier: 'advanced' as const, warned: false },
  ])('$tier tier at 950 of 1,000 nodes: warned $warned', ({ tier, warned }) => {
    const w = regionWarnings({ region: 'us-east-1', managedNodes: 950, limit: 1000, percent: 95, tier });
    expect(w.length > 0).toBe(warned);
  });
});
