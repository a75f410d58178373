// rollout on StackSets that already exist: the roles and automatic deployment an update keeps or
// changes, an operation that cannot be followed, another operation running on the StackSet, and
// the 50-OU limit of CreateStackInstances. The StackSet shapes are DescribeStackSet's (StackSet data
// type, CloudFormation API reference); each fake answer names its source beside it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateStackInstancesCommand,
  CreateStackSetCommand,
  DescribeStackSetCommand,
  DescribeStackSetOperationCommand,
  ListStackInstancesCommand,
  ListStackSetOperationResultsCommand,
  ListStackSetOperationsCommand,
  UpdateStackSetCommand,
  type StackSet,
} from '@aws-sdk/client-cloudformation';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as rollout } from '../../scripts/ops/rollout.ts';
import { awsError, makeGenerated, mockAll, testContext } from './helpers.ts';

let mocks: ReturnType<typeof mockAll>;
beforeEach(() => {
  mocks = mockAll();
  mocks.sts.on(GetCallerIdentityCommand).resolves({ Account: '999999999999' });
  // No stack instance yet (ListStackInstances answers an empty list for a StackSet without any).
  mocks.cfn.on(ListStackInstancesCommand).resolves({ Summaries: [] });
});
afterEach(() => mocks.restore());

const COLLECTOR = 'ssm-hub-agency-collector';
const REGISTRATION = 'ssm-hub-agency-registration';
const ADMIN = 'arn:aws:iam::999999999999:role/HubStackSetAdmin';
const SELF = ['--self-managed', '--accounts', '111111111111', '--regions', 'us-east-1', '--skip-onboard'];
const OU = ['--ou', 'ou-abcd-12345678', '--regions', 'us-east-1', '--skip-onboard'];
const CUSTOM_ROLES: Partial<StackSet> = {
  PermissionModel: 'SELF_MANAGED',
  AdministrationRoleARN: ADMIN,
  ExecutionRoleName: 'HubStackSetExec',
};
const AUTO_ON: Partial<StackSet> = {
  PermissionModel: 'SERVICE_MANAGED',
  AutoDeployment: { Enabled: true, RetainStacksOnAccountRemoval: false, DependsOn: ['arn:aws:cloudformation:x'] },
};

/**
 * Both StackSets exist with this build's templates and the parameters rollout gave them (so
 * nothing changes unless a test says so), plus `extra` (roles, AutoDeployment); the collector's
 * body is `collectorBody` when given. `registration: false` leaves that one missing
 * (DescribeStackSet answers StackSetNotFoundException, API reference, errors).
 */
function existing(gen: string, extra: Partial<StackSet>, opts: { collectorBody?: string; registration?: false } = {}) {
  const body = (n: string) => readFileSync(join(gen, `templates/${n}.json`), 'utf8');
  const central = { ParameterKey: 'CentralRegion', ParameterValue: 'us-east-1' };
  mocks.cfn.on(DescribeStackSetCommand).callsFake(async (input) => {
    if (input.StackSetName === COLLECTOR)
      return {
        StackSet: {
          ...extra,
          TemplateBody: opts.collectorBody ?? body('agency-collector'),
          Parameters: [{ ParameterKey: 'CentralAccountId', ParameterValue: '999999999999' }, central],
        },
      };
    if (opts.registration === false) throw awsError('StackSetNotFoundException', 'not found');
    return { StackSet: { ...extra, TemplateBody: body('agency-registration'), Parameters: [central] } };
  });
}

/** Every call is accepted and echoes its OperationId; every operation SUCCEEDED at once. */
function operationsSucceed() {
  mocks.cfn.on(CreateStackSetCommand).resolves({});
  mocks.cfn.on(UpdateStackSetCommand).callsFake(async (i) => ({ OperationId: i.OperationId }));
  mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (i) => ({ OperationId: i.OperationId }));
  mocks.cfn.on(DescribeStackSetOperationCommand).resolves({ StackSetOperation: { Status: 'SUCCEEDED' } });
  mocks.cfn.on(ListStackSetOperationResultsCommand).resolves({ Summaries: [] });
}

const updates = () => mocks.cfn.commandCalls(UpdateStackSetCommand).map((c) => c.args[0].input);

