// An agency StackSet (agency-collector or agency-registration): create or update it, add stack instances, and follow each
// operation with a live per-account/per-Region view until it ends.
import { CreateStackInstancesCommand, CreateStackSetCommand } from '@aws-sdk/client-cloudformation';
import { DescribeStackSetCommand, DescribeStackSetOperationCommand } from '@aws-sdk/client-cloudformation';
import { paginateListStackSetOperationResults, paginateListStackSetOperations } from '@aws-sdk/client-cloudformation';
import { UpdateStackSetCommand } from '@aws-sdk/client-cloudformation';
import { type CallAs, type CloudFormationClient, type Parameter, type StackSet } from '@aws-sdk/client-cloudformation';
import { type StackSetOperationPreferences } from '@aws-sdk/client-cloudformation';
import { randomUUID } from 'node:crypto';
import { errorText, OperationError, progress, type Context } from '../kit/index.ts';
import { updateParameters } from './stacks.ts';
import { settingChanges, updateSettings, type StackSetSettings } from './stackset-settings.ts';

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
  /** Roles (self-managed) or AutoDeployment (service-managed) of a new StackSet (defaults filled in). */
  createSettings: StackSetSettings;
  /** The ones this run names by flag, for an existing StackSet (the rest keep their values). */
  givenSettings: StackSetSettings;
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
    !givenParamsUnchanged(existing.Parameters, req.givenParameters) ||
    settingChanges(existing, settingsOnUpdate(existing, req)).length > 0;
  return changed ? 'update' : 'unchanged';
}

/** The roles or AutoDeployment an UpdateStackSet of `existing` sends (stackset-settings.ts). */
export const settingsOnUpdate = (existing: StackSet, req: StackSetRequest): StackSetSettings =>
  updateSettings(existing, req.givenSettings, req.permissionModel === 'SELF_MANAGED');

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
      ...req.createSettings,
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
  let current = existing;
  let attempts = 0;
  const operationId = await startOperation(ctx, cfn, req, 'UpdateStackSet', async (OperationId) => {
    // Sent again after waiting out another operation, which may have changed the roles: read them
    // again, so what the operator did not name keeps its value as it is now.
    if (attempts++ > 0) current = (await describeStackSet(cfn, req.stackSetName, req.callAs)) ?? current;
    return cfn.send(
      new UpdateStackSetCommand({
        StackSetName: req.stackSetName,
        ...req.template,
        Parameters: updateParameters(current.Parameters, req.givenParameters, req.declaredKeys),
        Capabilities: ['CAPABILITY_NAMED_IAM'],
        PermissionModel: req.permissionModel,
        ...settingsOnUpdate(current, req),
        OperationPreferences: req.prefs,
        OperationId,
        CallAs: req.callAs,
      }),
    );
  });
  return followOperation(ctx, cfn, req, operationId, 'update');
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
  progress(ctx, `creating stack instances in ${targets.regions.join(', ')}`);
  const operationId = await startOperation(ctx, cfn, req, 'CreateStackInstances', async (OperationId) => {
    try {
      await cfn.send(
        new CreateStackInstancesCommand({
          StackSetName: req.stackSetName,
          ...deploymentTargets(targets),
          Regions: targets.regions,
          OperationPreferences: req.prefs,
          OperationId,
          CallAs: req.callAs,
        }),
      );
    } catch (err) {
      throw new OperationError(`CreateStackInstances failed: ${errorText(err)}`, { cause: err });
    }
  });
  return followOperation(ctx, cfn, req, operationId, 'create-instances');
}

/**
 * Sends one operation on the StackSet, each attempt with a new OperationId, and returns the ID of
 * the one CloudFormation accepted. An operation already running on the StackSet (an automatic
 * deployment, or a run stopped part-way) is waited out within the request's timeout (sendWhenIdle);
 * one still running then stops the run, named. An operation of this run's own that CloudFormation
 * lists is followed, never sent again.
 */
async function startOperation(
  ctx: Context,
  cfn: CloudFormationClient,
  req: StackSetRequest,
  call: string,
  send: (operationId: string) => Promise<unknown>,
): Promise<string> {
  const deadline = ctx.now().getTime() + req.timeoutMs;
  const idle = async () => {
    const left = Math.max(0, deadline - ctx.now().getTime());
    const running = await waitForIdle(ctx, cfn, req.stackSetName, req.callAs, left);
    if (running)
      throw new OperationError(
        `${call} was not sent: operation ${running.id} (${running.action}) is still running on StackSet ${req.stackSetName} after the timeout; re-run rollout once it ends (or pass a longer --timeout-minutes)`,
      );
  };
  const sent = new Set<string>();
  return sendWhenIdle(
    ctx,
    async () => {
      const operationId = randomUUID();
      sent.add(operationId);
      await send(operationId);
      return operationId;
    },
    idle,
    deadline,
    () => ownOperation(ctx, cfn, req.stackSetName, req.callAs, call, sent),
  );
}

