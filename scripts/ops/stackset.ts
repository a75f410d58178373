// An agency StackSet (agency-collector or agency-registration): create or update it, add stack instances, and follow each
// operation with a live per-account/per-Region view until it ends.
import { CreateStackInstancesCommand, CreateStackSetCommand } from '@aws-sdk/client-cloudformation';
import { DescribeStackSetCommand, DescribeStackSetOperationCommand } from '@aws-sdk/client-cloudformation';
import { paginateListStackSetOperationResults, UpdateStackSetCommand } from '@aws-sdk/client-cloudformation';
import { type CallAs, type CloudFormationClient, type Parameter, type StackSet } from '@aws-sdk/client-cloudformation';
import { type StackSetOperationPreferences } from '@aws-sdk/client-cloudformation';
import { randomUUID } from 'node:crypto';
import { errorText, OperationError, progress, type Context } from '../kit/index.ts';
import { updateParameters } from './stacks.ts';

export interface InstanceResult {
  account: string;
  region: string;
  status: string;
  reason: string;
}

export interface OperationReport {
  action: string;
  operationId: string;
  status: string;
  results: InstanceResult[];
}

/** Everything a StackSet call needs, worked out before any AWS call. */
export interface StackSetRequest {
  stackSetName: string;
  /** The StackSet's Description on create. */
  description: string;
  template: { TemplateBody: string } | { TemplateURL: string };
  /** Parameters for a new StackSet (defaults filled in). */
  createParameters: Parameter[];
  /** Parameters this run names, for an existing StackSet (the rest keep their values). */
  givenParameters: Parameter[];
  /** Parameter names the template declares, when known (TemplateBody). */
  declaredKeys?: Set<string>;
  permissionModel: 'SELF_MANAGED' | 'SERVICE_MANAGED';
  selfManagedRoles: { AdministrationRoleARN?: string; ExecutionRoleName?: string };
  autoDeployment?: { Enabled: boolean; RetainStacksOnAccountRemoval: boolean };
  callAs: CallAs;
  prefs: StackSetOperationPreferences;
  timeoutMs: number;
}

export async function describeStackSet(
  cfn: CloudFormationClient,
  name: string,
  callAs: CallAs,
): Promise<StackSet | undefined> {
  try {
    return (await cfn.send(new DescribeStackSetCommand({ StackSetName: name, CallAs: callAs }))).StackSet;
  } catch (err) {
    if ((err as { name?: string }).name !== 'StackSetNotFoundException') throw err;
    return undefined;
  }
}

/** True when every parameter this run sets already has that value in the StackSet. */
const givenParamsUnchanged = (existing: Parameter[] = [], given: Parameter[]) =>
  given.every((g) => existing.some((e) => e.ParameterKey === g.ParameterKey && e.ParameterValue === g.ParameterValue));

/** What has to happen to the StackSet itself: a pure decision from what exists and what is asked. */
export function stackSetAction(
  existing: StackSet | undefined,
  req: StackSetRequest,
): 'create' | 'update' | 'unchanged' {
  if (!existing) return 'create';
  if (existing.PermissionModel && existing.PermissionModel !== req.permissionModel) {
    throw new OperationError(
      `StackSet ${req.stackSetName} is ${existing.PermissionModel}; it cannot be switched to ${req.permissionModel}`,
    );
  }
  const changed =
    'TemplateURL' in req.template ||
    existing.TemplateBody !== req.template.TemplateBody ||
    !givenParamsUnchanged(existing.Parameters, req.givenParameters);
  return changed ? 'update' : 'unchanged';
}

export async function createStackSet(ctx: Context, cfn: CloudFormationClient, req: StackSetRequest): Promise<void> {
  progress(ctx, `creating StackSet ${req.stackSetName} (${req.permissionModel})`);
  await cfn.send(
    new CreateStackSetCommand({
      StackSetName: req.stackSetName,
      Description: req.description,
      ...req.template,
      Parameters: req.createParameters,
      Capabilities: ['CAPABILITY_NAMED_IAM'],
      PermissionModel: req.permissionModel,
      AutoDeployment: req.autoDeployment,
      ...req.selfManagedRoles,
      CallAs: req.callAs,
      ManagedExecution: { Active: true },
    }),
  );
}

export async function updateStackSet(
  ctx: Context,
  cfn: CloudFormationClient,
  req: StackSetRequest,
  existing: StackSet,
): Promise<OperationReport> {
  progress(ctx, `updating StackSet ${req.stackSetName} and its existing instances`);
  const operationId = randomUUID();
  await cfn.send(
    new UpdateStackSetCommand({
      StackSetName: req.stackSetName,
      ...req.template,
      Parameters: updateParameters(existing.Parameters, req.givenParameters, req.declaredKeys),
      Capabilities: ['CAPABILITY_NAMED_IAM'],
      PermissionModel: req.permissionModel,
      AutoDeployment: req.autoDeployment,
      ...req.selfManagedRoles,
      OperationPreferences: req.prefs,
      OperationId: operationId,
      CallAs: req.callAs,
    }),
  );
  return waitForOperation(ctx, cfn, req.stackSetName, operationId, 'update', req.callAs, req.timeoutMs);
}

