// `ssm-hub uninstall`: removes the whole hub in dependency order, after a preview. It refuses while
// hub nodes are Online (deregistering a node changes nothing on its instance) or while an agency
// StackSet is neither found nor listed as deleted (see uninstallRefusal), then
// stops the fleet lifecycle (so no membership pass onboards an agency again), removes the agency
// StackSets' instances and the StackSets (agency-registration, then agency-collector: the reverse of
// rollout), every agency-permissions stack, optionally the hub's managed nodes, then the central
// stack. It stops at the first step that fails and says what was done before it.
import { DeleteStackSetCommand, type CallAs, type CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { PutFunctionConcurrencyCommand } from '@aws-sdk/client-lambda';
import { DeregisterManagedInstanceCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { callerAccount, makeClients, resolveRegion, type Clients } from './aws.ts';
import { choice, defaultContext, defineCommand, EXIT, flag, mapLimit, OperationError, progress } from '../kit/index.ts';
import { errorText, requireConfirmable, runCommand, UsageError, type Context } from '../kit/index.ts';
import { AWS_OPTIONS, callAsOption, loadConfig, timeoutOption } from './common.ts';
import { fleetKeys } from './fleet.ts';
import { announceTarget } from './preview.ts';
import { emptyStackSet } from './stackset-delete.ts';
import { deleteStack } from './stacks.ts';
import { permissionStacks, planUninstall, type HubNames, type UninstallPlan } from './uninstall-plan.ts';
import { leftBehind, uninstallRefusal, uninstallSteps, type UninstallChoices } from './uninstall-steps.ts';

export { uninstallSteps } from './uninstall-steps.ts';

export const spec = defineCommand({
  usage: ['--nodes deregister|keep --yes [options]', '--dry-run [options]'],
  name: 'uninstall',
  summary:
    "Remove the hub in order, after a preview: stop the fleet lifecycle, the agency StackSets' instances and StackSets, every permissions stack, (optionally) the hub's nodes, the central stack.",
  options: [
    choice('nodes', {
      help: "the hub's managed nodes: deregister them or keep them (either way an instance whose deregistration document has not run is left unmanaged)",
      values: ['deregister', 'keep'],
      defaultText: 'asked on a terminal; required without one',
    }),
    flag('leave-nodes-unmanaged', 'remove the hub even while hub nodes are Online, leaving those instances unmanaged'),
    flag(
      'retain-stacks',
      'remove the stack instances from the StackSets but keep their stacks (for INOPERABLE instances)',
    ),
    flag(
      'no-agency-stacksets',
      'no agency StackSet was ever created (agencies deployed from console links): go on when neither StackSet is found',
    ),
    flag('yes', 'remove without asking (required without a terminal)'),
    flag('dry-run', 'show what would be removed, in order; change nothing'),
    callAsOption('how to manage the agency StackSets'),
    timeoutOption('stack or operation'),
    ...AWS_OPTIONS,
  ],
});

async function chooseNodes(ctx: Context, given: 'deregister' | 'keep' | undefined, dryRun: boolean, count: number) {
  if (given) return given === 'deregister';
  if (dryRun || count === 0) return false;
  if (!ctx.interactive) throw new UsageError('--nodes deregister|keep is required without a terminal');
  return ctx.confirm!(`Deregister the hub's ${count} managed nodes?`);
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

/**
 * Reserved concurrency 0 throttles every invocation of the function (Lambda PutFunctionConcurrency;
 * Lambda developer guide, "Configuring reserved concurrency"): the hourly membership pass and the
 * Organizations events can no longer onboard an agency whose permissions stack uninstall deleted.
 */
async function stopLifecycle(ctx: Context, clients: Clients, region: string, fn: string): Promise<string> {
  try {
    await clients
      .lambda(region)
      .send(new PutFunctionConcurrencyCommand({ FunctionName: fn, ReservedConcurrentExecutions: 0 }));
  } catch (err) {
    // A function already gone cannot onboard anyone (PutFunctionConcurrency: ResourceNotFoundException).
    if ((err as { name?: string }).name === 'ResourceNotFoundException') return `fleet lifecycle ${fn} already gone`;
    throw new OperationError(`could not stop the fleet lifecycle ${fn} (${errorText(err)}): nothing was removed`, {
      cause: err,
    });
  }
  progress(ctx, `fleet lifecycle ${fn} stopped (reserved concurrency 0)`);
  return `fleet lifecycle stopped (to turn it back on: aws lambda put-function-concurrency --function-name ${fn} --reserved-concurrent-executions 1)`;
}

async function deleteOrThrow(ctx: Context, cfn: CloudFormationClient, name: string, timeoutMs: number, after: string) {
  const out = await deleteStack(ctx, cfn, { stackName: name, timeoutMs }, (l) => progress(ctx, `${name}: ${l}`));
  if (out.result === 'failed') throw new OperationError(`deleting ${name} failed (${out.detail})${after}`);
}

interface RunOptions extends UninstallChoices {
  callAs: CallAs;
  timeoutMs: number;
}

async function execute(
  ctx: Context,
  clients: Clients,
  region: string,
  plan: UninstallPlan,
  names: HubNames,
  o: RunOptions,
) {
  const cfn = clients.cloudformation(region);
  const done: string[] = [];
  try {
    const fn = plan.centralStack?.lifecycleFunction;
    if (fn) done.push(await stopLifecycle(ctx, clients, region, fn));
    for (const s of plan.stackSets) {
      await emptyStackSet(ctx, cfn, s, { callAs: o.callAs, retainStacks: o.retainStacks, timeoutMs: o.timeoutMs });
      if (s.instances.length) done.push(`stack instances of ${s.name} removed`);
      progress(ctx, `deleting StackSet ${s.name}`);
      await cfn.send(new DeleteStackSetCommand({ StackSetName: s.name, CallAs: o.callAs }));
      done.push(`StackSet ${s.name} deleted`);
    }
    for (const name of plan.permissionStacks) {
      await deleteOrThrow(ctx, cfn, name, o.timeoutMs, ': the central stack was kept');
      done.push(`${name} deleted`);
    }
    if (o.deregister && plan.nodes.length) {
      await deregisterNodes(
        ctx,
        clients.ssm(region),
        plan.nodes.map((n) => n.id),
      );
      done.push(`${plan.nodes.length} hub nodes deregistered`);
    }
    if (plan.operationsStack) {
      await deleteOrThrow(ctx, cfn, plan.operationsStack, o.timeoutMs, ': the central stack was kept');
      done.push(`${plan.operationsStack} deleted`);
    }
    if (!plan.centralStack) return;
    // A membership pass that was already running when the lifecycle stopped may have created one.
    for (const name of await permissionStacks(cfn, names)) {
      progress(ctx, `${name} appeared since the plan: deleting it before the central stack`);
      await deleteOrThrow(ctx, cfn, name, o.timeoutMs, ': the central stack was kept');
    }
    await deleteOrThrow(ctx, cfn, plan.centralStack.name, o.timeoutMs, '');
  } catch (err) {
    const before = done.length ? ` Done before this step: ${done.join('; ')}.` : ' Nothing was removed.';
    if (err instanceof OperationError) throw new OperationError(`${err.message}${before}`, { cause: err });
    throw new OperationError(`${errorText(err)}.${before}`, { cause: err });
  }
}

function printPlan(ctx: Context, json: boolean, head: object, steps: string[], notes: string[], refusal?: string) {
  if (json) return ctx.stdout(`${JSON.stringify({ ...head, steps, notes, refusal }, null, 2)}\n`);
  printText(ctx.stdout, steps, notes, refusal);
}

function printText(write: (t: string) => void, steps: string[], notes: string[], refusal?: string) {
  write(`${steps.map((s, i) => `${i + 1}. ${s}`).join('\n') || 'nothing to remove'}\n`);
  for (const n of notes) write(`note: ${n}\n`);
  if (refusal) write(`refused: ${refusal}\n`);
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o) => {
    const { names, config } = loadConfig(ctx, o.config);
    const dryRun = o['dry-run'];
    if (!dryRun) requireConfirmable(ctx, o.yes, 'uninstall removes the hub');
    if (!dryRun && !o.nodes && !ctx.interactive)
      throw new UsageError('--nodes deregister|keep is required without a terminal');
    const region = await resolveRegion(ctx, o.region, o.profile);
    const clients = makeClients(ctx, o.profile);
    const caller = await callerAccount(clients, region);
    const plan = await planUninstall(clients, region, names, fleetKeys(config.reservedTagPrefix), o['call-as']);
    const asked = {
      deregister: false,
      leaveNodesUnmanaged: o['leave-nodes-unmanaged'],
      retainStacks: o['retain-stacks'],
      noAgencyStackSets: o['no-agency-stacksets'],
    };
    const refusal = uninstallRefusal(plan, asked);
    const deregister = refusal ? false : await chooseNodes(ctx, o.nodes, dryRun, plan.nodes.length);
    const choices = { ...asked, deregister };
    const steps = uninstallSteps(plan, choices);
    const notes = leftBehind(plan, choices.noAgencyStackSets);
    const head = { dryRun, account: caller, region };
    if (dryRun || refusal) printPlan(ctx, o.json, dryRun ? { ...head, plan } : head, steps, notes, refusal);
    if (refusal && !dryRun) throw new OperationError(refusal);
    if (dryRun || !steps.length) return EXIT.ok;
    // Never ask without showing what will be done: with --json the steps go to stderr (stdout stays one JSON document).
    if (!o.json) printPlan(ctx, false, head, steps, notes);
    else if (!o.yes) printText(ctx.stderr, steps, notes);
    announceTarget(ctx, caller, region, `uninstalling the hub (${steps.length} steps)`);
    if (!o.yes && !(await ctx.confirm!(`Run these ${steps.length} steps?`))) return EXIT.ok;
    const run = { ...choices, callAs: o['call-as'], timeoutMs: o['timeout-minutes'] * 60_000 };
    await execute(ctx, clients, region, plan, names, run);
    const unseen = plan.stackSetsNotFound.length
      ? ` (StackSets ${plan.stackSetsNotFound.join(', ')} not found: taken as never created, --no-agency-stacksets)`
      : '';
    if (o.json) ctx.stdout(`${JSON.stringify({ ...head, uninstalled: true, steps, notes }, null, 2)}\n`);
    progress(ctx, `uninstalled${unseen}`);
    for (const n of notes) progress(ctx, `note: ${n}`);
    return EXIT.ok;
  });
}