/**
 * The operation in the StackSet's list that this run already sent, if any: CloudFormation can
 * accept a call whose answer is lost, and answer the SDK's retry of it (same OperationId) with
 * OperationInProgressException naming that very operation (hashicorp/terraform-provider-aws#28675).
 * Sending again with a new OperationId would run the whole operation a second time.
 */
export async function ownOperation(
  ctx: Context,
  cfn: CloudFormationClient,
  stackSetName: string,
  callAs: CallAs,
  call: string,
  sent: ReadonlySet<string>,
): Promise<string | undefined> {
  const input = { StackSetName: stackSetName, CallAs: callAs };
  for await (const page of paginateListStackSetOperations({ client: cfn }, input))
    for (const op of page.Summaries ?? [])
      if (op.OperationId && sent.has(op.OperationId)) {
        progress(ctx, `StackSet ${stackSetName}: ${call} ${op.OperationId} was accepted after all: following it`);
        return op.OperationId;
      }
  return undefined;
}

/** Following an operation CloudFormation accepted failed: the operation may still be running. */
export class OperationMayStillRun extends OperationError {
  override readonly name: string = 'OperationMayStillRun';
  constructor(
    readonly report: OperationReport,
    message: string,
    options: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Follows an operation this run started. A failed poll (throttling, network) does not mean the
 * operation failed, so the error says it may still be running, names it and how to look.
 */
async function followOperation(
  ctx: Context,
  cfn: CloudFormationClient,
  req: StackSetRequest,
  operationId: string,
  action: string,
): Promise<OperationReport> {
  try {
    return await waitForOperation(ctx, cfn, req.stackSetName, operationId, action, req.callAs, req.timeoutMs);
  } catch (err) {
    const callAs = req.callAs === 'DELEGATED_ADMIN' ? ' --call-as DELEGATED_ADMIN' : '';
    const look = `aws cloudformation describe-stack-set-operation --stack-set-name ${req.stackSetName} --operation-id ${operationId}${callAs}`;
    throw new OperationMayStillRun(
      { action, operationId, status: 'UNKNOWN', results: [] },
      `operation ${operationId} was started, but following it failed (${errorText(err)}); it may still be running: check with ${look}`,
      { cause: err },
    );
  }
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

/** Statuses of a StackSet operation that is not over yet (StackSetOperation.Status). */
const ACTIVE_OPERATION = new Set(['RUNNING', 'STOPPING', 'QUEUED']);

export interface RunningOperation {
  id: string;
  action: string;
}

/**
 * Waits for an operation someone (an automatic deployment, or an earlier run) left running on the
 * StackSet: CloudFormation runs one operation per StackSet at a time and answers
 * OperationInProgressException to another (CreateStackInstances, UpdateStackSet and
 * DeleteStackInstances API reference, errors). Returns the operation still running after the
 * timeout, or undefined once the StackSet is idle.
 */
export async function waitForIdle(
  ctx: Context,
  cfn: CloudFormationClient,
  name: string,
  callAs: CallAs,
  timeoutMs: number,
): Promise<RunningOperation | undefined> {
  const input = { StackSetName: name, CallAs: callAs };
  let running: RunningOperation | undefined;
  for await (const page of paginateListStackSetOperations({ client: cfn }, input))
    for (const op of page.Summaries ?? [])
      if (ACTIVE_OPERATION.has(op.Status ?? '') && op.OperationId)
        running ??= { id: op.OperationId, action: op.Action ?? 'operation' };
  if (!running) return undefined;
  progress(ctx, `StackSet ${name}: waiting for operation ${running.id} (${running.action}) that is still running`);
  const op = await waitForOperation(ctx, cfn, name, running.id, running.action.toLowerCase(), callAs, timeoutMs);
  return op.status.startsWith('TIMED_OUT') ? running : undefined;
}

/** True for OperationInProgressException, as the SDK throws it or as the `cause` of an OperationError. */
const operationInProgress = (err: unknown): boolean => {
  const e = err as { name?: string; cause?: { name?: string } };
  return e.name === 'OperationInProgressException' || e.cause?.name === 'OperationInProgressException';
};

/**
 * Sends a StackSet operation; refused with OperationInProgressException (another operation runs on
 * the StackSet), it waits with `idle` (which throws when one still runs at its timeout) and sends
 * again, until `deadline`. A second refusal in a row pauses one poll first, so a StackSet busy with
 * an operation ListStackSetOperations does not show is not called in a tight loop.
 */
export async function sendWhenIdle<T>(
  ctx: Context,
  send: () => Promise<T>,
  idle: () => Promise<void>,
  deadline: number,
  /** After a refusal: what an earlier send already started (then it is not sent again). */
  alreadyStarted?: () => Promise<T | undefined>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      if (!operationInProgress(err)) throw err;
      const started = await alreadyStarted?.();
      if (started !== undefined) return started;
      if (ctx.now().getTime() >= deadline) throw err;
    }
    if (attempt > 1) await ctx.sleep(ctx.pollMs);
    await idle();
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
