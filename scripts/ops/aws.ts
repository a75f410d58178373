// AWS client factory: one client per service and Region, standard credential chain, or the
// named profile through fromIni when --profile is given (with an MFA code prompt on the
// terminal for role profiles that need one). Every client has connection and socket timeouts
// and a bounded number of attempts; a call that gets no answer ends in an AwsUnreachableError
// that names the service, the operation and the endpoint, and later calls to the same endpoint
// in the same run fail at once instead of waiting again. Only the AWS-facing subcommands import
// this module, so `build` and `lint` never load the SDK.
import { createInterface } from 'node:readline/promises';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromIni, fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { Context } from '../kit/index.ts';
import { UsageError } from '../kit/index.ts';
import { REGION } from '../kit/validate.ts';
import { AwsUnreachableError, isNetworkFailure, isTimeout } from './aws-errors.ts';

/** Timeouts and attempts of every CLI client: a black-holed endpoint fails within about 13 s. */
export const HTTP_LIMITS = {
  /** TCP connect. */
  connectionTimeoutMs: 3_000,
  /** No byte in either direction for this long (also covers a TLS handshake that never answers). */
  socketTimeoutMs: 4_000,
  /** Attempts per call, first one included: throttling and timeouts are retried up to this bound. */
  maxAttempts: 3,
} as const;

export type ServiceKey = keyof NonNullable<Context['awsConfig']>;

export const SERVICE_NAMES: Record<ServiceKey, string> = {
  cloudformation: 'CloudFormation',
  s3: 'S3',
  sts: 'STS',
  organizations: 'Organizations',
  ssm: 'SSM',
  tagging: 'Resource Groups Tagging API',
  dynamodb: 'DynamoDB',
  lambda: 'Lambda',
};

export interface Clients {
  cloudformation(region: string): CloudFormationClient;
  s3(region: string): S3Client;
  sts(region: string): STSClient;
  organizations(region: string): OrganizationsClient;
  ssm(region: string): SSMClient;
  /**
   * SSM with a single attempt per call, for calls that must never be sent twice (SendCommand has no
   * idempotency token, so a retried timeout would create a second command). Its failures do not
   * mark the endpoint dead, and an endpoint that failed earlier does not stop it: each send is
   * tried (a refused send would read as "may have reached SSM"); the caller looks an unclear result
   * up next with the ordinary client.
   */
  ssmSingleAttempt(region: string): SSMClient;
  dynamodb(region: string): DynamoDBDocumentClient;
  tagging(region: string): ResourceGroupsTaggingAPIClient;
  lambda(region: string): LambdaClient;
}

interface MiddlewareClient {
  middlewareStack: { add: (...args: never[]) => void };
}

type Handler = (args: { request?: unknown; input?: unknown }) => Promise<unknown>;
type HandlerContext = { commandName?: string; ssmHubEndpoint?: string };

const endpointOf = (request: unknown): string | undefined => {
  const r = request as { protocol?: string; hostname?: string; port?: number } | undefined;
  return r?.hostname ? `${r.protocol ?? 'https:'}//${r.hostname}${r.port ? `:${r.port}` : ''}` : undefined;
};

/** The SDK records how many attempts a call made ($metadata.attempts, @smithy/middleware-retry). */
const attempts = (err: unknown): string => {
  const n = (err as { $metadata?: { attempts?: number } }).$metadata?.attempts;
  return n ? `${n} attempt${n === 1 ? '' : 's'}` : `up to ${HTTP_LIMITS.maxAttempts} attempts`;
};

/**
 * Two middlewares: one records the endpoint each request goes to and refuses an endpoint that
 * already failed to answer in this run; the outer one turns a timeout or network failure into an
 * AwsUnreachableError naming service, operation and endpoint. Without `dead` (the single-attempt
 * client), every call is tried and none marks the endpoint.
 */
