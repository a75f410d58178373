import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateChangeSetCommand,
  CreateStackInstancesCommand,
  CreateStackSetCommand,
  DescribeStackSetCommand,
  DescribeStackSetOperationCommand,
  ListStackSetOperationResultsCommand,
  UpdateStackSetCommand,
  type StackSetOperationResultSummary,
} from '@aws-sdk/client-cloudformation';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as rollout } from '../../scripts/ops/rollout.ts';
import { fakeCloudFormation } from './fake-cloudformation.ts';
import { awsError, makeGenerated, mockAll, testContext } from './helpers.ts';

let mocks: ReturnType<typeof mockAll>;
beforeEach(() => {
  mocks = mockAll();
  mocks.sts.on(GetCallerIdentityCommand).resolves({ Account: '999999999999' });
});
afterEach(() => mocks.restore());

const ACCOUNTS = ['111111111111', '222222222222', '333333333333', '444444444444', '555555555555'];
const REGIONS = ['us-east-1', 'us-west-2'];

/**
 * A StackSet operation that runs over three polls and ends with `failing` stack instances FAILED.
 * Results come back 4 per page, as the real API pages them.
 */
function fakeOperation(failing: Record<string, string>) {
  let polls = 0;
  const final: StackSetOperationResultSummary[] = ACCOUNTS.flatMap((Account) =>
    REGIONS.map((Region) => {
      const reason = failing[`${Account}/${Region}`];
      return reason
        ? { Account, Region, Status: 'FAILED' as const, StatusReason: reason }
        : { Account, Region, Status: 'SUCCEEDED' as const };
    }),
  );
  mocks.cfn.on(DescribeStackSetOperationCommand).callsFake(async () => {
    polls++;
    return { StackSetOperation: { OperationId: 'op', Status: polls < 3 ? 'RUNNING' : 'SUCCEEDED' } };
  });
  mocks.cfn.on(ListStackSetOperationResultsCommand).callsFake(async (input) => {
    const rows =
      polls === 1
        ? final.map((r) => ({ ...r, Status: 'PENDING' as const, StatusReason: undefined }))
        : polls === 2
          ? final.map((r, i) => (i < 5 ? r : { ...r, Status: 'RUNNING' as const, StatusReason: undefined }))
          : final;
    const start = Number(input.NextToken ?? 0);
    return {
      Summaries: rows.slice(start, start + 4),
      NextToken: start + 4 < rows.length ? String(start + 4) : undefined,
    };
  });
}

/** One OU in one Region, collector only (no onboarding). */
const OU_US_EAST_1 = ['--ou', 'ou-abcd-12345678', '--regions', 'us-east-1', '--skip-onboard'];

