import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateChangeSetCommand,
  CreateStackInstancesCommand,
  CreateStackSetCommand,
  DescribeStackSetCommand,
  DescribeStackSetOperationCommand,
  GetTemplateSummaryCommand,
  ListStackInstancesCommand,
  ListStackSetOperationResultsCommand,
  UpdateStackSetCommand,
  type StackSetOperationResultSummary,
} from '@aws-sdk/client-cloudformation';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { ListAccountsForParentCommand, ListOrganizationalUnitsForParentCommand } from '@aws-sdk/client-organizations';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as rollout } from '../../scripts/ops/rollout.ts';
import { fakeCloudFormation } from './fake-cloudformation.ts';
import { awsError, makeGenerated, mockAll, testContext } from './helpers.ts';

let mocks: ReturnType<typeof mockAll>;
beforeEach(() => {
  mocks = mockAll();
  mocks.sts.on(GetCallerIdentityCommand).resolves({ Account: '999999999999' });
  // Unless a test says otherwise: no stack instance yet (ListStackInstances answers an empty list
  // for a StackSet without instances), and an organization whose OUs hold no account.
  mocks.cfn.on(ListStackInstancesCommand).resolves({ Summaries: [] });
  mocks.org.on(ListAccountsForParentCommand).resolves({ Accounts: [] });
  mocks.org.on(ListOrganizationalUnitsForParentCommand).resolves({ OrganizationalUnits: [] });
});
afterEach(() => mocks.restore());

const ACCOUNTS = ['111111111111', '222222222222', '333333333333', '444444444444', '555555555555'];
const REGIONS = ['us-east-1', 'us-west-2'];

const COLLECTOR = 'ssm-hub-agency-collector';
/** sinon numbers every call across all stubs, so callIds give the order calls were sent in. */
const callId = (call: unknown) => (call as { callId: number }).callId;
const REGISTRATION = 'ssm-hub-agency-registration';

/**
 * Every StackSet operation runs over three polls of its own and ends with `failing` stack
 * instances FAILED in the StackSet `failingStackSet` (the other StackSet's instances succeed), and
 * with status `finalStatus` there. Results come back 4 per page, as the real API pages them.
 */
function fakeOperation(failing: Record<string, string>, failingStackSet = COLLECTOR, finalStatus = 'SUCCEEDED') {
  const polls = new Map<string, number>();
  const final = (stackSet: string): StackSetOperationResultSummary[] =>
    ACCOUNTS.flatMap((Account) =>
      REGIONS.map((Region) => {
        const reason = stackSet === failingStackSet ? failing[`${Account}/${Region}`] : undefined;
        return reason
          ? { Account, Region, Status: 'FAILED' as const, StatusReason: reason }
          : { Account, Region, Status: 'SUCCEEDED' as const };
      }),
    );
  mocks.cfn.on(DescribeStackSetOperationCommand).callsFake(async (input) => {
    const n = (polls.get(input.OperationId) ?? 0) + 1;
    polls.set(input.OperationId, n);
    const done = input.StackSetName === failingStackSet ? finalStatus : 'SUCCEEDED';
    return { StackSetOperation: { OperationId: input.OperationId, Status: n < 3 ? 'RUNNING' : done } };
  });
  mocks.cfn.on(ListStackSetOperationResultsCommand).callsFake(async (input) => {
    const n = polls.get(input.OperationId) ?? 0;
    const end = final(input.StackSetName);
    const rows =
      n === 1
        ? end.map((r) => ({ ...r, Status: 'PENDING' as const, StatusReason: undefined }))
        : n === 2
          ? end.map((r, i) => (i < 5 ? r : { ...r, Status: 'RUNNING' as const, StatusReason: undefined }))
          : end;
    const start = Number(input.NextToken ?? 0);
    return {
      Summaries: rows.slice(start, start + 4),
      NextToken: start + 4 < rows.length ? String(start + 4) : undefined,
    };
  });
}

/**
 * Neither StackSet exists yet (DescribeStackSet answers StackSetNotFoundException, API reference),
 * and CreateStackSet / CreateStackInstances succeed, the latter echoing its OperationId.
 */
function noStackSetsYet() {
  mocks.cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'not found'));
  mocks.cfn.on(CreateStackSetCommand).resolves({});
  mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
}

