// How the CLI tells AWS failures apart: a network failure or timeout (names the service, the
// operation and the endpoint), missing or unusable credentials, access denied, not found, and
// everything else. One pure classifier, so `status`, `doctor` and the others report alike.
import { OperationError } from '../kit/index.ts';

export type FailureKind =
  'unreachable' | 'credentials' | 'access-denied' | 'not-found' | 'throttled' | 'service' | 'other';

/** A call that got no answer: the endpoint is named so a proxy or VPC endpoint can be checked. */
export class AwsUnreachableError extends OperationError {
  override readonly name: string = 'AwsUnreachableError';
  constructor(
    readonly service: string,
    readonly operation: string,
    readonly endpoint: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${service} ${operation} to ${endpoint}: ${reason}`, options);
  }
}

// Node's socket error codes for a peer that cannot be reached (Node.js "Common system errors").
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

interface ErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** @smithy/node-http-handler names its connection, request and socket timeouts "TimeoutError". */
export const isTimeout = (err: unknown): boolean => (err as ErrorShape)?.name === 'TimeoutError';

export const isNetworkFailure = (err: unknown): boolean => {
  const e = err as ErrorShape;
  return isTimeout(err) || NETWORK_CODES.has(e?.code ?? '') || NETWORK_CODES.has(e?.name ?? '');
};

// The credential providers (@aws-sdk/credential-provider-*) throw CredentialsProviderError; STS
// answers an unusable key with these codes (STS and IAM API references, "Common Errors").
const CREDENTIAL_NAMES = new Set([
  'CredentialsProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'InvalidSignatureException',
  'IncompleteSignature',
  'MissingAuthenticationToken',
]);
const DENIED_NAMES = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'AuthorizationError']);
const THROTTLE_NAMES = new Set([
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);

/** What kind of failure an error is: pure, table-tested. */
export function failureKind(err: unknown): FailureKind {
  const e = (err ?? {}) as ErrorShape;
  const name = e.name ?? '';
  if (err instanceof AwsUnreachableError || isNetworkFailure(err)) return 'unreachable';
  if (CREDENTIAL_NAMES.has(name) || /Could not load credentials|no MFA code/i.test(e.message ?? ''))
    return 'credentials';
  if (DENIED_NAMES.has(name) || e.$metadata?.httpStatusCode === 403) return 'access-denied';
  if (THROTTLE_NAMES.has(name)) return 'throttled';
  if (/NotFound/.test(name) || /does not exist/.test(e.message ?? '') || e.$metadata?.httpStatusCode === 404)
    return 'not-found';
  if ((e.$metadata?.httpStatusCode ?? 0) >= 500) return 'service';
  return 'other';
}

/**
 * One line for an AWS failure. The SDK turns an unmodelled HTTP 500 into "Unknown: Unknown"; this
 * says what was answered instead.
 */
export function awsFailureText(err: unknown): string {
  const e = (err ?? {}) as ErrorShape;
  const status = e.$metadata?.httpStatusCode;
  if ((e.name === 'Unknown' || !e.name) && (e.message === 'Unknown' || !e.message) && status)
    return `AWS answered HTTP ${status} with no error code (${status >= 500 ? 'a service-side failure: retry later' : 'unexpected answer'})`;
  if (err instanceof Error) {
    const name = err.name && err.name !== 'Error' && !(err instanceof OperationError) ? `${err.name}: ` : '';
    return `${name}${err.message}`.split('\n')[0]!;
  }
  return String(err);
}
