// rollout across both agency StackSets: which collector stack instances an upgrade (or a re-run)
// must reach, the permission model, errors part-way, and --template-url's parameter list.
// Organizations and CloudFormation answers follow their API references (named beside each).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateStackInstancesCommand,
  CreateStackSetCommand,
  DescribeStackSetCommand,
  DescribeStackSetOperationCommand,
  ListStackInstancesCommand,
  ListStackSetOperationResultsCommand,
  GetTemplateSummaryCommand,
  UpdateStackSetCommand,
} from '@aws-sdk/client-cloudformation';
import { ListAccountsForParentCommand, ListOrganizationalUnitsForParentCommand } from '@aws-sdk/client-organizations';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as rollout } from '../../scripts/ops/rollout.ts';
import { awsError, makeGenerated, mockAll, testContext } from './helpers.ts';

let mocks: ReturnType<typeof mockAll>;
beforeEach(() => {
  mocks = mockAll();
  mocks.sts.on(GetCallerIdentityCommand).resolves({ Account: '999999999999' });
  mocks.cfn.on(DescribeStackSetOperationCommand).callsFake(async (input) => ({
    StackSetOperation: { OperationId: input.OperationId, Status: 'SUCCEEDED' },
  }));
  mocks.cfn.on(ListStackSetOperationResultsCommand).resolves({
    Summaries: [{ Account: '111111111111', Region: 'us-east-1', Status: 'SUCCEEDED' }],
  });
  mocks.cfn.on(UpdateStackSetCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
  mocks.cfn.on(CreateStackSetCommand).resolves({});
  mocks.cfn.on(CreateStackInstancesCommand).callsFake(async (input) => ({ OperationId: input.OperationId }));
  // Organizations API reference (ListAccountsForParent, ListOrganizationalUnitsForParent): an OU
  // with nothing under it answers empty lists; tests that need an organization say so.
  mocks.org.on(ListAccountsForParentCommand).resolves({ Accounts: [] });
  mocks.org.on(ListOrganizationalUnitsForParentCommand).resolves({ OrganizationalUnits: [] });
});
afterEach(() => mocks.restore());

const COLLECTOR = 'ssm-hub-agency-collector';
const REGISTRATION = 'ssm-hub-agency-registration';
const PARENT = 'ou-abcd-12345678';
const CHILD = 'ou-abcd-child001';
const OLD = [
  { ParameterKey: 'CentralAccountId', ParameterValue: '999999999999' },
  { ParameterKey: 'CentralRegion', ParameterValue: 'us-east-1' },
  { ParameterKey: 'EnableZeroTouchRegistration', ParameterValue: 'false' },
];
const oldCollectorOnly = (PermissionModel = 'SERVICE_MANAGED') =>
  mocks.cfn.on(DescribeStackSetCommand).callsFake(async (input) => {
    if (input.StackSetName !== COLLECTOR) throw awsError('StackSetNotFoundException', 'not found');
    return { StackSet: { PermissionModel, TemplateBody: '{"single":true}', Parameters: OLD } };
  });

describe('which collector stack instances a rollout must reach', () => {
  it('does not refuse an upgrade whose --ou is the parent of the OU the collector instances were deployed through', async () => {
    // ListStackInstances' OrganizationalUnitId is "the organization root ID or OU IDs that you
    // specified for DeploymentTargets" (API reference, StackInstanceSummary): here an earlier
    // rollout targeted the child OU; this one targets its parent, which reaches account 111 too.
    oldCollectorOnly();
    mocks.cfn.on(ListStackInstancesCommand).resolves({
      Summaries: [{ Account: '111111111111', Region: 'us-east-1', OrganizationalUnitId: CHILD }],
    });
    mocks.org.on(ListOrganizationalUnitsForParentCommand).callsFake(async (input) => ({
      OrganizationalUnits: input.ParentId === PARENT ? [{ Id: CHILD }] : [],
    }));
    mocks.org.on(ListAccountsForParentCommand).callsFake(async (input) => ({
      Accounts: input.ParentId === CHILD ? [{ Id: '111111111111', Status: 'ACTIVE' }] : [],
    }));
    const ctx = testContext();
    const gen = makeGenerated();
    const code = await rollout(
      ['--ou', PARENT, '--regions', 'us-east-1', '--skip-onboard', '--generated-dir', gen],
      ctx,
    );
    expect(ctx.stderrText()).not.toContain('does not target');
    expect(code).toBe(0);
  });

  it('still refuses a partial upgrade on the re-run, once the first run has defined the registration StackSet', async () => {
    // Run 1 targeted both Regions, passed the refusal, defined the registration StackSet (no
    // instances) and the collector update failed. Run 2 (the "re-run after fixing it") names only
    // us-east-1: the collector update reaches us-west-2 too, but no registration instance does.
    const gen = makeGenerated();
    const registrationBody = readFileSync(join(gen, 'templates/agency-registration.json'), 'utf8');
    mocks.cfn.on(DescribeStackSetCommand).callsFake(async (input) =>
      input.StackSetName === COLLECTOR
        ? { StackSet: { PermissionModel: 'SERVICE_MANAGED', TemplateBody: '{"single":true}', Parameters: OLD } }
        : {
            StackSet: {
              PermissionModel: 'SERVICE_MANAGED',
              TemplateBody: registrationBody,
              Parameters: [{ ParameterKey: 'CentralRegion', ParameterValue: 'us-east-1' }],
            },
          },
    );
    mocks.cfn.on(ListStackInstancesCommand).callsFake(async (input) => ({
      Summaries:
        input.StackSetName === COLLECTOR
          ? [
              { Account: '111111111111', Region: 'us-east-1', OrganizationalUnitId: PARENT },
              { Account: '111111111111', Region: 'us-west-2', OrganizationalUnitId: PARENT },
            ]
          : [],
    }));
    const ctx = testContext();
    const code = await rollout(
      ['--ou', PARENT, '--regions', 'us-east-1', '--skip-onboard', '--generated-dir', gen],
      ctx,
    );
    expect(mocks.cfn.commandCalls(UpdateStackSetCommand)).toHaveLength(0);
    expect(code).toBe(1);
    expect(ctx.stderrText()).toContain('111111111111/us-west-2');
  });

  it('names the permission model, not missing targets, when a self-managed collector StackSet is rolled out without --self-managed', async () => {
    oldCollectorOnly('SELF_MANAGED');
    mocks.cfn.on(ListStackInstancesCommand).resolves({
      Summaries: [{ Account: '111111111111', Region: 'us-east-1' }],
    });
    const ctx = testContext();
    const gen = makeGenerated();
    const code = await rollout(
      ['--ou', PARENT, '--regions', 'us-east-1', '--skip-onboard', '--generated-dir', gen],
      ctx,
    );
    expect(code).toBe(1);
    expect(ctx.stderrText()).toContain('cannot be switched');
  });
});

describe('an error part-way', () => {
  it('reports the collector StackSet it created when defining the registration StackSet fails', async () => {
    mocks.cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'not found'));
    mocks.cfn.on(CreateStackSetCommand).callsFake(async (input) => {
      if (input.StackSetName === REGISTRATION) throw awsError('LimitExceededException', 'StackSet limit reached');
      return {};
    });
    const ctx = testContext();
    const gen = makeGenerated();
    const code = await rollout(
      ['--ou', PARENT, '--regions', 'us-east-1', '--skip-onboard', '--generated-dir', gen, '--json'],
      ctx,
    );
    expect(code).toBe(1);
    // The collector StackSet now exists (with no instances): reported with what was done, in --json.
    const report = JSON.parse(ctx.stdoutText());
    expect(
      report.stackSets.map((s: { stackSetName: string; stackSet: string }) => `${s.stackSetName} ${s.stackSet}`),
    ).toEqual([`${COLLECTOR} created`, `${REGISTRATION} failed`]);
    expect(report.stackSets[1].reason).toMatch(/^creating it failed: .*StackSet limit reached/);
    expect(mocks.cfn.commandCalls(CreateStackInstancesCommand)).toHaveLength(0);
  });
});

