// A loopback fake of the SSM JSON 1.1 API for the calls the tag manager makes. The real SDK
// client talks to it (AWS_ENDPOINT_URL_SSM), so serialisation, error parsing and retries run
// for real. It enforces the documented rules: ManagedInstance only, mi- IDs, the 50-tag limit,
// key/value length and character rules, no aws: keys, MaxResults 5-50 with NextToken paging,
// InvalidInstanceId for an InstanceIds filter naming an unknown node,
// and throttles a seeded, reproducible share of calls with HTTP 400 ThrottlingException.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { SSM_MAX_KEY_LENGTH, SSM_MAX_TAGS_PER_NODE, SSM_MAX_VALUE_LENGTH } from '../../contract/limits.ts';
import { SSM_TAG_CHARACTERS, SSM_TAG_PATTERN } from '../../contract/patterns.ts';
import {
  awsJsonRequestError,
  FakeApiError as ApiError,
  listenLoopback,
  parseJsonBody,
  prng,
  readBody,
  sendAwsJson,
  sendAwsJsonError,
} from './loopback.ts';

export { prng };

export const SSM_OPERATIONS = [
  'AddTagsToResource',
  'RemoveTagsFromResource',
  'ListTagsForResource',
  'DescribeInstanceInformation',
  'DeregisterManagedInstance',
  'GetParameter',
  'PutParameter',
] as const;
export type SsmOperation = (typeof SSM_OPERATIONS)[number];
export const SSM_WRITE_OPERATIONS: readonly SsmOperation[] = [
  'AddTagsToResource',
  'RemoveTagsFromResource',
  'DeregisterManagedInstance',
  'PutParameter',
];

const MANAGED_NODE_ID = /^mi-[0-9a-f]{17}$/;
const TAG_CHARS = SSM_TAG_PATTERN;
const MAX_TAGS_PER_RESOURCE = SSM_MAX_TAGS_PER_NODE;

export interface FakeNode {
  activationId?: string;
  tags: Map<string, string>;
  /** The node has carried a tag at some point (the Tagging API's GetResources lists such nodes). */
  everTagged?: boolean;
}

export interface FakeParameter {
  type: 'String' | 'StringList' | 'SecureString';
  value: string;
  version: number;
}

export interface FakeError {
  __type: string;
  message: string;
  status?: number;
}

export interface SsmFakeOptions {
  /** Share of calls (0-1) answered with ThrottlingException before any effect. */
  throttleRatio?: number;
  /** Seed of the PRNG that picks the throttled calls, so a run is reproducible. */
  seed?: number;
  /** Operations that may be throttled (default: all). */
  throttleOperations?: readonly SsmOperation[];
  /** Called for each (not throttled) request; return an error to inject a fault. */
  fault?: (op: string, body: Record<string, unknown>) => FakeError | undefined;
}

export interface SsmFakeState {
  nodes: Map<string, FakeNode>;
  parameters: Map<string, FakeParameter>;
  addNode(id: string, init?: { activationId?: string; tags?: Record<string, string> }): void;
  tagsOf(id: string): Record<string, string> | undefined;
}

export interface SsmFake {
  endpoint: string;
  state: SsmFakeState;
  /** Requests received per operation, throttled ones included. */
  calls: Record<string, number>;
  /** Requests answered with ThrottlingException, per operation. */
  throttled: Record<string, number>;
  totalCalls(): number;
  writeCalls(): number;
  resetCounters(): void;
  setThrottleRatio(ratio: number): void;
  close(): Promise<void>;
}

const validation = (message: string) => new ApiError('ValidationException', `1 validation error detected: ${message}`);

function str(body: Record<string, unknown>, field: string, required = true): string | undefined {
  const v = body[field];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string')
    throw validation(`Value at '${field}' failed to satisfy constraint: Member must not be null`);
  return v;
}

function checkTagKey(key: unknown, where: string): string {
  if (typeof key !== 'string' || key.length < 1 || key.length > SSM_MAX_KEY_LENGTH) {
    throw validation(
      `Value at '${where}' failed to satisfy constraint: Member must have length between 1 and ${SSM_MAX_KEY_LENGTH}`,
    );
  }
  if (!TAG_CHARS.test(key)) {
    throw validation(
      `Value at '${where}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(?!^(?i)aws:)(?=^[${SSM_TAG_CHARACTERS}]*$).*$`,
    );
  }
  if (key.toLowerCase().startsWith('aws:')) {
    throw validation(`Value at '${where}' failed to satisfy constraint: keys starting with aws: are reserved`);
  }
  return key;
}

function checkTagValue(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length > SSM_MAX_VALUE_LENGTH) {
    throw validation(
      `Value at '${where}' failed to satisfy constraint: Member must have length less than or equal to ${SSM_MAX_VALUE_LENGTH}`,
    );
  }
  if (!TAG_CHARS.test(value)) {
    throw validation(
      `Value at '${where}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[${SSM_TAG_CHARACTERS}]*$`,
    );
  }
  return value;
}

