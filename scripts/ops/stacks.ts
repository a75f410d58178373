// Stack lifecycle through change sets: create or update, detect "no changes", execute, wait,
// and on failure collect the events that say why. Waiting uses the context's sleep and clock,
// so tests run it instantly.
import { randomUUID } from 'node:crypto';
import { CreateChangeSetCommand, DeleteChangeSetCommand, DeleteStackCommand } from '@aws-sdk/client-cloudformation';
import { DescribeChangeSetCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { ExecuteChangeSetCommand, paginateDescribeStackEvents, type Capability } from '@aws-sdk/client-cloudformation';
import { type CloudFormationClient, type Parameter, type Stack } from '@aws-sdk/client-cloudformation';
import { type CreateChangeSetCommandInput } from '@aws-sdk/client-cloudformation';
import { paginateDescribeChangeSet, type Change } from '@aws-sdk/client-cloudformation';
import { errorText, type Context } from '../kit/index.ts';
import { ALLOW_REPLACEMENT_FLAG, losesState, nameRows, type ChangeRow } from './change-risk.ts';

export interface FailedEvent {
  timestamp: string;
  logicalResourceId: string;
  resourceStatus: string;
  resourceStatusReason: string;
}

export interface StackOutcome {
  stackName: string;
  result: 'created' | 'updated' | 'up-to-date' | 'deleted' | 'absent' | 'failed' | 'refused';
  status?: string;
  detail: string;
  events: FailedEvent[];
}

export interface DeployInput {
  stackName: string;
  template: { TemplateBody: string } | { TemplateURL: string };
  /** Parameters we set; on update every other parameter the stack already has keeps its value. */
  parameters: Record<string, string>;
  /** Parameter names the template declares, when known (TemplateBody); used to drop retired ones. */
  templateParameters?: string[];
  capabilities: Capability[];
  description: string;
  timeoutMs: number;
  /** deployStack: do not execute an UPDATE change set that replaces or removes a resource (onboard). */
  refuseDestructive?: boolean;
  /** Of `parameters`, those sent on create only: on update the stack's current value is kept, when it has one. */
  keepOnUpdate?: string[];
  /** The agency the stack must serve: a stack whose AgencyAccountId names another is refused (onboard). */
  agency?: string;
  /** Refuse a ROLLBACK_FAILED stack (it may hold resources) instead of deleting it unasked (onboard). */
  refuseRollbackFailed?: boolean;
}

/** Enough for any one operation of our stacks; a bound so a busy stack's history is not read whole. */
const MAX_EVENT_PAGES = 20;

/** DescribeStacks answers an unknown stack with ValidationError "Stack with id X does not exist". */
const isNotFound = (err: unknown) => {
  const e = err as { name?: string; message?: string };
  return e.name === 'ValidationError' && /does not exist/.test(e.message ?? '');
};

/** "No changes" shows up as a FAILED change set with one of these reasons. */
const NO_CHANGES =
  /didn't contain changes|No updates are to be performed|submitted information didn't contain changes/i;

const none: FailedEvent[] = [];
const failure = (stackName: string, detail: string, status?: string): StackOutcome => ({
  stackName,
  result: 'failed',
  status,
  detail,
  events: none,
});
const refused = (stackName: string, detail: string, status?: string): StackOutcome => ({
  stackName,
  result: 'refused',
  status,
  detail,
  events: none,
});

/** The parameter that names the agency a permissions stack serves. */
export const AGENCY_ACCOUNT_PARAMETER = 'AgencyAccountId';

/** The account a stack's AgencyAccountId parameter names, if any. Pure. */
export const stackAgency = (parameters: Parameter[] | undefined): string | undefined =>
  parameters?.find((p) => p.ParameterKey === AGENCY_ACCOUNT_PARAMETER)?.ParameterValue;

/**
 * Why a stack must not be used for `account`: its AgencyAccountId names another agency (the stack
 * serves that agency's activation). Undefined when it is the agency's own, or says nothing. Pure.
 */
export function ownershipRefusal(stackName: string, parameters: Parameter[] | undefined, account: string) {
  const owner = stackAgency(parameters);
  if (owner === undefined || owner === account) return undefined;
  return `stack ${stackName} belongs to agency ${owner} (its ${AGENCY_ACCOUNT_PARAMETER}), not ${account}; nothing done`;
}

export async function describeStack(cfn: CloudFormationClient, stackName: string): Promise<Stack | undefined> {
  try {
    const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    return out.Stacks?.[0];
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * The failed events of one operation, oldest first: what the operator needs to see. CloudFormation
 * stamps the operation's ClientRequestToken on each of its events, so this does not depend on the
 * local clock agreeing with AWS's.
 */
export async function failedEvents(cfn: CloudFormationClient, stackId: string, token: string): Promise<FailedEvent[]> {
  const found: FailedEvent[] = [];
  let pages = 0;
  for await (const page of paginateDescribeStackEvents({ client: cfn }, { StackName: stackId })) {
    // Newest first: the first event of another operation means ours are all read.
    const ours = (page.StackEvents ?? []).findIndex((e) => e.ClientRequestToken !== token);
    const events = ours === -1 ? (page.StackEvents ?? []) : page.StackEvents!.slice(0, ours);
    for (const e of events) {
      if (e.ResourceStatus?.endsWith('_FAILED')) {
        found.push({
          timestamp: e.Timestamp?.toISOString() ?? '',
          logicalResourceId: e.LogicalResourceId ?? '',
          resourceStatus: e.ResourceStatus,
          resourceStatusReason: e.ResourceStatusReason ?? '',
        });
      }
    }
    if (ours !== -1 || ++pages >= MAX_EVENT_PAGES) break;
  }
  return found.reverse();
}

/** A token for one stack operation, within CLOUDFORMATION_LIMITS.clientRequestTokenLength characters. */
export const operationToken = (): string => `ssm-hub-${randomUUID()}`;

export async function waitForStack(
  ctx: Context,
  cfn: CloudFormationClient,
  stackId: string,
  timeoutMs: number,
  onStatus: (s: string) => void,
): Promise<string> {
  const deadline = ctx.now().getTime() + timeoutMs;
  let last = '';
  for (;;) {
    const stack = await describeStack(cfn, stackId);
    const status = stack?.StackStatus ?? 'DELETE_COMPLETE';
    if (status !== last) onStatus(status);
    last = status;
    if (!status.endsWith('_IN_PROGRESS')) return status;
    if (ctx.now().getTime() > deadline) return `TIMED_OUT (last status ${status})`;
    await ctx.sleep(ctx.pollMs);
  }
}

/**
 * Waits after CloudFormation accepted an operation (ExecuteChangeSet, DeleteStack): a failed poll
 * (throttling, network) does not mean the operation failed, so the outcome says the stack may still
 * be changing and how to look.
 */
async function waitAfterAccepted(
  ctx: Context,
  cfn: CloudFormationClient,
  stack: { stackId: string; stackName: string; timeoutMs: number },
  accepted: string,
  log: (line: string) => void,
): Promise<{ status: string } | { detail: string }> {
  try {
    return { status: await waitForStack(ctx, cfn, stack.stackId, stack.timeoutMs, (s) => log(s)) };
  } catch (err) {
    const detail =
      `${accepted}, but following the stack failed (${errorText(err)}); the stack may still be ` +
      `changing: check with aws cloudformation describe-stacks --stack-name ${stack.stackName}`;
    return { detail };
  }
}

/**
 * Deletes a stack and waits for the end; an absent stack is an outcome, not a failure. With
 * `agency`, a stack whose AgencyAccountId names another agency is refused, not deleted.
 */
export async function deleteStack(
  ctx: Context,
  cfn: CloudFormationClient,
  target: { stackName: string; timeoutMs: number; agency?: string },
  log: (line: string) => void,
): Promise<StackOutcome> {
  const { stackName, timeoutMs } = target;
  try {
    const stack = await describeStack(cfn, stackName);
    if (!stack?.StackId) return { stackName, result: 'absent', detail: 'no such stack', events: none };
    const notOurs = target.agency && ownershipRefusal(stackName, stack.Parameters, target.agency);
    if (notOurs) return refused(stackName, notOurs, stack.StackStatus);
    const token = operationToken();
    log('deleting stack');
    await cfn.send(new DeleteStackCommand({ StackName: stack.StackId, ClientRequestToken: token }));
    const ref = { stackId: stack.StackId, stackName, timeoutMs };
    const waited = await waitAfterAccepted(ctx, cfn, ref, 'DeleteStack was accepted', log);
    if ('detail' in waited) return failure(stackName, waited.detail);
    const status = waited.status;
    if (status === 'DELETE_COMPLETE') return { stackName, result: 'deleted', status, detail: 'deleted', events: none };
    return {
      stackName,
      result: 'failed',
      status,
      detail: status,
      events: await failedEvents(cfn, stack.StackId, token),
    };
  } catch (err) {
    return { stackName, result: 'failed', detail: errorText(err), events: none };
  }
}

/**
 * An update's parameters: what this run sets, and every other parameter the stack or StackSet
 * already has kept at its current value (otherwise an update would reset, e.g., AlarmEmail or the
 * opt-in tag to the template default). Used by onboard (stacks) and rollout (the StackSet).
 */
export function updateParameters(
  existing: Parameter[] = [],
  given: Parameter[],
  declaredKeys?: { has(key: string): boolean },
): Parameter[] {
  const givenKeys = new Set(given.map((g) => g.ParameterKey));
  // A parameter the new template no longer declares must not be sent (the update would fail).
  const kept = existing
    .filter(
      (e) => e.ParameterKey && !givenKeys.has(e.ParameterKey) && (!declaredKeys || declaredKeys.has(e.ParameterKey)),
    )
    .map((e) => ({ ParameterKey: e.ParameterKey, UsePreviousValue: true }));
  return [...given, ...kept];
}

/** Why a ROLLBACK_FAILED stack is not replaced unasked, and how to clean it up. Pure. */
export const rollbackFailedRefusal = (stackName: string): string =>
  `stack ${stackName} is ROLLBACK_FAILED: its failed creation could not be rolled back, so it may still hold ` +
  `resources; nothing done. See why with aws cloudformation describe-stack-events --stack-name ${stackName}, ` +
  `delete it with aws cloudformation delete-stack --stack-name ${stackName} (if that ends DELETE_FAILED, ` +
  `delete the blocking resources by hand or pass --retain-resources), then run this again`;

/**
 * The stack to change, or why it cannot be: a stack whose creation failed and was rolled back
 * (ROLLBACK_COMPLETE) holds no resources and cannot be updated, so it is deleted first; a
 * ROLLBACK_FAILED one may hold resources and is deleted only when the caller allows it (deploy
 * confirms it first); a stack with an operation in progress is left alone; a stack of another
 * agency (input.agency) is refused.
 */
export async function stackToChange(
  ctx: Context,
  cfn: CloudFormationClient,
  input: DeployInput,
  log: (line: string) => void,
): Promise<{ stack?: Stack } | { outcome: StackOutcome }> {
  const stack = await describeStack(cfn, input.stackName);
  const status = stack?.StackStatus;
  const notOurs = stack && input.agency && ownershipRefusal(input.stackName, stack.Parameters, input.agency);
  if (notOurs) return { outcome: refused(input.stackName, notOurs, status) };
  if (status === 'ROLLBACK_FAILED' && input.refuseRollbackFailed)
    return { outcome: refused(input.stackName, rollbackFailedRefusal(input.stackName), status) };
  if (status === 'ROLLBACK_COMPLETE' || status === 'ROLLBACK_FAILED') {
    log(`${status}: deleting the failed stack before creating it again`);
    const del = await deleteStack(ctx, cfn, { stackName: stack!.StackId!, timeoutMs: input.timeoutMs }, log);
    if (del.result === 'failed')
      return {
        outcome: { ...del, stackName: input.stackName, detail: `could not delete the failed stack: ${del.detail}` },
      };
    return { stack: undefined };
  }
  if (status && status.endsWith('_IN_PROGRESS') && status !== 'REVIEW_IN_PROGRESS')
    return { outcome: failure(input.stackName, `stack is busy (${status}); retry when it settles`, status) };
  return { stack };
}

/**
 * The Parameters of a change set: on create, what this run sets; on update (`existing` given), the
 * same less the `keepOnUpdate` keys the stack already has a value for, and every other current
 * parameter kept at its value (updateParameters). Pure.
 */
export function changeSetParameters(
  input: Pick<DeployInput, 'parameters' | 'keepOnUpdate' | 'templateParameters'>,
  existing: Stack | undefined,
): Parameter[] {
  const has = new Set((existing?.Parameters ?? []).map((p) => p.ParameterKey));
  const keep = new Set((input.keepOnUpdate ?? []).filter((k) => existing && has.has(k)));
  const given: Parameter[] = Object.entries(input.parameters)
    .filter(([k]) => !keep.has(k))
    .map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue }));
  if (!existing) return given;
  return updateParameters(existing.Parameters, given, input.templateParameters && new Set(input.templateParameters));
}

