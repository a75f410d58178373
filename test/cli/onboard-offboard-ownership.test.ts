// onboard and offboard find an agency's permissions stack by the rule status uses (by name, or by
// Description and AgencyAccountId), never act on a stack that serves another agency, never treat the
// hub's own account as an agency, keep CentralManagerStackName on update unless it is given, say a
// deletion may still be going on when following it fails, and leave a ROLLBACK_FAILED stack alone.
import { describe, expect, it } from 'vitest';
import { CreateChangeSetCommand, DeleteStackCommand, DescribeChangeSetCommand } from '@aws-sdk/client-cloudformation';
import { CloudFormationClient, DescribeStacksCommand, ListStackInstancesCommand } from '@aws-sdk/client-cloudformation';
import { ListStacksCommand } from '@aws-sdk/client-cloudformation';
import { ListAccountsForParentCommand, ListOrganizationalUnitsForParentCommand } from '@aws-sdk/client-organizations';
import { DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import { main as offboard } from '../../scripts/ops/offboard.ts';
import { main as onboard } from '../../scripts/ops/onboard.ts';
import { changeSetParameters, createChangeSet, ownershipRefusal } from '../../scripts/ops/stacks.ts';
import { AGENCY_PERMISSIONS_DESCRIPTION } from '../../templates-src/builders/agency-permissions.ts';
import { fakeCloudFormation } from './fake-cloudformation.ts';
import { awsError, CALLER_ACCOUNT, makeGenerated, mockAll, mocksEachTest, testContext } from './helpers.ts';

const mocks = mocksEachTest(mockAll);
const A = '111111111111';
const B = '222222222222';
const agencyParam = (a: string) => [{ ParameterKey: 'AgencyAccountId', ParameterValue: a }];

function hub() {
  const ctx = testContext();
  const fake = fakeCloudFormation(mocks.cfn, { now: ctx.now });
  fake.add('ssm-hub-central-manager', 'CREATE_COMPLETE', [
    { ParameterKey: 'MembershipMode', ParameterValue: 'disabled' },
  ]);
  mocks.cfn.on(ListStackInstancesCommand).resolves({ Summaries: [] });
  mocks.ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
  return { ctx, fake };
}
const calls = (c: typeof CreateChangeSetCommand | typeof DeleteStackCommand) =>
  c === DeleteStackCommand
    ? mocks.cfn.commandCalls(DeleteStackCommand).length
    : mocks.cfn.commandCalls(CreateChangeSetCommand).length;

describe('the ownership rule', () => {
  it.each([
    { case: 'the agency itself', params: agencyParam(A), refused: false },
    { case: 'no AgencyAccountId', params: [], refused: false },
    { case: 'another agency', params: agencyParam(B), refused: true },
  ])('a stack carrying $case is refused: $refused', ({ params, refused }) => {
    const why = ownershipRefusal('s', params, A);
    if (refused) expect(why).toBe(`stack s belongs to agency ${B} (its AgencyAccountId), not ${A}; nothing done`);
    else expect(why).toBeUndefined();
  });
});

describe('offboard finds the permissions stack whatever its name', () => {
  it('deletes a stack named otherwise (console), found by Description and AgencyAccountId, and names it', async () => {
    const { ctx, fake } = hub();
    fake.add('agency-111-perms', 'CREATE_COMPLETE', agencyParam(A)).description = AGENCY_PERMISSIONS_DESCRIPTION;
    const code = await offboard(['--agencies', A, '--yes'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const deleted = mocks.cfn.commandCalls(DeleteStackCommand).map((c) => c.args[0].input.StackName);
    expect(deleted).toEqual([fake.stacks.get('agency-111-perms')!.id]);
    expect(ctx.stdoutText()).toMatch(new RegExp(`${A}\\s+agency-111-perms\\s+deleted`));
    expect(ctx.stderrText()).toContain(`permissions stack found under another name: agency-111-perms`);
  });

  it('shows that stack in the dry run and deletes nothing', async () => {
    const { ctx, fake } = hub();
    fake.add('agency-111-perms', 'CREATE_COMPLETE', agencyParam(A)).description = AGENCY_PERMISSIONS_DESCRIPTION;
    const code = await offboard(['--agencies', A, '--dry-run'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(ctx.stdoutText()).toContain('DELETE stack agency-111-perms');
    expect(calls(DeleteStackCommand)).toBe(0);
  });
});

describe('onboard finds the permissions stack whatever its name', () => {
  it('updates a stack named otherwise (console) in place, rather than creating a second one (a second activation)', async () => {
    const gen = makeGenerated();
    const { ctx, fake } = hub();
    fake.add('agency-111-perms', 'CREATE_COMPLETE', agencyParam(A)).description = AGENCY_PERMISSIONS_DESCRIPTION;
    await onboard(['--agencies', A, '--generated-dir', gen], ctx);
    const sent = mocks.cfn.commandCalls(CreateChangeSetCommand).map((c) => c.args[0].input);
    expect(sent.map((i) => [i.StackName, i.ChangeSetType])).toEqual([['agency-111-perms', 'UPDATE']]);
    expect(fake.stacks.has(`ssm-hub-agency-${A}`)).toBe(false);
    expect(ctx.stderrText()).toContain('permissions stack found under another name: agency-111-perms');
  });

  it('previews that stack in the dry run', async () => {
    const gen = makeGenerated();
    const { ctx, fake } = hub();
    fake.add('agency-111-perms', 'CREATE_COMPLETE', agencyParam(A)).description = AGENCY_PERMISSIONS_DESCRIPTION;
    expect(await onboard(['--agencies', A, '--generated-dir', gen, '--dry-run'], ctx)).toBe(0);
    expect(ctx.stdoutText()).toContain('agency-111-perms');
    expect(ctx.stdoutText()).not.toContain(`ssm-hub-agency-${A}`);
  });
});

describe('an agency two stacks claim (the conventional one and one named otherwise)', () => {
  function twoStacks() {
    const h = hub();
    h.fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE', agencyParam(A));
    h.fake.add('agency-111-perms', 'CREATE_COMPLETE', agencyParam(A)).description = AGENCY_PERMISSIONS_DESCRIPTION;
    return h;
  }
  const refusal = `more than one permissions stack claims agency ${A} (ssm-hub-agency-${A} (CREATE_COMPLETE), agency-111-perms (CREATE_COMPLETE))`;

  it('offboard changes nothing and names both stacks, rather than deleting one and saying the agency is gone', async () => {
    const { ctx } = twoStacks();
    expect(await offboard(['--agencies', A, '--yes'], ctx)).toBe(1);
    expect(ctx.stderrText()).toContain(refusal);
    expect(calls(DeleteStackCommand)).toBe(0);
  });

  it.each(['ROLLBACK_COMPLETE', 'REVIEW_IN_PROGRESS', 'DELETE_IN_PROGRESS'])(
    'onboard updates the live stack when the other one is %s (it holds nothing)',
    async (status) => {
      const { ctx, fake } = hub();
      fake.add(`ssm-hub-agency-${A}`, status, agencyParam(A));
      fake.add('agency-111-perms', 'CREATE_COMPLETE', agencyParam(A)).description = AGENCY_PERMISSIONS_DESCRIPTION;
      await onboard(['--agencies', A, '--generated-dir', makeGenerated()], ctx);
      expect(ctx.stderrText()).not.toContain('more than one permissions stack');
      const sent = mocks.cfn.commandCalls(CreateChangeSetCommand).map((c) => c.args[0].input.StackName);
      expect(sent).toEqual(['agency-111-perms']);
    },
  );

  it('onboard changes nothing and names both stacks', async () => {
    const { ctx } = twoStacks();
    expect(await onboard(['--agencies', A, '--generated-dir', makeGenerated()], ctx)).toBe(1);
    expect(ctx.stderrText()).toContain(refusal);
    expect(calls(CreateChangeSetCommand)).toBe(0);
  });
});

describe('offboard without the list of stacks', () => {
  it('stops, naming the call, instead of reporting a stack named otherwise as absent', async () => {
    const { ctx } = hub();
    mocks.cfn.on(ListStacksCommand).rejects(awsError('AccessDenied', 'not authorized', 403));
    expect(await offboard(['--agencies', A, '--yes'], ctx)).toBe(1);
    expect(ctx.stderrText()).toContain(
      'could not list the permissions stacks (CloudFormation ListStacks): AccessDenied',
    );
    expect(calls(DeleteStackCommand)).toBe(0);
  });
});

describe("neither onboard nor offboard acts on another agency's stack", () => {
  it("offboard refuses a stack named for A that carries B's AgencyAccountId; the other agencies carry on", async () => {
    const { ctx, fake } = hub();
    fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE', agencyParam(B));
    fake.add(`ssm-hub-agency-${B}`, 'CREATE_COMPLETE', agencyParam(B));
    const code = await offboard(['--agencies', `${A},${B}`, '--yes'], ctx);
    expect(code).toBe(1);
    const deleted = mocks.cfn.commandCalls(DeleteStackCommand).map((c) => c.args[0].input.StackName);
    expect(deleted).toEqual([fake.stacks.get(`ssm-hub-agency-${B}`)!.id]);
    const out = ctx.stdoutText();
    expect(out).toContain(
      `stack ssm-hub-agency-${A} belongs to agency ${B} (its AgencyAccountId), not ${A}; nothing done`,
    );
    expect(out).toMatch(new RegExp(`${A}\\s+ssm-hub-agency-${A}\\s+refused`));
    expect(out).toContain('1 succeeded, 1 failed or refused');
  });

  it('offboard --dry-run shows the refusal', async () => {
    const { ctx, fake } = hub();
    fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE', agencyParam(B));
    expect(await offboard(['--agencies', A, '--dry-run'], ctx)).toBe(0);
    expect(ctx.stdoutText()).toContain(`REFUSED stack ssm-hub-agency-${A}`);
    expect(ctx.stdoutText()).toContain(`belongs to agency ${B}`);
  });

  it("onboard refuses to rewrite a stack named for A that carries B's AgencyAccountId", async () => {
    const gen = makeGenerated();
    const { ctx, fake } = hub();
    fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE', agencyParam(B));
    const code = await onboard(['--agencies', `${A},${B}`, '--generated-dir', gen], ctx);
    expect(code).toBe(1);
    const changed = mocks.cfn.commandCalls(CreateChangeSetCommand).map((c) => c.args[0].input.StackName);
    expect(changed).toEqual([`ssm-hub-agency-${B}`]);
    expect(ctx.stdoutText()).toContain(
      `stack ssm-hub-agency-${A} belongs to agency ${B} (its AgencyAccountId), not ${A}; nothing done`,
    );
  });
});

describe("the hub's own account is not an agency", () => {
  it('onboard --ou leaves it out and says so', async () => {
    const gen = makeGenerated();
    const { ctx } = hub();
    mocks.org.on(ListAccountsForParentCommand).resolves({
      Accounts: [
        { Id: CALLER_ACCOUNT, Status: 'ACTIVE' },
        { Id: A, Status: 'ACTIVE' },
      ],
    });
    mocks.org.on(ListOrganizationalUnitsForParentCommand).resolves({ OrganizationalUnits: [] });
    const code = await onboard(['--ou', 'ou-ab12-cdef3456', '--generated-dir', gen], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const names = mocks.cfn.commandCalls(CreateChangeSetCommand).map((c) => c.args[0].input.StackName);
    expect(names).toEqual([`ssm-hub-agency-${A}`]);
    expect(ctx.stderrText()).toContain(`leaving out ${CALLER_ACCOUNT}: it is the hub's own account`);
  });

  it('onboard --agencies naming it exits 2 before any change, naming it', async () => {
    const gen = makeGenerated();
    const { ctx } = hub();
    const code = await onboard(['--agencies', `${A},${CALLER_ACCOUNT}`, '--generated-dir', gen], ctx);
    expect(code).toBe(2);
    expect(ctx.stderrText()).toContain(`--agencies: ${CALLER_ACCOUNT} is the hub's own account`);
    expect(calls(CreateChangeSetCommand)).toBe(0);
  });
});

describe('onboard keeps CentralManagerStackName on update unless --central-stack is given', () => {
  const existing = [...agencyParam(A), { ParameterKey: 'CentralManagerStackName', ParameterValue: 'acme-hub-central' }];
  it.each([
    { case: 'update without --central-stack', stack: existing, flags: [], expected: { UsePreviousValue: true } },
    {
      case: 'update with --central-stack',
      stack: existing,
      flags: ['--central-stack', 'x'],
      expected: { ParameterValue: 'x' },
    },
    {
      case: 'create without --central-stack',
      stack: undefined,
      flags: [],
      expected: { ParameterValue: 'ssm-hub-central-manager' },
    },
  ])('$case', async ({ stack, flags, expected }) => {
    const gen = makeGenerated();
    const { ctx, fake } = hub();
    if (stack) fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE', stack);
    await onboard(['--agencies', A, '--generated-dir', gen, ...flags], ctx);
    const p = mocks.cfn.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.Parameters;
    expect(p).toContainEqual({ ParameterKey: 'CentralManagerStackName', ...expected });
  });

  it.each([
    { case: 'the stack has a value: kept', has: true, sent: { UsePreviousValue: true } },
    { case: 'the stack has none: sent', has: false, sent: { ParameterValue: 'd' } },
  ])('changeSetParameters, $case', ({ has, sent }) => {
    const input = {
      parameters: { AgencyAccountId: A, CentralManagerStackName: 'd' },
      keepOnUpdate: ['CentralManagerStackName'],
    };
    const stack = { Parameters: has ? existing : agencyParam(A) } as never;
    expect(changeSetParameters(input, stack)).toContainEqual({ ParameterKey: 'CentralManagerStackName', ...sent });
  });

  it('the dry run shows no CentralManagerStackName change on update without --central-stack', async () => {
    const gen = makeGenerated();
    const { ctx, fake } = hub();
    fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE', existing);
    expect(await onboard(['--agencies', A, '--generated-dir', gen, '--dry-run'], ctx)).toBe(0);
    expect(ctx.stdoutText()).not.toContain('parameter CentralManagerStackName');
  });
});

describe('offboard after DeleteStack was accepted', () => {
  it('says the stack may still be deleting, and how to look, when following it fails', async () => {
    const { ctx, fake } = hub();
    const s = fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE', agencyParam(A));
    let deleted = false;
    mocks.cfn.on(DeleteStackCommand).callsFake(async () => {
      deleted = true;
      return {};
    });
    mocks.cfn.on(DescribeStacksCommand).callsFake(async (input) => {
      if (deleted) throw awsError('Throttling', 'Rate exceeded');
      if (input.StackName !== s.name)
        throw awsError('ValidationError', `Stack with id ${input.StackName} does not exist`);
      return {
        Stacks: [
          {
            StackId: s.id,
            StackName: s.name,
            StackStatus: s.status,
            CreationTime: new Date(),
            Parameters: s.parameters,
          },
        ],
      };
    });
    expect(await offboard(['--agencies', A, '--yes'], ctx)).toBe(1);
    const out = ctx.stdoutText().replace(/\s+/g, ' ');
    expect(out).toContain('DeleteStack was accepted, but following the stack failed (Throttling: Rate exceeded)');
    expect(out).toContain(
      `the stack may still be changing: check with aws cloudformation describe-stacks --stack-name ssm-hub-agency-${A}`,
    );
  });
});

describe('a ROLLBACK_FAILED stack', () => {
  it('is refused by onboard, named, with how to clean it up, and not deleted', async () => {
    const gen = makeGenerated();
    const { ctx, fake } = hub();
    fake.add(`ssm-hub-agency-${A}`, 'ROLLBACK_FAILED', agencyParam(A));
    expect(await onboard(['--agencies', A, '--generated-dir', gen], ctx)).toBe(1);
    const out = ctx.stdoutText().replace(/\s+/g, ' ');
    expect(out).toContain(`stack ssm-hub-agency-${A} is ROLLBACK_FAILED`);
    expect(out).toContain(`aws cloudformation delete-stack --stack-name ssm-hub-agency-${A}`);
    expect(calls(DeleteStackCommand) + calls(CreateChangeSetCommand)).toBe(0);
  });

  it('is shown as refused in the dry run', async () => {
    const gen = makeGenerated();
    const { ctx, fake } = hub();
    fake.add(`ssm-hub-agency-${A}`, 'ROLLBACK_FAILED', agencyParam(A));
    expect(await onboard(['--agencies', A, '--generated-dir', gen, '--dry-run'], ctx)).toBe(0);
    expect(ctx.stdoutText()).toContain(`REFUSED stack ssm-hub-agency-${A} (now ROLLBACK_FAILED)`);
  });
});

describe('CreateChangeSet retried', () => {
  const input = {
    stackName: 'st',
    template: { TemplateBody: '{}' },
    parameters: {},
    capabilities: [],
    description: 'd',
    timeoutMs: 60_000,
  };
  it('sends a ClientToken, so an SDK retry after a timeout is the same request', async () => {
    mocks.cfn.on(CreateChangeSetCommand).resolves({ Id: 'arn:cs', StackId: 'arn:stack' });
    mocks.cfn.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', Changes: [] });
    const cfn = new CloudFormationClient({ region: 'us-east-1' });
    await createChangeSet(testContext(), cfn, input, undefined, () => {});
    expect(mocks.cfn.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ClientToken).toMatch(
      /^ssm-hub-[0-9a-f-]{36}$/,
    );
  });

  it('never uses a change set of the same name it did not create (AlreadyExistsException): it fails, naming it', async () => {
    // CreateChangeSet answers AlreadyExistsException when a change set of that name exists (API reference, errors).
    mocks.cfn
      .on(CreateChangeSetCommand)
      .rejects(awsError('AlreadyExistsException', 'ChangeSet ssm-hub-create-1 exists'));
    mocks.cfn.on(DescribeChangeSetCommand).resolves({ ChangeSetId: 'arn:someone-elses', StackId: 'arn:stack' });
    const cfn = new CloudFormationClient({ region: 'us-east-1' });
    await expect(createChangeSet(testContext(), cfn, input, undefined, () => {})).rejects.toThrow(/exists/);
    expect(mocks.cfn.commandCalls(DescribeChangeSetCommand)).toHaveLength(0);
  });
});