export async function startSsmFake(opts: SsmFakeOptions = {}): Promise<SsmFake> {
  const nodes = new Map<string, FakeNode>();
  const parameters = new Map<string, FakeParameter>();
  const calls: Record<string, number> = Object.fromEntries(SSM_OPERATIONS.map((o) => [o, 0]));
  const throttled: Record<string, number> = Object.fromEntries(SSM_OPERATIONS.map((o) => [o, 0]));
  let throttleRatio = opts.throttleRatio ?? 0;
  const random = prng(opts.seed ?? 1);
  const throttleOps = new Set<string>(opts.throttleOperations ?? SSM_OPERATIONS);

  const state: SsmFakeState = {
    nodes,
    parameters,
    addNode(id, init = {}) {
      if (!MANAGED_NODE_ID.test(id)) throw new Error(`fake: ${id} is not a managed node ID`);
      const tags = new Map(Object.entries(init.tags ?? {}));
      nodes.set(id, { activationId: init.activationId, tags, everTagged: tags.size > 0 });
    },
    tagsOf(id) {
      const n = nodes.get(id);
      return n ? Object.fromEntries(n.tags) : undefined;
    },
  };

  function managedNode(body: Record<string, unknown>): FakeNode {
    const type = str(body, 'ResourceType');
    if (
      ![
        'Document',
        'ManagedInstance',
        'MaintenanceWindow',
        'Parameter',
        'PatchBaseline',
        'OpsItem',
        'OpsMetadata',
        'Automation',
        'Association',
      ].includes(type!)
    ) {
      throw validation(
        `Value '${type}' at 'resourceType' failed to satisfy constraint: Member must satisfy enum value set`,
      );
    }
    if (type !== 'ManagedInstance')
      throw new ApiError('InvalidResourceType', 'The resource type is not valid for this fake');
    const id = str(body, 'ResourceId')!;
    const node = MANAGED_NODE_ID.test(id) ? nodes.get(id) : undefined;
    if (!node)
      throw new ApiError(
        'InvalidResourceId',
        'The resource ID is not valid. Verify that you entered the correct ID and try again.',
      );
    return node;
  }

  const handlers: Record<SsmOperation, (body: Record<string, unknown>) => unknown> = {
    AddTagsToResource(body) {
      const node = managedNode(body);
      const tags = body.Tags;
      if (!Array.isArray(tags) || tags.length < 1 || tags.length > 1000)
        throw validation("Value at 'tags' failed to satisfy constraint: Member must have length between 1 and 1000");
      const next = new Map(node.tags);
      tags.forEach((t: { Key?: unknown; Value?: unknown }, i) => {
        next.set(
          checkTagKey(t?.Key, `tags.${i + 1}.member.key`),
          checkTagValue(t?.Value, `tags.${i + 1}.member.value`),
        );
      });
      if (next.size > MAX_TAGS_PER_RESOURCE)
        throw new ApiError(
          'TooManyTagsError',
          'The Targets parameter includes too many tags. Remove one or more tags and try the command again.',
        );
      node.tags = next;
      node.everTagged = true;
      return {};
    },
    RemoveTagsFromResource(body) {
      const node = managedNode(body);
      const keys = body.TagKeys;
      if (!Array.isArray(keys))
        throw validation("Value at 'tagKeys' failed to satisfy constraint: Member must not be null");
      keys.forEach((k, i) => checkTagKey(k, `tagKeys.${i + 1}.member`));
      for (const k of keys as string[]) node.tags.delete(k);
      return {};
    },
    ListTagsForResource(body) {
      const node = managedNode(body);
      return { TagList: [...node.tags].map(([Key, Value]) => ({ Key, Value })) };
    },
    DescribeInstanceInformation(body) {
      if (body.InstanceInformationFilterList !== undefined && body.Filters !== undefined) {
        throw new ApiError('InvalidFilter', 'InstanceInformationFilterList and Filters cannot be used together');
      }
      const max = body.MaxResults === undefined ? 50 : body.MaxResults;
      if (typeof max !== 'number' || !Number.isInteger(max) || max < 5 || max > 50) {
        throw validation(
          `Value '${String(max)}' at 'maxResults' failed to satisfy constraint: Member must have value between 5 and 50`,
        );
      }
      let matches = [...nodes.keys()].sort();
      for (const f of (body.Filters as Array<{ Key?: unknown; Values?: unknown }> | undefined) ?? []) {
        const values = f.Values;
        if (!Array.isArray(values) || values.length < 1 || values.length > 100) {
          throw validation(
            "Value at 'filters.member.values' failed to satisfy constraint: Member must have length between 1 and 100",
          );
        }
        if (f.Key === 'InstanceIds') {
          // API reference, DescribeInstanceInformation, Errors: InvalidInstanceId when a node is
          // not accessible, not registered, or not in a valid state. The whole call fails: no
          // partial list is returned for the IDs that are known.
          if (values.some((id) => typeof id !== 'string' || !nodes.has(id)))
            throw new ApiError('InvalidInstanceId', 'The following instance ID is not valid.');
          matches = matches.filter((id) => values.includes(id));
        } else if (f.Key === 'ActivationIds')
          matches = matches.filter((id) => values.includes(nodes.get(id)!.activationId));
        else throw new ApiError('InvalidFilterKey', `The filter key ${String(f.Key)} is not supported by this fake`);
      }
      const query = createHash('sha256')
        .update(JSON.stringify(body.Filters ?? null))
        .digest('hex')
        .slice(0, 16);
      let offset = 0;
      if (body.NextToken !== undefined) {
        try {
          const token = JSON.parse(Buffer.from(String(body.NextToken), 'base64').toString('utf8')) as {
            o: number;
            q: string;
          };
          if (token.q !== query || !Number.isInteger(token.o) || token.o < 0) throw new Error('mismatch');
          offset = token.o;
        } catch {
          throw new ApiError('InvalidNextToken', 'The specified token is not valid.');
        }
      }
      const page = matches.slice(offset, offset + max);
      const more = offset + max < matches.length;
      return {
        InstanceInformationList: page.map((id) => ({
          InstanceId: id,
          ActivationId: nodes.get(id)!.activationId,
          ResourceType: 'ManagedInstance',
          PingStatus: 'Online',
          PlatformType: 'Linux',
          IamRole: 'ssm-hub-managed-node',
          RegistrationDate: 1_700_000_000,
        })),
        ...(more ? { NextToken: Buffer.from(JSON.stringify({ o: offset + max, q: query })).toString('base64') } : {}),
      };
    },
    DeregisterManagedInstance(body) {
      const id = str(body, 'InstanceId')!;
      if (!MANAGED_NODE_ID.test(id) || !nodes.has(id))
        throw new ApiError('InvalidInstanceId', 'The following instance ID is not valid.');
      nodes.delete(id);
      return {};
    },
    GetParameter(body) {
      const name = str(body, 'Name')!;
      const p = parameters.get(name);
      if (!p) throw new ApiError('ParameterNotFound', '');
      const decrypt = body.WithDecryption === true;
      const value =
        p.type === 'SecureString' && !decrypt ? Buffer.from(`kms-ciphertext:${p.version}`).toString('base64') : p.value;
      return {
        Parameter: {
          Name: name,
          Type: p.type,
          Value: value,
          Version: p.version,
          LastModifiedDate: 1_700_000_000,
          ARN: `arn:aws:ssm:us-east-1:111111111111:parameter${name.startsWith('/') ? '' : '/'}${name}`,
          DataType: 'text',
        },
      };
    },
    PutParameter(body) {
      const name = str(body, 'Name')!;
      const value = str(body, 'Value')!;
      const type = (str(body, 'Type', false) ?? 'String') as FakeParameter['type'];
      const existing = parameters.get(name);
      if (existing && body.Overwrite !== true)
        throw new ApiError(
          'ParameterAlreadyExists',
          'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
        );
      const version = (existing?.version ?? 0) + 1;
      parameters.set(name, { type, value, version });
      return { Version: version, Tier: 'Standard' };
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : '';
    const protocolError = awsJsonRequestError(req, 'ssm');
    if (protocolError) throw protocolError;
    if (!(SSM_OPERATIONS as readonly string[]).includes(op))
      throw new ApiError('UnknownOperationException', `unknown operation ${target}`);
    calls[op] = (calls[op] ?? 0) + 1;
    if (throttleOps.has(op) && throttleRatio > 0 && random() < throttleRatio) {
      throttled[op] = (throttled[op] ?? 0) + 1;
      throw new ApiError('ThrottlingException', 'Rate exceeded');
    }
    const body = parseJsonBody(raw);
    const injected = opts.fault?.(op, body);
    if (injected) throw new ApiError(injected.__type, injected.message, injected.status ?? 400);
    sendAwsJson(res, 200, handlers[op as SsmOperation](body));
  }

  const server = await listenLoopback(handle, (res, err) => sendAwsJsonError(res, err));

  return {
    endpoint: server.endpoint,
    state,
    calls,
    throttled,
    totalCalls: () => Object.values(calls).reduce((a, b) => a + b, 0),
    writeCalls: () => SSM_WRITE_OPERATIONS.reduce((a, op) => a + (calls[op] ?? 0), 0),
    resetCounters() {
      for (const k of Object.keys(calls)) calls[k] = 0;
      for (const k of Object.keys(throttled)) throttled[k] = 0;
    },
    setThrottleRatio(r) {
      throttleRatio = r;
    },
    close: server.close,
  };
}
