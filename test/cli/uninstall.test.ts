// uninstall: a preview in dependency order (fleet lifecycle stopped first, then each agency
// StackSet's instances and the StackSet, registration before collector, permissions stacks,
// optionally the hub's nodes, the central stack last); a refusal while hub nodes are Online;
// StackSets it cannot see, what it leaves behind, and every failure path said plainly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DeleteStackCommand, DeleteStackInstancesCommand, DeleteStackSetCommand } from '@aws-sdk/client-cloudformation';
import { DescribeStackSetCommand, DescribeStackSetOperationCommand } from '@aws-sdk/client-cloudformation';
import { ListStackInstancesCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { ListStackSetOperationResultsCommand, ListStackSetOperationsCommand } from '@aws-sdk/client-cloudformation';
import { ListStacksCommand, ListStackSetsCommand } from '@aws-sdk/client-cloudformation';
import { LambdaClient, PutFunctionConcurrencyCommand } from '@aws-sdk/client-lambda';
import { GetResourcesCommand, ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import { main as uninstall } from '../../scripts/ops/uninstall.ts';
import { deleteInstanceCalls } from '../../scripts/ops/stackset-delete.ts';
import { uninstallSteps } from '../../scripts/ops/uninstall-steps.ts';
import { type UninstallPlan } from '../../scripts/ops/uninstall-plan.ts';
import { PROJECT_ROOT } from '../../scripts/kit/index.ts';
import { fakeCloudFormation } from './fake-cloudformation.ts';
import { awsError, CALLER_ACCOUNT, mockAll, mocksEachTest, testContext } from './helpers.ts';

const mocks = mocksEachTest(() => {
  const all = mockAll();
  const lambda = mockClient(LambdaClient);
  const tagging = mockClient(ResourceGroupsTaggingAPIClient);
  const clients = [all.cfn, all.ssm, lambda];
  return {
    ...all,
    lambda,
    tagging,
    /** Every mutating call, in the order sent (sinon numbers calls across stubs: callId). */
    mutations: () =>
      clients
        .flatMap((x) => x.calls() as unknown as Array<{ callId: number; args: unknown[] }>)
        .sort((a, b) => a.callId - b.callId)
        .map((c) => (c.args[0] as object).constructor.name)
        .filter((n) => !READ_ONLY.test(n)),
    restore: () => [all, lambda, tagging].forEach((x) => x.restore()),
  };
});

const A = '111111111111';
const B = '222222222222';
const C = '333333333333';
const OWN = 'central-it:activation-agency';
const DOC = 'ssm-hub-central-manager-DeregisterDocument-AbC123';
const READ_ONLY = /^(Describe|List|Get)\w*Command$/;
// The central stack as built: its resources and their DeletionPolicy.
const CENTRAL_TEMPLATE = readFileSync(join(PROJECT_ROOT, 'generated/templates/central-manager.json'), 'utf8');

interface Node {
  id: string;
  agency: string;
  ping: 'Online' | 'ConnectionLost';
}

function hub(opts: { nodes?: Node[]; stackSets?: 'visible' | 'delegated-admin' | 'deleted' } = {}) {
  const nodes = opts.nodes ?? [
    { id: 'mi-00000000000000001', agency: A, ping: 'ConnectionLost' },
    { id: 'mi-00000000000000002', agency: B, ping: 'ConnectionLost' },
  ];
  const ctx = testContext();
  const fake = fakeCloudFormation(mocks.cfn, { now: ctx.now });
  fake.add(`ssm-hub-agency-${A}`, 'CREATE_COMPLETE');
  fake.add(`ssm-hub-agency-${B}`, 'UPDATE_COMPLETE');
  const central = fake.add(
    'ssm-hub-central-manager',
    'CREATE_COMPLETE',
    [{ ParameterKey: 'MembershipMode', ParameterValue: 'enabled' }],
    CENTRAL_TEMPLATE,
  );
  central.outputs = [
    { OutputKey: 'ManagedNodeRoleName', OutputValue: 'ssm-hub-managed-node' },
    { OutputKey: 'DeregisterDocumentName', OutputValue: DOC },
  ];
  // ListStackResources names each resource's physical ID (API reference, StackResourceSummary).
  mocks.cfn.on(ListStackResourcesCommand).callsFake(async (input) => {
    const body = [...fake.stacks.values()].find((s) => s.name === input.StackName)?.template ?? '{}';
    const resources = (JSON.parse(body) as { Resources?: Record<string, { Type: string }> }).Resources ?? {};
    return {
      StackResourceSummaries: Object.entries(resources).map(([id, r]) => ({
        LogicalResourceId: id,
        PhysicalResourceId: id === 'FleetLifecycleFunction' ? 'ssm-hub-fleet-lifecycle' : `${id.toLowerCase()}-x1`,
        ResourceType: r.Type,
        ResourceStatus: 'CREATE_COMPLETE',
        LastUpdatedTimestamp: new Date(0),
      })),
    };
  });
  const summaries = () => ({
    StackSummaries: [...fake.stacks.values()].map((s) => ({
      StackName: s.name,
      StackStatus: s.status as 'CREATE_COMPLETE',
      CreationTime: new Date(0),
    })),
  });
  mocks.cfn.on(ListStacksCommand).callsFake(async () => summaries());
  mocks.cfn.on(DescribeStackSetCommand).callsFake(async (input) => {
    // A StackSet created from a delegated administrator is not found with CallAs SELF (API reference, DescribeStackSet: CallAs).
    if (opts.stackSets === 'delegated-admin' && input.CallAs !== 'DELEGATED_ADMIN')
      throw awsError('StackSetNotFoundException', `StackSet ${input.StackSetName} not found`);
    // A deleted StackSet is not found either (API reference, DescribeStackSet errors: StackSetNotFoundException).
    if (opts.stackSets === 'deleted')
      throw awsError('StackSetNotFoundException', `StackSet ${input.StackSetName} not found`);
    return { StackSet: { StackSetName: input.StackSetName, PermissionModel: 'SERVICE_MANAGED' } };
  });
  // ListStackSets with Status DELETED lists the StackSets already deleted, as this CallAs sees them
  // (API reference, ListStackSets: Status ACTIVE | DELETED, CallAs); a delegated administrator's are not listed with SELF.
  mocks.cfn.on(ListStackSetsCommand).callsFake(async (input) => ({
    Summaries:
      opts.stackSets === 'deleted' && input.Status === 'DELETED'
        ? ['ssm-hub-agency-registration', 'ssm-hub-agency-collector'].map((n) => ({
            StackSetName: n,
            Status: 'DELETED',
          }))
        : [],
  }));
  // The registration StackSet reached one account so far, the collector StackSet two.
  mocks.cfn.on(ListStackInstancesCommand).callsFake(async (input) => ({
    Summaries: [
      { Account: A, Region: 'us-east-1', OrganizationalUnitId: 'ou-ab12-cdef3456', StackSetId: 's' },
      { Account: B, Region: 'us-west-2', OrganizationalUnitId: 'ou-ab12-cdef3456', StackSetId: 's' },
    ].slice(0, input.StackSetName === 'ssm-hub-agency-registration' ? 1 : 2),
  }));
  mocks.cfn.on(ListStackSetOperationsCommand).resolves({ Summaries: [] });
  mocks.cfn.on(DescribeStackSetOperationCommand).resolves({ StackSetOperation: { Status: 'SUCCEEDED' } });
  mocks.cfn.on(ListStackSetOperationResultsCommand).resolves({ Summaries: [] });
  mocks.lambda.on(PutFunctionConcurrencyCommand).resolves({ ReservedConcurrentExecutions: 0 });
  // The hub's nodes carry the ownership tag their activation stamped; the Tagging API indexes them.
  mocks.ssm.on(DescribeInstanceInformationCommand).callsFake(async (input) => {
    expect(input.Filters).toEqual([{ Key: 'tag-key', Values: [OWN] }]);
    return { InstanceInformationList: nodes.map((n) => ({ InstanceId: n.id, PingStatus: n.ping })) };
  });
  mocks.tagging.on(GetResourcesCommand).resolves({
    ResourceTagMappingList: nodes.map((n) => ({
      ResourceARN: `arn:aws:ssm:us-east-1:${CALLER_ACCOUNT}:managed-instance/${n.id}`,
      Tags: [{ Key: OWN, Value: n.agency }],
    })),
  });
  return { ctx, fake, summaries };
}

const NO_CHOICES = { deregister: false, leaveNodesUnmanaged: false, retainStacks: false, noAgencyStackSets: false };

const plan = (over: Partial<UninstallPlan> = {}): UninstallPlan => ({
  stackSets: [{ name: 'set', permissionModel: 'SELF_MANAGED', instances: [{ Account: A, Region: 'us-east-1' }] }],
  stackSetsDeleted: [],
  stackSetsNotFound: [],
  callAs: 'SELF',
  permissionStacks: ['p1'],
  nodes: [{ id: 'mi-1', agency: A, pingStatus: 'ConnectionLost' }],
  centralStack: {
    name: 'central',
    status: 'CREATE_COMPLETE',
    lifecycleFunction: 'fn',
    membershipMode: 'enabled',
    retained: [],
  },
  ...over,
});

/** The stacks DeleteStack was sent for, in order (sent by stack ID: arn:…:stack/<name>/<id>). */
const deletedStacks = () =>
  mocks.cfn.commandCalls(DeleteStackCommand).map((c) => c.args[0].input.StackName!.split('/')[1]);

describe('uninstall: the plan', () => {
  it('orders the steps: fleet lifecycle, instances, StackSet, permissions stacks, nodes, central stack', () => {
    const steps = uninstallSteps(plan(), { ...NO_CHOICES, deregister: true });
    expect(steps.map((s) => s.split(' ').slice(0, 2).join(' '))).toEqual([
      'stop the',
      'delete 1',
      'delete StackSet',
      'delete stack',
      'deregister 1',
      'delete stack',
    ]);
    expect(steps[5]).toBe(
      'delete stack central (CREATE_COMPLETE), after deleting any permissions stack created meanwhile',
    );
  });

  it('--nodes keep says the nodes lose their role with the central stack', () => {
    const steps = uninstallSteps(plan(), NO_CHOICES);
    expect(steps[4]).toBe(
      'keep 1 hub nodes registered: their role is deleted with the central stack, so they can no longer reach Systems Manager',
    );
  });

  it('sends service-managed deletions by OU, at most 50 OUs a call, with every account attempted', () => {
    const instances = Array.from({ length: 120 }, (_, i) => ({
      Account: A,
      Region: i % 2 ? 'us-east-1' : 'eu-west-1',
      OrganizationalUnitId: `ou-ab12-${String(i).padStart(8, '0')}`,
    }));
    const calls = deleteInstanceCalls({ name: 's', permissionModel: 'SERVICE_MANAGED', instances }, 'SELF', false);
    expect(calls.map((c) => c.DeploymentTargets?.OrganizationalUnitIds?.length)).toEqual([50, 50, 20]);
    expect(new Set(calls.flatMap((c) => c.DeploymentTargets!.OrganizationalUnitIds)).size).toBe(120);
    expect(calls[0]).toMatchObject({ Regions: ['eu-west-1', 'us-east-1'], RetainStacks: false, CallAs: 'SELF' });
    // The values the README states: every account at once, every Region at once.
    expect(calls[0]!.OperationPreferences).toEqual({
      FailureTolerancePercentage: 100,
      MaxConcurrentPercentage: 100,
      RegionConcurrencyType: 'PARALLEL',
    });
    expect(calls[0]!.Accounts).toBeUndefined();
  });

  it('--dry-run prints every step in order, what stays behind, and sends only read calls', async () => {
    const { ctx, fake } = hub();
    fake.add('ssm-hub-central-operations', 'CREATE_COMPLETE');
    const code = await uninstall(['--dry-run'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(ctx.stdoutText()).toBe(
      [
        '1. stop the fleet lifecycle (MembershipMode=enabled): set the reserved concurrency of ssm-hub-fleet-lifecycle to 0, so no membership pass onboards an agency again',
        `2. delete 1 stack instances of ssm-hub-agency-registration: ${A}/us-east-1`,
        '3. delete StackSet ssm-hub-agency-registration',
        `4. delete 2 stack instances of ssm-hub-agency-collector: ${A}/us-east-1, ${B}/us-west-2`,
        '5. delete StackSet ssm-hub-agency-collector',
        `6. delete stack ssm-hub-agency-${A}`,
        `7. delete stack ssm-hub-agency-${B}`,
        '8. keep 2 hub nodes registered: their role is deleted with the central stack, so they can no longer reach Systems Manager',
        "9. delete stack ssm-hub-central-operations (the optional central-operations stack: it imports the central stack's SyncTableName, and its patch window and associations target the hub's nodes)",
        '10. delete stack ssm-hub-central-manager (CREATE_COMPLETE), after deleting any permissions stack created meanwhile',
        'note: 2 hub nodes are not Online (ConnectionLost or Inactive): uninstall cannot tell whether the deregistration document ran on them; an instance on which it did not run stays unmanaged when it comes back, until its registration is cleared on the instance (amazon-ssm-agent -register -clear, then restart the agent)',
        'note: kept when the central stack is deleted (DeletionPolicy Retain): AWS::DynamoDB::Table syncstatetable-x1, AWS::KMS::Key datakey-x1, AWS::Logs::LogGroup activationmanagerfunctionloggroup-x1, AWS::Logs::LogGroup fleetlifecyclefunctionloggroup-x1, AWS::Logs::LogGroup tagmanagerfunctionloggroup-x1; delete them by hand when no longer needed (the table has deletion protection on)',
        '',
      ].join('\n'),
    );
    expect(mocks.mutations()).toEqual([]);
  });

  it('--dry-run --json prints one JSON document with the steps, the notes and the refusal', async () => {
    const { ctx } = hub({ nodes: [{ id: 'mi-00000000000000001', agency: A, ping: 'Online' }] });
    expect(await uninstall(['--dry-run', '--json'], ctx)).toBe(0);
    const doc = JSON.parse(ctx.stdoutText());
    expect(doc).toMatchObject({ dryRun: true, account: CALLER_ACCOUNT, region: 'us-east-1' });
    expect(doc.steps[0]).toMatch(/^stop the fleet lifecycle/);
    expect(doc.refusal).toMatch(new RegExp(`^1 hub nodes are still Online \\(${A}: 1\\)`));
    expect(doc.plan.nodes).toEqual([{ id: 'mi-00000000000000001', agency: A, pingStatus: 'Online' }]);
  });

  it('needs --nodes and --yes without a terminal, before any AWS call', async () => {
    const ctx = testContext();
    expect(await uninstall(['--yes'], ctx)).toBe(2);
    expect(ctx.stderrText()).toContain('--nodes deregister|keep is required without a terminal');
    expect(await uninstall(['--nodes', 'keep'], ctx)).toBe(2);
    expect(mocks.totalCalls()).toBe(0);
  });
});

describe('uninstall: nodes still Online', () => {
  const online: Node[] = [
    { id: 'mi-00000000000000001', agency: A, ping: 'Online' },
    { id: 'mi-00000000000000002', agency: A, ping: 'Online' },
    { id: 'mi-00000000000000003', agency: B, ping: 'Online' },
    { id: 'mi-00000000000000004', agency: B, ping: 'ConnectionLost' },
  ];

  it('refuses, removes nothing, and names the count per agency and the way back', async () => {
    const { ctx } = hub({ nodes: online });
    const code = await uninstall(['--yes', '--nodes', 'deregister'], ctx);
    expect(code).toBe(1);
    const err = ctx.stderrText();
    expect(err).toContain(`3 hub nodes are still Online (${A}: 2, ${B}: 1)`);
    expect(err).toContain(`npx ssm-hub run --document ${DOC} --agency ${A},${B}`);
    expect(err).toContain('pass --leave-nodes-unmanaged');
    // The deregistration document reports success before its worker clears the registration.
    expect(err).toContain(
      'If the deregistration document already ran on them, wait until the nodes show ConnectionLost, then run uninstall again (with --nodes deregister it deregisters them).',
    );
    expect(err).toContain('Nothing was changed');
    expect(mocks.mutations()).toEqual([]);
  });

  it('--dry-run shows the refusal and exits 0', async () => {
    const { ctx } = hub({ nodes: online });
    expect(await uninstall(['--dry-run'], ctx)).toBe(0);
    expect(ctx.stdoutText()).toContain(`refused: 3 hub nodes are still Online (${A}: 2, ${B}: 1)`);
    expect(mocks.mutations()).toEqual([]);
  });

  it('with --leave-nodes-unmanaged removes the hub and says which nodes are left unmanaged', async () => {
    const { ctx } = hub({ nodes: online });
    const code = await uninstall(['--yes', '--nodes', 'deregister', '--leave-nodes-unmanaged'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(ctx.stdoutText()).toContain(
      '8. deregister 4 hub nodes; 3 of them Online and left unmanaged (--leave-nodes-unmanaged)',
    );
    expect(mocks.mutations().filter((n) => n === 'DeregisterManagedInstanceCommand')).toHaveLength(4);
  });
});

describe('uninstall: the run', () => {
  it('with --yes --nodes deregister stops the lifecycle first and removes everything in order, central stack last', async () => {
    const { ctx, fake } = hub();
    const code = await uninstall(['--yes', '--nodes', 'deregister'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(ctx.stderrText()).toContain(`aws://${CALLER_ACCOUNT}/us-east-1: uninstalling the hub (9 steps)`);
    expect(mocks.mutations()).toEqual([
      'PutFunctionConcurrencyCommand',
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
    expect(mocks.lambda.commandCalls(PutFunctionConcurrencyCommand)[0]!.args[0].input).toEqual({
      FunctionName: 'ssm-hub-fleet-lifecycle',
      ReservedConcurrentExecutions: 0,
    });
    // Registration first, the reverse of rollout; service-managed instances are deleted by OU.
    expect(mocks.cfn.commandCalls(DeleteStackSetCommand).map((c) => c.args[0].input.StackSetName)).toEqual([
      'ssm-hub-agency-registration',
      'ssm-hub-agency-collector',
    ]);
    expect(mocks.cfn.commandCalls(DeleteStackInstancesCommand)[1]!.args[0].input).toMatchObject({
      StackSetName: 'ssm-hub-agency-collector',
      DeploymentTargets: { OrganizationalUnitIds: ['ou-ab12-cdef3456'] },
      Regions: ['us-east-1', 'us-west-2'],
      RetainStacks: false,
      OperationPreferences: {
        FailureTolerancePercentage: 100,
        MaxConcurrentPercentage: 100,
        RegionConcurrencyType: 'PARALLEL',
      },
    });
    expect([...fake.stacks.values()].every((s) => s.status === 'DELETE_COMPLETE')).toBe(true);
    expect(ctx.stderrText()).toMatch(/uninstalled\n/);
  });

  it("deletes the central-operations stack (it imports the central stack's export) just before the central stack", async () => {
    const { ctx, fake } = hub();
    fake.add('ssm-hub-central-operations', 'CREATE_COMPLETE');
    const code = await uninstall(['--yes', '--nodes', 'keep'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(deletedStacks()).toEqual([
      `ssm-hub-agency-${A}`,
      `ssm-hub-agency-${B}`,
      'ssm-hub-central-operations',
      'ssm-hub-central-manager',
    ]);
  });

  it('deletes a permissions stack the membership pass created meanwhile before the central stack', async () => {
    const { ctx, fake, summaries } = hub();
    let lists = 0;
    // The second ListStacks is the re-list before the central stack: a pass already running re-onboarded C.
    mocks.cfn.on(ListStacksCommand).callsFake(async () => {
      if (++lists === 2) fake.add(`ssm-hub-agency-${C}`, 'CREATE_COMPLETE');
      return summaries();
    });
    const code = await uninstall(['--yes', '--nodes', 'keep'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(deletedStacks()).toEqual([
      `ssm-hub-agency-${A}`,
      `ssm-hub-agency-${B}`,
      `ssm-hub-agency-${C}`,
      'ssm-hub-central-manager',
    ]);
    expect(ctx.stderrText()).toContain(`ssm-hub-agency-${C} appeared since the plan`);
  });

  it('refuses, changing nothing, when the agency StackSets are neither found nor listed as deleted (delegated administrator)', async () => {
    const { ctx } = hub({ stackSets: 'delegated-admin' });
    const code = await uninstall(['--yes', '--nodes', 'keep'], ctx);
    expect(code).toBe(1);
    const err = ctx.stderrText();
    expect(err).toContain(
      'StackSet ssm-hub-agency-registration, ssm-hub-agency-collector not found with --call-as SELF, and not listed as deleted: this account may not see it.',
    );
    expect(err).toContain('run uninstall there with --call-as DELEGATED_ADMIN');
    expect(err).toContain('pass --no-agency-stacksets');
    expect(err).toContain('Nothing was changed.');
    expect(mocks.mutations()).toEqual([]);
    expect(mocks.cfn.commandCalls(ListStackSetsCommand)[0]!.args[0].input).toMatchObject({
      Status: 'DELETED',
      CallAs: 'SELF',
    });
  });

  it('--dry-run shows that refusal', async () => {
    const { ctx } = hub({ stackSets: 'delegated-admin' });
    expect(await uninstall(['--dry-run'], ctx)).toBe(0);
    expect(ctx.stdoutText()).toContain(
      'refused: StackSet ssm-hub-agency-registration, ssm-hub-agency-collector not found',
    );
  });

  it('with --no-agency-stacksets goes on, says so in the preview and at the end, and prints JSON with --json', async () => {
    const { ctx } = hub({ stackSets: 'delegated-admin' });
    expect(await uninstall(['--dry-run', '--no-agency-stacksets'], ctx)).toBe(0);
    expect(ctx.stdoutText()).toContain(
      'note: StackSet ssm-hub-agency-registration not found with --call-as SELF: taken as never created (--no-agency-stacksets)',
    );
    const run = hub({ stackSets: 'delegated-admin' }).ctx;
    const code = await uninstall(['--yes', '--nodes', 'keep', '--json', '--no-agency-stacksets'], run);
    expect(code, run.stderrText()).toBe(0);
    const doc = JSON.parse(run.stdoutText());
    expect(doc).toMatchObject({ uninstalled: true, account: CALLER_ACCOUNT, region: 'us-east-1' });
    expect(doc.notes[1]).toContain(
      'StackSet ssm-hub-agency-collector not found with --call-as SELF: taken as never created',
    );
    expect(run.stderrText()).toContain(
      'uninstalled (StackSets ssm-hub-agency-registration, ssm-hub-agency-collector not found: taken as never created, --no-agency-stacksets)',
    );
    expect(mocks.cfn.commandCalls(DeleteStackInstancesCommand)).toHaveLength(0);
  });

  it('with --no-agency-stacksets goes on even when ListStackSets is denied', async () => {
    const { ctx } = hub({ stackSets: 'delegated-admin' });
    mocks.cfn.on(ListStackSetsCommand).rejects(awsError('AccessDenied', 'not authorized to perform ListStackSets'));
    expect(await uninstall(['--dry-run', '--no-agency-stacksets'], ctx), ctx.stderrText()).toBe(0);
    const denied = hub({ stackSets: 'delegated-admin' }).ctx;
    mocks.cfn.on(ListStackSetsCommand).rejects(awsError('AccessDenied', 'not authorized to perform ListStackSets'));
    expect(await uninstall(['--yes', '--nodes', 'keep'], denied)).toBe(1);
    expect(denied.stderrText()).toContain('pass --no-agency-stacksets');
    expect(mocks.mutations()).toEqual([]);
  });

  it('on a re-run, says the StackSets the first run deleted are already deleted, and goes on', async () => {
    const { ctx } = hub({ stackSets: 'deleted' });
    const code = await uninstall(['--yes', '--nodes', 'keep'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const err = ctx.stderrText();
    expect(err).toContain('note: StackSet ssm-hub-agency-registration already deleted (listed with Status DELETED)');
    expect(err).toContain('note: StackSet ssm-hub-agency-collector already deleted');
    expect(err).not.toContain('not found');
    expect(err).not.toContain('NOT removed');
    expect(mocks.cfn.commandCalls(DeleteStackSetCommand)).toHaveLength(0);
    expect(mocks.cfn.commandCalls(DeleteStackCommand)).toHaveLength(3);
  });

  it('--json on a terminal without --yes shows every step on stderr before it asks', async () => {
    const { ctx } = hub();
    const asked: { question: string; shown: string }[] = [];
    // The operator answers no: nothing is changed.
    Object.assign(ctx, {
      interactive: true,
      confirm: async (question: string) => (asked.push({ question, shown: ctx.stderrText() }), false),
    });
    expect(await uninstall(['--json', '--nodes', 'keep'], ctx)).toBe(0);
    expect(asked.map((a) => a.question)).toEqual(['Run these 9 steps?']);
    expect(asked[0]!.shown).toContain('1. stop the fleet lifecycle (MembershipMode=enabled)');
    expect(asked[0]!.shown).toContain('9. delete stack ssm-hub-central-manager (CREATE_COMPLETE)');
    expect(ctx.stdoutText()).toBe('');
    expect(mocks.mutations()).toEqual([]);
  });
});

describe('uninstall: a failed stack-instance deletion', () => {
  function failing() {
    const h = hub();
    // Operation results name each account and Region (API reference, ListStackSetOperationResults).
    mocks.cfn.on(DescribeStackSetOperationCommand).resolves({ StackSetOperation: { Status: 'FAILED' } });
    mocks.cfn.on(ListStackSetOperationResultsCommand).resolves({
      Summaries: [
        { Account: A, Region: 'us-east-1', Status: 'SUCCEEDED' },
        {
          Account: B,
          Region: 'us-east-1',
          Status: 'FAILED',
          StatusReason: 'Account 222222222222 should have AWSCloudFormationStackSetExecutionRole',
        },
      ],
    });
    return h;
  }

  it('says what was removed and what was not, suggests --retain-stacks, and deletes nothing after it', async () => {
    const { ctx } = failing();
    const code = await uninstall(['--yes', '--nodes', 'keep'], ctx);
    expect(code).toBe(1);
    const err = ctx.stderrText();
    expect(err).toContain('deleting the stack instances of ssm-hub-agency-registration ended FAILED.');
    expect(err).toContain(`Removed: ${A}/us-east-1.`);
    expect(err).toContain(
      `Not removed: ${B}/us-east-1 FAILED (Account 222222222222 should have AWSCloudFormationStackSetExecutionRole).`,
    );
    expect(err).toContain('re-run with --retain-stacks');
    expect(err).toContain(
      'Done before this step: fleet lifecycle stopped (to turn it back on: aws lambda put-function-concurrency --function-name ssm-hub-fleet-lifecycle --reserved-concurrent-executions 1).',
    );
    expect(err).not.toContain('nothing else was removed');
    expect(mocks.mutations()).toEqual(['PutFunctionConcurrencyCommand', 'DeleteStackInstancesCommand']);
  });

  it('--retain-stacks sends RetainStacks and does not suggest it again', async () => {
    const { ctx } = failing();
    expect(await uninstall(['--yes', '--nodes', 'keep', '--retain-stacks'], ctx)).toBe(1);
    expect(mocks.cfn.commandCalls(DeleteStackInstancesCommand)[0]!.args[0].input.RetainStacks).toBe(true);
    expect(ctx.stderrText()).not.toContain('re-run with --retain-stacks');
  });

  it('waits for an operation still running on the StackSet before sending its own', async () => {
    const { ctx } = hub();
    let polls = 0;
    // ListStackSetOperations lists an earlier run's operation as RUNNING (API reference, StackSetOperationSummary).
    mocks.cfn.on(ListStackSetOperationsCommand).callsFake(async () => ({
      Summaries: polls < 2 ? [{ OperationId: 'earlier-op', Action: 'DELETE', Status: 'RUNNING' }] : [],
    }));
    mocks.cfn.on(DescribeStackSetOperationCommand).callsFake(async (input) => ({
      StackSetOperation: { Status: input.OperationId === 'earlier-op' && ++polls < 2 ? 'RUNNING' : 'SUCCEEDED' },
    }));
    const code = await uninstall(['--yes', '--nodes', 'keep'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(ctx.stderrText()).toContain('waiting for operation earlier-op (DELETE) that is still running');
    expect(mocks.cfn.commandCalls(DeleteStackInstancesCommand)).toHaveLength(2);
  });

  it('waits and retries once when another operation starts between its look and its call', async () => {
    const { ctx } = hub();
    let sent = 0;
    // DeleteStackInstances answers OperationInProgressException while another operation runs (API reference, errors).
    mocks.cfn.on(DeleteStackInstancesCommand).callsFake(async () => {
      if (++sent === 1)
        throw awsError('OperationInProgressException', 'Another Operation on StackSet is in progress', 409);
      return {};
    });
    const code = await uninstall(['--yes', '--nodes', 'keep'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(sent).toBe(3);
    const ids = mocks.cfn.commandCalls(DeleteStackInstancesCommand).map((c) => c.args[0].input.OperationId);
    expect(ids[0]).toBe(ids[1]);
  });

  it('follows its own delete when the refusal was for that very call (accepted, its answer lost), never sending it again', async () => {
    const { ctx } = hub();
    const accepted: string[] = [];
    // The first call is accepted but its answer lost; the retry is refused naming it
    // (hashicorp/terraform-provider-aws#28675). ListStackSetOperations lists it.
    mocks.cfn.on(DeleteStackInstancesCommand).callsFake(async (input) => {
      if (!accepted.includes(input.OperationId!)) {
        accepted.push(input.OperationId!);
        if (accepted.length === 1)
          throw awsError(
            'OperationInProgressException',
            `Another Operation on StackSet is in progress: ${input.OperationId}`,
            409,
          );
      }
      return {};
    });
    mocks.cfn.on(ListStackSetOperationsCommand).callsFake(async () => ({
      Summaries: accepted.slice(0, 1).map((id) => ({ OperationId: id, Action: 'DELETE', Status: 'SUCCEEDED' })),
    }));
    const code = await uninstall(['--yes', '--nodes', 'keep'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const ids = mocks.cfn.commandCalls(DeleteStackInstancesCommand).map((c) => c.args[0].input.OperationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ctx.stderrText()).toContain(`DeleteStackInstances ${accepted[0]} was accepted after all: following it`);
  });

  it('stops, naming the running operation, when it does not end within the timeout', async () => {
    const { ctx } = hub();
    mocks.cfn.on(ListStackSetOperationsCommand).resolves({
      Summaries: [{ OperationId: 'earlier-op', Action: 'DELETE', Status: 'RUNNING' }],
    });
    mocks.cfn.on(DescribeStackSetOperationCommand).resolves({ StackSetOperation: { Status: 'RUNNING' } });
    const code = await uninstall(['--yes', '--nodes', 'keep', '--timeout-minutes', '1'], ctx);
    expect(code).toBe(1);
    expect(ctx.stderrText()).toContain('operation earlier-op (DELETE) is still running after the timeout');
    expect(mocks.cfn.commandCalls(DeleteStackInstancesCommand)).toHaveLength(0);
  });

  describe('more than 50 OUs', () => {
    // 60 OUs: two DeleteStackInstances calls (50, then 10), the limit per call (API reference, DeploymentTargets).
    const ous = Array.from({ length: 60 }, (_, i) => `ou-ab12-${String(i).padStart(8, '0')}`);
    function wide() {
      const h = hub();
      mocks.cfn.on(ListStackInstancesCommand).resolves({
        Summaries: ous.map((ou, i) => ({
          Account: String(100000000000 + i),
          Region: 'us-east-1',
          OrganizationalUnitId: ou,
        })),
      });
      return h;
    }

    it('a failed batch names the batches not tried', async () => {
      const { ctx } = wide();
      // With FailureTolerancePercentage 100 the operation SUCCEEDS and each account's outcome is in its results
      // (ListStackSetOperationResults, StackSetOperationResultSummary.Status).
      mocks.cfn.on(ListStackSetOperationResultsCommand).resolves({
        Summaries: [
          { Account: A, Region: 'us-east-1', Status: 'SUCCEEDED' },
          { Account: B, Region: 'us-east-1', Status: 'FAILED', StatusReason: 'Account is suspended' },
        ],
      });
      expect(await uninstall(['--yes', '--nodes', 'keep'], ctx)).toBe(1);
      const err = ctx.stderrText();
      expect(err).toContain(`Removed: ${A}/us-east-1. Not removed: ${B}/us-east-1 FAILED (Account is suspended).`);
      expect(err).toContain(`Not tried: batch 2 of 2 (OUs ${ous.slice(50).join(', ')}).`);
      expect(mocks.cfn.commandCalls(DeleteStackInstancesCommand)).toHaveLength(1);
    });

    it('a wait that times out between batches says what the first batch removed', async () => {
      const { ctx } = wide();
      let looks = 0;
      // Before the second batch, ListStackSetOperations lists someone else's operation RUNNING, and it never ends.
      mocks.cfn.on(ListStackSetOperationsCommand).callsFake(async () => ({
        Summaries: ++looks > 1 ? [{ OperationId: 'other-op', Action: 'UPDATE', Status: 'RUNNING' }] : [],
      }));
      mocks.cfn.on(DescribeStackSetOperationCommand).callsFake(async (input) => ({
        StackSetOperation: { Status: input.OperationId === 'other-op' ? 'RUNNING' : 'SUCCEEDED' },
      }));
      mocks.cfn.on(ListStackSetOperationResultsCommand).resolves({
        Summaries: [{ Account: A, Region: 'us-east-1', Status: 'SUCCEEDED' }],
      });
      expect(await uninstall(['--yes', '--nodes', 'keep', '--timeout-minutes', '1'], ctx)).toBe(1);
      const err = ctx.stderrText();
      expect(err).toContain(
        `operation other-op (UPDATE) is still running after the timeout; removed before it: ${A}/us-east-1.`,
      );
      expect(err).toContain(`Not tried: batch 2 of 2 (OUs ${ous.slice(50).join(', ')}).`);
      expect(err).not.toContain('nothing else was changed');
      expect(mocks.cfn.commandCalls(DeleteStackInstancesCommand)).toHaveLength(1);
    });
  });
});