describe('rollout on existing StackSets: roles and automatic deployment', () => {
  it("keeps a self-managed StackSet's custom roles on a re-run without role flags, naming the administration role as UpdateStackSet requires", async () => {
    const gen = makeGenerated();
    existing(gen, CUSTOM_ROLES, { collectorBody: '{"older":true}' });
    operationsSucceed();
    const ctx = testContext();
    expect(await rollout([...SELF, '--generated-dir', gen], ctx), ctx.stdoutText()).toBe(0);
    expect(updates()).toHaveLength(1);
    expect(updates()[0]).toMatchObject({ AdministrationRoleARN: ADMIN, ExecutionRoleName: 'HubStackSetExec' });
  });

  it('sends no AutoDeployment on a service-managed re-run without --auto-deployment, so the StackSet keeps its own', async () => {
    const gen = makeGenerated();
    existing(gen, { PermissionModel: 'SERVICE_MANAGED', AutoDeployment: { Enabled: false } }, { collectorBody: '{}' });
    operationsSucceed();
    const ctx = testContext();
    expect(await rollout([...OU, '--generated-dir', gen], ctx), ctx.stdoutText()).toBe(0);
    expect(updates()).toHaveLength(1);
    expect(updates()[0]!.AutoDeployment).toBeUndefined();
  });

  it('updates otherwise unchanged StackSets when --execution-role-name names another role, keeping the administration role', async () => {
    const gen = makeGenerated();
    existing(gen, CUSTOM_ROLES);
    operationsSucceed();
    const ctx = testContext();
    const code = await rollout([...SELF, '--execution-role-name', 'NewExec', '--generated-dir', gen], ctx);
    expect(code, ctx.stdoutText()).toBe(0);
    expect(updates().map((u) => [u.StackSetName, u.AdministrationRoleARN, u.ExecutionRoleName])).toEqual([
      [COLLECTOR, ADMIN, 'NewExec'],
      [REGISTRATION, ADMIN, 'NewExec'],
    ]);
  });

  it('leaves StackSets alone when the role flags name the roles they already have', async () => {
    const gen = makeGenerated();
    existing(gen, CUSTOM_ROLES);
    operationsSucceed();
    const ctx = testContext();
    const flags = ['--execution-role-name', 'HubStackSetExec', '--administration-role-arn', ADMIN];
    expect(await rollout([...SELF, ...flags, '--generated-dir', gen], ctx)).toBe(0);
    expect(updates()).toHaveLength(0);
    expect(ctx.stderrText()).toContain(`StackSet ${COLLECTOR} template and parameters unchanged`);
  });

  it('updates otherwise unchanged StackSets with --auto-deployment disabled, keeping the StackSets they depend on', async () => {
    const gen = makeGenerated();
    existing(gen, AUTO_ON);
    operationsSucceed();
    const ctx = testContext();
    expect(await rollout([...OU, '--auto-deployment', 'disabled', '--generated-dir', gen], ctx)).toBe(0);
    expect(updates().map((u) => u.AutoDeployment)).toEqual([
      { Enabled: false, DependsOn: ['arn:aws:cloudformation:x'] },
      { Enabled: false, DependsOn: ['arn:aws:cloudformation:x'] },
    ]);
  });

  it('previews each role and auto-deployment change, old and new, in text and JSON', async () => {
    const gen = makeGenerated();
    existing(gen, CUSTOM_ROLES);
    let ctx = testContext();
    expect(await rollout([...SELF, '--execution-role-name', 'NewExec', '--dry-run', '--generated-dir', gen], ctx)).toBe(
      0,
    );
    expect(ctx.stdoutText()).toContain(
      `UPDATE StackSet ${COLLECTOR} (SELF_MANAGED)\n  ExecutionRoleName: HubStackSetExec -> NewExec\n`,
    );
    existing(gen, AUTO_ON);
    ctx = testContext();
    const argv = [...OU, '--auto-deployment', 'enabled-retain-stacks', '--dry-run', '--json', '--generated-dir', gen];
    expect(await rollout(argv, ctx)).toBe(0);
    const report = JSON.parse(ctx.stdoutText());
    expect(report.stackSets.map((s: { preview: { settings: unknown } }) => s.preview.settings)).toEqual([
      [{ key: 'AutoDeployment', from: 'enabled', to: 'enabled-retain-stacks' }],
      [{ key: 'AutoDeployment', from: 'enabled', to: 'enabled-retain-stacks' }],
    ]);
    expect(mocks.cfn.commandCalls(UpdateStackSetCommand)).toHaveLength(0);
  });

  it("creates a missing registration StackSet with the collector StackSet's custom roles, and a new pair with the defaults", async () => {
    const gen = makeGenerated();
    existing(gen, CUSTOM_ROLES, { registration: false });
    operationsSucceed();
    const ctx = testContext();
    expect(await rollout([...SELF, '--generated-dir', gen], ctx), ctx.stdoutText()).toBe(0);
    const created = () => mocks.cfn.commandCalls(CreateStackSetCommand).map((c) => c.args[0].input);
    expect(created()).toMatchObject([
      { StackSetName: REGISTRATION, AdministrationRoleARN: ADMIN, ExecutionRoleName: 'HubStackSetExec' },
    ]);
    mocks.cfn.resetHistory();
    mocks.cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'not found'));
    expect(await rollout([...OU, '--generated-dir', gen], testContext())).toBe(0);
    expect(created().map((c) => c.AutoDeployment)).toEqual([
      { Enabled: true, RetainStacksOnAccountRemoval: false },
      { Enabled: true, RetainStacksOnAccountRemoval: false },
    ]);
  });
});