describe('--template-url', () => {
  it('keeps a parameter the StackSet holds that the published template declares (GetTemplateSummary), even when the local build lacks it', async () => {
    // The registration StackSet exists (no upgrade); the collector StackSet holds a parameter the
    // published template at --template-url declares but this checkout's generated/ build does not
    // (an older checkout, or a template published by CI from a newer commit).
    const gen = makeGenerated();
    const registrationBody = readFileSync(join(gen, 'templates/agency-registration.json'), 'utf8');
    mocks.cfn.on(DescribeStackSetCommand).callsFake(async (input) => ({
      StackSet: {
        PermissionModel: 'SERVICE_MANAGED',
        TemplateBody: input.StackSetName === COLLECTOR ? '{"published":true}' : registrationBody,
        Parameters:
          input.StackSetName === COLLECTOR
            ? [
                ...OLD.slice(0, 2),
                { ParameterKey: 'AlarmTopicArn', ParameterValue: 'arn:aws:sns:us-east-1:999999999999:ops' },
              ]
            : [{ ParameterKey: 'CentralRegion', ParameterValue: 'us-east-1' }],
      },
    }));
    mocks.cfn.on(ListStackInstancesCommand).resolves({ Summaries: [] });
    // GetTemplateSummary API reference: Parameters lists the template's parameter declarations.
    mocks.cfn.on(GetTemplateSummaryCommand).resolves({
      Parameters: ['CentralAccountId', 'CentralRegion', 'AlarmTopicArn'].map((ParameterKey) => ({ ParameterKey })),
    });
    const ctx = testContext();
    const url = 'https://b.s3.us-east-1.amazonaws.com/agency-collector.json';
    const code = await rollout(
      ['--ou', PARENT, '--regions', 'us-east-1', '--skip-onboard', '--generated-dir', gen, '--template-url', url],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const update = mocks.cfn.commandCalls(UpdateStackSetCommand)[0]!.args[0].input;
    expect(update.Parameters).toContainEqual({ ParameterKey: 'AlarmTopicArn', UsePreviousValue: true });
    expect(mocks.cfn.commandCalls(GetTemplateSummaryCommand)[0]!.args[0].input).toEqual({ TemplateURL: url });
  });
});

describe('OUTDATED stack instances', () => {
  it('updates an unchanged StackSet again when some of its stack instances are OUTDATED (an earlier update failed there)', async () => {
    const gen = makeGenerated();
    const body = (n: string) => readFileSync(join(gen, `templates/${n}.json`), 'utf8');
    const params = {
      [COLLECTOR]: OLD.slice(0, 2),
      [REGISTRATION]: [{ ParameterKey: 'CentralRegion', ParameterValue: 'us-east-1' }],
    };
    mocks.cfn.on(DescribeStackSetCommand).callsFake(async (input) => ({
      StackSet: {
        PermissionModel: 'SERVICE_MANAGED',
        TemplateBody: body(input.StackSetName === COLLECTOR ? 'agency-collector' : 'agency-registration'),
        Parameters: params[input.StackSetName as keyof typeof params],
      },
    }));
    // ListStackInstances API reference: StackInstanceSummary.Status is CURRENT, OUTDATED or INOPERABLE.
    mocks.cfn.on(ListStackInstancesCommand).callsFake(async (input) => ({
      Summaries: [
        {
          Account: '111111111111',
          Region: 'us-east-1',
          OrganizationalUnitId: PARENT,
          Status: input.StackSetName === COLLECTOR ? 'OUTDATED' : 'CURRENT',
        },
      ],
    }));
    const ctx = testContext();
    const code = await rollout(
      ['--ou', PARENT, '--regions', 'us-east-1', '--skip-onboard', '--generated-dir', gen],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    expect(mocks.cfn.commandCalls(UpdateStackSetCommand).map((c) => c.args[0].input.StackSetName)).toEqual([COLLECTOR]);
  });
});
