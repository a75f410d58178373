// Sends a CloudFormation custom-resource response without the cfn-response module (it calls
// context.done, which Node 24 removed). The response is an HTTP PUT of a JSON body to the
// pre-signed ResponseURL. The URL was signed with an empty content-type, so the header must be
// sent as '' or S3 refuses the signature. http:// is accepted so tests can use a loopback server.
import * as http from 'node:http';
import * as https from 'node:https';
import { HandlerError } from './errors.ts';
import { CUSTOM_RESOURCE_RESPONSE_MAX_BYTES } from '../../contract/limits.ts';

/** CloudFormation refuses a response body larger than this. */
export const MAX_RESPONSE_BYTES = CUSTOM_RESOURCE_RESPONSE_MAX_BYTES;

export type CfnRequestType = 'Create' | 'Update' | 'Delete';

/** The fields of a custom-resource event that the response echoes back. */
export interface CfnEventBase {
  RequestType: CfnRequestType;
  ResponseURL: string;
  StackId: string;
  RequestId: string;
  LogicalResourceId: string;
  ResourceType: string;
  PhysicalResourceId?: string;
  ResourceProperties: Record<string, unknown>;
  OldResourceProperties?: Record<string, unknown>;
}

export interface CfnResponse {
  Status: 'SUCCESS' | 'FAILED';
  Reason?: string;
  PhysicalResourceId: string;
  StackId: string;
  RequestId: string;
  LogicalResourceId: string;
  NoEcho?: boolean;
  Data?: Record<string, string>;
}

export interface CfnResult {
  status: 'SUCCESS' | 'FAILED';
  physicalResourceId: string;
  reason?: string;
  noEcho?: boolean;
  data?: Record<string, string>;
}

/** Builds the response body; shortens Reason so the whole body fits in 4,096 bytes. */
export function buildResponseBody(event: CfnEventBase, result: CfnResult): string {
  const response: CfnResponse = {
    Status: result.status,
    PhysicalResourceId: result.physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  };
  if (result.reason !== undefined) response.Reason = result.reason;
  if (result.noEcho) response.NoEcho = true;
  if (result.data) response.Data = result.data;

  const body = JSON.stringify(response);
  if (Buffer.byteLength(body) <= MAX_RESPONSE_BYTES) return body;
  // Only Reason is ours to shorten. Find the longest prefix that fits (multi-byte characters
  // and JSON escapes make the byte count non-linear in the character count).
  const reason = response.Reason ?? '';
  const marker = ' [truncated]';
  const fits = (keep: number): string | undefined => {
    const text = JSON.stringify({ ...response, Reason: reason.slice(0, keep) + marker });
    return Buffer.byteLength(text) <= MAX_RESPONSE_BYTES ? text : undefined;
  };
  let lo = 0;
  let hi = reason.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid) !== undefined) lo = mid;
    else hi = mid - 1;
  }
  return fits(lo) ?? JSON.stringify({ ...response, Reason: marker.trim() });
}

export class CfnResponseError extends HandlerError {
  override readonly name = 'CfnResponseError';
}

/** PUTs the response to ResponseURL. Resolves once the server has answered 2xx. */
export function sendCfnResponse(event: CfnEventBase, result: CfnResult, timeoutMs = 10_000): Promise<void> {
  const body = buildResponseBody(event, result);
  let url: URL;
  try {
    url = new URL(event.ResponseURL);
  } catch {
    return Promise.reject(new CfnResponseError('ResponseURL is not a valid URL'));
  }
  const transport = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!transport) return Promise.reject(new CfnResponseError(`ResponseURL protocol ${url.protocol} is not http(s)`));

  return new Promise<void>((resolve, reject) => {
    const req = transport.request(
      url,
      {
        method: 'PUT',
        headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        res.resume(); // drain so the socket is released
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve();
          else reject(new CfnResponseError(`ResponseURL answered HTTP ${code}`));
        });
        res.on('error', (err) =>
          reject(new CfnResponseError(`ResponseURL read failed: ${err.message}`, { cause: err })),
        );
      },
    );
    req.on('timeout', () => req.destroy(new CfnResponseError('ResponseURL timed out')));
    req.on('error', (err) =>
      reject(
        err instanceof CfnResponseError
          ? err
          : new CfnResponseError(`ResponseURL PUT failed: ${err.message}`, { cause: err }),
      ),
    );
    req.end(body);
  });
}
