// doctor: one PASS/WARN/FAIL line and a fix per prerequisite; exit 1 when any fails.
import { describe, expect, it } from 'vitest';
import {
  DescribeOrganizationsAccessCommand,
  GetTemplateCommand,
  ListStacksCommand,
} from '@aws-sdk/client-cloudformation';
import { DescribeOrganizationCommand, ListDelegatedAdministratorsCommand } from '@aws-sdk/client-organizations';
import { GetBucketPolicyCommand } from '@aws-sdk/client-s3';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { GetServiceSettingCommand, ListNodesSummaryCommand } from '@aws-sdk/client-ssm';
import {
  concurrencyCheck,
  main as doctor,
  nodeVersionCheck,
  policyReaches,
  tierCheck,
} from '../../scripts/ops/doctor.ts';
import { bucketPolicy } from '../../scripts/ops/publish.ts';
import { fakeCloudFormation } from './fake-cloudformation.ts';
import { awsError, CALLER_ACCOUNT, makeGenerated, mockAll, mocksEachTest, TEMPLATES, testContext } from './helpers.ts';

const mocks = mocksEachTest(() => {
  const all = mockAll();
  const lambda = mockClient(LambdaClient);
  return { ...all, lambda, restore: () => (all.restore(), lambda.restore()) };
});

const ORG = 'o-abcdefghij';
const BUCKET = 'acme-templates-us-east-1';

/** A hub where every check passes; each test breaks one thing. */
function healthy() {
  const ctx = testContext();
  const fake = fakeCloudFormation(mocks.cfn, { now: ctx.now });
  fake.add('ssm-hub-central-manager', 'UPDATE_COMPLETE', [], JSON.stringify(TEMPLATES['central-manager']));
  mocks.cfn.on(DescribeOrganizationsAccessCommand).resolves({ Status: 'ENABLED' });
  mocks.org.on(DescribeOrganizationCommand).resolves({ Organization: { Id: ORG, MasterAccountId: CALLER_ACCOUNT } });
  mocks.org.on(ListDelegatedAdministratorsCommand).resolves({ DelegatedAdministrators: [{ Id: CALLER_ACCOUNT }] });
  mocks.s3
    .on(GetBucketPolicyCommand)
    .resolves({ Policy: JSON.stringify(bucketPolicy(BUCKET, 'us-east-1', 'ssm-hub', ORG)) });
  // Lambda API reference, GetAccountSettings: AccountLimit.UnreservedConcurrentExecutions.
  mocks.lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { UnreservedConcurrentExecutions: 999 } });
  mocks.ssm.on(GetServiceSettingCommand).resolves({ ServiceSetting: { SettingValue: 'standard' } });
  mocks.ssm.on(ListNodesSummaryCommand).resolves({ Summary: [{ ResourceType: 'ManagedInstance', Count: '120' }] });
  return { ctx, fake, gen: makeGenerated() };
}

async function run(ctx: ReturnType<typeof testContext>, gen: string, ...extra: string[]) {
  const code = await doctor(['--generated-dir', gen, '--bucket', 'acme-templates-{region}', '--json', ...extra], ctx);
  return {
    code,
    checks: JSON.parse(ctx.stdoutText()).checks as Array<{
      check: string;
      status: string;
      detail: string;
      fix?: string;
    }>,
  };
}

describe('doctor checks (pure)', () => {
  it.each([
    { version: '22.3.0', status: 'PASS' },
    { version: '20.19.0', status: 'PASS' },
    { version: '20.18.1', status: 'FAIL' },
    { version: '18.20.0', status: 'FAIL' },
  ])('Node $version is $status', ({ version, status }) => {
    expect(nodeVersionCheck(version).status).toBe(status);
  });

  it.each([
    { tier: 'advanced', nodes: 5000, status: 'PASS' },
    // The setting's value as older API references document it, and in other cases (advancedTierOn).
    { tier: 'true', nodes: 1500, status: 'PASS' },
    { tier: 'Advanced', nodes: 1500, status: 'PASS' },
    { tier: 'false', nodes: 1500, status: 'FAIL' },
    { tier: 'standard', nodes: 120, status: 'PASS' },
    { tier: 'standard', nodes: 800, status: 'WARN' },
    { tier: 'standard', nodes: 1000, status: 'FAIL' },
  ])('$tier tier with $nodes nodes is $status', ({ tier, nodes, status }) => {
    expect(tierCheck('us-east-1', tier, nodes, 1000).status).toBe(status);
  });

  it.each([
    { unreserved: 1000, deployed: false, status: 'PASS' },
    { unreserved: 101, deployed: false, status: 'PASS' },
    { unreserved: 100, deployed: false, status: 'FAIL' },
    { unreserved: 100, deployed: true, status: 'PASS' },
    { unreserved: 10, deployed: false, status: 'FAIL' },
  ])(
    'Lambda concurrency: $unreserved unreserved, central stack deployed $deployed: $status',
    ({ unreserved, deployed, status }) => {
      expect(concurrencyCheck('us-east-1', unreserved, deployed).status).toBe(status);
    },
  );

  it('finds the organization read statement publish prints, and misses a policy without it', () => {
    const expected = bucketPolicy(BUCKET, 'us-east-1', 'ssm-hub', ORG);
    expect(policyReaches(JSON.stringify(expected), expected)).toBe(true);
    const other = bucketPolicy(BUCKET, 'us-east-1', 'ssm-hub', 'o-zzzzzzzzzz');
    expect(policyReaches(JSON.stringify(other), expected)).toBe(false);
  });

  it('finds the statement written in another key order, with one-element lists, or as a single statement object', () => {
    const expected = bucketPolicy(BUCKET, 'us-east-1', 'ssm-hub', ORG) as { Statement: Array<Record<string, unknown>> };
    const mine = expected.Statement.find((s) => s.Sid === 'OrganizationReadTemplates')!;
    const reordered = Object.fromEntries(Object.entries(mine).reverse());
    const listed = Object.fromEntries(
      Object.entries(mine).map(([k, v]) => [k, typeof v === 'string' && k === 'Action' ? [v] : v]),
    );
    expect(policyReaches(JSON.stringify({ Statement: [reordered] }), expected)).toBe(true);
    expect(policyReaches(JSON.stringify({ Statement: [listed] }), expected)).toBe(true);
    expect(policyReaches(JSON.stringify({ Statement: { ...mine, Sid: 'Other' } }), expected)).toBe(true);
    expect(policyReaches(JSON.stringify({ Statement: { ...mine, Effect: 'Deny' } }), expected)).toBe(false);
  });
});

