// --dry-run: onboard, offboard and rollout print every change they would make, name the account
// and Region, and send only read calls (the mocked SDK records no Create, Update, Delete,
// Execute, Put or Deregister).
import { describe, expect, it } from 'vitest';
import { DescribeStackSetCommand, ListStackInstancesCommand } from '@aws-sdk/client-cloudformation';
import { main as onboard } from '../../scripts/ops/onboard.ts';
import { main as offboard } from '../../scripts/ops/offboard.ts';
import { main as rollout } from '../../scripts/ops/rollout.ts';
import { templateDiff, parameterDiff } from '../../scripts/ops/preview.ts';
import { fakeCloudFormation } from './fake-cloudformation.ts';
import { awsError, CALLER_ACCOUNT, makeGenerated, mockAll, mocksEachTest, TEMPLATES, testContext } from './helpers.ts';

const mocks = mocksEachTest(mockAll);

const A = '111111111111';
const B = '222222222222';
const READ_ONLY = /^(Describe|List|Get)\w*Command$/;
const oldPermissions = { ...TEMPLATES['agency-permissions'], Resources: { Old: { Type: 'AWS::SSM::Parameter' } } };

function setUp() {
  const gen = makeGenerated();
  const ctx = testContext();
  const fake = fakeCloudFormation(mocks.cfn, { now: ctx.now });
  return { gen, ctx, fake };
}

describe('templateDiff and parameterDiff', () => {
  it.each([
    {
      case: 'a new stack adds every resource',
      before: undefined,
      after: { Resources: { X: { Type: 'T' } } },
      want: [['X', 'Add']],
    },
    {
      case: 'a removed resource',
      before: { Resources: { X: { Type: 'T' } } },
      after: { Resources: {} },
      want: [['X', 'Remove']],
    },
    {
      case: 'a changed property',
      before: { Resources: { X: { Type: 'T', Properties: { A: 1 } } } },
      after: { Resources: { X: { Type: 'T', Properties: { A: 2 } } } },
      want: [['X', 'Modify']],
    },
    {
      case: 'identical resources',
      before: { Resources: { X: { Type: 'T' } } },
      after: { Resources: { X: { Type: 'T' } } },
      want: [],
    },
  ])('$case', ({ before, after, want }) => {
    expect(templateDiff(before, after).map((c) => [c.logicalId, c.action])).toEqual(want);
  });

  it('lists only the parameters whose value would change', () => {
    expect(
      parameterDiff(
        [
          { ParameterKey: 'A', ParameterValue: '1' },
          { ParameterKey: 'B', ParameterValue: '2' },
        ],
        { A: '1', B: '3', C: 'x' },
      ),
    ).toEqual([
      { key: 'B', from: '2', to: '3' },
      { key: 'C', from: undefined, to: 'x' },
    ]);
  });
});

