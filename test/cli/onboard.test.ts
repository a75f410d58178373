import { describe, expect, it } from 'vitest';
import { CreateChangeSetCommand, DeleteChangeSetCommand, DeleteStackCommand } from '@aws-sdk/client-cloudformation';
import { ExecuteChangeSetCommand } from '@aws-sdk/client-cloudformation';
import { ListAccountsForParentCommand, ListOrganizationalUnitsForParentCommand } from '@aws-sdk/client-organizations';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as onboard } from '../../scripts/ops/onboard.ts';
import { main as offboard } from '../../scripts/ops/offboard.ts';
import { fakeCloudFormation } from './fake-cloudformation.ts';
import { makeGenerated, mockAll, mocksEachTest, testContext } from './helpers.ts';

const mocks = mocksEachTest(mockAll);

const A = '111111111111';
const B = '222222222222';
const C = '333333333333';

describe('onboard', () => {
  it('creates three agency stacks; one fails, the others complete, its failed events are shown and the exit code is 1', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    fakeCloudFormation(mocks.cfn, {
      now: ctx.now,
      outcome: (name) => (name === `ssm-hub-agency-${B}` ? 'fail' : 'succeed'),
      failureEvents: (name) => [
        {
          StackId: 'x',
          StackName: name,
          EventId: '2',
          LogicalResourceId: name,
          ResourceStatus: 'ROLLBACK_IN_PROGRESS',
          ResourceStatusReason: 'The following resource(s) failed to create: [AgencyAlias].',
          Timestamp: new Date(ctx.now().getTime() + 2_000),
        },
        {
          StackId: 'x',
          StackName: name,
          EventId: '1',
          LogicalResourceId: 'AgencyAlias',
          ResourceStatus: 'CREATE_FAILED',
          ResourceStatusReason: 'Resource handler returned message: "Function not found: ssm-hub-tag-manager"',
          Timestamp: new Date(ctx.now().getTime() + 1_000),
        },
      ],
    });
    const code = await onboard(['--agencies', `${A},${B},${C}`, '--generated-dir', gen, '--concurrency', '2'], ctx);
    expect(code).toBe(1);

    const out = ctx.stdoutText();
    expect(out).toMatch(new RegExp(`${A}\\s+ssm-hub-agency-${A}\\s+created\\s+CREATE_COMPLETE`));
    expect(out).toMatch(new RegExp(`${C}\\s+ssm-hub-agency-${C}\\s+created\\s+CREATE_COMPLETE`));
    expect(out).toMatch(new RegExp(`${B}\\s+ssm-hub-agency-${B}\\s+failed\\s+ROLLBACK_COMPLETE`));
    expect(out).toContain(`failed events of ssm-hub-agency-${B} (${B})`);
    expect(out).toMatch(
      /AgencyAlias\s+CREATE_FAILED\s+Resource handler returned message: "Function not found: ssm-hub-tag-manager"/,
    );
    expect(out).not.toContain('from an earlier attempt'); // events before this run are not shown
    expect(out).toContain('2 succeeded, 1 failed');

    const changeSets = mocks.cfn.commandCalls(CreateChangeSetCommand).map((c) => c.args[0].input);
    expect(changeSets).toHaveLength(3);
    const template = readFileSync(join(gen, 'templates/agency-permissions.json'), 'utf8');
    for (const cs of changeSets) {
      expect(cs.ChangeSetType).toBe('CREATE');
      expect(cs.TemplateBody).toBe(template);
      expect(cs.Capabilities).toBeUndefined();
      const account = cs.StackName!.slice('ssm-hub-agency-'.length);
      expect(cs.Parameters).toEqual([
        { ParameterKey: 'AgencyAccountId', ParameterValue: account },
        { ParameterKey: 'CentralManagerStackName', ParameterValue: 'ssm-hub-central-manager' },
      ]);
    }
    expect(mocks.cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(3);
    expect(ctx.stderrText()).toContain(`[${B}] ssm-hub-agency-${B}: ROLLBACK_COMPLETE`);
    expect(ctx.sleeps).toBeGreaterThan(0);
  });

  it('skips an agency already up to date, updates one whose settings changed and keeps its other parameters', async () => {
    const gen = makeGenerated();
    const template = readFileSync(join(gen, 'templates/agency-permissions.json'), 'utf8');
    const ctx = testContext();
    const fake = fakeCloudFormation(mocks.cfn, { now: ctx.now });
    const params = (acct: string) => [
      { ParameterKey: 'AgencyAccountId', ParameterValue: acct },
      { ParameterKey: 'CentralManagerStackName', ParameterValue: 'ssm-hub-central-manager' },
      { ParameterKey: 'ActivationExpiryDays', ParameterValue: '14' },
    ];
    fake.add(`ssm-hub-agency-${A}`, 'UPDATE_COMPLETE', params(A), template);
    fake.add(`ssm-hub-agency-${B}`, 'CREATE_COMPLETE', params(B), '{"old":true}');
    const code = await onboard(['--agencies', `${A},${B}`, '--generated-dir', gen, '--json'], ctx);
    expect(code, ctx.stdoutText()).toBe(0);
    const report = JSON.parse(ctx.stdoutText());
    expect(report.results.map((r: { account: string; result: string }) => [r.account, r.result])).toEqual([
      [A, 'up-to-date'],
      [B, 'updated'],
    ]);
    const calls = mocks.cfn.commandCalls(CreateChangeSetCommand).map((c) => c.args[0].input);
    expect(calls.every((c) => c.ChangeSetType === 'UPDATE')).toBe(true);
    expect(calls[0]!.Parameters).toContainEqual({ ParameterKey: 'ActivationExpiryDays', UsePreviousValue: true });
    // Only the changed stack is executed; the empty change set is cleaned up.
    expect(mocks.cfn.commandCalls(ExecuteChangeSetCommand)).toHaveLength(1);
    expect(mocks.cfn.commandCalls(DeleteChangeSetCommand)).toHaveLength(1);
    expect(fake.stacks.get(`ssm-hub-agency-${B}`)!.parameters).toContainEqual({
      ParameterKey: 'ActivationExpiryDays',
      ParameterValue: '14',
    });
  });

  it('replaces a stack left in ROLLBACK_COMPLETE by an earlier failed creation', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    const fake = fakeCloudFormation(mocks.cfn, { now: ctx.now });
    fake.add(`ssm-hub-agency-${A}`, 'ROLLBACK_COMPLETE');
    const code = await onboard(['--agencies', A, '--generated-dir', gen], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(mocks.cfn.commandCalls(DeleteStackCommand)).toHaveLength(1);
    expect(mocks.cfn.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).toBe('CREATE');
    expect(ctx.stdoutText()).toMatch(/created\s+CREATE_COMPLETE/);
  });

  it('onboards every ACTIVE account under an OU and its child OUs, following pagination', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    fakeCloudFormation(mocks.cfn, { now: ctx.now });
    mocks.org.on(ListAccountsForParentCommand).callsFake(async (input) => {
      if (input.ParentId === 'ou-abcd-11111111') {
        return input.NextToken === 'p2'
          ? { Accounts: [{ Id: B, State: 'ACTIVE' }] }
          : {
              Accounts: [
                { Id: A, State: 'ACTIVE' },
                { Id: '444444444444', State: 'SUSPENDED' },
              ],
              NextToken: 'p2',
            };
      }
      if (input.ParentId === 'ou-abcd-22222222') return { Accounts: [{ Id: C, Status: 'ACTIVE' }] };
      return { Accounts: [] };
    });
    mocks.org
      .on(ListOrganizationalUnitsForParentCommand)
      .callsFake(async (input) =>
        input.ParentId === 'ou-abcd-11111111'
          ? { OrganizationalUnits: [{ Id: 'ou-abcd-22222222' }] }
          : { OrganizationalUnits: [] },
      );
    const code = await onboard(['--ou', 'ou-abcd-11111111', '--generated-dir', gen, '--json'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const accounts = JSON.parse(ctx.stdoutText()).results.map((r: { account: string }) => r.account);
    expect(accounts).toEqual([A, B, C]);
  });
});

describe('offboard', () => {
  it("deletes the agencies' stacks, reports an absent one, and shows why a deletion failed", async () => {
    const ctx = testContext();
    const fake = fakeCloudFormation(mocks.cfn, {
      now: ctx.now,
      outcome: (name) => (name === `ssm-hub-agency-${C}` ? 'fail' : 'succeed'),
      failureEvents: () => [
        {
          StackId: 'x',
          StackName: 'x',
          EventId: '9',
          LogicalResourceId: 'ActivationRecord',
          ResourceStatus: 'DELETE_FAILED',
          ResourceStatusReason: 'AccessDenied on ssm:DeleteActivation',
          Timestamp: new Date(ctx.now().getTime() + 1_000),
        },
      ],
    });
    fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE');
    fake.add(`ssm-hub-agency-${C}`, 'CREATE_COMPLETE');
    const code = await offboard(['--agencies', `${A},${B},${C}`, '--yes'], ctx);
    expect(code).toBe(1);
    const out = ctx.stdoutText();
    expect(out).toMatch(new RegExp(`${A}\\s+ssm-hub-agency-${A}\\s+deleted`));
    expect(out).toMatch(new RegExp(`${B}\\s+ssm-hub-agency-${B}\\s+absent`));
    expect(out).toMatch(new RegExp(`${C}\\s+ssm-hub-agency-${C}\\s+failed\\s+DELETE_FAILED`));
    expect(out).toMatch(/ActivationRecord\s+DELETE_FAILED\s+AccessDenied on ssm:DeleteActivation/);
    expect(mocks.cfn.commandCalls(DeleteStackCommand)).toHaveLength(2);
  });
});
