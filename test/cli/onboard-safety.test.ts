// onboard (and rollout, which onboards first): an update whose change set replaces or removes a
// resource of an agency-permissions stack (AgencyActivation: its Delete handler deletes that
// agency's activation) is refused per agency without --allow-replacement; an in-place update goes
// on; a failed poll after execution says the stack may still be changing.
import { describe, expect, it } from 'vitest';
import { CreateStackSetCommand, DescribeStacksCommand, ExecuteChangeSetCommand } from '@aws-sdk/client-cloudformation';
import { DescribeStackSetCommand, GetTemplateCommand } from '@aws-sdk/client-cloudformation';
import { main as onboard } from '../../scripts/ops/onboard.ts';
import { main as rollout } from '../../scripts/ops/rollout.ts';
import { existingStackWithChangeSet, resourceChange, STACK_ID } from './change-safety-fixture.ts';
import { awsError, makeGenerated, mockAll, mocksEachTest, testContext } from './helpers.ts';

const mocks = mocksEachTest(mockAll);
const A = '111111111111';
const PARAMS = [{ ParameterKey: 'AgencyAccountId', ParameterValue: A }];
const REPLACE_ACTIVATION = [resourceChange('AgencyActivation', 'Custom::AgencyActivation', 'Modify', 'True')];

