// SSM calls, and nothing else: batching, pagination and "not found" mapping live here so the
// sync logic stays readable. The SDK client retries throttling on its own.
import { log } from '../shared/log.ts';
import {
  AddTagsToResourceCommand,
  DeregisterManagedInstanceCommand,
  DescribeInstanceInformationCommand,
  GetParameterCommand,
  ListTagsForResourceCommand,
  RemoveTagsFromResourceCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { activationRecordSchema, type ActivationRecord } from '../shared/activation-record.ts';
import { emptyTags, type Tags } from '../shared/tag-rules.ts';
import { mapPool } from '../shared/pool.ts';
import { HandlerError } from '../shared/errors.ts';
import { SSM_DESCRIBE_INSTANCE_INFORMATION_MAX_RESULTS } from '../../contract/page-sizes.ts';

/** DescribeInstanceInformation takes at most 50 results per page; we send at most 50 IDs per call. */
export const DESCRIBE_BATCH = SSM_DESCRIBE_INSTANCE_INFORMATION_MAX_RESULTS;

export const errorName = (err: unknown): string =>
  (err as { name?: string })?.name ?? (err instanceof Error ? err.constructor.name : 'Error');

/** A short, single-line reason for a result. SDK messages carry no secrets; still capped. */
/**
 * The reason an agency sees for a failed AWS call: the error's name only. AWS messages can name
 * the hub's role, account and session, which are not the agency's business; the full message is
 * logged here, on the hub's side.
 */
export function errorReason(err: unknown): string {
  const name = errorName(err);
  const message = err instanceof Error ? err.message : String(err);
  log('WARN', 'AWS call failed', { error: name, detail: message.replace(/\s+/g, ' ').slice(0, 500) });
  return `${name} (details in the hub's logs)`;
}

/** What SSM knows about a node; absent from the map when SSM does not know the node. */
export interface NodeInfo {
  activationId?: string;
}

async function describePage(ssm: SSMClient, ids: string[]): Promise<Map<string, NodeInfo>> {
  const found = new Map<string, NodeInfo>();
  let nextToken: string | undefined;
  do {
    const out = await ssm.send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: 'InstanceIds', Values: ids }],
        MaxResults: DESCRIBE_BATCH,
        NextToken: nextToken,
      }),
    );
    for (const info of out.InstanceInformationList ?? []) {
      if (info.InstanceId) found.set(info.InstanceId, { activationId: info.ActivationId });
    }
    nextToken = out.NextToken;
  } while (nextToken);
  return found;
}

/**
 * Looks up one batch. DescribeInstanceInformation answers InvalidInstanceId for the whole call
 * when any ID in an InstanceIds filter is unknown (API reference, DescribeInstanceInformation,
 * Errors), so on that answer the batch is split in halves until the unknown IDs stand alone; a
 * lone unknown ID is a node SSM does not know. Bounded: at most 2n - 1 calls for n IDs.
 */
async function describeBisecting(ssm: SSMClient, ids: string[]): Promise<Map<string, NodeInfo>> {
  try {
    return await describePage(ssm, ids);
  } catch (err) {
    if (errorName(err) !== 'InvalidInstanceId') throw err;
    if (ids.length === 1) return new Map();
    const half = Math.ceil(ids.length / 2);
    const first = await describeBisecting(ssm, ids.slice(0, half));
    const second = await describeBisecting(ssm, ids.slice(half));
    return new Map([...first, ...second]);
  }
}

/** Looks nodes up in batches of 50 IDs (paginated). A node SSM does not know is left out. */
export async function describeNodes(
  ssm: SSMClient,
  ids: readonly string[],
  concurrency: number,
): Promise<Map<string, NodeInfo>> {
  const batches: string[][] = [];
  for (let i = 0; i < ids.length; i += DESCRIBE_BATCH) batches.push(ids.slice(i, i + DESCRIBE_BATCH));
  const maps = await mapPool(batches, concurrency, (batch) => describeBisecting(ssm, batch));
  return new Map(maps.flatMap((m) => [...m]));
}

