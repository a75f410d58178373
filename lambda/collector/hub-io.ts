// Calls the central tag manager through this agency's own alias. The hub lives in the
// central Region, which may differ from ours, so the client is pinned to the ARN's Region.
// The SDK is loaded on first use, like the collector's other clients. One attempt may wait as long
// as the tag manager may run (HUB_INVOKE_TIMEOUTS), and never past the caller's deadline.
import type { LambdaClient } from '@aws-sdk/client-lambda';

import { COLLECTOR_ENVIRONMENT, HUB_ALIAS_ARN_PATTERN } from '../../contract/environment.ts';
import { HUB_INVOKE_TIMEOUTS } from '../../contract/network.ts';
import { ConfigurationError } from '../shared/errors.ts';
import { CallTimeoutError, nameTimeouts, timeoutOptions } from '../shared/timeouts.ts';

export { HUB_ALIAS_ARN_PATTERN };

type LambdaSdk = typeof import('@aws-sdk/client-lambda');
let sdk: Promise<LambdaSdk> | undefined;
let client: LambdaClient | undefined;
let clientRegion: string | undefined;

async function lambda(region: string): Promise<{ sdk: LambdaSdk; client: LambdaClient }> {
  const loaded = await (sdk ??= import('@aws-sdk/client-lambda'));
  if (!client || clientRegion !== region) {
    client = nameTimeouts(
      new loaded.LambdaClient({
        region,
        retryMode: 'adaptive',
        maxAttempts: 5,
        ...timeoutOptions(HUB_INVOKE_TIMEOUTS),
      }),
      'hub Lambda',
      HUB_INVOKE_TIMEOUTS,
    );
    clientRegion = region;
  }
  return { sdk: loaded, client };
}

export type HubAnswer =
  | { kind: 'payload'; body: unknown }
  /** The hub crashed or timed out (X-Amz-Function-Error); only its type and a short message are kept. */
  | { kind: 'functionError'; errorType: string; message: string };

/**
 * Invokes the hub synchronously and returns its parsed JSON answer. SDK errors propagate; a call
 * still unanswered after `waitMs` (retries included) is abandoned with a CallTimeoutError.
 */
export async function invokeHub(hubArn: string, request: unknown, waitMs = Infinity): Promise<HubAnswer> {
  const region = HUB_ALIAS_ARN_PATTERN.exec(hubArn)?.[1];
  if (!region)
    throw new ConfigurationError(`${COLLECTOR_ENVIRONMENT.hubFunctionArn.name} is not a qualified agency alias ARN`);
  const hub = await lambda(region);
  const abort = new AbortController();
  const timer = Number.isFinite(waitMs) ? setTimeout(() => abort.abort(), Math.max(0, waitMs)) : undefined;
  let out;
  try {
    out = await hub.client.send(
      new hub.sdk.InvokeCommand({
        FunctionName: hubArn,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(request)),
      }),
      { abortSignal: abort.signal },
    );
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    throw new CallTimeoutError(
      `hub Lambda Invoke got no answer before this invocation's time ran out (${Math.round(waitMs / 1000)} s)`,
      { cause: err },
    );
  } finally {
    clearTimeout(timer);
  }
  const text = out.Payload ? new TextDecoder().decode(out.Payload) : '';
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (out.FunctionError) {
    const b = (body ?? {}) as { errorType?: unknown; errorMessage?: unknown };
    return {
      kind: 'functionError',
      errorType: typeof b.errorType === 'string' ? b.errorType : out.FunctionError,
      message: typeof b.errorMessage === 'string' ? b.errorMessage.slice(0, 300) : '',
    };
  }
  return { kind: 'payload', body };
}
