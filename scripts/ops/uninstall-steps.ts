// The pure rules of `ssm-hub uninstall`: its steps in order, what it says it leaves behind, and
// when it refuses because the hub's nodes would be left unmanaged.
import { type UninstallPlan } from './uninstall-plan.ts';

export interface UninstallChoices {
  deregister: boolean;
  leaveNodesUnmanaged: boolean;
  retainStacks: boolean;
  /** The operator says no agency StackSet was ever created (agencies deployed from console links). */
  noAgencyStackSets: boolean;
}

/** Online nodes per agency, sorted by agency (DescribeInstanceInformation PingStatus). */
export function onlineByAgency(nodes: UninstallPlan['nodes']): [string, number][] {
  const counts = new Map<string, number>();
  for (const n of nodes) if (n.pingStatus === 'Online') counts.set(n.agency, (counts.get(n.agency) ?? 0) + 1);
  return [...counts].sort(([a], [b]) => a.localeCompare(b));
}

/** The run (or hand) step that returns nodes to their own accounts before the hub goes. */
export function wayBack(plan: UninstallPlan, agencies: string[]): string {
  const doc = plan.centralStack?.deregisterDocument;
  if (!doc)
    return 'the central stack and its deregistration document are gone: on each instance clear the registration (amazon-ssm-agent -register -clear) and restart the agent';
  const batches = agencies.length > 50 ? ' (at most 50 agencies a run)' : '';
  return `npx ssm-hub run --document ${doc} --agency ${agencies.join(',')}${batches}, and wait until it succeeds on every node`;
}

/**
 * Why uninstall will not run, or undefined. A node that is only deregistered keeps running as the
 * dead mi- node: the agent's default identity order puts "OnPrem" first (amazon-ssm-agent
 * agent/appconfig/constants.go), on-prem is chosen while the vault holds a private key, Region and
 * instance ID (agent/managedInstances/registration/instance_info.go, HasManagedInstancesCredentials;
 * common/identity/availableidentities/onprem/onprem_identity.go), and the credential refresher
 * "will never exit unless ... able to successfully call Retrieve"
 * (core/app/credentialrefresher/credentialrefresher.go). The node role goes with the central stack.
 */
function nodeRefusal(plan: UninstallPlan, leaveNodesUnmanaged: boolean): string | undefined {
  const online = onlineByAgency(plan.nodes);
  if (!online.length || leaveNodesUnmanaged) return undefined;
  const total = online.reduce((n, [, c]) => n + c, 0);
  const per = online.map(([a, c]) => `${a || '(no agency)'}: ${c}`).join(', ');
  return [
    `${total} hub nodes are still Online (${per}). Removing the hub now leaves them unmanaged: deregistering a node changes nothing on its instance (the agent keeps the hub registration and retries), and their role is deleted with the central stack.`,
    `Return them first: ${wayBack(
      plan,
      online.map(([a]) => a),
    )}; then run uninstall again.`,
    // The deregistration document reports success at once and clears the registration in a detached
    // worker (documents/deregister-linux.sh), so the node stays Online until SSM marks it ConnectionLost.
    'If the deregistration document already ran on them, wait until the nodes show ConnectionLost, then run uninstall again (with --nodes deregister it deregisters them).',
    'To remove the hub anyway and leave them unmanaged, pass --leave-nodes-unmanaged.',
  ].join(' ');
}

/**
 * A StackSet neither found nor listed as deleted may be one this --call-as cannot see (a delegated
 * administrator's): its instances would stay in the agency accounts while the permissions and
 * central stacks they use are deleted. Refused unless the operator says there are none.
 */
function stackSetRefusal(plan: UninstallPlan, noAgencyStackSets: boolean): string | undefined {
  if (!plan.stackSetsNotFound.length || noAgencyStackSets) return undefined;
  return [
    `StackSet ${plan.stackSetsNotFound.join(', ')} not found with --call-as ${plan.callAs}, and not listed as deleted: this account may not see it.`,
    'If the agency StackSets are managed from a delegated administrator account, run uninstall there with --call-as DELEGATED_ADMIN; if they live in another account, remove them there first.',
    'If no agency StackSet was ever created (agencies deployed from console links), pass --no-agency-stacksets.',
  ].join(' ');
}

