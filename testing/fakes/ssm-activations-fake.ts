// A loopback fake of the SSM API subset the activation manager uses, speaking the real wire
// protocol (AWS JSON 1.1: POST /, X-Amz-Target: AmazonSSM.<Operation>, timestamps as epoch
// seconds, errors as HTTP 400 {"__type": ...}). The real SDK client talks to it, so request
// serialisation, error parsing, pagination and retries all run for real. It enforces the API
// rules the handler could break: IamRole must be a role name, RegistrationLimit 1–1000,
// ExpirationDate at most 30 days ahead, parameter size and name rules, MaxResults ranges,
// opaque NextToken values, ParameterAlreadyExists without Overwrite.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ACTIVATION_MAX_REGISTRATION_LIMIT,
  PARAMETER_NAME_MAX_LENGTH,
  SSM_MAX_KEY_LENGTH,
  SSM_MAX_VALUE_LENGTH,
  STANDARD_PARAMETER_MAX_BYTES,
} from '../../contract/limits.ts';
import { SSM_TAG_PATTERN } from '../../contract/patterns.ts';
import { FakeApiError as ApiError, listenLoopback, prng, readBody, sendAwsJson } from './loopback.ts';
import { NodeApiError, SsmNodesState, type FakeManagedNode } from './ssm-nodes.ts';

const DAY_MS = 86_400_000;

export interface FakeActivation {
  ActivationId: string;
  ActivationCode: string;
  Description?: string;
  DefaultInstanceName?: string;
  IamRole: string;
  RegistrationLimit: number;
  RegistrationsCount: number;
  ExpirationDate: Date;
  CreatedDate: Date;
  Tags: { Key: string; Value: string }[];
}

export interface FakeParameter {
  Name: string;
  Value: string;
  Type: 'String' | 'StringList' | 'SecureString';
  KeyId?: string;
  Tier: 'Standard' | 'Advanced' | 'Intelligent-Tiering';
  Version: number;
  LastModifiedDate: Date;
  Description?: string;
}

export interface FakeCall {
  op: string;
  input: Record<string, unknown>;
  /** HTTP status the fake answered with; 200 on success. */
  status: number;
  errorType?: string;
}

export interface InjectedFailure {
  count: number;
  /** __type of the error; default InternalServerError (HTTP 500, retried by the SDK). */
  type?: string;
  status?: number;
  message?: string;
}

export interface SsmFakeOptions {
  /** Fraction of requests (any operation) answered with ThrottlingException. */
  throttleRatio?: number;
  /** Seed of the deterministic random source deciding which requests are throttled. */
  seed?: number;
  /** Added latency per operation, in milliseconds. */
  delayMs?: Partial<Record<string, number>>;
  /** The fake's clock; defaults to the real one. */
  now?: () => Date;
}

export interface SsmActivationsFake {
  endpoint: string;
  state: { activations: Map<string, FakeActivation>; parameters: Map<string, FakeParameter> };
  calls: FakeCall[];
  /** The next `count` CreateActivation requests fail with the given error. */
  failNextCreateActivation(failure: InjectedFailure): void;
  /** The next `count` requests of any operation fail with the given error. */
  failNext(op: string, failure: InjectedFailure): void;
  setThrottleRatio(ratio: number): void;
  setDelay(op: string, ms: number): void;
  setRegistrations(activationId: string, registrationsCount: number): void;
  /** Managed nodes and the activation-tier setting (ssm-nodes.ts). */
  nodes: SsmNodesState;
  /** Registers `count` nodes with the activation, as the agent would: RegistrationsCount grows. */
  registerNodes(activationId: string, count: number, init?: Partial<Omit<FakeManagedNode, 'ActivationId'>>): string[];
  /** Puts an activation in place directly (e.g. one that has already expired). */
  seedActivation(a: Partial<FakeActivation> & { ExpirationDate: Date }): FakeActivation;
  /** Calls of the given operations, in order. */
  callsOf(...ops: string[]): FakeCall[];
  /**
   * Runs `hook` once, just before the next request of `op` is served: a concurrent writer (e.g. a
   * stack update racing the scheduled rotation) can change state in between.
   */
  beforeNext(op: string, hook: () => void): void;
  /** Writes a parameter as another caller would (new version, kept in the history). */
  putDirect(name: string, value: string): number;
  close(): Promise<void>;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function activationCode(): string {
  const bytes = randomBytes(20);
  return Array.from(bytes, (b) => ALNUM[b % ALNUM.length]).join('');
}

const epoch = (d: Date): number => d.getTime() / 1000;
const TAG_PATTERN = SSM_TAG_PATTERN;
/** Parameter Store's name characters (PutParameter, Name). */
const PARAMETER_NAME = /^[a-zA-Z0-9_.\-/]+$/;

function str(input: Record<string, unknown>, field: string, required = false): string | undefined {
  const v = input[field];
  if (v === undefined || v === null) {
    if (required)
      throw new ApiError(
        'ValidationException',
        `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`,
      );
    return undefined;
  }
  if (typeof v !== 'string') throw new ApiError('SerializationException', `${field} must be a string`);
  return v;
}

function int(input: Record<string, unknown>, field: string): number | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new ApiError('SerializationException', `${field} must be an integer`);
  return v;
}