describe('onboard --dry-run', () => {
  it('shows the stack it would create, the one it would update with its parameter and resource changes, and changes nothing', async () => {
    const { gen, ctx, fake } = setUp();
    fake.add(
      `ssm-hub-agency-${A}`,
      'CREATE_COMPLETE',
      [
        { ParameterKey: 'AgencyAccountId', ParameterValue: A },
        { ParameterKey: 'RegistrationLimit', ParameterValue: '500' },
      ],
      JSON.stringify(oldPermissions),
    );
    const code = await onboard(
      ['--agencies', `${A},${B}`, '--registration-limit', '900', '--generated-dir', gen, '--dry-run'],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const out = ctx.stdoutText();
    expect(ctx.stderrText()).toContain(`aws://${CALLER_ACCOUNT}/us-east-1: dry run`);
    expect(out).toContain(`UPDATE stack ssm-hub-agency-${A} (now CREATE_COMPLETE)`);
    expect(out).toContain('parameter RegistrationLimit: 500 -> 900');
    expect(out).toMatch(/Alias\s+AWS::Lambda::Alias\s+Add/);
    expect(out).toMatch(/Old\s+AWS::SSM::Parameter\s+Remove/);
    expect(out).toContain(`CREATE stack ssm-hub-agency-${B}`);
    expect(mocks.commandNames().filter((n) => !READ_ONLY.test(n))).toEqual([]);
  });

  it('prints the same preview as JSON', async () => {
    const { gen, ctx } = setUp();
    const code = await onboard(['--agencies', A, '--generated-dir', gen, '--dry-run', '--json'], ctx);
    expect(code).toBe(0);
    const doc = JSON.parse(ctx.stdoutText());
    expect(doc).toMatchObject({ dryRun: true, account: CALLER_ACCOUNT, region: 'us-east-1' });
    expect(doc.stacks[0]).toMatchObject({ account: A, action: 'create', stackName: `ssm-hub-agency-${A}` });
    expect(mocks.commandNames().filter((n) => !READ_ONLY.test(n))).toEqual([]);
  });
});

describe('offboard', () => {
  it('--dry-run needs no --yes, lists every resource it would delete, warns about collectors still deployed, and changes nothing', async () => {
    const { ctx, fake } = setUp();
    fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE', [], JSON.stringify(TEMPLATES['agency-permissions']));
    mocks.cfn.on(ListStackInstancesCommand).resolves({
      Summaries: [{ Account: A, Region: 'eu-west-1', Status: 'CURRENT', StackSetId: 's' }],
    });
    const code = await offboard(['--agencies', `${A},${B}`, '--dry-run'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const out = ctx.stdoutText();
    expect(out).toContain(`DELETE stack ssm-hub-agency-${A} (now CREATE_COMPLETE)`);
    expect(out).toMatch(/Alias\s+AWS::Lambda::Alias\s+Remove/);
    expect(out).toContain(`ABSENT stack ssm-hub-agency-${B}`);
    expect(ctx.stderrText()).toContain(
      `WARNING: agency ${A} still has collector stack instances in eu-west-1: they will fail to sync until removed from StackSet ssm-hub-agency-collector`,
    );
    expect(ctx.stderrText()).toContain(
      `WARNING: agency ${A} still has registration stack instances in eu-west-1: zero-touch registration there fails once its activation is gone, until they are removed from StackSet ssm-hub-agency-registration`,
    );
    expect(mocks.commandNames().filter((n) => !READ_ONLY.test(n))).toEqual([]);
  });

  it('names the account and Region before it deletes', async () => {
    const { ctx, fake } = setUp();
    fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE', [], JSON.stringify(TEMPLATES['agency-permissions']));
    expect(await offboard(['--agencies', A, '--yes'], ctx)).toBe(0);
    const err = ctx.stderrText();
    expect(err.indexOf(`aws://${CALLER_ACCOUNT}/us-east-1: deleting`)).toBeGreaterThanOrEqual(0);
    expect(err.indexOf(`aws://${CALLER_ACCOUNT}/us-east-1`)).toBeLessThan(err.indexOf('deleting stack'));
  });
});

describe('rollout --dry-run', () => {
  it('shows onboarding, the StackSet update with its resource changes, the instances and the operation preferences, and changes nothing', async () => {
    const { gen, ctx } = setUp();
    mocks.cfn.on(DescribeStackSetCommand).resolves({
      StackSet: {
        StackSetName: 'ssm-hub-agency-collector',
        PermissionModel: 'SELF_MANAGED',
        TemplateBody: JSON.stringify({ Resources: { Gone: { Type: 'AWS::SNS::Topic' } } }),
        Parameters: [{ ParameterKey: 'CentralRegion', ParameterValue: 'us-east-1' }],
      },
    });
    mocks.cfn.on(ListStackInstancesCommand).resolves({
      Summaries: [{ Account: A, Region: 'us-east-1', Status: 'CURRENT', StackSetId: 's' }],
    });
    const code = await rollout(
      [
        ...['--self-managed', '--accounts', `${A},${B}`, '--regions', 'us-east-1,us-west-2'],
        ...['--max-concurrent-percentage', '25', '--failure-tolerance-count', '1', '--zero-touch', 'false'],
        ...['--generated-dir', gen, '--dry-run'],
      ],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const out = ctx.stdoutText();
    expect(ctx.stderrText()).toContain(
      `aws://${CALLER_ACCOUNT}/us-east-1: dry run: rollout to accounts ${A}, ${B} in us-east-1, us-west-2`,
    );
    expect(out).toContain(`CREATE stack ssm-hub-agency-${A}`);
    expect(out).toContain('UPDATE StackSet ssm-hub-agency-collector (SELF_MANAGED)');
    expect(out).toContain('parameter EnableZeroTouchRegistration: (unset) -> false');
    expect(out).toMatch(/Fn\s+AWS::Lambda::Function\s+Add/);
    expect(out).toMatch(/Gone\s+AWS::SNS::Topic\s+Remove/);
    expect(out).toContain('the update reaches the 1 existing stack instances');
    expect(out).toContain(`CREATE stack instances: accounts ${A}, ${B} in us-east-1, us-west-2`);
    expect(out).toContain('operation preferences: FailureToleranceCount=1 MaxConcurrentPercentage=25');
    expect(mocks.commandNames().filter((n) => !READ_ONLY.test(n))).toEqual([]);
  });

  it('says when an OU target is a root, i.e. the whole organization', async () => {
    const { gen, ctx } = setUp();
    mocks.cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'not found'));
    const code = await rollout(
      ['--ou', 'r-ab12', '--regions', 'us-east-1', '--skip-onboard', '--generated-dir', gen, '--dry-run', '--json'],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const doc = JSON.parse(ctx.stdoutText());
    expect(doc.dryRun).toBe(true);
    for (const s of doc.stackSets) {
      expect(s.preview.instances.create).toBe('OUs r-ab12 (a root: the whole organization) in us-east-1');
      expect(s.preview.stackSet.action).toBe('create');
    }
    expect(doc.stackSets.map((s: { stackSetName: string }) => s.stackSetName)).toEqual([
      'ssm-hub-agency-collector',
      'ssm-hub-agency-registration',
    ]);
    expect(mocks.commandNames().filter((n) => !READ_ONLY.test(n))).toEqual([]);
  });

  it('previews both StackSets, collector first, each with only the parameters its template declares', async () => {
    const { gen, ctx } = setUp();
    mocks.cfn.on(DescribeStackSetCommand).callsFake(async (input) => {
      if (input.StackSetName !== 'ssm-hub-agency-collector') throw awsError('StackSetNotFoundException', 'not found');
      return {
        StackSet: {
          PermissionModel: 'SERVICE_MANAGED',
          TemplateBody: JSON.stringify({ Resources: { RegisterDocument: { Type: 'AWS::SSM::Document' } } }),
          Parameters: [
            { ParameterKey: 'CentralRegion', ParameterValue: 'eu-west-1' },
            { ParameterKey: 'OptInTagKey', ParameterValue: 'register-me' },
          ],
        },
      };
    });
    mocks.cfn.on(ListStackInstancesCommand).resolves({ Summaries: [] });
    const code = await rollout(
      [
        ...['--ou', 'ou-abcd-12345678', '--regions', 'us-east-1', '--skip-onboard', '--generated-dir', gen],
        ...['--reconcile-schedule', 'rate(2 hours)', '--zero-touch', 'false', '--dry-run'],
      ],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const out = ctx.stdoutText();
    const collector = out.slice(out.indexOf('UPDATE StackSet ssm-hub-agency-collector (SERVICE_MANAGED)'));
    const registration = out.slice(out.indexOf('CREATE StackSet ssm-hub-agency-registration (SERVICE_MANAGED)'));
    expect(out.indexOf('UPDATE StackSet ssm-hub-agency-collector')).toBeLessThan(
      out.indexOf('CREATE StackSet ssm-hub-agency-registration'),
    );
    const collectorPart = collector.slice(0, collector.indexOf('CREATE StackSet ssm-hub-agency-registration'));
    expect(collectorPart).toContain('parameter ReconcileSchedule: (unset) -> rate(2 hours)');
    expect(collectorPart).not.toContain('EnableZeroTouchRegistration');
    expect(collectorPart).toMatch(/RegisterDocument\s+AWS::SSM::Document\s+Remove/);
    // A new registration StackSet takes the Region and opt-in key the collector StackSet holds.
    expect(registration).toContain('parameter CentralRegion: (unset) -> eu-west-1');
    expect(registration).toContain('parameter OptInTagKey: (unset) -> register-me');
    expect(registration).toContain('parameter EnableZeroTouchRegistration: (unset) -> false');
    expect(registration).not.toContain('ReconcileSchedule');
    expect(registration).toMatch(/RegisterDocument\s+AWS::SSM::Document\s+Add/);
    expect(registration).toContain('CREATE stack instances: OUs ou-abcd-12345678 in us-east-1');
    expect(mocks.commandNames().filter((n) => !READ_ONLY.test(n))).toEqual([]);
  });
});