describe('rollout', () => {
  it('lists exactly the two failed stack instances of ten with their reasons, passes the operation preferences through and exits 1', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    mocks.cfn
      .on(DescribeStackSetCommand)
      .rejects(awsError('StackSetNotFoundException', 'StackSet ssm-hub-agency-collector not found'));
    mocks.cfn.on(CreateStackSetCommand).resolves({ StackSetId: 'ssm-hub-agency-collector:1' });
    mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
    fakeOperation({
      '222222222222/us-west-2':
        'ResourceLogicalId:CollectorRole, ResourceType:AWS::IAM::Role, ResourceStatusReason:Role already exists.',
      '444444444444/us-east-1':
        "Account 444444444444 should have 'AWSCloudFormationStackSetExecutionRole' role with trust relationship to Role 'AWSCloudFormationStackSetAdministrationRole'.",
    });
    const code = await rollout(
      [
        '--ou',
        'ou-abcd-12345678',
        '--regions',
        REGIONS.join(','),
        '--skip-onboard',
        '--generated-dir',
        gen,
        '--failure-tolerance-count',
        '2',
        '--max-concurrent-count',
        '3',
        '--concurrency-mode',
        'SOFT_FAILURE_TOLERANCE',
        '--region-concurrency',
        'PARALLEL',
        '--region-order',
        'us-west-2,us-east-1',
      ],
      ctx,
    );
    expect(code).toBe(1);

    const create = mocks.cfn.commandCalls(CreateStackSetCommand)[0]!.args[0].input;
    expect(create).toMatchObject({
      StackSetName: 'ssm-hub-agency-collector',
      TemplateBody: readFileSync(join(gen, 'templates/agency-collector.json'), 'utf8'),
      Capabilities: ['CAPABILITY_NAMED_IAM'],
      PermissionModel: 'SERVICE_MANAGED',
      AutoDeployment: { Enabled: true, RetainStacksOnAccountRemoval: false },
      CallAs: 'SELF',
      Parameters: [
        { ParameterKey: 'CentralAccountId', ParameterValue: '999999999999' },
        { ParameterKey: 'CentralRegion', ParameterValue: 'us-east-1' },
      ],
    });
    const instances = mocks.cfn.commandCalls(CreateStackInstancesCommand)[0]!.args[0].input;
    expect(instances.DeploymentTargets).toEqual({ OrganizationalUnitIds: ['ou-abcd-12345678'] });
    expect(instances.Regions).toEqual(REGIONS);
    expect(instances.OperationPreferences).toEqual({
      FailureToleranceCount: 2,
      MaxConcurrentCount: 3,
      ConcurrencyMode: 'SOFT_FAILURE_TOLERANCE',
      RegionConcurrencyType: 'PARALLEL',
      RegionOrder: ['us-west-2', 'us-east-1'],
    });
    expect(mocks.cfn.commandCalls(CreateChangeSetCommand)).toHaveLength(0); // --skip-onboard

    const out = ctx.stdoutText();
    const failedTable = out.slice(out.indexOf('2 stack instances failed:'));
    const rows = failedTable
      .split('\n')
      .slice(3)
      .filter((l) => /^\d{12}/.test(l));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(
      /^222222222222\s+us-west-2\s+FAILED\s+ResourceLogicalId:CollectorRole, .*Role already exists\.$/,
    );
    expect(rows[1]).toMatch(
      /^444444444444\s+us-east-1\s+FAILED\s+Account 444444444444 should have 'AWSCloudFormationStackSetExecutionRole'/,
    );
    expect(out).toContain('8/10 stack instances succeeded');

    // Live view: every account/Region shows up as it changes state.
    const err = ctx.stderrText();
    for (const a of ACCOUNTS) for (const r of REGIONS) expect(err).toMatch(new RegExp(`${a}\\s+${r}\\s+PENDING`));
    expect(err).toMatch(/222222222222\s+us-west-2\s+FAILED: ResourceLogicalId:CollectorRole/);
    expect(err).toMatch(/create-instances .*: RUNNING \(\d+ succeeded, \d+ failed, \d+ in progress\)/);
  });

  it('exits 0 when every stack instance succeeds and reports it as JSON', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    mocks.cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'not found'));
    mocks.cfn.on(CreateStackSetCommand).resolves({});
    mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
    fakeOperation({});
    const code = await rollout(
      ['--ou', 'ou-abcd-12345678', '--regions', REGIONS.join(','), '--skip-onboard', '--generated-dir', gen, '--json'],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const report = JSON.parse(ctx.stdoutText());
    expect(report.failed).toEqual([]);
    expect(report.operations[0].results).toHaveLength(10);
  });

  it('onboards the target accounts first, then deploys a self-managed StackSet with the default roles', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    fakeCloudFormation(mocks.cfn, { now: ctx.now });
    mocks.cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'not found'));
    mocks.cfn.on(CreateStackSetCommand).resolves({});
    mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
    fakeOperation({});
    const code = await rollout(
      ['--self-managed', '--accounts', ACCOUNTS.join(','), '--regions', REGIONS.join(','), '--generated-dir', gen],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const onboarded = mocks.cfn
      .commandCalls(CreateChangeSetCommand)
      .map((c) => c.args[0].input.StackName)
      .sort();
    expect(onboarded).toEqual(ACCOUNTS.map((a) => `ssm-hub-agency-${a}`));
    const create = mocks.cfn.commandCalls(CreateStackSetCommand)[0]!.args[0].input;
    expect(create.PermissionModel).toBe('SELF_MANAGED');
    expect(create.AutoDeployment).toBeUndefined();
    expect(create.AdministrationRoleARN).toBe(
      'arn:aws:iam::999999999999:role/AWSCloudFormationStackSetAdministrationRole',
    );
    expect(create.ExecutionRoleName).toBe('AWSCloudFormationStackSetExecutionRole');
    expect(mocks.cfn.commandCalls(CreateStackInstancesCommand)[0]!.args[0].input.Accounts).toEqual(ACCOUNTS);
  });

  it('does not start the rollout when onboarding fails', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    fakeCloudFormation(mocks.cfn, { now: ctx.now, outcome: (n) => (n.endsWith('333333333333') ? 'fail' : 'succeed') });
    const code = await rollout(
      ['--self-managed', '--accounts', ACCOUNTS.join(','), '--regions', 'us-east-1', '--generated-dir', gen],
      ctx,
    );
    expect(code).toBe(1);
    expect(ctx.stderrText()).toContain('onboarding failed for 333333333333; the rollout was not started');
    expect(mocks.cfn.commandCalls(CreateStackSetCommand)).toHaveLength(0);
    expect(mocks.cfn.commandCalls(CreateStackInstancesCommand)).toHaveLength(0);
  });

  it('leaves an unchanged StackSet alone, updates a changed one as DELEGATED_ADMIN, and limits OU targets to --accounts', async () => {
    const gen = makeGenerated();
    const body = readFileSync(join(gen, 'templates/agency-collector.json'), 'utf8');
    const params = [
      { ParameterKey: 'CentralAccountId', ParameterValue: '999999999999' },
      { ParameterKey: 'CentralRegion', ParameterValue: 'us-east-1' },
      { ParameterKey: 'OptInTagKey', ParameterValue: 'register-me' },
      { ParameterKey: 'RemovedSinceParam', ParameterValue: 'x' },
    ];
    mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
    mocks.cfn.on(UpdateStackSetCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));

    mocks.cfn
      .on(DescribeStackSetCommand)
      .resolves({ StackSet: { PermissionModel: 'SERVICE_MANAGED', TemplateBody: body, Parameters: params } });
    fakeOperation({});
    let ctx = testContext();
    let code = await rollout(
      [
        '--ou',
        'ou-abcd-12345678',
        '--accounts',
        '111111111111',
        '--regions',
        'us-east-1',
        '--skip-onboard',
        '--generated-dir',
        gen,
      ],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    expect(mocks.cfn.commandCalls(UpdateStackSetCommand)).toHaveLength(0);
    expect(mocks.cfn.commandCalls(CreateStackInstancesCommand)[0]!.args[0].input.DeploymentTargets).toEqual({
      OrganizationalUnitIds: ['ou-abcd-12345678'],
      Accounts: ['111111111111'],
      AccountFilterType: 'INTERSECTION',
    });

    mocks.cfn.resetHistory();
    mocks.cfn.on(DescribeStackSetCommand).resolves({
      StackSet: { PermissionModel: 'SERVICE_MANAGED', TemplateBody: '{"older":true}', Parameters: params },
    });
    fakeOperation({});
    ctx = testContext();
    code = await rollout(
      [...OU_US_EAST_1, '--call-as', 'DELEGATED_ADMIN', '--generated-dir', gen, '--max-concurrent-percentage', '25'],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const update = mocks.cfn.commandCalls(UpdateStackSetCommand)[0]!.args[0].input;
    expect(update).toMatchObject({
      CallAs: 'DELEGATED_ADMIN',
      TemplateBody: body,
      OperationPreferences: { MaxConcurrentPercentage: 25 },
    });
    // Values set by an earlier rollout and not named now keep their values in every account, the
    // hub's Region and account included; a parameter the template no longer declares is not sent.
    expect(update.Parameters).toEqual([
      { ParameterKey: 'CentralAccountId', UsePreviousValue: true },
      { ParameterKey: 'CentralRegion', UsePreviousValue: true },
      { ParameterKey: 'OptInTagKey', UsePreviousValue: true },
    ]);
    const polls = mocks.cfn.commandCalls(DescribeStackSetOperationCommand);
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.every((c) => c.args[0].input.CallAs === 'DELEGATED_ADMIN')).toBe(true);
    expect(mocks.cfn.commandCalls(CreateStackInstancesCommand)[0]!.args[0].input.CallAs).toBe('DELEGATED_ADMIN');
  });

  it('refuses a collector template over the 51,200-byte TemplateBody limit unless --template-url is given, then uses the URL', async () => {
    const big = {
      Parameters: { CentralAccountId: { Type: 'String' }, CentralRegion: { Type: 'String' } },
      Metadata: { pad: 'x'.repeat(60_000) },
      Resources: {},
    };
    const gen = makeGenerated({ 'agency-collector': big });
    let ctx = testContext();
    let code = await rollout(
      ['--ou', 'ou-abcd-12345678', '--regions', 'us-east-1', '--skip-onboard', '--generated-dir', gen],
      ctx,
    );
    expect(code).toBe(2);
    expect(ctx.stderrText()).toMatch(
      /agency-collector\.json is \d+ bytes, over CloudFormation's 51200-byte TemplateBody limit: run `ssm-hub publish --bucket …` and pass the agency-collector URL it prints as --template-url/,
    );
    expect(mocks.totalCalls()).toBe(0);

    const url = 'https://hub-templates.s3.us-east-1.amazonaws.com/ssm-hub/abc/agency-collector.json';
    mocks.cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'not found'));
    mocks.cfn.on(CreateStackSetCommand).resolves({});
    mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
    fakeOperation({});
    ctx = testContext();
    code = await rollout([...OU_US_EAST_1, '--generated-dir', gen, '--template-url', url], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const create = mocks.cfn.commandCalls(CreateStackSetCommand)[0]!.args[0].input;
    expect(create.TemplateURL).toBe(url);
    expect(create.TemplateBody).toBeUndefined();
  });
});