/** One OU in one Region, no onboarding. */
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
    noStackSetsYet();
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
    noStackSetsYet();
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

  it('leaves unchanged StackSets alone, updates a changed one as DELEGATED_ADMIN, and limits OU targets to --accounts', async () => {
    const gen = makeGenerated();
    const body = (name: string) => readFileSync(join(gen, `templates/${name}.json`), 'utf8');
    const collectorParams = [
      { ParameterKey: 'CentralAccountId', ParameterValue: '999999999999' },
      { ParameterKey: 'CentralRegion', ParameterValue: 'us-east-1' },
      { ParameterKey: 'RemovedSinceParam', ParameterValue: 'x' },
    ];
    const registrationParams = [
      { ParameterKey: 'CentralRegion', ParameterValue: 'us-east-1' },
      { ParameterKey: 'OptInTagKey', ParameterValue: 'register-me' },
    ];
    mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
    mocks.cfn.on(UpdateStackSetCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
    mocks.cfn.on(DescribeStackSetCommand).callsFake(async (input) => ({
      StackSet:
        input.StackSetName === COLLECTOR
          ? { PermissionModel: 'SERVICE_MANAGED', TemplateBody: body('agency-collector'), Parameters: collectorParams }
          : {
              PermissionModel: 'SERVICE_MANAGED',
              TemplateBody: body('agency-registration'),
              Parameters: registrationParams,
            },
    }));
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
    const instances = mocks.cfn.commandCalls(CreateStackInstancesCommand).map((c) => c.args[0].input);
    expect(instances.map((i) => i.StackSetName)).toEqual([COLLECTOR, REGISTRATION]);
    for (const i of instances)
      expect(i.DeploymentTargets).toEqual({
        OrganizationalUnitIds: ['ou-abcd-12345678'],
        Accounts: ['111111111111'],
        AccountFilterType: 'INTERSECTION',
      });

    mocks.cfn.resetHistory();
    mocks.cfn.on(DescribeStackSetCommand).callsFake(async (input) => ({
      StackSet:
        input.StackSetName === COLLECTOR
          ? { PermissionModel: 'SERVICE_MANAGED', TemplateBody: '{"older":true}', Parameters: collectorParams }
          : {
              PermissionModel: 'SERVICE_MANAGED',
              TemplateBody: body('agency-registration'),
              Parameters: registrationParams,
            },
    }));
    fakeOperation({});
    ctx = testContext();
    code = await rollout(
      [...OU_US_EAST_1, '--call-as', 'DELEGATED_ADMIN', '--generated-dir', gen, '--max-concurrent-percentage', '25'],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const updates = mocks.cfn.commandCalls(UpdateStackSetCommand).map((c) => c.args[0].input);
    expect(updates.map((u) => u.StackSetName)).toEqual([COLLECTOR]);
    expect(updates[0]).toMatchObject({
      CallAs: 'DELEGATED_ADMIN',
      TemplateBody: body('agency-collector'),
      OperationPreferences: { MaxConcurrentPercentage: 25 },
    });
    // Values set by an earlier rollout and not named now keep their values in every account, the
    // hub's Region and account included; a parameter the template no longer declares is not sent.
    expect(updates[0]!.Parameters).toEqual([
      { ParameterKey: 'CentralAccountId', UsePreviousValue: true },
      { ParameterKey: 'CentralRegion', UsePreviousValue: true },
    ]);
    const polls = mocks.cfn.commandCalls(DescribeStackSetOperationCommand);
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.every((c) => c.args[0].input.CallAs === 'DELEGATED_ADMIN')).toBe(true);
    const instanceCalls = mocks.cfn.commandCalls(CreateStackInstancesCommand).map((c) => c.args[0].input);
    expect(instanceCalls.map((i) => [i.StackSetName, i.CallAs])).toEqual([
      [COLLECTOR, 'DELEGATED_ADMIN'],
      [REGISTRATION, 'DELEGATED_ADMIN'],
    ]);
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
    noStackSetsYet();
    fakeOperation({});
    ctx = testContext();
    code = await rollout([...OU_US_EAST_1, '--generated-dir', gen, '--template-url', url], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const create = mocks.cfn.commandCalls(CreateStackSetCommand)[0]!.args[0].input;
    expect(create.TemplateURL).toBe(url);
    expect(create.TemplateBody).toBeUndefined();
  });

  it('creates agency-collector first, then agency-registration, with the same targets and preferences and each its own template and parameters', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    noStackSetsYet();
    fakeOperation({});
    const code = await rollout(
      [
        ...OU_US_EAST_1,
        '--generated-dir',
        gen,
        ...['--central-region', 'eu-west-1', '--reconcile-schedule', 'rate(2 hours)', '--zero-touch', 'false'],
        ...['--param', 'AlarmEmail=ops@example.org', '--param', 'OptInTagValue=yes', '--max-concurrent-count', '2'],
      ],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const mutations = mocks.cfn
      .calls()
      .map((c) => c.args[0] as { constructor: { name: string }; input: { StackSetName?: string } })
      .filter((c) => /^Create/.test(c.constructor.name))
      .map((c) => `${c.constructor.name} ${c.input.StackSetName}`);
    // Both StackSets are defined first (CreateStackSet deploys nothing), then deployed in order.
    expect(mutations).toEqual([
      `CreateStackSetCommand ${COLLECTOR}`,
      `CreateStackSetCommand ${REGISTRATION}`,
      `CreateStackInstancesCommand ${COLLECTOR}`,
      `CreateStackInstancesCommand ${REGISTRATION}`,
    ]);
    const [collector, registration] = mocks.cfn.commandCalls(CreateStackSetCommand).map((c) => c.args[0].input);
    expect(collector).toMatchObject({
      TemplateBody: readFileSync(join(gen, 'templates/agency-collector.json'), 'utf8'),
      Parameters: [
        { ParameterKey: 'CentralAccountId', ParameterValue: '999999999999' },
        { ParameterKey: 'CentralRegion', ParameterValue: 'eu-west-1' },
        { ParameterKey: 'ReconcileSchedule', ParameterValue: 'rate(2 hours)' },
        { ParameterKey: 'AlarmEmail', ParameterValue: 'ops@example.org' },
      ],
    });
    expect(registration).toMatchObject({
      TemplateBody: readFileSync(join(gen, 'templates/agency-registration.json'), 'utf8'),
      Parameters: [
        { ParameterKey: 'CentralRegion', ParameterValue: 'eu-west-1' },
        { ParameterKey: 'EnableZeroTouchRegistration', ParameterValue: 'false' },
        { ParameterKey: 'OptInTagValue', ParameterValue: 'yes' },
      ],
    });
    expect(registration!.Description).not.toBe(collector!.Description);
    for (const key of ['PermissionModel', 'AutoDeployment', 'Capabilities', 'CallAs'] as const)
      expect(registration![key]).toEqual(collector![key]);
    const [a, b] = mocks.cfn.commandCalls(CreateStackInstancesCommand).map((c) => c.args[0].input);
    expect({ ...b, StackSetName: COLLECTOR, OperationId: a!.OperationId }).toEqual(a);
    expect(a!.OperationPreferences).toEqual({ MaxConcurrentCount: 2 });
    expect(ctx.stdoutText()).toMatch(
      new RegExp(`StackSet ${COLLECTOR}: created\\n[^]*StackSet ${REGISTRATION}: created\\n`),
    );
  });

  it('on an upgrade, defines the registration StackSet with the zero-touch values the collector StackSet held, updates the collector, then deploys registration', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    // The single agency StackSet of earlier releases: it held the registration parameters too.
    const old = [
      { ParameterKey: 'CentralAccountId', ParameterValue: '999999999999' },
      { ParameterKey: 'CentralRegion', ParameterValue: 'eu-west-1' },
      { ParameterKey: 'EnableZeroTouchRegistration', ParameterValue: 'false' },
      { ParameterKey: 'OptInTagKey', ParameterValue: 'register-me' },
    ];
    mocks.cfn.on(DescribeStackSetCommand).callsFake(async (input) => {
      if (input.StackSetName !== COLLECTOR) throw awsError('StackSetNotFoundException', 'not found');
      return { StackSet: { PermissionModel: 'SERVICE_MANAGED', TemplateBody: '{"single":true}', Parameters: old } };
    });
    mocks.cfn.on(ListStackInstancesCommand).resolves({
      Summaries: [{ Account: '111111111111', Region: 'us-east-1', OrganizationalUnitId: 'ou-abcd-12345678' }],
    });
    mocks.cfn.on(UpdateStackSetCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
    mocks.cfn.on(CreateStackSetCommand).resolves({});
    mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
    fakeOperation({});
    const code = await rollout([...OU_US_EAST_1, '--generated-dir', gen, '--param', 'OptInTagValue=yes'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const update = mocks.cfn.commandCalls(UpdateStackSetCommand);
    const create = mocks.cfn.commandCalls(CreateStackSetCommand);
    expect(update.map((c) => c.args[0].input.StackSetName)).toEqual([COLLECTOR]);
    expect(create.map((c) => c.args[0].input.StackSetName)).toEqual([REGISTRATION]);
    // Defined before the collector changes (a failure later cannot lose the settings), and its
    // stack instances come only after the collector's update (which deletes the old document and
    // association) has ended.
    expect(callId(create[0])).toBeLessThan(callId(update[0]));
    const collectorDone = mocks.cfn
      .commandCalls(DescribeStackSetOperationCommand)
      .filter((c) => c.args[0].input.StackSetName === COLLECTOR)
      .map(callId);
    const registrationInstances = mocks.cfn
      .commandCalls(CreateStackInstancesCommand)
      .filter((c) => c.args[0].input.StackSetName === REGISTRATION);
    expect(Math.max(...collectorDone)).toBeLessThan(callId(registrationInstances[0]));
    expect(update[0]!.args[0].input.Parameters).toEqual([
      { ParameterKey: 'CentralAccountId', UsePreviousValue: true },
      { ParameterKey: 'CentralRegion', UsePreviousValue: true },
    ]);
    expect(create[0]!.args[0].input.Parameters).toEqual([
      { ParameterKey: 'CentralRegion', ParameterValue: 'eu-west-1' },
      { ParameterKey: 'EnableZeroTouchRegistration', ParameterValue: 'false' },
      { ParameterKey: 'OptInTagKey', ParameterValue: 'register-me' },
      { ParameterKey: 'OptInTagValue', ParameterValue: 'yes' },
    ]);
  });

  it('leaves agency-registration alone when the collector operation fails, and exits 1 naming both', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    noStackSetsYet();
    fakeOperation({ '111111111111/us-east-1': 'Role already exists.' }, COLLECTOR, 'FAILED');
    const code = await rollout([...OU_US_EAST_1, '--generated-dir', gen], ctx);
    expect(code).toBe(1);
    const instances = mocks.cfn.commandCalls(CreateStackInstancesCommand).map((c) => c.args[0].input.StackSetName);
    expect(instances).toEqual([COLLECTOR]);
    const out = ctx.stdoutText();
    expect(out).toMatch(/1 stack instance failed:\n[^]*111111111111\s+us-east-1\s+FAILED\s+Role already exists\./);
    expect(out).toContain(
      `StackSet ${REGISTRATION}: created (no stack instances deployed: StackSet ${COLLECTOR} did not succeed; re-run rollout after fixing it)`,
    );
  });

  describe('upgrading from the single agency StackSet', () => {
    const OLD = [
      { ParameterKey: 'CentralAccountId', ParameterValue: '999999999999' },
      { ParameterKey: 'CentralRegion', ParameterValue: 'us-east-1' },
      { ParameterKey: 'EnableZeroTouchRegistration', ParameterValue: 'false' },
      { ParameterKey: 'OptInTagKey', ParameterValue: 'register-me' },
    ];
    const oldCollectorOnly = () => {
      mocks.cfn.on(DescribeStackSetCommand).callsFake(async (input) => {
        if (input.StackSetName !== COLLECTOR) throw awsError('StackSetNotFoundException', 'not found');
        return { StackSet: { PermissionModel: 'SERVICE_MANAGED', TemplateBody: '{"single":true}', Parameters: OLD } };
      });
      mocks.cfn.on(UpdateStackSetCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
      mocks.cfn.on(CreateStackSetCommand).resolves({});
      mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
    };
    const instancesIn = (...where: Array<[string, string]>) =>
      mocks.cfn.on(ListStackInstancesCommand).resolves({
        Summaries: where.map(([Region, OrganizationalUnitId]) => ({
          Account: '111111111111',
          Region,
          OrganizationalUnitId,
        })),
      });

    it('keeps the zero-touch settings when the collector step fails: the registration StackSet already holds them for the re-run', async () => {
      const gen = makeGenerated();
      const ctx = testContext();
      oldCollectorOnly();
      instancesIn(['us-east-1', 'ou-abcd-12345678']);
      fakeOperation({ '111111111111/us-east-1': 'Throttling' }, COLLECTOR, 'FAILED');
      expect(await rollout([...OU_US_EAST_1, '--generated-dir', gen], ctx)).toBe(1);
      const created = mocks.cfn.commandCalls(CreateStackSetCommand).map((c) => c.args[0].input);
      expect(created.map((c) => c.StackSetName)).toEqual([REGISTRATION]);
      expect(created[0]!.Parameters).toEqual([
        { ParameterKey: 'CentralRegion', ParameterValue: 'us-east-1' },
        { ParameterKey: 'EnableZeroTouchRegistration', ParameterValue: 'false' },
        { ParameterKey: 'OptInTagKey', ParameterValue: 'register-me' },
      ]);
      const instances = mocks.cfn.commandCalls(CreateStackInstancesCommand).map((c) => c.args[0].input.StackSetName);
      expect(instances).not.toContain(REGISTRATION);
    });

    it('drops the parameters the new collector template no longer declares even with --template-url', async () => {
      const gen = makeGenerated();
      const ctx = testContext();
      oldCollectorOnly();
      instancesIn(['us-east-1', 'ou-abcd-12345678']);
      fakeOperation({});
      const url = 'https://b.s3.us-east-1.amazonaws.com/agency-collector.json';
      // GetTemplateSummary API reference: Parameters lists the published template's declarations.
      mocks.cfn.on(GetTemplateSummaryCommand).resolves({
        Parameters: [{ ParameterKey: 'CentralAccountId' }, { ParameterKey: 'CentralRegion' }],
      });
      const code = await rollout([...OU_US_EAST_1, '--generated-dir', gen, '--template-url', url], ctx);
      expect(code, ctx.stderrText()).toBe(0);
      const update = mocks.cfn.commandCalls(UpdateStackSetCommand)[0]!.args[0].input;
      expect(update.TemplateURL).toBe(url);
      expect(update.Parameters!.map((p) => p.ParameterKey)).toEqual(['CentralAccountId', 'CentralRegion']);
    });

    it('refuses, changing nothing, when the run does not target every existing collector stack instance', async () => {
      const gen = makeGenerated();
      const ctx = testContext();
      oldCollectorOnly();
      instancesIn(
        ['us-east-1', 'ou-abcd-12345678'],
        ['us-west-2', 'ou-abcd-12345678'],
        ['us-east-1', 'ou-abcd-87654321'],
      );
      const code = await rollout([...OU_US_EAST_1, '--generated-dir', gen], ctx);
      expect(code).toBe(1);
      expect(ctx.stderrText()).toContain(
        `has stack instances with no ${REGISTRATION} stack instance beside them that this rollout does not target (111111111111/us-east-1, 111111111111/us-west-2)`,
      );
      expect(ctx.stderrText()).toContain('Nothing was changed.');
      const mutating = mocks.commandNames().filter((n) => /^(Create|Update|Delete)/.test(n));
      expect(mutating).toEqual([]);
    });

    it('refuses the same way in a dry run', async () => {
      const gen = makeGenerated();
      const ctx = testContext();
      oldCollectorOnly();
      instancesIn(['us-west-2', 'ou-abcd-12345678']);
      expect(await rollout([...OU_US_EAST_1, '--generated-dir', gen, '--dry-run'], ctx)).toBe(1);
      expect(ctx.stderrText()).toContain('111111111111/us-west-2');
    });
  });

  it('leaves out of registration the accounts whose collector failed within its failure tolerance, and exits 1', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    noStackSetsYet();
    // The operation SUCCEEDED (the failure stayed within tolerance), one stack instance FAILED.
    fakeOperation({ '222222222222/us-west-2': 'Rate exceeded' }, COLLECTOR, 'SUCCEEDED');
    const code = await rollout([...OU_US_EAST_1, '--generated-dir', gen, '--failure-tolerance-count', '1'], ctx);
    expect(code).toBe(1);
    const registration = mocks.cfn
      .commandCalls(CreateStackInstancesCommand)
      .map((c) => c.args[0].input)
      .filter((i) => i.StackSetName === REGISTRATION);
    // CreateStackInstances API reference: AccountFilterType DIFFERENCE deploys to every account of
    // the OUs except those named.
    expect(registration.map((i) => i.DeploymentTargets)).toEqual([
      { OrganizationalUnitIds: ['ou-abcd-12345678'], Accounts: ['222222222222'], AccountFilterType: 'DIFFERENCE' },
    ]);
    expect(ctx.stdoutText()).toContain(
      `StackSet ${REGISTRATION}: created (no stack instances in 222222222222: their collector stack instance did not succeed`,
    );
  });

  it('deploys no registration stack instance when the collector operation itself did not succeed', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    noStackSetsYet();
    fakeOperation({ '222222222222/us-west-2': 'Rate exceeded' }, COLLECTOR, 'STOPPED');
    expect(await rollout([...OU_US_EAST_1, '--generated-dir', gen], ctx)).toBe(1);
    const instances = mocks.cfn.commandCalls(CreateStackInstancesCommand).map((c) => c.args[0].input.StackSetName);
    expect(instances).toEqual([COLLECTOR]);
    expect(ctx.stdoutText()).toContain(`StackSet ${REGISTRATION}: created (no stack instances deployed`);
  });

  it('reports what was already done when an AWS call fails after the collector changed, in text and JSON', async () => {
    const gen = makeGenerated();
    noStackSetsYet();
    mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (input) => {
      if (input.StackSetName === REGISTRATION) throw awsError('LimitExceededException', 'Too many operations');
      return { OperationId: input.OperationId };
    });
    fakeOperation({});
    const ctx = testContext();
    expect(await rollout([...OU_US_EAST_1, '--generated-dir', gen, '--json'], ctx)).toBe(1);
    const report = JSON.parse(ctx.stdoutText());
    expect(
      report.stackSets.map((s: { stackSetName: string; stackSet: string }) => `${s.stackSetName} ${s.stackSet}`),
    ).toEqual([`${COLLECTOR} created`, `${REGISTRATION} failed`]);
    expect(report.stackSets[1].reason).toMatch(/^created; adding its stack instances failed: .*Too many operations/);
    expect(report.operations.every((op: { stackSetName: string }) => op.stackSetName === COLLECTOR)).toBe(true);
    const text = testContext();
    fakeOperation({});
    expect(await rollout([...OU_US_EAST_1, '--generated-dir', gen], text)).toBe(1);
    expect(text.stdoutText()).toContain(`StackSet ${COLLECTOR}: created`);
    expect(text.stdoutText()).toContain(
      `StackSet ${REGISTRATION}: failed (created; adding its stack instances failed:`,
    );
  });

  it('exits 1 when only a registration stack instance failed, and names its StackSet in the JSON report', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    noStackSetsYet();
    fakeOperation({ '333333333333/us-west-2': 'Document quota reached.' }, REGISTRATION);
    const code = await rollout([...OU_US_EAST_1, '--generated-dir', gen, '--json'], ctx);
    expect(code).toBe(1);
    const report = JSON.parse(ctx.stdoutText());
    expect(report.failed).toEqual([
      {
        stackSetName: REGISTRATION,
        account: '333333333333',
        region: 'us-west-2',
        status: 'FAILED',
        reason: 'Document quota reached.',
      },
    ]);
    expect(
      report.stackSets.map((x: { stackSetName: string; stackSet: string }) => [x.stackSetName, x.stackSet]),
    ).toEqual([
      [COLLECTOR, 'created'],
      [REGISTRATION, 'created'],
    ]);
    expect(report.stackSets[0].failed).toEqual([]);
    expect(report.stackSets[1].failed).toHaveLength(1);
  });

  it('sends agency-registration by --registration-template-url and agency-collector inline', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    const url = 'https://hub-templates.s3.us-east-1.amazonaws.com/ssm-hub/abc/agency-registration.json';
    noStackSetsYet();
    fakeOperation({});
    const code = await rollout([...OU_US_EAST_1, '--generated-dir', gen, '--registration-template-url', url], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const [collector, registration] = mocks.cfn.commandCalls(CreateStackSetCommand).map((c) => c.args[0].input);
    expect(collector!.TemplateBody).toBe(readFileSync(join(gen, 'templates/agency-collector.json'), 'utf8'));
    expect(collector!.TemplateURL).toBeUndefined();
    expect(registration!.TemplateURL).toBe(url);
    expect(registration!.TemplateBody).toBeUndefined();
  });
});