/**
 * CreateChangeSet with a ClientToken, so an SDK retry after a timeout is the same request (API
 * reference, CreateChangeSet ClientToken: "A unique identifier for this CreateChangeSet request ...
 * so that CloudFormation knows that you're not attempting to create another change set with the
 * same name"). An AlreadyExistsException is then someone else's change set of that name: never
 * used, since nothing says it holds this run's template and parameters.
 */
async function sendCreateChangeSet(
  cfn: CloudFormationClient,
  input: CreateChangeSetCommandInput & { ChangeSetName: string; StackName: string },
): Promise<{ Id?: string; StackId?: string }> {
  return cfn.send(new CreateChangeSetCommand(input));
}

export interface ChangeSetRef {
  changeSetId: string;
  stackId: string;
  type: 'CREATE' | 'UPDATE';
}

/** Creates the change set and waits until it is ready; an outcome instead when it has nothing to do or failed. */
export async function createChangeSet(
  ctx: Context,
  cfn: CloudFormationClient,
  input: DeployInput,
  stack: Stack | undefined,
  log: (line: string) => void,
): Promise<ChangeSetRef | { outcome: StackOutcome }> {
  const { stackName } = input;
  const type = stack && stack.StackStatus !== 'REVIEW_IN_PROGRESS' ? 'UPDATE' : 'CREATE';
  const changeSetName = `ssm-hub-${type.toLowerCase()}-${ctx.now().getTime()}`;
  log(`creating ${type} change set`);
  const created = await sendCreateChangeSet(cfn, {
    StackName: stackName,
    ChangeSetName: changeSetName,
    ChangeSetType: type,
    ...input.template,
    Parameters: changeSetParameters(input, type === 'UPDATE' ? stack : undefined),
    Capabilities: input.capabilities.length ? input.capabilities : undefined,
    Description: input.description,
    ClientToken: operationToken(),
  });
  const changeSetId = created.Id ?? changeSetName;
  const deadline = ctx.now().getTime() + input.timeoutMs;
  for (;;) {
    const cs = await cfn.send(new DescribeChangeSetCommand({ ChangeSetName: changeSetId, StackName: stackName }));
    if (cs.Status === 'CREATE_COMPLETE') return { changeSetId, stackId: created.StackId ?? stackName, type };
    if (cs.Status === 'FAILED') {
      if (!NO_CHANGES.test(cs.StatusReason ?? ''))
        return { outcome: failure(stackName, `change set failed: ${cs.StatusReason ?? 'no reason given'}`) };
      await deleteChangeSetQuietly(cfn, changeSetId, stackName);
      return {
        outcome: { stackName, result: 'up-to-date', status: stack?.StackStatus, detail: 'no changes', events: none },
      };
    }
    if (ctx.now().getTime() > deadline) return { outcome: failure(stackName, 'timed out waiting for the change set') };
    await ctx.sleep(ctx.pollMs);
  }
}