describe('doctor', () => {
  it('passes every check on a healthy hub and exits 0', async () => {
    const { ctx, gen } = healthy();
    const { code, checks } = await run(ctx, gen);
    expect(checks.map((c) => [c.check, c.status])).toEqual([
      ['Node.js version', 'PASS'],
      ['credentials', 'PASS'],
      ['StackSets trusted access', 'PASS'],
      ['management account', 'PASS'],
      ['central stack ssm-hub-central-manager', 'PASS'],
      ['central stack version', 'PASS'],
      ['Lambda concurrency in us-east-1', 'PASS'],
      [`bucket ${BUCKET} lets the organization read`, 'PASS'],
      ['SSM tier in us-east-1', 'PASS'],
    ]);
    expect(code).toBe(0);
  });

  it.each([
    {
      case: 'trusted access off',
      breakIt: () => mocks.cfn.on(DescribeOrganizationsAccessCommand).resolves({ Status: 'DISABLED' }),
      check: 'StackSets trusted access',
      fix: /activate-organizations-access/,
    },
    {
      case: 'a caller that is not the management account',
      breakIt: () =>
        mocks.org
          .on(DescribeOrganizationCommand)
          .resolves({ Organization: { Id: ORG, MasterAccountId: '123456789012' } }),
      check: 'management account',
      fix: /--call-as DELEGATED_ADMIN/,
    },
    {
      case: 'a new account whose Lambda concurrency quota is 10',
      breakIt: () =>
        mocks.lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { UnreservedConcurrentExecutions: 10 } }),
      check: 'Lambda concurrency in us-east-1',
      fix: /Concurrent executions/,
    },
    {
      case: 'no bucket policy',
      breakIt: () =>
        mocks.s3
          .on(GetBucketPolicyCommand)
          .rejects(awsError('NoSuchBucketPolicy', 'The bucket policy does not exist', 404)),
      check: `bucket ${BUCKET} lets the organization read`,
      fix: /--print-bucket-policy/,
    },
    {
      case: 'a full standard tier',
      breakIt: () =>
        mocks.ssm
          .on(ListNodesSummaryCommand)
          .resolves({ Summary: [{ ResourceType: 'ManagedInstance', Count: '1000' }] }),
      check: 'SSM tier in us-east-1',
      fix: /advanced tier/,
    },
    {
      case: 'a central stack running another template',
      breakIt: () => mocks.cfn.on(GetTemplateCommand).resolves({ TemplateBody: '{"Resources":{}}' }),
      check: 'central stack version',
      fix: /ssm-hub deploy/,
    },
    {
      case: 'denied access to trusted-access status',
      breakIt: () =>
        mocks.cfn.on(DescribeOrganizationsAccessCommand).rejects(awsError('AccessDenied', 'not authorized', 403)),
      check: 'StackSets trusted access',
      fix: /activate-organizations-access/,
    },
  ])('fails on $case, with the fix, and exits 1', async ({ breakIt, check, fix }) => {
    const { ctx, gen } = healthy();
    breakIt();
    const { code, checks } = await run(ctx, gen);
    const hit = checks.find((c) => c.check === check)!;
    expect(hit.status).toBe('FAIL');
    expect(hit.fix).toMatch(fix);
    expect(checks.filter((c) => c.status === 'FAIL')).toHaveLength(1);
    expect(code).toBe(1);
  });

  it('checks one bucket without {region} once, in its own Region, whatever Regions are checked', async () => {
    const { ctx, gen } = healthy();
    const one = 'acme-templates';
    mocks.s3
      .on(GetBucketPolicyCommand)
      .resolves({ Policy: JSON.stringify(bucketPolicy(one, 'eu-west-1', 'ssm-hub', ORG)) });
    const code = await doctor(
      [
        '--generated-dir',
        gen,
        '--bucket',
        one,
        '--bucket-region',
        'eu-west-1',
        '--regions',
        'us-east-1,us-west-2',
        '--json',
      ],
      ctx,
    );
    const checks = JSON.parse(ctx.stdoutText()).checks as Array<{ check: string; status: string }>;
    expect(checks.filter((c) => c.check.startsWith('bucket '))).toEqual([
      expect.objectContaining({ check: `bucket ${one} lets the organization read`, status: 'PASS' }),
    ]);
    const calls = mocks.s3.commandCalls(GetBucketPolicyCommand);
    expect(calls.map((c) => c.args[0].input.Bucket)).toEqual([one]);
    // S3 answers a GetBucketPolicy sent to another Region's endpoint with a 301 PermanentRedirect.
    expect(await (calls[0]!.thisValue as { config: { region: () => Promise<string> } }).config.region()).toBe(
      'eu-west-1',
    );
    expect(code).toBe(0);
  });

  it.each([
    { argv: ['--bucket', 'acme-templates-{region}', '--bucket-region', 'eu-west-1'] },
    { argv: ['--bucket-region', 'eu-west-1'] },
  ])('refuses --bucket-region where there is no single bucket ($argv)', async ({ argv }) => {
    const { ctx, gen } = healthy();
    expect(await doctor(['--generated-dir', gen, ...argv], ctx)).toBe(2);
    expect(ctx.stderrText()).toMatch(/--bucket-region is only used with a --bucket that has no \{region\}/);
  });

  it('only warns when the central stack is not deployed yet, so it is a preflight before the first deploy', async () => {
    const { ctx, fake, gen } = healthy();
    fake.stacks.clear();
    const { code, checks } = await run(ctx, gen);
    expect(checks.find((c) => c.check === 'central stack ssm-hub-central-manager')).toMatchObject({
      status: 'WARN',
      detail: 'not deployed yet in this Region (or named otherwise: --central-stack)',
      fix: 'ssm-hub deploy --template-url <central-manager URL from publish>',
    });
    expect(checks.filter((c) => c.status === 'FAIL')).toEqual([]);
    expect(code).toBe(0);
  });

  it('fails when the central stack is missing but agency stacks in the Region depend on it (gone, or another name)', async () => {
    const { ctx, fake, gen } = healthy();
    fake.stacks.clear();
    fake.add('ssm-hub-agency-111111111111', 'CREATE_COMPLETE', [
      { ParameterKey: 'AgencyAccountId', ParameterValue: '111111111111' },
    ]);
    const { code, checks } = await run(ctx, gen);
    expect(checks.find((c) => c.check === 'central stack ssm-hub-central-manager')).toMatchObject({
      status: 'FAIL',
      detail: 'not found, yet 1 agency permissions stack(s) here depend on it',
    });
    expect(code).toBe(1);
  });

  it('still only warns before the first deploy when ListStacks is refused (it cannot tell, and says what to check)', async () => {
    const { ctx, fake, gen } = healthy();
    fake.stacks.clear();
    mocks.cfn.on(ListStacksCommand).rejects(awsError('AccessDenied', 'not authorized to perform ListStacks', 403));
    const { code, checks } = await run(ctx, gen);
    expect(checks.find((c) => c.check === 'central stack ssm-hub-central-manager')).toMatchObject({ status: 'WARN' });
    expect(code).toBe(0);
  });

  it('checks the delegated administrator registration with --call-as DELEGATED_ADMIN', async () => {
    const { ctx, gen } = healthy();
    mocks.org.on(ListDelegatedAdministratorsCommand).resolves({ DelegatedAdministrators: [{ Id: '123456789012' }] });
    const { code, checks } = await run(ctx, gen, '--call-as', 'DELEGATED_ADMIN');
    expect(checks.find((c) => c.check === 'delegated administrator')).toMatchObject({ status: 'FAIL' });
    expect(checks.find((c) => c.check === 'delegated administrator')!.fix).toContain(
      'register-delegated-administrator',
    );
    expect(code).toBe(1);
  });

  it('prints one line per check and the fix under each failure', async () => {
    const { ctx, gen } = healthy();
    mocks.cfn.on(DescribeOrganizationsAccessCommand).resolves({ Status: 'DISABLED' });
    expect(await doctor(['--generated-dir', gen], ctx)).toBe(1);
    expect(ctx.stdoutText()).toMatch(
      /^FAIL  StackSets trusted access: status DISABLED\n      fix: aws cloudformation activate-organizations-access/m,
    );
    expect(ctx.stdoutText()).toMatch(/^PASS  Node\.js version: /m);
  });
});