/** Why uninstall will not run (StackSets it cannot see, nodes still Online), or undefined. */
export function uninstallRefusal(plan: UninstallPlan, c: UninstallChoices): string | undefined {
  const parts = [stackSetRefusal(plan, c.noAgencyStackSets), nodeRefusal(plan, c.leaveNodesUnmanaged)];
  const said = parts.filter((p): p is string => Boolean(p));
  return said.length ? `${said.join(' ')} Nothing was changed.` : undefined;
}

function nodeStep(plan: UninstallPlan, c: UninstallChoices): string {
  const online = plan.nodes.filter((n) => n.pingStatus === 'Online').length;
  const unmanaged = online ? `; ${online} of them Online and left unmanaged (--leave-nodes-unmanaged)` : '';
  return c.deregister
    ? `deregister ${plan.nodes.length} hub nodes${unmanaged}`
    : `keep ${plan.nodes.length} hub nodes registered: their role is deleted with the central stack, so they can no longer reach Systems Manager${unmanaged}`;
}

/** The steps in the order they run: pure, so the order is tested. */
export function uninstallSteps(plan: UninstallPlan, c: UninstallChoices): string[] {
  const steps: string[] = [];
  const central = plan.centralStack;
  if (central?.lifecycleFunction)
    steps.push(
      `stop the fleet lifecycle (MembershipMode=${central.membershipMode ?? '?'}): set the reserved concurrency of ${central.lifecycleFunction} to 0, so no membership pass onboards an agency again`,
    );
  for (const s of plan.stackSets) {
    if (s.instances.length) {
      const where = [...new Set(s.instances.map((i) => `${i.Account}/${i.Region}`))].sort();
      const verb = c.retainStacks ? 'remove (their stacks retained)' : 'delete';
      steps.push(`${verb} ${s.instances.length} stack instances of ${s.name}: ${where.join(', ')}`);
    }
    steps.push(`delete StackSet ${s.name}`);
  }
  for (const p of plan.permissionStacks) steps.push(`delete stack ${p}`);
  if (plan.nodes.length) steps.push(nodeStep(plan, c));
  if (plan.operationsStack)
    steps.push(
      `delete stack ${plan.operationsStack} (the optional central-operations stack: it imports the central stack's SyncTableName, and its patch window and associations target the hub's nodes)`,
    );
  if (central)
    steps.push(
      `delete stack ${central.name} (${central.status}), after deleting any permissions stack created meanwhile`,
    );
  return steps;
}

/** What uninstall does not remove, said before it runs and again at the end. */
export function leftBehind(plan: UninstallPlan, noAgencyStackSets: boolean): string[] {
  const notes: string[] = [];
  for (const name of plan.stackSetsDeleted) notes.push(`StackSet ${name} already deleted (listed with Status DELETED)`);
  if (noAgencyStackSets)
    for (const name of plan.stackSetsNotFound)
      notes.push(
        `StackSet ${name} not found with --call-as ${plan.callAs}: taken as never created (--no-agency-stacksets); if it exists elsewhere, its stack instances are NOT removed`,
      );
  const quiet = plan.nodes.filter((n) => n.pingStatus !== 'Online').length;
  if (quiet)
    notes.push(
      `${quiet} hub nodes are not Online (ConnectionLost or Inactive): uninstall cannot tell whether the deregistration document ran on them; an instance on which it did not run stays unmanaged when it comes back, until its registration is cleared on the instance (amazon-ssm-agent -register -clear, then restart the agent)`,
    );
  if (plan.centralStack?.retained.length)
    notes.push(
      `kept when the central stack is deleted (DeletionPolicy Retain): ${plan.centralStack.retained.join(', ')}; delete them by hand when no longer needed (the table has deletion protection on)`,
    );
  return notes;
}