describe('rollout when following a started operation fails', () => {
  it('says the update may still be running, names the operation and how to look, in text and JSON, and exits 1', async () => {
    const gen = makeGenerated();
    existing(gen, { PermissionModel: 'SERVICE_MANAGED' }, { collectorBody: '{"older":true}' });
    operationsSucceed();
    // DescribeStackSetOperation answers ThrottlingException (CloudFormation API reference, common errors).
    mocks.cfn.on(DescribeStackSetOperationCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    const ctx = testContext();
    expect(await rollout([...OU, '--generated-dir', gen], ctx)).toBe(1);
    const id = updates()[0]!.OperationId!;
    const out = ctx.stdoutText();
    expect(out).toContain(
      `StackSet ${COLLECTOR}: unknown (updating it: operation ${id} was started, but following it failed (ThrottlingException: Rate exceeded); it may still be running: check with aws cloudformation describe-stack-set-operation --stack-set-name ${COLLECTOR} --operation-id ${id})`,
    );
    expect(out).toContain(`operation update ${id}: UNKNOWN`);
    expect(out).not.toContain('updating it failed');
    expect(mocks.cfn.commandCalls(CreateStackInstancesCommand)).toHaveLength(0);

    const json = testContext();
    expect(await rollout([...OU, '--generated-dir', gen, '--json'], json)).toBe(1);
    const report = JSON.parse(json.stdoutText());
    expect(report.stackSets[0]).toMatchObject({ stackSet: 'unknown', reason: expect.stringContaining('may still be') });
    expect(report.operations[0]).toMatchObject({
      stackSetName: COLLECTOR,
      action: 'update',
      operationId: updates()[1]!.OperationId,
      status: 'UNKNOWN',
    });
  });

  it('says the stack instances of a new StackSet may still be being created, with --call-as in the command to look', async () => {
    const gen = makeGenerated();
    mocks.cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'not found'));
    operationsSucceed();
    mocks.cfn.on(DescribeStackSetOperationCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    const ctx = testContext();
    expect(await rollout([...OU, '--call-as', 'DELEGATED_ADMIN', '--generated-dir', gen], ctx)).toBe(1);
    const id = mocks.cfn.commandCalls(CreateStackInstancesCommand)[0]!.args[0].input.OperationId!;
    expect(ctx.stdoutText()).toContain(
      `StackSet ${COLLECTOR}: unknown (created; adding its stack instances: operation ${id} was started, but following it failed`,
    );
    expect(ctx.stdoutText()).toContain(`--operation-id ${id} --call-as DELEGATED_ADMIN)`);
  });
});