function nameNetworkFailures(client: MiddlewareClient, service: string, dead?: Map<string, string>): void {
  const add = client.middlewareStack.add as unknown as (mw: unknown, opts: object) => void;
  add(
    (next: Handler, context: HandlerContext) => async (args: { request?: unknown }) => {
      const endpoint = endpointOf(args.request);
      context.ssmHubEndpoint = endpoint;
      const earlier = endpoint && dead?.get(endpoint);
      if (earlier) throw Object.assign(new Error(`not tried: ${earlier}`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
      return next(args);
    },
    { step: 'build', name: 'ssmHubEndpoint', override: true },
  );
  add(
    (next: Handler, context: HandlerContext) => async (args: unknown) => {
      try {
        return await next(args as { request?: unknown });
      } catch (err) {
        if (!isNetworkFailure(err) || err instanceof AwsUnreachableError) throw err;
        const endpoint = context.ssmHubEndpoint ?? 'its endpoint';
        const operation = (context.commandName ?? 'call').replace(/Command$/, '');
        const message = (err as Error).message ?? '';
        const reason = message.startsWith('not tried:')
          ? message
          : isTimeout(err)
            ? `timeout: no answer within ${HTTP_LIMITS.socketTimeoutMs / 1000} s (${attempts(err)})`
            : `network failure: ${(err as { code?: string }).code ?? message}`;
        if (!message.startsWith('not tried:') && context.ssmHubEndpoint)
          dead?.set(context.ssmHubEndpoint, `${endpoint} did not answer ${service} ${operation} earlier in this run`);
        throw new AwsUnreachableError(service, operation, endpoint, reason, { cause: err });
      }
    },
    { step: 'initialize', name: 'ssmHubNetworkFailures', priority: 'high', override: true },
  );
}

/**
 * Role profiles with mfa_serial need a code: read it from the terminal, as the AWS CLI does.
 * Without a terminal there is no one to ask, so the command stops with the reason.
 */
export function mfaCodeFromTerminal(): (serial: string) => Promise<string> {
  return async (serial) => {
    if (!process.stdin.isTTY)
      throw new UsageError(
        `the profile needs an MFA code for ${serial}: run from a terminal, or use a session profile`,
      );
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    try {
      const code = (await rl.question(`MFA code for ${serial}: `)).trim();
      if (!/^\d{6}$/.test(code)) throw new UsageError('MFA code: expected 6 digits');
      return code;
    } finally {
      rl.close();
    }
  };
}

/**
 * The credential provider's own clients (STS AssumeRole for a role profile, from --profile or
 * AWS_PROFILE) get the CLI's timeouts and attempts, and a silent STS fails naming STS AssumeRole
 * and marks its endpoint dead like any other call. `clientConfig` and `clientPlugins` are the
 * providers' options for their inner clients (@aws-sdk/credential-provider-ini FromIniInit;
 * credential-provider-ini passes them to getDefaultRoleAssumer of @aws-sdk/nested-clients/sts).
 */
export function credentialProvider(profile: string | undefined, dead: Map<string, string>) {
  const init = {
    mfaCodeProvider: mfaCodeFromTerminal(),
    clientConfig: {
      maxAttempts: HTTP_LIMITS.maxAttempts,
      requestHandler: {
        connectionTimeout: HTTP_LIMITS.connectionTimeoutMs,
        socketTimeout: HTTP_LIMITS.socketTimeoutMs,
      },
    },
    clientPlugins: [
      {
        applyToStack: (stack: MiddlewareClient['middlewareStack']) =>
          nameNetworkFailures({ middlewareStack: stack }, SERVICE_NAMES.sts, dead),
      },
    ],
  };
  // Without --profile: the SDK's own default chain (environment, AWS_PROFILE, SSO, IMDS …), made explicit.
  return profile ? fromIni({ profile, ...init }) : fromNodeProviderChain(init);
}

export function makeClients(ctx: Context, profile: string | undefined): Clients {
  const cache = new Map<string, unknown>();
  const dead = new Map<string, string>();
  const credentials = credentialProvider(profile, dead);
  // Adaptive retries smooth out throttling while we poll long-running operations.
  const base = (region: string) => ({
    region,
    credentials,
    retryMode: 'adaptive',
    maxAttempts: HTTP_LIMITS.maxAttempts,
    requestHandler: {
      connectionTimeout: HTTP_LIMITS.connectionTimeoutMs,
      socketTimeout: HTTP_LIMITS.socketTimeoutMs,
    },
  });
  function get<T>(service: ServiceKey, region: string, make: (cfg: Record<string, unknown>) => T): T {
    const key = `${service}:${region}`;
    if (!cache.has(key)) cache.set(key, make({ ...base(region), ...(ctx.awsConfig?.[service] ?? {}) }));
    return cache.get(key) as T;
  }
  const named = <C extends MiddlewareClient>(service: ServiceKey, client: C): C => {
    nameNetworkFailures(client, SERVICE_NAMES[service], dead);
    return client;
  };
  return {
    cloudformation: (r) => get('cloudformation', r, (c) => named('cloudformation', new CloudFormationClient(c))),
    s3: (r) => get('s3', r, (c) => named('s3', new S3Client(c))),
    sts: (r) => get('sts', r, (c) => named('sts', new STSClient(c))),
    organizations: (r) => get('organizations', r, (c) => named('organizations', new OrganizationsClient(c))),
    ssm: (r) => get('ssm', r, (c) => named('ssm', new SSMClient(c))),
    ssmSingleAttempt: (r) => {
      const key = `ssm-single:${r}`;
      if (!cache.has(key)) {
        const client = new SSMClient({ ...base(r), ...(ctx.awsConfig?.ssm ?? {}), maxAttempts: 1 });
        nameNetworkFailures(client, SERVICE_NAMES.ssm);
        cache.set(key, client);
      }
      return cache.get(key) as SSMClient;
    },
    tagging: (r) => get('tagging', r, (c) => named('tagging', new ResourceGroupsTaggingAPIClient(c))),
    lambda: (r) => get('lambda', r, (c) => named('lambda', new LambdaClient(c))),
    dynamodb: (r) =>
      get('dynamodb', r, (c) =>
        DynamoDBDocumentClient.from(named('dynamodb', new DynamoDBClient(c)), {
          marshallOptions: { removeUndefinedValues: true },
        }),
      ),
  };
}

/**
 * The home Region: --region, else AWS_REGION / AWS_DEFAULT_REGION, else the profile's Region as
 * the SDK resolves it. Resolving reads local config only; it makes no AWS call.
 */
export async function resolveRegion(
  ctx: Context,
  flag: string | undefined,
  profile: string | undefined,
): Promise<string> {
  const fromEnv = ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION;
  let value = flag ?? fromEnv;
  if (!value) {
    try {
      value = await new STSClient({ profile }).config.region();
    } catch {
      value = undefined;
    }
  }
  if (!value) throw new UsageError('--region is required (or set AWS_REGION, or a region in the profile)');
  if (!REGION.test(value)) {
    throw new UsageError(
      `${flag ? '--region' : 'AWS_REGION'}: "${value}" is not an AWS Region name (such as us-east-1)`,
    );
  }
  return value;
}

export async function callerAccount(clients: Clients, region: string): Promise<string> {
  const id = await clients.sts(region).send(new GetCallerIdentityCommand({}));
  if (!id.Account) throw new Error('STS GetCallerIdentity returned no account');
  return id.Account;
}

/** The partition-aware ARN prefix for a Region. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  return 'aws';
}
