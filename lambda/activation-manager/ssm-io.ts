// Every SSM call the activation manager makes. The client is created on first use, so the
// environment (Region, AWS_ENDPOINT_URL_SSM in tests) is read after the handler is loaded.
import { SSM_GET_PARAMETER_HISTORY_MAX_RESULTS } from '../../contract/page-sizes.ts';
import {
  CreateActivationCommand,
  DeleteActivationCommand,
  DeleteParameterCommand,
  DescribeActivationsCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  GetServiceSettingCommand,
  paginateDescribeInstanceInformation,
  paginateGetParameterHistory,
  PutParameterCommand,
  SSMClient,
  type Activation,
} from '@aws-sdk/client-ssm';
import { nameTimeouts, timeoutOptions } from '../shared/timeouts.ts';

let client: SSMClient | undefined;

function ssm(): SSMClient {
  // Adaptive retries back off on ThrottlingException; SSM's activation APIs have low TPS.
  client ??= nameTimeouts(new SSMClient({ retryMode: 'adaptive', maxAttempts: 6, ...timeoutOptions() }), 'SSM');
  return client;
}

/** Lets the timeout guard cancel calls still in flight once it has answered CloudFormation. */
export interface CallOptions {
  abortSignal?: AbortSignal;
}

/** The AWS error name of a failed call ('ThrottlingException', 'InvalidActivation', ...). */
export function awsErrorName(err: unknown): string {
  return err instanceof Error ? err.name : 'UnknownError';
}

export interface NewActivation {
  activationId: string;
  activationCode: string;
}

export interface CreateActivationInput {
  iamRole: string;
  registrationLimit: number;
  expirationDate: Date;
  description: string;
  defaultInstanceName: string;
  tags: { Key: string; Value: string }[];
}

export async function createActivation(input: CreateActivationInput, opts: CallOptions = {}): Promise<NewActivation> {
  const out = await ssm().send(
    new CreateActivationCommand({
      IamRole: input.iamRole,
      RegistrationLimit: input.registrationLimit,
      ExpirationDate: input.expirationDate,
      Description: input.description,
      DefaultInstanceName: input.defaultInstanceName,
      Tags: input.tags,
    }),
    opts,
  );
  if (!out.ActivationId || !out.ActivationCode)
    throw new Error('CreateActivation returned no ActivationId or ActivationCode');
  return { activationId: out.ActivationId, activationCode: out.ActivationCode };
}

/** Every activation DescribeActivations lists for one filter, page by page (stops when the caller does). */
async function* activationsWhere(
  filterKey: 'DefaultInstanceName' | 'ActivationIds',
  value: string,
  opts: CallOptions,
): AsyncGenerator<Activation> {
  let nextToken: string | undefined;
  do {
    const out = await ssm().send(
      new DescribeActivationsCommand({
        Filters: [{ FilterKey: filterKey, FilterValues: [value] }],
        NextToken: nextToken,
      }),
      opts,
    );
    yield* out.ActivationList ?? [];
    nextToken = out.NextToken;
  } while (nextToken);
}

/** IDs of every activation created with this default instance name (ours: agency-<account>). */
export async function activationIdsNamed(defaultInstanceName: string, opts: CallOptions = {}): Promise<string[]> {
  const ids: string[] = [];
  for await (const a of activationsWhere('DefaultInstanceName', defaultInstanceName, opts))
    if (a.ActivationId && a.DefaultInstanceName === defaultInstanceName) ids.push(a.ActivationId);
  return ids;
}

/** The activation as SSM reports it, or undefined when SSM no longer knows it. */
export async function describeActivation(
  activationId: string,
  opts: CallOptions = {},
): Promise<Activation | undefined> {
  for await (const a of activationsWhere('ActivationIds', activationId, opts))
    if (a.ActivationId === activationId) return a;
  return undefined;
}

/** Deletes an activation; one SSM no longer knows counts as already gone. Nodes stay registered. */
export async function deleteActivation(activationId: string, opts: CallOptions = {}): Promise<'deleted' | 'gone'> {
  try {
    await ssm().send(new DeleteActivationCommand({ ActivationId: activationId }), opts);
    return 'deleted';
  } catch (err) {
    if (awsErrorName(err) === 'InvalidActivation' || awsErrorName(err) === 'InvalidActivationId') return 'gone';
    throw err;
  }
}

/** DescribeInstanceInformation accepts at most 100 values per filter (API reference). */
const FILTER_VALUES_MAX = 100;

/**
 * Hybrid nodes registered in this Region: all of them, or those of the given activations
 * (an empty list lists none), with the activation each carries. ResourceType ManagedInstance: EC2
 * instances registered through an activation are managed instances too, and count toward the tier's limit.
 */
async function* managedNodes(
  activationIds: readonly string[] | undefined,
  opts: CallOptions,
  resourceType: string | undefined = 'ManagedInstance',
): AsyncGenerator<{ activationId?: string }> {
  if (activationIds && activationIds.length === 0) return;
  const groups = activationIds
    ? Array.from({ length: Math.ceil(activationIds.length / FILTER_VALUES_MAX) }, (_, i) =>
        activationIds.slice(i * FILTER_VALUES_MAX, (i + 1) * FILTER_VALUES_MAX),
      )
    : [undefined];
  for (const ids of groups) {
    const Filters = resourceType ? [{ Key: 'ResourceType', Values: [resourceType] }] : [];
    if (ids) Filters.push({ Key: 'ActivationIds', Values: [...ids] });
    const pages = paginateDescribeInstanceInformation({ client: ssm(), pageSize: 50 }, { Filters }, opts);
    for await (const page of pages)
      for (const n of page.InstanceInformationList ?? []) yield { activationId: n.ActivationId };
  }
}

