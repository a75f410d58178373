// What a mutating command would do, worked out from read-only calls: the stack's current template
// and parameters (DescribeStacks, GetTemplate) against what this run would send. --dry-run prints
// this and makes no call that changes anything (not even CreateChangeSet, which leaves a
// REVIEW_IN_PROGRESS stack behind for a new stack). Every mutating command also names the
// account and Region it acts on, as aws://ACCOUNT/REGION, before it acts.
import { GetTemplateCommand, paginateListStackInstances } from '@aws-sdk/client-cloudformation';
import { paginateListStackResources, type CallAs, type CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { type Parameter, type Stack, type StackInstanceSummary } from '@aws-sdk/client-cloudformation';
import { progress, table, type Context } from '../kit/index.ts';
import { describeStack, rollbackFailedRefusal, type DeployInput } from './stacks.ts';
import { ownershipRefusal } from './stacks.ts';

export interface ResourceChange {
  logicalId: string;
  type: string;
  action: 'Add' | 'Remove' | 'Modify';
  /** Only CloudFormation's change set knows whether a modification replaces; a dry run says so. */
  replacement: 'n/a' | 'unknown (see the change set)';
}

export interface ParameterChange {
  key: string;
  from?: string;
  to: string;
}

export interface StackPreview {
  stackName: string;
  action: 'create' | 'update' | 'no change' | 'recreate' | 'busy' | 'delete' | 'absent' | 'refused';
  status?: string;
  parameters: ParameterChange[];
  resources: ResourceChange[];
  note?: string;
}

type Resources = Record<string, { Type?: string } & Record<string, unknown>>;
const resourcesOf = (t: unknown): Resources =>
  ((t as { Resources?: Resources } | undefined)?.Resources ?? {}) as Resources;

/** Resource-level difference of two templates: pure, table-tested. */
export function templateDiff(current: unknown, next: unknown): ResourceChange[] {
  const before = resourcesOf(current);
  const after = resourcesOf(next);
  const changes: ResourceChange[] = [];
  for (const [id, r] of Object.entries(after)) {
    if (!(id in before)) changes.push({ logicalId: id, type: r.Type ?? '?', action: 'Add', replacement: 'n/a' });
    else if (JSON.stringify(before[id]) !== JSON.stringify(r))
      changes.push({
        logicalId: id,
        type: r.Type ?? '?',
        action: 'Modify',
        replacement: 'unknown (see the change set)',
      });
  }
  for (const [id, r] of Object.entries(before))
    if (!(id in after)) changes.push({ logicalId: id, type: r.Type ?? '?', action: 'Remove', replacement: 'n/a' });
  return changes.sort((a, b) => a.logicalId.localeCompare(b.logicalId));
}

/** Parameters this run sets that differ from the stack's current values; pure. */
export function parameterDiff(existing: Parameter[] | undefined, planned: Record<string, string>): ParameterChange[] {
  const now = new Map((existing ?? []).map((p) => [p.ParameterKey ?? '', p.ParameterValue]));
  return Object.entries(planned)
    .filter(([k, v]) => now.get(k) !== v)
    .map(([key, to]) => ({ key, from: now.get(key), to }));
}

const parseTemplate = (body: string | undefined): unknown => {
  if (!body) return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined; // YAML bodies are compared as opaque text below
  }
};

/** Previews a create-or-update of one stack from read-only calls. */
export async function previewStack(
  cfn: CloudFormationClient,
  stackName: string,
  template: { TemplateBody: string } | { TemplateURL: string },
  parameters: Record<string, string>,
  rules: Pick<DeployInput, 'agency' | 'keepOnUpdate' | 'refuseRollbackFailed'> = {},
): Promise<StackPreview> {
  const stack = await describeStack(cfn, stackName);
  const why = stack && refusedHere(stackName, stack, rules);
  if (why) return { stackName, action: 'refused', status: stack.StackStatus, parameters: [], resources: [], note: why };
  const next = 'TemplateBody' in template ? parseTemplate(template.TemplateBody) : undefined;
  const urlNote =
    'TemplateURL' in template ? `template from ${template.TemplateURL}: resources not compared` : undefined;
  const status = stack?.StackStatus;
  if (!stack || status === 'REVIEW_IN_PROGRESS' || status === 'ROLLBACK_COMPLETE' || status === 'ROLLBACK_FAILED') {
    const action = stack && status !== 'REVIEW_IN_PROGRESS' ? 'recreate' : 'create';
    const params = Object.entries(parameters).map(([key, to]) => ({ key, to }));
    return { stackName, action, status, parameters: params, resources: templateDiff(undefined, next), note: urlNote };
  }
  if (status?.endsWith('_IN_PROGRESS'))
    return { stackName, action: 'busy', status, parameters: [], resources: [], note: 'an operation is in progress' };
  const current = await cfn.send(new GetTemplateCommand({ StackName: stackName, TemplateStage: 'Original' }));
  const has = new Set((stack.Parameters ?? []).map((p) => p.ParameterKey));
  const kept = (rules.keepOnUpdate ?? []).filter((k) => has.has(k));
  const params = parameterDiff(
    stack.Parameters,
    Object.fromEntries(Object.entries(parameters).filter(([k]) => !kept.includes(k))),
  );
  const resources = next ? templateDiff(parseTemplate(current.TemplateBody), next) : [];
  const textChanged = 'TemplateBody' in template && current.TemplateBody !== template.TemplateBody;
  const changed = params.length > 0 || resources.length > 0 || textChanged || 'TemplateURL' in template;
  return { stackName, action: changed ? 'update' : 'no change', status, parameters: params, resources, note: urlNote };
}