async function deleteChangeSetQuietly(cfn: CloudFormationClient, changeSetId: string, stackName: string) {
  try {
    await cfn.send(new DeleteChangeSetCommand({ ChangeSetName: changeSetId, StackName: stackName }));
  } catch {
    // Only housekeeping: an empty change set left behind does no harm.
  }
}

/** Every change of a change set, all pages read (DescribeChangeSet pages with NextToken). */
export async function changeSetRows(cfn: CloudFormationClient, changeSetId: string, stackName: string) {
  const changes: Change[] = [];
  const input = { ChangeSetName: changeSetId, StackName: stackName };
  for await (const page of paginateDescribeChangeSet({ client: cfn }, input)) changes.push(...(page.Changes ?? []));
  return changes.map((c): ChangeRow => ({
    resource: c.ResourceChange?.LogicalResourceId ?? '',
    type: c.ResourceChange?.ResourceType ?? '',
    action: c.ResourceChange?.Action ?? '',
    replacement: c.ResourceChange?.Replacement ?? 'n/a',
  }));
}

/**
 * The refusal of an UPDATE change set that removes a resource or replaces one holding state (the
 * activation); the change set is left to inspect. Replacing a stateless one goes on.
 */
async function refusal(cfn: CloudFormationClient, input: DeployInput, ref: ChangeSetRef) {
  if (!input.refuseDestructive || ref.type !== 'UPDATE') return undefined;
  const bad = (await changeSetRows(cfn, ref.changeSetId, input.stackName)).filter(losesState);
  if (!bad.length) return undefined;
  const detail =
    `refused: the change set replaces or removes ${nameRows(bad)}; not executed without --${ALLOW_REPLACEMENT_FLAG}. ` +
    `It is left for inspection: aws cloudformation describe-change-set --stack-name ${input.stackName} --change-set-name ${ref.changeSetId}`;
  return { stackName: input.stackName, result: 'refused' as const, detail, events: none };
}