describe('rollout while another operation runs on the StackSet', () => {
  /** ListStackSetOperations lists an automatic deployment as RUNNING until it has been polled twice. */
  function autoDeploymentRunning(endsAfterPolls = 2) {
    let polls = 0;
    mocks.cfn.on(ListStackSetOperationsCommand).callsFake(async () => ({
      Summaries: polls < endsAfterPolls ? [{ OperationId: 'auto-op', Action: 'CREATE', Status: 'RUNNING' }] : [],
    }));
    mocks.cfn.on(DescribeStackSetOperationCommand).callsFake(async (input) => ({
      StackSetOperation: {
        Status: input.OperationId === 'auto-op' && ++polls < endsAfterPolls ? 'RUNNING' : 'SUCCEEDED',
      },
    }));
  }
  // CreateStackInstances and UpdateStackSet answer OperationInProgressException while another
  // operation runs on the StackSet (API reference, errors).
  const inProgress = () =>
    awsError('OperationInProgressException', 'Another Operation on StackSet is in progress', 409);

  it('waits for it, then sends CreateStackInstances again with a new OperationId and follows that one', async () => {
    const gen = makeGenerated();
    existing(gen, AUTO_ON);
    operationsSucceed();
    autoDeploymentRunning();
    let sent = 0;
    mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (i) => {
      if (++sent === 1) throw inProgress();
      return { OperationId: i.OperationId };
    });
    const ctx = testContext();
    expect(await rollout([...OU, '--generated-dir', gen], ctx), ctx.stdoutText()).toBe(0);
    expect(ctx.stderrText()).toContain(
      `StackSet ${COLLECTOR}: waiting for operation auto-op (CREATE) that is still running`,
    );
    const ids = mocks.cfn.commandCalls(CreateStackInstancesCommand).map((c) => c.args[0].input.OperationId);
    expect(ids).toHaveLength(3);
    expect(ids[1]).not.toBe(ids[0]);
    const followed = mocks.cfn.commandCalls(DescribeStackSetOperationCommand).map((c) => c.args[0].input.OperationId);
    expect(followed).toContain(ids[1]);
    expect(followed).not.toContain(ids[0]);
  });

  // CloudFormation can accept a call whose answer is lost, and answer the SDK's retry (same
  // OperationId) with OperationInProgressException naming that very operation
  // (hashicorp/terraform-provider-aws#28675). ListStackSetOperations lists every operation, ended
  // ones too (API reference, StackSetOperationSummary.Status).
  it.each([
    { case: 'still running', status: 'RUNNING' },
    { case: 'already ended', status: 'SUCCEEDED' },
  ])(
    'follows its own UpdateStackSet when the refusal names it ($case), and never sends it a second time',
    async ({ status }) => {
      const gen = makeGenerated();
      existing(gen, AUTO_ON, { collectorBody: '{"older":true}' });
      operationsSucceed();
      const accepted: string[] = [];
      mocks.cfn.on(UpdateStackSetCommand).callsFake(async (i) => {
        accepted.push(i.OperationId!);
        throw awsError(
          'OperationInProgressException',
          `Another Operation on StackSet is in progress: ${i.OperationId}`,
          409,
        );
      });
      mocks.cfn.on(ListStackSetOperationsCommand).callsFake(async () => ({
        Summaries: accepted.map((id) => ({ OperationId: id, Action: 'UPDATE', Status: status })),
      }));
      const ctx = testContext();
      expect(await rollout([...OU, '--generated-dir', gen], ctx), ctx.stdoutText()).toBe(0);
      expect(updates()).toHaveLength(1);
      expect(ctx.stderrText()).toContain(`UpdateStackSet ${accepted[0]} was accepted after all: following it`);
      const followed = mocks.cfn.commandCalls(DescribeStackSetOperationCommand).map((c) => c.args[0].input.OperationId);
      expect(followed).toContain(accepted[0]);
    },
  );

  it('reads the roles again after waiting out another update, so it does not put back roles that update changed', async () => {
    const gen = makeGenerated();
    existing(gen, CUSTOM_ROLES, { collectorBody: '{"older":true}' });
    operationsSucceed();
    autoDeploymentRunning();
    let sent = 0;
    mocks.cfn.on(UpdateStackSetCommand).callsFake(async (i) => {
      if (++sent > 1) return { OperationId: i.OperationId };
      // The other operation, an update by someone else, gives the StackSet another execution role.
      existing(gen, { ...CUSTOM_ROLES, ExecutionRoleName: 'ChangedMeanwhile' }, { collectorBody: '{"older":true}' });
      throw inProgress();
    });
    const ctx = testContext();
    expect(await rollout([...SELF, '--generated-dir', gen], ctx), ctx.stdoutText()).toBe(0);
    const collector = updates().filter((u) => u.StackSetName === COLLECTOR);
    expect(collector.map((u) => u.ExecutionRoleName)).toEqual(['HubStackSetExec', 'ChangedMeanwhile']);
    expect(collector[1]!.AdministrationRoleARN).toBe(ADMIN);
  });

  it('stops naming the running operation when it outlives the timeout, and sends nothing more', async () => {
    const gen = makeGenerated();
    existing(gen, AUTO_ON, { collectorBody: '{"older":true}' });
    operationsSucceed();
    autoDeploymentRunning(Infinity);
    mocks.cfn.on(UpdateStackSetCommand).rejects(inProgress());
    const ctx = testContext();
    expect(await rollout([...OU, '--timeout-minutes', '1', '--generated-dir', gen], ctx)).toBe(1);
    expect(ctx.stdoutText()).toContain(
      `StackSet ${COLLECTOR}: failed (updating it failed: UpdateStackSet was not sent: operation auto-op (CREATE) is still running on StackSet ${COLLECTOR} after the timeout;`,
    );
    expect(updates()).toHaveLength(1);
    expect(mocks.cfn.commandCalls(CreateStackInstancesCommand)).toHaveLength(0);
  });
});

describe('rollout and the OUs of one CreateStackInstances', () => {
  it('sends 50 OUs, the most one operation takes, in one call', async () => {
    const gen = makeGenerated();
    mocks.cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'not found'));
    operationsSucceed();
    const ous = Array.from({ length: 50 }, (_, i) => `ou-abcd-${String(10_000_000 + i)}`);
    const ctx = testContext();
    const code = await rollout(
      ['--ou', ous.join(','), '--regions', 'us-east-1', '--skip-onboard', '--generated-dir', gen],
      ctx,
    );
    expect(code, ctx.stdoutText()).toBe(0);
    const sent = mocks.cfn.commandCalls(CreateStackInstancesCommand).map((c) => c.args[0].input.DeploymentTargets);
    expect(sent.map((t) => t?.OrganizationalUnitIds)).toEqual([ous, ous]);
  });
});
