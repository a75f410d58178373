// `ssm-hub uninstall`: removes the whole hub in dependency order, after a preview: the agency
// StackSets' instances and the StackSets (agency-registration, then agency-collector: the reverse
// of rollout), every agency-permissions stack, optionally the hub's managed
// nodes (each instance falls back to its own account's SSM when its agent restarts), then the
// central stack. It stops at the first step that fails, so nothing is removed out of order.
import { DeleteStackInstancesCommand, DeleteStackSetCommand, paginateListStacks } from '@aws-sdk/client-cloudformation';
import { type CallAs, type CloudFormationClient, type StackInstanceSummary } from '@aws-sdk/client-cloudformation';
import { DeregisterManagedInstanceCommand, paginateDescribeInstanceInformation } from '@aws-sdk/client-ssm';
import { type SSMClient } from '@aws-sdk/client-ssm';
import { randomUUID } from 'node:crypto';
import { callerAccount, makeClients, resolveRegion } from './aws.ts';
import { choice, defaultContext, defineCommand, EXIT, flag, mapLimit, OperationError, progress } from '../kit/index.ts';
import { requireConfirmable, runCommand, UsageError, type Context } from '../kit/index.ts';
import { AWS_OPTIONS, callAsOption, loadConfig, timeoutOption } from './common.ts';
import { announceTarget, listInstances } from './preview.ts';
import { describeStackSet, waitForOperation } from './stackset.ts';
import { deleteStack, describeStack } from './stacks.ts';
import { ACCOUNT_ID_BODY } from '../../contract/patterns.ts';

export const spec = defineCommand({
  usage: ['--nodes deregister|keep --yes [options]', '--dry-run [options]'],
  name: 'uninstall',
  summary:
    "Remove the hub in order, after a preview: the agency StackSets' instances and StackSets, every permissions stack, (optionally) the hub's nodes, the central stack.",
  options: [
    choice('nodes', {
      help: "the hub's managed nodes: deregister them (instances fall back to their own account's SSM when the agent restarts) or keep them",
      values: ['deregister', 'keep'],
      defaultText: 'asked on a terminal; required without one',
    }),
    flag('yes', 'remove without asking (required without a terminal)'),
    flag('dry-run', 'show what would be removed, in order; change nothing'),
    callAsOption('how to manage the agency StackSets'),
    timeoutOption('stack or operation'),
    ...AWS_OPTIONS,
  ],
});

export interface PlannedStackSet {
  name: string;
  permissionModel: string;
  instances: StackInstanceSummary[];
}

export interface UninstallPlan {
  /** The agency StackSets that exist, in the order they are removed: registration, then collector. */
  stackSets: PlannedStackSet[];
  permissionStacks: string[];
  nodes: string[];
  centralStack?: { name: string; status: string };
}

async function permissionStacks(cfn: CloudFormationClient, pattern: RegExp): Promise<string[]> {
  const found: string[] = [];
  for await (const page of paginateListStacks({ client: cfn }, {}))
    for (const s of page.StackSummaries ?? [])
      if (pattern.test(s.StackName ?? '') && s.StackStatus !== 'DELETE_COMPLETE') found.push(s.StackName!);
  return [...new Set(found)].sort();
}

/** The hub's nodes: registered with the hub's node role (DescribeInstanceInformation IamRole filter). */
async function hubNodes(ssm: SSMClient, roleName: string | undefined): Promise<string[]> {
  if (!roleName) return [];
  const ids: string[] = [];
  const input = { Filters: [{ Key: 'IamRole', Values: [roleName] }] };
  for await (const page of paginateDescribeInstanceInformation({ client: ssm, pageSize: 50 }, input))
    for (const i of page.InstanceInformationList ?? []) if (i.InstanceId?.startsWith('mi-')) ids.push(i.InstanceId);
  return ids.sort();
}

/** Everything uninstall would remove, read without changing anything. */
export async function planUninstall(
  cfn: CloudFormationClient,
  ssm: SSMClient,
  names: {
    stackSetName: string;
    registrationStackSetName: string;
    centralStackName: string;
    agencyPermissionsStackName: (a: string) => string;
  },
  callAs: CallAs,
): Promise<UninstallPlan> {
  const stackSets: PlannedStackSet[] = [];
  for (const name of [names.registrationStackSetName, names.stackSetName]) {
    const set = await describeStackSet(cfn, name, callAs);
    if (set)
      stackSets.push({
        name,
        permissionModel: set.PermissionModel ?? 'SELF_MANAGED',
        instances: await listInstances(cfn, name, callAs),
      });
  }
  const pattern = new RegExp(`^${names.agencyPermissionsStackName('')}${ACCOUNT_ID_BODY}$`);
  const central = await describeStack(cfn, names.centralStackName);
  const role = central?.Outputs?.find((o) => o.OutputKey === 'ManagedNodeRoleName')?.OutputValue;
  return {
    stackSets,
    permissionStacks: await permissionStacks(cfn, pattern),
    nodes: await hubNodes(ssm, role),
    centralStack: central ? { name: names.centralStackName, status: central.StackStatus ?? '' } : undefined,
  };
}

/** The steps in the order they run: pure, so the order is tested. */
export function uninstallSteps(plan: UninstallPlan, deregister: boolean): string[] {
  const steps: string[] = [];
  for (const s of plan.stackSets) {
    if (s.instances.length) {
      const where = [...new Set(s.instances.map((i) => `${i.Account}/${i.Region}`))].sort();
      steps.push(`delete ${s.instances.length} stack instances of ${s.name}: ${where.join(', ')}`);
    }
    steps.push(`delete StackSet ${s.name}`);
  }
  for (const p of plan.permissionStacks) steps.push(`delete stack ${p}`);
  if (plan.nodes.length)
    steps.push(
      deregister
        ? `deregister ${plan.nodes.length} hub nodes (each instance falls back to its own account's SSM when its agent restarts)`
        : `keep ${plan.nodes.length} hub nodes registered (they stay managed by this account until deregistered)`,
    );
  if (plan.centralStack) steps.push(`delete stack ${plan.centralStack.name} (${plan.centralStack.status})`);
  return steps;
}