/** Executes a ready change set and waits for the stack to settle. */
async function executeChangeSet(
  ctx: Context,
  cfn: CloudFormationClient,
  input: DeployInput,
  ref: ChangeSetRef,
  log: (line: string) => void,
): Promise<StackOutcome> {
  const { stackName } = input;
  const token = operationToken();
  log('executing change set');
  await cfn.send(
    new ExecuteChangeSetCommand({ ChangeSetName: ref.changeSetId, StackName: stackName, ClientRequestToken: token }),
  );
  const target = { stackId: ref.stackId, stackName, timeoutMs: input.timeoutMs };
  const waited = await waitAfterAccepted(ctx, cfn, target, 'the change set was executed', log);
  if ('detail' in waited) return { stackName, result: 'failed', detail: waited.detail, events: none };
  const final = waited.status;
  if (final === 'CREATE_COMPLETE' || final === 'UPDATE_COMPLETE') {
    const result = ref.type === 'CREATE' ? 'created' : 'updated';
    return { stackName, result, status: final, detail: final, events: none };
  }
  const events = await failedEvents(cfn, ref.stackId, token);
  return { stackName, result: 'failed', status: final, detail: final, events };
}

/** Create or update through a change set; "no changes" is an outcome, not a failure. */
export async function deployStack(
  ctx: Context,
  cfn: CloudFormationClient,
  input: DeployInput,
  log: (line: string) => void,
): Promise<StackOutcome> {
  try {
    const target = await stackToChange(ctx, cfn, input, log);
    if ('outcome' in target) return target.outcome;
    const ref = await createChangeSet(ctx, cfn, input, target.stack, log);
    if ('outcome' in ref) return ref.outcome;
    const refused = await refusal(cfn, input, ref);
    if (refused) return refused;
    return await executeChangeSet(ctx, cfn, input, ref, log);
  } catch (err) {
    return failure(input.stackName, errorText(err));
  }
}