/** How many hybrid nodes are registered in this Region, or with the given activations. */
export async function countManagedNodes(activationIds?: readonly string[]): Promise<number> {
  let count = 0;
  for await (const _ of managedNodes(activationIds, {})) count++;
  return count;
}

/**
 * The activations among `activationIds` that some registered node still carries. A node keeps the
 * ActivationId it registered with after that activation is deleted (API_DeleteActivation: deleting
 * an activation does not deregister its nodes; API_InstanceInformation, ActivationId).
 */
export async function activationIdsInUse(
  activationIds: readonly string[],
  opts: CallOptions = {},
): Promise<Set<string>> {
  const inUse = new Set<string>();
  // Any node that carries the ID counts, whatever its resource type.
  for await (const n of managedNodes(activationIds, opts, undefined)) if (n.activationId) inUse.add(n.activationId);
  return inUse;
}

/** How many agency records are stored under the prefix (names only: nothing is decrypted). */
export async function countParameters(path: string): Promise<{ count: number; names: string[] }> {
  const names: string[] = [];
  let NextToken: string | undefined;
  do {
    const out = await ssm().send(
      new GetParametersByPathCommand({ Path: path, Recursive: true, MaxResults: 10, NextToken }),
    );
    for (const p of out.Parameters ?? []) if (p.Name) names.push(p.Name);
    NextToken = out.NextToken;
  } while (NextToken);
  return { count: names.length, names };
}

/** The activation-tier service setting's value (GetServiceSetting). */
export async function activationTierSetting(settingId: string): Promise<string | undefined> {
  const out = await ssm().send(new GetServiceSettingCommand({ SettingId: settingId }));
  return out.ServiceSetting?.SettingValue;
}

/** The value and version of a SecureString parameter, or undefined when it does not exist. */
export async function getSecureParameterVersion(
  name: string,
  opts: CallOptions = {},
): Promise<{ value: string; version: number } | undefined> {
  try {
    const out = await ssm().send(new GetParameterCommand({ Name: name, WithDecryption: true }), opts);
    return out.Parameter?.Value === undefined
      ? undefined
      : { value: out.Parameter.Value, version: out.Parameter.Version ?? 0 };
  } catch (err) {
    if (awsErrorName(err) === 'ParameterNotFound') return undefined;
    throw err;
  }
}

/** Values of the versions strictly between `after` and `before` (others' writes), oldest first. */
export async function parameterVersionsBetween(
  name: string,
  [after, before]: [after: number, before: number],
  opts: CallOptions = {},
): Promise<string[]> {
  const out: string[] = [];
  const pages = paginateGetParameterHistory(
    { client: ssm(), pageSize: SSM_GET_PARAMETER_HISTORY_MAX_RESULTS },
    { Name: name, WithDecryption: true },
    opts,
  );
  for await (const page of pages) {
    for (const p of page.Parameters ?? []) {
      if ((p.Version ?? 0) > after && (p.Version ?? 0) < before && p.Value !== undefined) out.push(p.Value);
    }
  }
  return out;
}

/** Writes (overwrites) a SecureString parameter and returns the version SSM gave it. */
export async function putSecureParameter(
  name: string,
  value: string,
  kmsKeyId: string,
  opts: CallOptions = {},
): Promise<number> {
  const out = await ssm().send(
    new PutParameterCommand({
      Name: name,
      Value: value,
      Type: 'SecureString',
      KeyId: kmsKeyId,
      Overwrite: true,
      Tier: 'Standard',
      Description: 'Hybrid activation of one agency (managed by the activation manager; do not edit)',
    }),
    opts,
  );
  return out.Version ?? 0;
}

export async function deleteParameter(name: string, opts: CallOptions = {}): Promise<'deleted' | 'gone'> {
  try {
    await ssm().send(new DeleteParameterCommand({ Name: name }), opts);
    return 'deleted';
  } catch (err) {
    if (awsErrorName(err) === 'ParameterNotFound') return 'gone';
    throw err;
  }
}

/** Every parameter under the path, decrypted, across all pages. */
export async function listSecureParameters(
  path: string,
  opts: CallOptions = {},
): Promise<{ name: string; value: string; version: number }[]> {
  const found: { name: string; value: string; version: number }[] = [];
  let nextToken: string | undefined;
  do {
    const out = await ssm().send(
      new GetParametersByPathCommand({
        Path: path,
        Recursive: true,
        WithDecryption: true,
        MaxResults: 10,
        NextToken: nextToken,
      }),
      opts,
    );
    for (const p of out.Parameters ?? []) {
      if (p.Name && p.Value !== undefined) found.push({ name: p.Name, value: p.Value, version: p.Version ?? 0 });
    }
    nextToken = out.NextToken;
  } while (nextToken);
  return found;
}