export interface InstanceTargets {
  selfManaged: boolean;
  ous?: string[];
  accounts?: string[];
  /** Service-managed only: accounts of the OUs left out (AccountFilterType DIFFERENCE). */
  excludeAccounts?: string[];
  regions: string[];
}

/** Self-managed StackSets name accounts; service-managed ones name OUs, optionally narrowed to accounts. */
export function deploymentTargets(t: InstanceTargets) {
  if (t.selfManaged) return { Accounts: t.accounts };
  // CreateStackInstances API reference, DeploymentTargets.AccountFilterType: INTERSECTION deploys
  // to only these accounts of the OUs, DIFFERENCE to every account of the OUs but these.
  const filter = t.accounts
    ? { Accounts: t.accounts, AccountFilterType: 'INTERSECTION' as const }
    : t.excludeAccounts?.length
      ? { Accounts: t.excludeAccounts, AccountFilterType: 'DIFFERENCE' as const }
      : {};
  return { DeploymentTargets: { OrganizationalUnitIds: t.ous, ...filter } };
}

export async function createInstances(
  ctx: Context,
  cfn: CloudFormationClient,
  req: StackSetRequest,
  targets: InstanceTargets,
): Promise<OperationReport> {
  const operationId = randomUUID();
  progress(ctx, `creating stack instances in ${targets.regions.join(', ')}`);
  try {
    await cfn.send(
      new CreateStackInstancesCommand({
        StackSetName: req.stackSetName,
        ...deploymentTargets(targets),
        Regions: targets.regions,
        OperationPreferences: req.prefs,
        OperationId: operationId,
        CallAs: req.callAs,
      }),
    );
  } catch (err) {
    throw new OperationError(`CreateStackInstances failed: ${errorText(err)}`, { cause: err });
  }
  return waitForOperation(ctx, cfn, req.stackSetName, operationId, 'create-instances', req.callAs, req.timeoutMs);
}

async function operationResults(
  cfn: CloudFormationClient,
  stackSetName: string,
  operationId: string,
  callAs: CallAs,
): Promise<InstanceResult[]> {
  const out: InstanceResult[] = [];
  const input = { StackSetName: stackSetName, OperationId: operationId, CallAs: callAs };
  for await (const page of paginateListStackSetOperationResults({ client: cfn }, input)) {
    for (const s of page.Summaries ?? []) {
      out.push({
        account: s.Account ?? '',
        region: s.Region ?? '',
        status: s.Status ?? 'UNKNOWN',
        reason: s.StatusReason ?? s.AccountGateResult?.StatusReason ?? '',
      });
    }
  }
  return out;
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'STOPPED']);

/** Polls an operation, printing each account/Region whose status changed, until it ends. */
export async function waitForOperation(
  ctx: Context,
  cfn: CloudFormationClient,
  stackSetName: string,
  operationId: string,
  action: string,
  callAs: CallAs,
  timeoutMs: number,
): Promise<OperationReport> {
  const seen = new Map<string, string>();
  const deadline = ctx.now().getTime() + timeoutMs;
  let lastLine = '';
  for (;;) {
    const op = await cfn.send(
      new DescribeStackSetOperationCommand({ StackSetName: stackSetName, OperationId: operationId, CallAs: callAs }),
    );
    const status = op.StackSetOperation?.Status ?? 'UNKNOWN';
    const results = await operationResults(cfn, stackSetName, operationId, callAs);
    printChanges(ctx, results, seen);
    const line = operationLine(action, operationId, status, results);
    if (line !== lastLine) progress(ctx, line);
    lastLine = line;
    if (TERMINAL.has(status)) return { action, operationId, status, results };
    if (ctx.now().getTime() > deadline) {
      const timedOut = `TIMED_OUT (last status ${status}; the operation keeps running in AWS)`;
      return { action, operationId, status: timedOut, results };
    }
    await ctx.sleep(ctx.pollMs);
  }
}

function printChanges(ctx: Context, results: InstanceResult[], seen: Map<string, string>): void {
  for (const r of results) {
    const key = `${r.account}/${r.region}`;
    if (seen.get(key) === r.status) continue;
    seen.set(key, r.status);
    const reason = r.reason && r.status !== 'SUCCEEDED' ? `: ${r.reason}` : '';
    progress(ctx, `  ${r.account}  ${r.region.padEnd(14)}  ${r.status}${reason}`);
  }
}

function operationLine(action: string, operationId: string, status: string, results: InstanceResult[]): string {
  const count = (s: string) => results.filter((r) => r.status === s).length;
  return `${action} ${operationId}: ${status} (${count('SUCCEEDED')} succeeded, ${count('FAILED')} failed, ${count('RUNNING') + count('PENDING')} in progress)`;
}
