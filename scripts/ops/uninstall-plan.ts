// What `ssm-hub uninstall` would do, read without changing anything, and the pure rules on it: the
// steps in order, what stays behind, and whether the hub's nodes may be left behind.
import { GetTemplateCommand, paginateListStackResources, paginateListStacks } from '@aws-sdk/client-cloudformation';
import { paginateListStackSets } from '@aws-sdk/client-cloudformation';
import { type CallAs, type CloudFormationClient, type Stack } from '@aws-sdk/client-cloudformation';
import { ACCOUNT_ID_BODY } from '../../contract/patterns.ts';
import { type Clients } from './aws.ts';
import { readHubNodes, type FleetKeys, type HubNode } from './fleet.ts';
import { listInstances } from './preview.ts';
import { describeStackSet } from './stackset.ts';
import { type StackSetToEmpty } from './stackset-delete.ts';
import { describeStack } from './stacks.ts';

export type PlannedStackSet = StackSetToEmpty;

export interface CentralStack {
  name: string;
  status: string;
  /** Output DeregisterDocumentName: the way back for a node (README, "The way back"). */
  deregisterDocument?: string;
  /** Physical name of FleetLifecycleFunction: the membership pass and the orphan sweep. */
  lifecycleFunction?: string;
  membershipMode?: string;
  /** Resources whose DeletionPolicy keeps them when the stack is deleted: "Type id". */
  retained: string[];
}

export interface UninstallPlan {
  /** The agency StackSets that exist, in the order they are removed: registration, then collector. */
  stackSets: PlannedStackSet[];
  /** Agency StackSets not found and listed with Status DELETED: an earlier run (or someone) deleted them. */
  stackSetsDeleted: string[];
  /**
   * Agency StackSets neither found nor listed as deleted with this --call-as: never created, or
   * managed where this --call-as cannot see them (a delegated administrator).
   */
  stackSetsNotFound: string[];
  callAs: CallAs;
  permissionStacks: string[];
  nodes: Pick<HubNode, 'id' | 'agency' | 'pingStatus'>[];
  centralStack?: CentralStack;
  /**
   * The optional central-operations stack: deleted before the central stack, whose SyncTableName
   * export its HubReaderPolicy imports (CloudFormation refuses to delete an exporting stack while
   * another stack imports the value).
   */
  operationsStack?: string;
}

export interface HubNames {
  stackSetName: string;
  registrationStackSetName: string;
  centralStackName: string;
  centralOperationsStackName: string;
  agencyPermissionsStackName: (a: string) => string;
}

export async function permissionStacks(cfn: CloudFormationClient, names: HubNames): Promise<string[]> {
  const pattern = new RegExp(`^${names.agencyPermissionsStackName('')}${ACCOUNT_ID_BODY}$`);
  const found: string[] = [];
  for await (const page of paginateListStacks({ client: cfn }, {}))
    for (const s of page.StackSummaries ?? [])
      if (pattern.test(s.StackName ?? '') && s.StackStatus !== 'DELETE_COMPLETE') found.push(s.StackName!);
  return [...new Set(found)].sort();
}

const RETAINING = new Set(['Retain', 'RetainExceptOnCreate']);

/** The central stack's outputs, lifecycle function, membership switch and retained resources. */
async function readCentral(cfn: CloudFormationClient, stack: Stack, name: string): Promise<CentralStack> {
  const physical = new Map<string, string>();
  for await (const page of paginateListStackResources({ client: cfn }, { StackName: name }))
    for (const r of page.StackResourceSummaries ?? [])
      if (r.LogicalResourceId) physical.set(r.LogicalResourceId, r.PhysicalResourceId ?? '');
  const body = (await cfn.send(new GetTemplateCommand({ StackName: name, TemplateStage: 'Original' }))).TemplateBody;
  let resources: Record<string, { Type?: string; DeletionPolicy?: string }> = {};
  try {
    resources = (JSON.parse(body ?? '{}') as { Resources?: typeof resources }).Resources ?? {};
  } catch {
    resources = {}; // a YAML body: the retained resources are not listed
  }
  const retained = Object.entries(resources)
    .filter(([, r]) => RETAINING.has(r.DeletionPolicy ?? ''))
    .map(([id, r]) => `${r.Type ?? '?'} ${physical.get(id) || id}`)
    .sort();
  return {
    name,
    status: stack.StackStatus ?? '',
    deregisterDocument: stack.Outputs?.find((o) => o.OutputKey === 'DeregisterDocumentName')?.OutputValue,
    lifecycleFunction: physical.get('FleetLifecycleFunction') || undefined,
    membershipMode: stack.Parameters?.find((p) => p.ParameterKey === 'MembershipMode')?.ParameterValue,
    retained,
  };
}

/**
 * Names of the StackSets this --call-as lists as deleted: ListStackSets with Status DELETED
 * (CloudFormation API reference, ListStackSets: Status ACTIVE | DELETED, CallAs).
 */
async function deletedStackSets(cfn: CloudFormationClient, callAs: CallAs): Promise<Set<string>> {
  const names = new Set<string>();
  try {
    for await (const page of paginateListStackSets({ client: cfn }, { Status: 'DELETED', CallAs: callAs }))
      for (const s of page.Summaries ?? []) if (s.StackSetName) names.add(s.StackSetName);
  } catch {
    // Unreadable (e.g. no cloudformation:ListStackSets): nothing is known to be deleted, so a
    // StackSet not found stays "not seen": refused unless --no-agency-stacksets, which then works.
    return new Set();
  }
  return names;
}

/** Everything uninstall would remove, read without changing anything. */
export async function planUninstall(
  clients: Clients,
  region: string,
  names: HubNames,
  keys: FleetKeys,
  callAs: CallAs,
): Promise<UninstallPlan> {
  const cfn = clients.cloudformation(region);
  const stackSets: PlannedStackSet[] = [];
  const stackSetsNotFound: string[] = [];
  for (const name of [names.registrationStackSetName, names.stackSetName]) {
    const set = await describeStackSet(cfn, name, callAs);
    if (!set) stackSetsNotFound.push(name);
    else
      stackSets.push({
        name,
        permissionModel: set.PermissionModel ?? 'SELF_MANAGED',
        instances: await listInstances(cfn, name, callAs),
      });
  }
  const deleted = stackSetsNotFound.length ? await deletedStackSets(cfn, callAs) : new Set<string>();
  const central = await describeStack(cfn, names.centralStackName);
  const nodes = await readHubNodes(clients, region, keys);
  return {
    stackSets,
    stackSetsDeleted: stackSetsNotFound.filter((n) => deleted.has(n)),
    stackSetsNotFound: stackSetsNotFound.filter((n) => !deleted.has(n)),
    callAs,
    permissionStacks: await permissionStacks(cfn, names),
    nodes: nodes.map(({ id, agency, pingStatus }) => ({ id, agency, pingStatus })),
    centralStack: central ? await readCentral(cfn, central, names.centralStackName) : undefined,
    operationsStack: (await describeStack(cfn, names.centralOperationsStackName))
      ? names.centralOperationsStackName
      : undefined,
  };
}