function encodeToken(offset: number, scope: string): string {
  return Buffer.from(JSON.stringify({ o: offset, s: scope })).toString('base64');
}
function decodeToken(token: string | undefined, scope: string): number {
  if (token === undefined) return 0;
  try {
    const t = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { o?: unknown; s?: unknown };
    if (typeof t.o === 'number' && t.s === scope) return t.o;
  } catch {
    /* fall through */
  }
  throw new ApiError('InvalidNextToken', "The specified token isn't valid.");
}

function validateTags(tags: unknown): { Key: string; Value: string }[] {
  if (tags === undefined) return [];
  if (!Array.isArray(tags)) throw new ApiError('SerializationException', 'Tags must be a list');
  if (tags.length > 1000)
    throw new ApiError('ValidationException', 'Member must have length less than or equal to 1000');
  return tags.map((t: { Key?: unknown; Value?: unknown }) => {
    if (
      typeof t.Key !== 'string' ||
      t.Key.length < 1 ||
      t.Key.length > SSM_MAX_KEY_LENGTH ||
      !TAG_PATTERN.test(t.Key)
    ) {
      throw new ApiError('ValidationException', "Value at 'tags.member.key' failed to satisfy constraint");
    }
    if (typeof t.Value !== 'string' || t.Value.length > SSM_MAX_VALUE_LENGTH || !TAG_PATTERN.test(t.Value)) {
      throw new ApiError('ValidationException', "Value at 'tags.member.value' failed to satisfy constraint");
    }
    if (t.Key.toLowerCase().startsWith('aws:'))
      throw new ApiError('InvalidParameters', 'Tag keys starting with aws: are reserved');
    return { Key: t.Key, Value: t.Value };
  });
}