describe('onboard and replacements', () => {
  it.each([
    ['replaces', REPLACE_ACTIVATION, 'AgencyActivation (Custom::AgencyActivation, Replacement True)'],
    [
      'conditionally replaces',
      [resourceChange('AgencyActivation', 'Custom::AgencyActivation', 'Modify', 'Conditional')],
      'AgencyActivation (Custom::AgencyActivation, Replacement Conditional)',
    ],
    [
      'removes',
      [resourceChange('AgencyAlias', 'AWS::Lambda::Alias', 'Remove')],
      'AgencyAlias (AWS::Lambda::Alias, Remove)',
    ],
    [
      'changes in a way CloudFormation cannot determine (Dynamic)',
      [resourceChange('AgencyActivation', 'Custom::AgencyActivation', 'Dynamic')],
      'AgencyActivation (Custom::AgencyActivation, Dynamic)',
    ],
  ])('refuses an update that %s a resource, naming it, and exits 1 without executing', async (_, changes, named) => {
    const ctx = testContext();
    existingStackWithChangeSet(mocks.cfn, PARAMS, changes);
    const code = await onboard(['--generated-dir', makeGenerated(), '--agencies', A, '--json'], ctx);
    expect(code).toBe(1);
    const [result] = JSON.parse(ctx.stdoutText()).results;
    expect(result.result).toBe('refused');
    expect(result.detail).toContain(`refused: the change set replaces or removes ${named}`);
    expect(result.detail).toContain('not executed without --allow-replacement');
    expect(mocks.cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(0);
  });

  it('executes that update with --allow-replacement', async () => {
    const ctx = testContext();
    existingStackWithChangeSet(mocks.cfn, PARAMS, REPLACE_ACTIVATION);
    const code = await onboard(['--generated-dir', makeGenerated(), '--agencies', A, '--allow-replacement'], ctx);
    expect(code, ctx.stdoutText()).toBe(0);
    expect(mocks.cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(1);
    expect(ctx.stdoutText()).toMatch(/updated\s+UPDATE_COMPLETE/);
  });

  it('executes an in-place modification without the flag', async () => {
    const ctx = testContext();
    existingStackWithChangeSet(mocks.cfn, PARAMS, [
      resourceChange('AgencyActivation', 'Custom::AgencyActivation', 'Modify', 'False'),
    ]);
    const code = await onboard(['--generated-dir', makeGenerated(), '--agencies', A], ctx);
    expect(code, ctx.stdoutText()).toBe(0);
    expect(mocks.cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(1);
  });

  it('executes an update that only replaces the stateless invoke permission (any of its property changes does) or alias', async () => {
    const ctx = testContext();
    existingStackWithChangeSet(mocks.cfn, PARAMS, [
      resourceChange('AgencyAlias', 'AWS::Lambda::Alias', 'Modify', 'Conditional'),
      resourceChange('AgencyInvokePermission', 'AWS::Lambda::Permission', 'Modify', 'True'),
    ]);
    const code = await onboard(['--generated-dir', makeGenerated(), '--agencies', A], ctx);
    expect(code, ctx.stdoutText()).toBe(0);
    expect(mocks.cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(1);
  });

  it('rollout --allow-replacement passes the flag to onboarding, which executes, and goes on to the StackSets', async () => {
    const ctx = testContext();
    existingStackWithChangeSet(mocks.cfn, PARAMS, REPLACE_ACTIVATION);
    mocks.cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'not found'));
    const argv = ['--self-managed', '--accounts', A, '--regions', 'us-east-1', '--generated-dir', makeGenerated()];
    await rollout([...argv, '--allow-replacement'], ctx);
    expect(mocks.cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(1);
    expect(mocks.cfn.commandCalls(CreateStackSetCommand).length).toBeGreaterThanOrEqual(1);
  });

  it('rollout does not start when onboarding is refused', async () => {
    const ctx = testContext();
    existingStackWithChangeSet(mocks.cfn, PARAMS, REPLACE_ACTIVATION);
    // DescribeStackSet (API reference): StackSetNotFoundException for a StackSet not created yet.
    mocks.cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'not found'));
    const argv = ['--self-managed', '--accounts', A, '--regions', 'us-east-1', '--generated-dir', makeGenerated()];
    const code = await rollout(argv, ctx);
    expect(code).toBe(1);
    expect(ctx.stderrText()).toContain(`onboarding failed for ${A}; the rollout was not started`);
    expect(ctx.stdoutText()).toMatch(/refused: the change set replaces or removes AgencyActivation/);
    expect(mocks.cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(0);
    expect(mocks.cfn.commandCalls(CreateStackSetCommand)).toHaveLength(0);
  });

  it('--dry-run says such an update would be refused', async () => {
    const ctx = testContext();
    existingStackWithChangeSet(mocks.cfn, PARAMS, []);
    // GetTemplate (API reference): TemplateBody of the stack; here an older one with another resource.
    mocks.cfn.on(GetTemplateCommand).resolves({ TemplateBody: '{"Resources":{"Old":{"Type":"AWS::Lambda::Alias"}}}' });
    const code = await onboard(['--generated-dir', makeGenerated(), '--agencies', A, '--dry-run'], ctx);
    expect(code).toBe(0);
    expect(ctx.stdoutText()).toContain(
      'an update whose change set replaces or removes a resource is refused without --allow-replacement',
    );
  });
});

describe('onboard after the change set started', () => {
  it('one failed poll says the stack may still be changing and how to check, not a bare failure', async () => {
    const ctx = testContext();
    existingStackWithChangeSet(mocks.cfn, PARAMS, [
      resourceChange('AgencyAlias', 'AWS::Lambda::Alias', 'Modify', 'False'),
    ]);
    let polls = 0;
    // DescribeStacks throttled (API error Throttling, "Rate exceeded") once the change set runs.
    mocks.cfn.on(DescribeStacksCommand).callsFake(async () => {
      if (polls++ >= 1) throw awsError('Throttling', 'Rate exceeded');
      return {
        Stacks: [
          {
            StackId: STACK_ID,
            StackName: 'x',
            StackStatus: 'UPDATE_COMPLETE',
            Parameters: PARAMS,
            CreationTime: new Date(),
          },
        ],
      };
    });
    const code = await onboard(['--generated-dir', makeGenerated(), '--agencies', A, '--json'], ctx);
    expect(code).toBe(1);
    const [result] = JSON.parse(ctx.stdoutText()).results;
    expect(result.result).toBe('failed');
    expect(result.detail).toContain('the change set was executed, but following the stack failed (');
    expect(result.detail).toContain('Rate exceeded');
    expect(result.detail).toContain(
      `the stack may still be changing: check with aws cloudformation describe-stacks --stack-name ssm-hub-agency-${A}`,
    );
  });
});