/** The node's SSM tags, or undefined when SSM does not know the node. */
export async function listTags(ssm: SSMClient, managedInstanceId: string): Promise<Tags | undefined> {
  try {
    const out = await ssm.send(
      new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: managedInstanceId }),
    );
    const tags = emptyTags();
    for (const t of out.TagList ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
    return tags;
  } catch (err) {
    if (errorName(err) === 'InvalidResourceId') return undefined;
    throw err;
  }
}

/**
 * Retries after TooManyUpdates ("There are concurrent updates for a resource that supports one update
 * at a time", HTTP 400: API reference, AddTagsToResource and RemoveTagsFromResource, Errors). The
 * SDK's retry strategy does not retry it (it is neither a throttling nor a transient error code
 * there), and another writer (central IT, a console edit) usually finishes within moments.
 */
export const TOO_MANY_UPDATES_RETRIES = 3;

export interface TagWriteOptions {
  /** First backoff, doubled on each retry (with jitter); the tag manager passes RETRY_BASE_DELAY_MS. */
  baseDelayMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The wait before retry `attempt` (0-based): the base doubled each time, jittered down to half. Pure. */
export const tooManyUpdatesDelayMs = (attempt: number, baseMs: number, random: number = Math.random()): number =>
  baseMs * 2 ** attempt * (0.5 + random / 2);

async function retryingTooManyUpdates(call: () => Promise<unknown>, options: TagWriteOptions): Promise<void> {
  const base = options.baseDelayMs ?? 100;
  for (let attempt = 0; ; attempt++) {
    try {
      await call();
      return;
    } catch (err) {
      if (errorName(err) !== 'TooManyUpdates' || attempt >= TOO_MANY_UPDATES_RETRIES) throw err;
      await sleep(tooManyUpdatesDelayMs(attempt, base));
    }
  }
}

export async function addTags(
  ssm: SSMClient,
  managedInstanceId: string,
  tags: Tags,
  options: TagWriteOptions = {},
): Promise<void> {
  await retryingTooManyUpdates(
    () =>
      ssm.send(
        new AddTagsToResourceCommand({
          ResourceType: 'ManagedInstance',
          ResourceId: managedInstanceId,
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      ),
    options,
  );
}

export async function removeTags(
  ssm: SSMClient,
  managedInstanceId: string,
  keys: string[],
  options: TagWriteOptions = {},
): Promise<void> {
  await retryingTooManyUpdates(
    () =>
      ssm.send(
        new RemoveTagsFromResourceCommand({
          ResourceType: 'ManagedInstance',
          ResourceId: managedInstanceId,
          TagKeys: keys,
        }),
      ),
    options,
  );
}

/** Deregisters a node; a node SSM no longer knows counts as already gone. */
export async function deregisterNode(
  ssm: SSMClient,
  managedInstanceId: string,
): Promise<'deregistered' | 'already-gone'> {
  try {
    await ssm.send(new DeregisterManagedInstanceCommand({ InstanceId: managedInstanceId }));
    return 'deregistered';
  } catch (err) {
    if (errorName(err) === 'InvalidInstanceId') return 'already-gone';
    throw err;
  }
}

export class ActivationRecordError extends HandlerError {
  override readonly name = 'ActivationRecordError';
}

/**
 * The agency's activation record, or undefined when there is none. Parse failures name no value:
 * the record holds an activation code.
 */
export async function readActivationRecord(
  ssm: SSMClient,
  parameterName: string,
): Promise<ActivationRecord | undefined> {
  let value: string | undefined;
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: parameterName, WithDecryption: true }));
    value = out.Parameter?.Value;
  } catch (err) {
    if (errorName(err) === 'ParameterNotFound') return undefined;
    throw err;
  }
  if (value === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    throw new ActivationRecordError('the stored activation record is not JSON');
  }
  const parsed = activationRecordSchema.safeParse(raw);
  if (!parsed.success) throw new ActivationRecordError('the stored activation record does not match its schema');
  return parsed.data;
}