/** One line per stack, then its parameter and resource changes. */
export function printStackPreviews(ctx: Context, previews: StackPreview[]): void {
  for (const p of previews) {
    ctx.stdout(`${p.action.toUpperCase()} stack ${p.stackName}${p.status ? ` (now ${p.status})` : ''}\n`);
    if (p.note) ctx.stdout(`  ${p.note}\n`);
    for (const c of p.parameters) ctx.stdout(`  parameter ${c.key}: ${c.from ?? '(unset)'} -> ${c.to}\n`);
    if (p.resources.length) {
      const rows = p.resources.map((r) => [r.logicalId, r.type, r.action, r.replacement]);
      const text = table(['resource', 'type', 'action', 'replacement'], rows);
      ctx.stdout(`${text.replace(/^/gm, '  ')}\n`);
    }
  }
}

/** The account and Region a mutating command is about to change, in CDK's aws://ACCOUNT/REGION form. */
export function announceTarget(ctx: Context, account: string, region: string, what: string): void {
  progress(ctx, `aws://${account}/${region}: ${what}`);
}

/** Why the real run would refuse this stack (stackToChange, deleteStack), or undefined. */
function refusedHere(stackName: string, stack: Stack, rules: Pick<DeployInput, 'agency' | 'refuseRollbackFailed'>) {
  const notOurs = rules.agency && ownershipRefusal(stackName, stack.Parameters, rules.agency);
  if (notOurs) return notOurs;
  if (rules.refuseRollbackFailed && stack.StackStatus === 'ROLLBACK_FAILED') return rollbackFailedRefusal(stackName);
  return undefined;
}

/** What deleting a stack would remove: every resource it holds (ListStackResources). */
export async function previewDelete(
  cfn: CloudFormationClient,
  stackName: string,
  agency?: string,
): Promise<StackPreview> {
  const stack = await describeStack(cfn, stackName);
  if (!stack) return { stackName, action: 'absent', parameters: [], resources: [], note: 'no such stack' };
  const why = refusedHere(stackName, stack, { agency });
  if (why) return { stackName, action: 'refused', status: stack.StackStatus, parameters: [], resources: [], note: why };
  const resources: ResourceChange[] = [];
  for await (const page of paginateListStackResources({ client: cfn }, { StackName: stackName }))
    for (const r of page.StackResourceSummaries ?? [])
      resources.push({
        logicalId: r.LogicalResourceId ?? '',
        type: r.ResourceType ?? '?',
        action: 'Remove',
        replacement: 'n/a',
      });
  return { stackName, action: 'delete', status: stack.StackStatus, parameters: [], resources };
}

/** A StackSet's instances, or undefined when this account cannot see it with this CallAs. */
export async function instancesIfVisible(
  cfn: CloudFormationClient,
  stackSetName: string,
  callAs: CallAs,
): Promise<StackInstanceSummary[] | undefined> {
  const all: StackInstanceSummary[] = [];
  try {
    for await (const page of paginateListStackInstances(
      { client: cfn },
      { StackSetName: stackSetName, CallAs: callAs },
    ))
      all.push(...(page.Summaries ?? []));
  } catch (err) {
    // ListStackInstances answers StackSetNotFoundException for a StackSet it cannot see (API reference, errors).
    if ((err as { name?: string }).name === 'StackSetNotFoundException') return undefined;
    throw err;
  }
  return all;
}

/** Stack instances of a StackSet; [] when the StackSet does not exist. */
export async function listInstances(
  cfn: CloudFormationClient,
  stackSetName: string,
  callAs: CallAs,
): Promise<StackInstanceSummary[]> {
  return (await instancesIfVisible(cfn, stackSetName, callAs)) ?? [];
}

/** Agencies that still have stack instances of an agency StackSet: offboarding them leaves collectors (or registration) that fail. */
export function collectorsStillDeployed(instances: StackInstanceSummary[], accounts: string[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const i of instances) {
    if (!i.Account || !accounts.includes(i.Account)) continue;
    found.set(i.Account, [...(found.get(i.Account) ?? []), i.Region ?? '?'].sort());
  }
  return found;
}