export async function startSsmActivationsFake(opts: SsmFakeOptions = {}): Promise<SsmActivationsFake> {
  const now = opts.now ?? (() => new Date());
  const random = prng(opts.seed ?? 1);
  let throttleRatio = opts.throttleRatio ?? 0;
  const delays: Record<string, number> = { ...(opts.delayMs as Record<string, number> | undefined) };
  const activations = new Map<string, FakeActivation>();
  const parameters = new Map<string, FakeParameter>();
  // Every version ever written, as GetParameterHistory returns them (it keeps the last 100).
  const history = new Map<string, FakeParameter[]>();
  const beforeHooks = new Map<string, Array<() => void>>();
  const storeParameter = (p: FakeParameter) => {
    parameters.set(p.Name, p);
    const versions = history.get(p.Name) ?? [];
    versions.push(p);
    history.set(p.Name, versions.slice(-100));
  };
  const calls: FakeCall[] = [];
  let pendingFailures = new Map<string, { type: string; status: number; message: string }[]>();

  const nodes = new SsmNodesState();
  const ops: Record<string, (input: Record<string, unknown>) => unknown> = {
    ...nodes.operations(),
    CreateActivation(input) {
      const iamRole = str(input, 'IamRole', true)!;
      if (iamRole.length > 64 || iamRole.startsWith('arn:') || !/^[\w+=,.@/-]+$/.test(iamRole)) {
        throw new ApiError(
          'ValidationException',
          'IamRole must be the name of an IAM role (at most 64 characters), not an ARN',
        );
      }
      const limit = int(input, 'RegistrationLimit') ?? 1;
      if (limit < 1 || limit > ACTIVATION_MAX_REGISTRATION_LIMIT)
        throw new ApiError(
          'ValidationException',
          `RegistrationLimit must be between 1 and ${ACTIVATION_MAX_REGISTRATION_LIMIT}`,
        );
      const description = str(input, 'Description');
      if (description !== undefined && description.length > 256)
        throw new ApiError('ValidationException', 'Description is too long');
      const defaultName = str(input, 'DefaultInstanceName');
      if (defaultName !== undefined && (defaultName.length > 256 || !TAG_PATTERN.test(defaultName))) {
        throw new ApiError('ValidationException', 'DefaultInstanceName failed to satisfy constraint');
      }
      const t = now().getTime();
      const rawExpiry = input.ExpirationDate;
      if (rawExpiry !== undefined && typeof rawExpiry !== 'number')
        throw new ApiError('SerializationException', 'ExpirationDate must be a timestamp');
      const expiry = rawExpiry === undefined ? new Date(t + DAY_MS) : new Date(rawExpiry * 1000);
      if (expiry.getTime() <= t) throw new ApiError('InvalidParameters', 'ExpirationDate must be in the future');
      if (expiry.getTime() > t + 30 * DAY_MS)
        throw new ApiError('InvalidParameters', 'ExpirationDate can be at most 30 days in the future');
      const a: FakeActivation = {
        ActivationId: randomUUID(),
        ActivationCode: activationCode(),
        Description: description,
        DefaultInstanceName: defaultName,
        IamRole: iamRole,
        RegistrationLimit: limit,
        RegistrationsCount: 0,
        ExpirationDate: expiry,
        CreatedDate: new Date(t),
        Tags: validateTags(input.Tags),
      };
      activations.set(a.ActivationId, a);
      return { ActivationId: a.ActivationId, ActivationCode: a.ActivationCode };
    },

    DescribeActivations(input) {
      const max = int(input, 'MaxResults') ?? 50;
      if (max < 1 || max > 50) throw new ApiError('ValidationException', 'MaxResults must be between 1 and 50');
      const filters = (input.Filters ?? []) as { FilterKey?: string; FilterValues?: string[] }[];
      let list = [...activations.values()].sort(
        (a, b) => a.CreatedDate.getTime() - b.CreatedDate.getTime() || a.ActivationId.localeCompare(b.ActivationId),
      );
      for (const f of filters) {
        const values = f.FilterValues ?? [];
        const field =
          f.FilterKey === 'ActivationIds'
            ? 'ActivationId'
            : f.FilterKey === 'DefaultInstanceName'
              ? 'DefaultInstanceName'
              : f.FilterKey === 'IamRole'
                ? 'IamRole'
                : undefined;
        if (!field) throw new ApiError('InvalidFilter', `Filter key ${String(f.FilterKey)} is not valid`);
        list = list.filter((a) => values.includes(String(a[field as keyof FakeActivation] ?? '')));
      }
      const scope = JSON.stringify(filters);
      const start = decodeToken(str(input, 'NextToken'), scope);
      const page = list.slice(start, start + max);
      const t = now().getTime();
      return {
        ActivationList: page.map((a) => ({
          ActivationId: a.ActivationId,
          Description: a.Description,
          DefaultInstanceName: a.DefaultInstanceName,
          IamRole: a.IamRole,
          RegistrationLimit: a.RegistrationLimit,
          RegistrationsCount: a.RegistrationsCount,
          ExpirationDate: epoch(a.ExpirationDate),
          Expired: a.ExpirationDate.getTime() <= t,
          CreatedDate: epoch(a.CreatedDate),
          Tags: a.Tags,
        })),
        NextToken: start + max < list.length ? encodeToken(start + max, scope) : undefined,
      };
    },

    DeleteActivation(input) {
      const id = str(input, 'ActivationId', true)!;
      if (!activations.delete(id))
        throw new ApiError(
          'InvalidActivation',
          'The activation is not valid. The activation might have been deleted, or the ActivationId and the ActivationCode do not match.',
        );
      return {};
    },

    PutParameter(input) {
      const name = str(input, 'Name', true)!;
      validateParameterName(name);
      const value = str(input, 'Value', true)!;
      const type = (str(input, 'Type') ?? 'String') as FakeParameter['Type'];
      if (!['String', 'StringList', 'SecureString'].includes(type))
        throw new ApiError('ValidationException', 'Type is not valid');
      const tier = (str(input, 'Tier') ?? 'Standard') as FakeParameter['Tier'];
      const maxBytes = tier === 'Standard' ? STANDARD_PARAMETER_MAX_BYTES : 8192;
      if (Buffer.byteLength(value) > maxBytes) {
        throw new ApiError(
          'ValidationException',
          `Value at 'value' failed to satisfy constraint: Member must have length less than or equal to ${maxBytes}`,
        );
      }
      const keyId = str(input, 'KeyId');
      if (keyId !== undefined && type !== 'SecureString')
        throw new ApiError('ValidationException', 'KeyId is only for SecureString parameters');
      const overwrite = input.Overwrite === true;
      if (overwrite && input.Tags !== undefined)
        throw new ApiError('ValidationException', "Invalid request: tags and overwrite can't be used together.");
      const existing = parameters.get(name);
      if (existing && !overwrite)
        throw new ApiError(
          'ParameterAlreadyExists',
          'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
        );
      const p: FakeParameter = {
        Name: name,
        Value: value,
        Type: type,
        KeyId: type === 'SecureString' ? (keyId ?? 'alias/aws/ssm') : undefined,
        Tier: tier,
        Version: (existing?.Version ?? 0) + 1,
        LastModifiedDate: now(),
        Description: str(input, 'Description'),
      };
      storeParameter(p);
      return { Version: p.Version, Tier: p.Tier };
    },

    GetParameter(input) {
      const name = str(input, 'Name', true)!;
      const p = parameters.get(name);
      if (!p) throw new ApiError('ParameterNotFound', '');
      return { Parameter: renderParameter(p, input.WithDecryption === true) };
    },

    GetParameterHistory(input) {
      const name = str(input, 'Name', true)!;
      // Parameters a test placed directly in the map have a history of one version.
      const versions = history.get(name) ?? (parameters.has(name) ? [parameters.get(name)!] : undefined);
      if (!versions || !parameters.has(name)) throw new ApiError('ParameterNotFound', '');
      const max = int(input, 'MaxResults') ?? 50;
      if (max < 1 || max > 50) throw new ApiError('ValidationException', 'MaxResults must be 1-50');
      const start = decodeToken(str(input, 'NextToken'), `history|${name}`);
      const page = versions.slice(start, start + max);
      return {
        Parameters: page.map((p) => ({
          ...renderParameter(p, input.WithDecryption === true),
          KeyId: p.KeyId,
          Tier: p.Tier,
        })),
        NextToken: start + max < versions.length ? encodeToken(start + max, `history|${name}`) : undefined,
      };
    },

    GetParametersByPath(input) {
      const path = str(input, 'Path', true)!;
      if (!path.startsWith('/')) throw new ApiError('ValidationException', 'Path must start with /');
      const max = int(input, 'MaxResults') ?? 10;
      if (max < 1 || max > 10)
        throw new ApiError(
          'ValidationException',
          "Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10",
        );
      const base = path.endsWith('/') ? path : `${path}/`;
      const recursive = input.Recursive === true;
      const matching = [...parameters.values()]
        .filter((p) => p.Name.startsWith(base) && (recursive || !p.Name.slice(base.length).includes('/')))
        .sort((a, b) => a.Name.localeCompare(b.Name));
      const scope = `${base}|${recursive}`;
      const start = decodeToken(str(input, 'NextToken'), scope);
      const page = matching.slice(start, start + max);
      return {
        Parameters: page.map((p) => renderParameter(p, input.WithDecryption === true)),
        NextToken: start + max < matching.length ? encodeToken(start + max, scope) : undefined,
      };
    },

    DeleteParameter(input) {
      const name = str(input, 'Name', true)!;
      if (!parameters.delete(name)) throw new ApiError('ParameterNotFound', '');
      history.delete(name);
      return {};
    },
  };

  function validateParameterName(name: string): void {
    if (name.length > PARAMETER_NAME_MAX_LENGTH || !PARAMETER_NAME.test(name))
      throw new ApiError('ValidationException', 'Parameter name is not valid');
    if (/^\/?(aws|ssm)/i.test(name))
      throw new ApiError(
        'ValidationException',
        'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).',
      );
    if (name.includes('/') && !name.startsWith('/'))
      throw new ApiError('ValidationException', 'Parameter name must be a fully qualified name.');
    if (name.split('/').length - 1 > 15) throw new ApiError('HierarchyLevelLimitExceededException', 'too many levels');
  }

  function renderParameter(p: FakeParameter, decrypt: boolean) {
    // Without decryption a SecureString comes back as ciphertext, never the plain value.
    const value =
      p.Type === 'SecureString' && !decrypt
        ? `AQICAH${createHash('sha256').update(p.Value).digest('base64')}`
        : p.Value;
    return {
      Name: p.Name,
      Type: p.Type,
      Value: value,
      Version: p.Version,
      LastModifiedDate: epoch(p.LastModifiedDate),
      ARN: `arn:aws:ssm:us-east-1:111111111111:parameter${p.Name.startsWith('/') ? '' : '/'}${p.Name}`,
      DataType: 'text',
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : '';
    let input: Record<string, unknown> = {};
    const send = (status: number, body: unknown, errorType?: string) => {
      calls.push({ op, input, status, errorType });
      sendAwsJson(res, status, body, randomUUID());
    };
    try {
      if (
        req.method !== 'POST' ||
        !String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')
      ) {
        throw new ApiError('SerializationException', 'expected POST with application/x-amz-json-1.1');
      }
      if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256'))
        throw new ApiError('MissingAuthenticationTokenException', 'request is not signed', 403);
      const text = raw.toString('utf8');
      input = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      const impl = ops[op];
      if (!impl) throw new ApiError('UnknownOperationException', `operation ${target} is not supported by the fake`);
      beforeHooks.get(op)?.shift()?.();
      const delay = delays[op] ?? 0;
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (throttleRatio > 0 && random() < throttleRatio) throw new ApiError('ThrottlingException', 'Rate exceeded');
      const failure = pendingFailures.get(op)?.shift();
      if (failure) throw new ApiError(failure.type, failure.message, failure.status);
      send(200, impl(input));
    } catch (err) {
      if (err instanceof ApiError || err instanceof NodeApiError)
        send(err.status, { __type: err.type, message: err.message }, err.type);
      else send(500, { __type: 'InternalServerError', message: 'fake failure' }, 'InternalServerError');
    }
  }

  function failNext(op: string, failure: InjectedFailure): void {
    const queue = pendingFailures.get(op) ?? [];
    pendingFailures.set(op, queue);
    for (let i = 0; i < failure.count; i++) {
      queue.push({
        type: failure.type ?? 'InternalServerError',
        status: failure.status ?? (failure.type && failure.type !== 'InternalServerError' ? 400 : 500),
        message: failure.message ?? 'An error occurred on the server side.',
      });
    }
  }

  const server = await listenLoopback(handle);

  return {
    endpoint: server.endpoint,
    state: { activations, parameters },
    calls,
    failNextCreateActivation(failure) {
      failNext('CreateActivation', failure);
    },
    failNext,
    setThrottleRatio(ratio) {
      throttleRatio = ratio;
    },
    setDelay(op, ms) {
      delays[op] = ms;
    },
    nodes,
    registerNodes(activationId, count, init = {}) {
      const a = activations.get(activationId);
      if (!a) throw new Error(`fake: no activation ${activationId}`);
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        ids.push(nodes.add(activationId, { Tags: a.Tags, ...init, now: now() }).InstanceId);
        a.RegistrationsCount++;
      }
      return ids;
    },
    setRegistrations(activationId, registrationsCount) {
      const a = activations.get(activationId);
      if (!a) throw new Error(`fake: no activation ${activationId}`);
      a.RegistrationsCount = registrationsCount;
    },
    seedActivation(partial) {
      const a: FakeActivation = {
        ActivationId: randomUUID(),
        ActivationCode: activationCode(),
        IamRole: 'ssm-hub-managed-node',
        RegistrationLimit: 1000,
        RegistrationsCount: 0,
        CreatedDate: now(),
        Tags: [],
        ...partial,
      };
      activations.set(a.ActivationId, a);
      return a;
    },
    callsOf(...names) {
      return calls.filter((c) => names.includes(c.op));
    },
    beforeNext(op, hook) {
      beforeHooks.set(op, [...(beforeHooks.get(op) ?? []), hook]);
    },
    putDirect(name, value) {
      const existing = parameters.get(name);
      const p: FakeParameter = {
        Name: name,
        Value: value,
        Type: 'SecureString',
        KeyId: existing?.KeyId ?? 'alias/aws/ssm',
        Tier: 'Standard',
        Version: (existing?.Version ?? 0) + 1,
        LastModifiedDate: now(),
      };
      storeParameter(p);
      return p.Version;
    },
    close() {
      pendingFailures = new Map();
      return server.close();
    },
  };
}
