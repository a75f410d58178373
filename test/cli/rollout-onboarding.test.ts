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
import { main as rollout } from '../../scripts/ops/rollout.ts';
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