async function chooseNodes(ctx: Context, given: 'deregister' | 'keep' | undefined, dryRun: boolean, count: number) {
  if (given) return given === 'deregister';
  if (dryRun || count === 0) return false;
  if (!ctx.interactive) throw new UsageError('--nodes deregister|keep is required without a terminal');
  return ctx.confirm!(`Deregister the hub's ${count} managed nodes?`);
}

async function removeStackSet(
  ctx: Context,
  cfn: CloudFormationClient,
  s: PlannedStackSet,
  callAs: CallAs,
  timeoutMs: number,
) {
  if (s.instances.length) {
    const regions = [...new Set(s.instances.map((i) => i.Region!))].sort();
    const ous = [...new Set(s.instances.map((i) => i.OrganizationalUnitId).filter(Boolean))] as string[];
    const accounts = [...new Set(s.instances.map((i) => i.Account!))].sort();
    // Service-managed StackSets delete by OU (DeleteStackInstances DeploymentTargets), self-managed by account.
    const targets =
      s.permissionModel === 'SERVICE_MANAGED'
        ? { DeploymentTargets: { OrganizationalUnitIds: ous } }
        : { Accounts: accounts };
    const operationId = randomUUID();
    progress(ctx, `deleting stack instances of ${s.name} in ${regions.join(', ')}`);
    await cfn.send(
      new DeleteStackInstancesCommand({
        StackSetName: s.name,
        ...targets,
        Regions: regions,
        RetainStacks: false,
        OperationId: operationId,
        CallAs: callAs,
      }),
    );
    const op = await waitForOperation(ctx, cfn, s.name, operationId, 'delete-instances', callAs, timeoutMs);
    if (op.status !== 'SUCCEEDED')
      throw new OperationError(
        `deleting the stack instances of ${s.name} ended ${op.status}: nothing else was removed`,
      );
  }
  progress(ctx, `deleting StackSet ${s.name}`);
  await cfn.send(new DeleteStackSetCommand({ StackSetName: s.name, CallAs: callAs }));
}

async function deregisterNodes(ctx: Context, ssm: SSMClient, nodes: string[]) {
  const failed: string[] = [];
  await mapLimit(nodes, 4, async (id) => {
    try {
      await ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: id }));
    } catch (err) {
      // A node already gone is the state we want (DeregisterManagedInstance: InvalidInstanceId).
      if ((err as { name?: string }).name !== 'InvalidInstanceId') failed.push(id);
    }
  });
  progress(ctx, `deregistered ${nodes.length - failed.length} of ${nodes.length} hub nodes`);
  if (failed.length) throw new OperationError(`could not deregister ${failed.join(', ')}: the central stack was kept`);
}

async function execute(
  ctx: Context,
  cfn: CloudFormationClient,
  ssm: SSMClient,
  plan: UninstallPlan,
  deregister: boolean,
  callAs: CallAs,
  timeoutMs: number,
) {
  for (const s of plan.stackSets) await removeStackSet(ctx, cfn, s, callAs, timeoutMs);
  for (const name of plan.permissionStacks) {
    const out = await deleteStack(ctx, cfn, { stackName: name, timeoutMs }, (l) => progress(ctx, `${name}: ${l}`));
    if (out.result === 'failed')
      throw new OperationError(`deleting ${name} failed (${out.detail}): the central stack was kept`);
  }
  if (deregister && plan.nodes.length) await deregisterNodes(ctx, ssm, plan.nodes);
  if (plan.centralStack) {
    const name = plan.centralStack.name;
    const out = await deleteStack(ctx, cfn, { stackName: name, timeoutMs }, (l) => progress(ctx, `${name}: ${l}`));
    if (out.result === 'failed') throw new OperationError(`deleting ${name} failed: ${out.detail}`);
  }
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o) => {
    const { names } = loadConfig(ctx, o.config);
    if (!o['dry-run']) requireConfirmable(ctx, o.yes, 'uninstall removes the hub');
    if (!o['dry-run'] && !o.nodes && !ctx.interactive)
      throw new UsageError('--nodes deregister|keep is required without a terminal');
    const region = await resolveRegion(ctx, o.region, o.profile);
    const clients = makeClients(ctx, o.profile);
    const cfn = clients.cloudformation(region);
    const ssm = clients.ssm(region);
    const caller = await callerAccount(clients, region);
    const plan = await planUninstall(cfn, ssm, names, o['call-as']);
    const deregister = await chooseNodes(ctx, o.nodes, o['dry-run'], plan.nodes.length);
    const steps = uninstallSteps(plan, deregister);
    if (o.json && o['dry-run'])
      ctx.stdout(`${JSON.stringify({ dryRun: true, account: caller, region, steps, plan }, null, 2)}\n`);
    else ctx.stdout(`${steps.map((s, i) => `${i + 1}. ${s}`).join('\n') || 'nothing to remove'}\n`);
    if (o['dry-run'] || !steps.length) return EXIT.ok;
    announceTarget(ctx, caller, region, `uninstalling the hub (${steps.length} steps)`);
    if (!o.yes && !(await ctx.confirm!(`Run these ${steps.length} steps?`))) return EXIT.ok;
    await execute(ctx, cfn, ssm, plan, deregister, o['call-as'], o['timeout-minutes'] * 60_000);
    progress(ctx, 'uninstalled');
    return EXIT.ok;
  });
}
