// deploy: a change set that replaces or removes the central stack's stateful resources is called
// out and refused without --allow-replacement (even with --yes); --template-url sends only the
// parameters the published template declares; a failed stack is deleted only after confirmation.
import { describe, expect, it } from 'vitest';
import { CreateChangeSetCommand, DeleteChangeSetCommand, DeleteStackCommand } from '@aws-sdk/client-cloudformation';
import { DescribeStackEventsCommand, ExecuteChangeSetCommand } from '@aws-sdk/client-cloudformation';
import { GetTemplateSummaryCommand } from '@aws-sdk/client-cloudformation';
import { main as deploy } from '../../scripts/ops/deploy.ts';
import { existingStackWithChangeSet, resourceChange } from './change-safety-fixture.ts';
import { fakeCloudFormation } from './fake-cloudformation.ts';
import { awsError, makeGenerated, mockAll, mocksEachTest, testContext } from './helpers.ts';

const mocks = mocksEachTest(mockAll);
const URL = `https://b.s3.us-east-1.amazonaws.com/ssm-hub/${'a'.repeat(64)}/central-manager.json`;
const DESTRUCTIVE = [
  resourceChange('SyncStateTable', 'AWS::DynamoDB::Table', 'Modify', 'True'),
  resourceChange('DataKey', 'AWS::KMS::Key', 'Remove'),
  resourceChange('Topic', 'AWS::SNS::Topic', 'Modify', 'False'),
];
const RETAIN = { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' };
/** The retention policies of the deployed central-manager (templates-src gives these two Retain). */
const DEPLOYED = {
  Resources: {
    SyncStateTable: { Type: 'AWS::DynamoDB::Table', ...RETAIN },
    DataKey: { Type: 'AWS::KMS::Key', ...RETAIN },
    Topic: { Type: 'AWS::SNS::Topic' },
  },
};

describe('deploy and stateful resources', () => {
  it('with --yes refuses a change set that replaces the table and removes the key: warned above the table, exit 1, change set kept', async () => {
    const ctx = testContext();
    existingStackWithChangeSet(mocks.cfn, [], DESTRUCTIVE, DEPLOYED);
    const code = await deploy(['--generated-dir', makeGenerated(), '--yes'], ctx);
    expect(code).toBe(1);
    const err = ctx.stderrText();
    expect(err).toContain(
      'WARNING: SyncStateTable (AWS::DynamoDB::Table) is replaced (Replacement True): a new, empty table; the old one is retained (not deleted), outside the stack',
    );
    expect(err).toContain(
      'WARNING: DataKey (AWS::KMS::Key) is removed from the stack: it is retained (not deleted), outside the stack',
    );
    expect(err.indexOf('WARNING: SyncStateTable')).toBeLessThan(err.search(/resource\s+type\s+action/));
    expect(err).toContain('not executed: the change set replaces or removes SyncStateTable, DataKey');
    expect(err).toContain('--allow-replacement');
    expect(err).toContain('aws cloudformation describe-change-set --stack-name ssm-hub-central-manager');
    expect(ctx.stdoutText()).toBe('ssm-hub-central-manager: refused\n');
    expect(mocks.cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(0);
    expect(mocks.cfn.commandCalls(DeleteChangeSetCommand)).toHaveLength(0);
  });

  it('executes it with --allow-replacement --yes, still showing the warning', async () => {
    const ctx = testContext();
    existingStackWithChangeSet(mocks.cfn, [], DESTRUCTIVE, DEPLOYED);
    const code = await deploy(['--generated-dir', makeGenerated(), '--yes', '--allow-replacement'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(ctx.stderrText()).toContain('WARNING: SyncStateTable');
    expect(mocks.cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(1);
    expect(ctx.stdoutText()).toBe('ssm-hub-central-manager: updated (UPDATE_COMPLETE)\n');
  });

  it('executes with --yes a change set that replaces only a stateless resource, without a warning', async () => {
    const ctx = testContext();
    existingStackWithChangeSet(
      mocks.cfn,
      [],
      [resourceChange('TagManagerFunction', 'AWS::Lambda::Function', 'Modify', 'True')],
    );
    const code = await deploy(['--generated-dir', makeGenerated(), '--yes'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(ctx.stderrText()).not.toContain('WARNING');
    expect(mocks.cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(1);
  });

  it('refuses removing a resource of any type that the deployed template retains (DeletionPolicy Retain)', async () => {
    const ctx = testContext();
    const deployed = { Resources: { Archive: { Type: 'AWS::SNS::Topic', DeletionPolicy: 'Retain' } } };
    existingStackWithChangeSet(mocks.cfn, [], [resourceChange('Archive', 'AWS::SNS::Topic', 'Remove')], deployed);
    const code = await deploy(['--generated-dir', makeGenerated(), '--yes'], ctx);
    expect(code).toBe(1);
    expect(ctx.stderrText()).toContain(
      'WARNING: Archive (AWS::SNS::Topic) is removed from the stack: it is retained (not deleted), outside the stack',
    );
    expect(mocks.cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(0);
  });

  it('one failed poll after execution says the stack may still be changing and how to check', async () => {
    const ctx = testContext();
    existingStackWithChangeSet(mocks.cfn, [], [resourceChange('Topic', 'AWS::SNS::Topic', 'Modify', 'False')]);
    // DescribeStackEvents throttled (API error Throttling, "Rate exceeded") while following the update.
    mocks.cfn.on(DescribeStackEventsCommand).rejects(awsError('Throttling', 'Rate exceeded'));
    const code = await deploy(['--generated-dir', makeGenerated(), '--yes'], ctx);
    expect(code).toBe(1);
    expect(ctx.stderrText()).toContain(
      'the change set was executed, but following the stack failed (Throttling: Rate exceeded); the stack may still be changing: check with aws cloudformation describe-stacks --stack-name ssm-hub-central-manager',
    );
  });

  it('--template-url keeps only the parameters the published template declares (GetTemplateSummary)', async () => {
    const ctx = testContext();
    existingStackWithChangeSet(
      mocks.cfn,
      [
        { ParameterKey: 'AlarmEmail', ParameterValue: 'ops@example.org' },
        { ParameterKey: 'RetiredParam', ParameterValue: 'x' },
      ],
      [resourceChange('Topic', 'AWS::SNS::Topic', 'Modify', 'False')],
    );
    // GetTemplateSummary (API reference): Parameters[].ParameterKey of the template at TemplateURL.
    mocks.cfn.on(GetTemplateSummaryCommand).resolves({ Parameters: [{ ParameterKey: 'AlarmEmail' }] });
    const code = await deploy(['--generated-dir', makeGenerated(), '--template-url', URL, '--yes'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(mocks.cfn.commandCalls(GetTemplateSummaryCommand)[0]!.args[0].input).toEqual({ TemplateURL: URL });
    expect(mocks.cfn.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.Parameters).toEqual([
      { ParameterKey: 'AlarmEmail', UsePreviousValue: true },
    ]);
  });

  it.each(['Gone', '__proto__', 'constructor'])(
    '--template-url refuses a --param %s the published template does not declare (exit 2, no change set)',
    async (name) => {
      const ctx = testContext();
      existingStackWithChangeSet(mocks.cfn, [], []);
      mocks.cfn.on(GetTemplateSummaryCommand).resolves({ Parameters: [{ ParameterKey: 'AlarmEmail' }] });
      const code = await deploy(
        ['--generated-dir', makeGenerated(), '--template-url', URL, '--yes', '--param', `${name}=1`],
        ctx,
      );
      expect(code).toBe(2);
      expect(ctx.stderrText()).toContain(`--param: the template at --template-url has no parameter ${name}`);
      expect(mocks.cfn.commandCalls(CreateChangeSetCommand)).toHaveLength(0);
    },
  );
});

describe('deploy over a stack whose creation failed', () => {
  it('shows the deletion as a step and, when declined, deletes nothing', async () => {
    const ctx = testContext();
    const fake = fakeCloudFormation(mocks.cfn, { now: ctx.now });
    fake.add('ssm-hub-central-manager', 'ROLLBACK_COMPLETE');
    ctx.interactive = true;
    const asked: string[] = [];
    ctx.confirm = async (q) => {
      asked.push(q);
      return false;
    };
    const code = await deploy(['--generated-dir', makeGenerated()], ctx);
    expect(code).toBe(0);
    expect(asked).toEqual(['Delete the failed stack ssm-hub-central-manager (ROLLBACK_COMPLETE)?']);
    expect(ctx.stderrText()).toContain('step 1 of 2: ssm-hub-central-manager is ROLLBACK_COMPLETE');
    expect(ctx.stdoutText()).toBe('ssm-hub-central-manager: declined\n');
    expect(mocks.cfn.commandCalls(DeleteStackCommand)).toHaveLength(0);
    expect(mocks.cfn.commandCalls(CreateChangeSetCommand)).toHaveLength(0);
  });

  it('deletes it only after the answer, then shows the new change set and asks again', async () => {
    const ctx = testContext();
    const fake = fakeCloudFormation(mocks.cfn, { now: ctx.now });
    fake.add('ssm-hub-central-manager', 'ROLLBACK_COMPLETE');
    ctx.interactive = true;
    const asked: string[] = [];
    ctx.confirm = async (q) => {
      asked.push(`${q} (DeleteStack sent before: ${mocks.cfn.commandCalls(DeleteStackCommand).length > 0})`);
      return true;
    };
    const code = await deploy(['--generated-dir', makeGenerated()], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(asked).toEqual([
      'Delete the failed stack ssm-hub-central-manager (ROLLBACK_COMPLETE)? (DeleteStack sent before: false)',
      'Execute this change set on ssm-hub-central-manager? (DeleteStack sent before: true)',
    ]);
    expect(ctx.stdoutText()).toBe('ssm-hub-central-manager: created (CREATE_COMPLETE)\n');
  });
});
