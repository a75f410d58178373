// rollout's onboarding finds agencies as `onboard` does: an agency's permissions stack whatever its
// name (updated in place, never a second one), never the hub's own account, and the central stack
// name kept on update unless --central-stack is given.
import { describe, expect, it } from 'vitest';
import {
  CreateChangeSetCommand,
  CreateStackInstancesCommand,
  CreateStackSetCommand,
  DescribeStackSetCommand,
  DescribeStackSetOperationCommand,
  ListStackInstancesCommand,
  ListStackSetOperationResultsCommand,
} from '@aws-sdk/client-cloudformation';
import { main as rollout, withoutAccounts, withoutHubInstances } from '../../scripts/ops/rollout.ts';
import { ListAccountsForParentCommand, ListOrganizationalUnitsForParentCommand } from '@aws-sdk/client-organizations';
import { AGENCY_PERMISSIONS_DESCRIPTION } from '../../templates-src/builders/agency-permissions.ts';
import { fakeCloudFormation } from './fake-cloudformation.ts';
import { awsError, CALLER_ACCOUNT, makeGenerated, mockAll, mocksEachTest, testContext } from './helpers.ts';

const mocks = mocksEachTest(mockAll);
const A = '111111111111';
const agencyParam = [{ ParameterKey: 'AgencyAccountId', ParameterValue: A }];

/** No StackSet yet (DescribeStackSet: StackSetNotFoundException); every operation SUCCEEDED at once. */
function newStackSets() {
  const ctx = testContext();
  const fake = fakeCloudFormation(mocks.cfn, { now: ctx.now });
  mocks.cfn.on(ListStackInstancesCommand).resolves({ Summaries: [] });
  mocks.cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'not found'));
  mocks.cfn.on(CreateStackSetCommand).resolves({});
  mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
  mocks.cfn.on(DescribeStackSetOperationCommand).resolves({ StackSetOperation: { Status: 'SUCCEEDED' } });
  mocks.cfn.on(ListStackSetOperationResultsCommand).resolves({ Summaries: [] });
  return { ctx, fake };
}
const changeSets = () => mocks.cfn.commandCalls(CreateChangeSetCommand).map((c) => c.args[0].input);
const SELF = ['--self-managed', '--regions', 'us-east-1'];

describe('rollout onboarding', () => {
  it('updates an agency permissions stack named otherwise in place, keeping CentralManagerStackName', async () => {
    const { ctx, fake } = newStackSets();
    fake.add('agency-111-perms', 'CREATE_COMPLETE', [
      ...agencyParam,
      { ParameterKey: 'CentralManagerStackName', ParameterValue: 'acme-hub-central' },
    ]).description = AGENCY_PERMISSIONS_DESCRIPTION;
    await rollout([...SELF, '--accounts', A, '--generated-dir', makeGenerated()], ctx);
    expect(changeSets().map((i) => [i.StackName, i.ChangeSetType])).toEqual([['agency-111-perms', 'UPDATE']]);
    expect(changeSets()[0]!.Parameters).toContainEqual({
      ParameterKey: 'CentralManagerStackName',
      UsePreviousValue: true,
    });
    expect(fake.stacks.has(`ssm-hub-agency-${A}`)).toBe(false);
  });

  it("leaves the hub's own account out of --ou onboarding and out of both StackSets' instances (DIFFERENCE)", async () => {
    const { ctx } = newStackSets();
    const OU = 'ou-abcd-12345678';
    // Organizations API reference: ListAccountsForParent lists the OU's accounts, the hub's among them.
    mocks.org.on(ListAccountsForParentCommand).resolves({
      Accounts: [
        { Id: A, State: 'ACTIVE' },
        { Id: CALLER_ACCOUNT, State: 'ACTIVE' },
      ],
    });
    mocks.org.on(ListOrganizationalUnitsForParentCommand).resolves({ OrganizationalUnits: [] });
    const code = await rollout(['--ou', OU, '--regions', 'us-east-1', '--generated-dir', makeGenerated()], ctx);
    expect(code, ctx.stdoutText()).toBe(0);
    expect(changeSets().map((i) => i.StackName)).toEqual([`ssm-hub-agency-${A}`]);
    const targets = mocks.cfn.commandCalls(CreateStackInstancesCommand).map((c) => c.args[0].input.DeploymentTargets);
    expect(targets).toEqual([
      { OrganizationalUnitIds: [OU], Accounts: [CALLER_ACCOUNT], AccountFilterType: 'DIFFERENCE' },
      { OrganizationalUnitIds: [OU], Accounts: [CALLER_ACCOUNT], AccountFilterType: 'DIFFERENCE' },
    ]);
    expect(ctx.stderrText()).toContain(`leaving out ${CALLER_ACCOUNT}`);
  });

  it.each([
    { t: { ous: ['ou-a'] }, left: true, want: { ous: ['ou-a'], excludeAccounts: [CALLER_ACCOUNT] } },
    { t: { ous: ['ou-a'] }, left: false, want: { ous: ['ou-a'] } },
    { t: { ous: ['ou-a'], accounts: [A] }, left: true, want: { ous: ['ou-a'], accounts: [A] } },
  ])('withoutHubInstances($t, left out: $left)', ({ t, left, want }) => {
    const base = { selfManaged: false, regions: ['us-east-1'] };
    expect(withoutHubInstances({ ...base, ...t }, CALLER_ACCOUNT, left)).toEqual({ ...base, ...want });
  });

  it('keeps the accounts already left out when a failed collector adds more', () => {
    const t = { selfManaged: false, regions: ['us-east-1'], ous: ['ou-a'], excludeAccounts: [CALLER_ACCOUNT] };
    expect(withoutAccounts(t, [A])?.excludeAccounts).toEqual([CALLER_ACCOUNT, A]);
  });

  it("refuses the hub's own account in --accounts before any change", async () => {
    const { ctx } = newStackSets();
    const code = await rollout(
      [...SELF, '--accounts', `${A},${CALLER_ACCOUNT}`, '--generated-dir', makeGenerated()],
      ctx,
    );
    expect(code).toBe(2);
    expect(ctx.stderrText()).toContain(`--accounts: ${CALLER_ACCOUNT} is the hub's own account`);
    expect(changeSets()).toHaveLength(0);
    expect(mocks.cfn.commandCalls(CreateStackSetCommand)).toHaveLength(0);
  });
});
