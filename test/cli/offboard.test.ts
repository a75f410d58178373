// offboard: what offboarding an agency does not undo is said in the dry run and the real run: its
// hub nodes stay under central control (and how to give them back), the membership automation
// onboards an agency still in its OUs again, and agency StackSets this account cannot see.
import { describe, expect, it } from 'vitest';
import { DeleteStackCommand, ListStackInstancesCommand } from '@aws-sdk/client-cloudformation';
import { ListAccountsForParentCommand, ListOrganizationalUnitsForParentCommand } from '@aws-sdk/client-organizations';
import { DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import { main as offboard } from '../../scripts/ops/offboard.ts';
import { fakeCloudFormation } from './fake-cloudformation.ts';
import { awsError, mockAll, mocksEachTest, testContext } from './helpers.ts';

const mocks = mocksEachTest(mockAll);

const A = '111111111111';
const B = '222222222222';
const OWN = 'central-it:activation-agency';
const DOC = 'ssm-hub-central-manager-DeregisterDocument-AbC123';
const READ_ONLY = /^(Describe|List|Get)\w*Command$/;

function hub(membership: { mode: string; ous?: string; accounts?: string } = { mode: 'disabled' }) {
  const ctx = testContext();
  const fake = fakeCloudFormation(mocks.cfn, { now: ctx.now });
  fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE');
  fake.add('ssm-hub-central-manager', 'CREATE_COMPLETE', [
    { ParameterKey: 'MembershipMode', ParameterValue: membership.mode },
    { ParameterKey: 'AgencyOrganizationalUnits', ParameterValue: membership.ous ?? '' },
    { ParameterKey: 'AgencyAccounts', ParameterValue: membership.accounts ?? '' },
  ]).outputs = [{ OutputKey: 'DeregisterDocumentName', OutputValue: DOC }];
  mocks.cfn.on(ListStackInstancesCommand).resolves({ Summaries: [] });
  // A's nodes carry the ownership tag A's activation stamped: filter tag:<key> (SSM API reference,
  // DescribeInstanceInformation Filters), MaxResults 50 a page with NextToken.
  const nodes = [
    { InstanceId: 'mi-00000000000000001', PingStatus: 'Online' as const },
    { InstanceId: 'mi-00000000000000002', PingStatus: 'ConnectionLost' as const },
    { InstanceId: 'mi-00000000000000003', PingStatus: 'Online' as const },
  ];
  mocks.ssm.on(DescribeInstanceInformationCommand).callsFake(async (input) => {
    const f = input.Filters?.[0];
    expect(f?.Key).toBe(`tag:${OWN}`);
    const mine = f?.Values?.includes(A) ? nodes : [];
    const start = Number(input.NextToken ?? 0);
    const next = start + 2 < mine.length ? String(start + 2) : undefined;
    return { InstanceInformationList: mine.slice(start, start + 2), NextToken: next };
  });
  return { ctx, fake };
}

describe('offboard', () => {
  it("counts the agency's hub nodes in the dry run and says what happens to them and how to give them back", async () => {
    const { ctx } = hub();
    const code = await offboard(['--agencies', `${A},${B}`, '--dry-run', '--json'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const doc = JSON.parse(ctx.stdoutText());
    expect(doc.nodes).toEqual({ [A]: { total: 3, online: 2 }, [B]: { total: 0, online: 0 } });
    const warning = doc.warnings.find((w: string) => w.startsWith(`agency ${A} has 3 hub nodes (2 Online)`));
    expect(warning).toContain('They stay hub nodes under central control');
    expect(warning).toContain(`npx ssm-hub run --document ${DOC} --agency ${A}`);
    expect(warning).toContain('then deregister those (aws ssm deregister-managed-instance');
    expect(warning).toContain('wait until the nodes it reached (run prints one row a node) show ConnectionLost');
    expect(warning).toContain('a node already offline was not reached and must stay registered');
    expect(warning).toContain("while the agency's collector stack (its instance profile) is still there");
    expect(doc.warnings.some((w: string) => w.startsWith(`agency ${B} has`))).toBe(false);
    expect(mocks.commandNames().filter((n) => !READ_ONLY.test(n))).toEqual([]);
  });

  it('says it again after a real run', async () => {
    const { ctx } = hub();
    expect(await offboard(['--agencies', A, '--yes'], ctx)).toBe(0);
    const err = ctx.stderrText();
    const line = `WARNING: agency ${A} has 3 hub nodes (2 Online)`;
    expect(err.indexOf(line)).toBeGreaterThanOrEqual(0);
    expect(err.lastIndexOf(line)).toBeGreaterThan(err.indexOf('deleting stack'));
    expect(mocks.cfn.commandCalls(DeleteStackCommand)).toHaveLength(1);
  });

  it.each([
    { case: 'an account listed in AgencyAccounts', membership: { mode: 'enabled', accounts: A }, warned: true },
    {
      case: 'an account under a membership OU',
      membership: { mode: 'enabled', ous: 'ou-ab12-cdef3456' },
      warned: true,
    },
    { case: 'membership disabled', membership: { mode: 'disabled', accounts: A }, warned: false },
    { case: 'membership in dry-run mode', membership: { mode: 'dry-run', accounts: A }, warned: false },
  ])('warns that the membership automation onboards it again: $case', async ({ membership, warned }) => {
    const { ctx } = hub(membership);
    // Organizations lists the OU's accounts with their status (API reference, ListAccountsForParent).
    mocks.org.on(ListAccountsForParentCommand).resolves({ Accounts: [{ Id: A, Status: 'ACTIVE' }] });
    mocks.org.on(ListOrganizationalUnitsForParentCommand).resolves({ OrganizationalUnits: [] });
    expect(await offboard(['--agencies', A, '--dry-run'], ctx)).toBe(0);
    const text = `WARNING: agency ${A} is still one of the membership OUs or accounts of ssm-hub-central-manager and MembershipMode is enabled: the fleet lifecycle onboards it again`;
    expect(ctx.stderrText().includes(text)).toBe(warned);
    if (warned) expect(ctx.stderrText()).toContain('or set MembershipMode=disabled on ssm-hub-central-manager');
  });

  it('says when the agency StackSets cannot be seen with this --call-as', async () => {
    const { ctx } = hub();
    mocks.cfn
      .on(ListStackInstancesCommand)
      .rejects(Object.assign(new Error('StackSet not found'), { name: 'StackSetNotFoundException' }));
    expect(await offboard(['--agencies', A, '--dry-run'], ctx)).toBe(0);
    expect(ctx.stderrText()).toContain(
      'WARNING: StackSet ssm-hub-agency-collector not found with --call-as SELF: offboard cannot tell whether these agencies still have its stack instances. If the agency StackSets are managed from a delegated administrator account, pass --call-as DELEGATED_ADMIN',
    );
    expect(ctx.stderrText()).toContain('WARNING: StackSet ssm-hub-agency-registration not found with --call-as SELF');
  });

  it('goes on with a warning naming the call when a read needed only for a warning is denied', async () => {
    const { ctx } = hub({ mode: 'enabled', ous: 'ou-ab12-cdef3456' });
    // A role without organizations:List* or ssm:DescribeInstanceInformation gets AccessDeniedException
    // (Organizations API reference, ListAccountsForParent errors; SSM API reference, common errors).
    const denied = (action: string) =>
      awsError('AccessDeniedException', `User is not authorized to perform: ${action}`);
    mocks.org.on(ListAccountsForParentCommand).rejects(denied('organizations:ListAccountsForParent'));
    mocks.org
      .on(ListOrganizationalUnitsForParentCommand)
      .rejects(denied('organizations:ListOrganizationalUnitsForParent'));
    mocks.ssm.on(DescribeInstanceInformationCommand).rejects(denied('ssm:DescribeInstanceInformation'));
    const code = await offboard(['--agencies', A, '--yes'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const err = ctx.stderrText();
    expect(err).toContain(
      'WARNING: could not check whether the membership automation onboards these agencies again (Organizations ListAccountsForParent, ListOrganizationalUnitsForParent): AccessDeniedException: User is not authorized to perform: organizations:',
    );
    expect(err).toContain(
      `WARNING: could not check the hub nodes of agency ${A} (SSM DescribeInstanceInformation): AccessDeniedException: User is not authorized to perform: ssm:DescribeInstanceInformation`,
    );
    expect(mocks.cfn.commandCalls(DeleteStackCommand)).toHaveLength(1);
  });
});
