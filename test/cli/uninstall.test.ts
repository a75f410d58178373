// uninstall: a preview in dependency order, then each agency StackSet's instances and the StackSet
// (registration, then collector), permissions stacks,
// (optionally) the hub's nodes, and the central stack last; --dry-run changes nothing.
import { describe, expect, it } from 'vitest';
import { DescribeStackSetCommand, DescribeStackSetOperationCommand } from '@aws-sdk/client-cloudformation';
import { ListStackInstancesCommand, ListStackSetOperationResultsCommand } from '@aws-sdk/client-cloudformation';
import { DeleteStackSetCommand, ListStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import { main as uninstall, uninstallSteps } from '../../scripts/ops/uninstall.ts';
import { fakeCloudFormation } from './fake-cloudformation.ts';
import { CALLER_ACCOUNT, mockAll, mocksEachTest, testContext } from './helpers.ts';

const mocks = mocksEachTest(mockAll);

const A = '111111111111';
const B = '222222222222';
const READ_ONLY = /^(Describe|List|Get)\w*Command$/;

function hub() {
  const ctx = testContext();
  const fake = fakeCloudFormation(mocks.cfn, { now: ctx.now });
  fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE');
  fake.add(`ssm-hub-agency-${B}`, 'UPDATE_COMPLETE');
  fake.add('ssm-hub-central-manager', 'CREATE_COMPLETE').outputs = [
    { OutputKey: 'ManagedNodeRoleName', OutputValue: 'ssm-hub-managed-node' },
  ];
  mocks.cfn.on(ListStacksCommand).resolves({
    StackSummaries: [...fake.stacks.values()].map((s) => ({
      StackName: s.name,
      StackStatus: s.status as 'CREATE_COMPLETE',
      CreationTime: new Date(0),
    })),
  });
  mocks.cfn.on(DescribeStackSetCommand).callsFake(async (input) => ({
    StackSet: { StackSetName: input.StackSetName, PermissionModel: 'SERVICE_MANAGED' },
  }));
  // The registration StackSet reached one account so far, the collector StackSet two.
  mocks.cfn.on(ListStackInstancesCommand).callsFake(async (input) => ({
    Summaries: [
      { Account: A, Region: 'us-east-1', OrganizationalUnitId: 'ou-ab12-cdef3456', StackSetId: 's' },
      { Account: B, Region: 'us-west-2', OrganizationalUnitId: 'ou-ab12-cdef3456', StackSetId: 's' },
    ].slice(0, input.StackSetName === 'ssm-hub-agency-registration' ? 1 : 2),
  }));
  mocks.cfn.on(DescribeStackSetOperationCommand).resolves({ StackSetOperation: { Status: 'SUCCEEDED' } });
  mocks.cfn.on(ListStackSetOperationResultsCommand).resolves({ Summaries: [] });
  mocks.ssm.on(DescribeInstanceInformationCommand).resolves({
    InstanceInformationList: [{ InstanceId: 'mi-00000000000000001' }, { InstanceId: 'mi-00000000000000002' }],
  });
  return { ctx, fake };
}

describe('uninstall', () => {
  it('orders the steps: instances, StackSet, permissions stacks, nodes, central stack', () => {
    const steps = uninstallSteps(
      {
        stackSets: [{ name: 'set', permissionModel: 'SELF_MANAGED', instances: [{ Account: A, Region: 'us-east-1' }] }],
        permissionStacks: ['p1'],
        nodes: ['mi-1'],
        centralStack: { name: 'central', status: 'CREATE_COMPLETE' },
      },
      true,
    );
    expect(steps.map((s) => s.split(' ').slice(0, 2).join(' '))).toEqual([
      'delete 1',
      'delete StackSet',
      'delete stack',
      'deregister 1',
      'delete stack',
    ]);
    expect(steps[4]).toBe('delete stack central (CREATE_COMPLETE)');
  });

  it('--dry-run prints every step in order and sends only read calls', async () => {
    const { ctx } = hub();
    const code = await uninstall(['--dry-run'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(ctx.stdoutText()).toBe(
      [
        `1. delete 1 stack instances of ssm-hub-agency-registration: ${A}/us-east-1`,
        '2. delete StackSet ssm-hub-agency-registration',
        `3. delete 2 stack instances of ssm-hub-agency-collector: ${A}/us-east-1, ${B}/us-west-2`,
        '4. delete StackSet ssm-hub-agency-collector',
        `5. delete stack ssm-hub-agency-${A}`,
        `6. delete stack ssm-hub-agency-${B}`,
        '7. keep 2 hub nodes registered (they stay managed by this account until deregistered)',
        '8. delete stack ssm-hub-central-manager (CREATE_COMPLETE)',
        '',
      ].join('\n'),
    );
    expect(mocks.commandNames().filter((n) => !READ_ONLY.test(n))).toEqual([]);
  });

  it('needs --nodes and --yes without a terminal, before any AWS call', async () => {
    const ctx = testContext();
    expect(await uninstall(['--yes'], ctx)).toBe(2);
    expect(ctx.stderrText()).toContain('--nodes deregister|keep is required without a terminal');
    expect(await uninstall(['--nodes', 'keep'], ctx)).toBe(2);
    expect(mocks.totalCalls()).toBe(0);
  });

  it('with --yes --nodes deregister removes everything in order, central stack last', async () => {
    const { ctx, fake } = hub();
    const code = await uninstall(['--yes', '--nodes', 'deregister'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(ctx.stderrText()).toContain(`aws://${CALLER_ACCOUNT}/us-east-1: uninstalling the hub (8 steps)`);
    const mutations = mocks.commandNames().filter((n) => !READ_ONLY.test(n));
    expect(mutations).toEqual([
      'DeleteStackInstancesCommand',
      'DeleteStackSetCommand',
      'DeleteStackInstancesCommand',
      'DeleteStackSetCommand',
      'DeleteStackCommand',
      'DeleteStackCommand',
      'DeregisterManagedInstanceCommand',
      'DeregisterManagedInstanceCommand',
      'DeleteStackCommand',
    ]);
    expect(mocks.cfn.commandCalls(DescribeStackSetCommand)).toHaveLength(2);
    // Registration first, the reverse of rollout.
    expect(mocks.cfn.commandCalls(DeleteStackSetCommand).map((c) => c.args[0].input.StackSetName)).toEqual([
      'ssm-hub-agency-registration',
      'ssm-hub-agency-collector',
    ]);
    expect([...fake.stacks.values()].every((s) => s.status === 'DELETE_COMPLETE')).toBe(true);
  });
});
