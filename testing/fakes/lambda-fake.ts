// A loopback fake of Lambda's Invoke API (REST-JSON) for the real SDK client, pointed at it by
// AWS_ENDPOINT_URL_LAMBDA. It hands each payload to a test-provided async function, returns its
// JSON, turns a thrown error into X-Amz-Function-Error: Unhandled like the runtime does, and
// enforces the 6 MB synchronous request limit (413 RequestTooLargeException).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackFake, readBody } from './loopback.ts';
import { LAMBDA_SYNC_PAYLOAD_MAX_BYTES } from '../../contract/limits.ts';
import { ACCOUNT_ID_BODY, patternOf } from '../../contract/patterns.ts';

/** A qualified function ARN; group 1 is the alias or version. */
const QUALIFIED_ARN = patternOf(['^arn:[^:]+:lambda:[^:]+:', ACCOUNT_ID_BODY, ':function:[^:]+:([^:]+)$']);

/** Lambda's synchronous invocation payload limit: 6 MB. */
export const MAX_SYNC_PAYLOAD_BYTES = LAMBDA_SYNC_PAYLOAD_MAX_BYTES;

export interface InvokeMeta {
  /** FunctionName from the path, URL-decoded (may be a qualified ARN). */
  functionName: string;
  /** Qualifier from the query string, or the alias/version at the end of a qualified ARN. */
  qualifier: string | undefined;
  /** Region from the SigV4 credential scope: shows which Region the client signed for. */
  signingRegion: string | undefined;
  invocationType: string;
}

export interface InvokeCall extends InvokeMeta {
  payload: unknown;
  bytes: number;
  status: number;
}

export type InvokeHandler = (payload: unknown, meta: InvokeMeta) => Promise<unknown>;

export class LambdaFake extends LoopbackFake {
  calls: InvokeCall[] = [];
  /** The next N invocations get 429 TooManyRequestsException. */
  throttleNext = 0;
  /** When set, any other FunctionName gets 404 ResourceNotFoundException. */
  knownFunctions: string[] | undefined;

  constructor(public onInvoke: InvokeHandler = async () => null) {
    super();
  }

  reset(onInvoke: InvokeHandler = async () => null): void {
    this.calls = [];
    this.throttleNext = 0;
    this.knownFunctions = undefined;
    this.onInvoke = onInvoke;
  }

  /** Payloads of successful calls with the given op. */
  payloadsOf(op: string): Array<Record<string, unknown>> {
    return this.calls
      .filter((c) => c.status === 200 && (c.payload as { op?: unknown } | null)?.op === op)
      .map((c) => c.payload as Record<string, unknown>);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://fake');
    const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
    const error = (status: number, type: string, message: string) => {
      res.writeHead(status, {
        'content-type': 'application/json',
        'x-amzn-errortype': type,
        'x-amzn-requestid': 'fake',
      });
      res.end(JSON.stringify({ Type: 'User', message }));
      return status;
    };
    if (req.method !== 'POST' || !m) {
      error(404, 'UnknownOperationException', `no such operation: ${req.method} ${url.pathname}`);
      return;
    }
    const functionName = decodeURIComponent(m[1]!);
    const arnQualifier = QUALIFIED_ARN.exec(functionName)?.[1];
    const meta: InvokeMeta = {
      functionName,
      qualifier: url.searchParams.get('Qualifier') ?? arnQualifier,
      signingRegion: /Credential=[^/]+\/\d{8}\/([^/]+)\/lambda\//.exec(req.headers.authorization ?? '')?.[1],
      invocationType: String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse'),
    };
    let payload: unknown;
    try {
      payload = raw.length ? JSON.parse(raw.toString('utf8')) : {};
    } catch {
      payload = undefined;
    }
    const call: InvokeCall = { ...meta, payload, bytes: raw.length, status: 0 };
    this.calls.push(call);

    if (!meta.signingRegion) {
      call.status = error(403, 'AccessDeniedException', 'request is not signed with SigV4');
      return;
    }
    if (raw.length > MAX_SYNC_PAYLOAD_BYTES) {
      call.status = error(
        413,
        'RequestTooLargeException',
        `Request must be smaller than ${MAX_SYNC_PAYLOAD_BYTES} bytes for the InvokeFunction operation`,
      );
      return;
    }
    if (this.throttleNext > 0) {
      this.throttleNext--;
      call.status = error(429, 'TooManyRequestsException', 'Rate Exceeded.');
      return;
    }
    if (this.knownFunctions && !this.knownFunctions.includes(functionName)) {
      call.status = error(404, 'ResourceNotFoundException', `Function not found: ${functionName}`);
      return;
    }
    if (payload === undefined) {
      call.status = error(400, 'InvalidRequestContentException', 'Could not parse request body into json');
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-amz-executed-version': '1' };
    let body: string;
    try {
      body = JSON.stringify((await this.onInvoke(payload, meta)) ?? null);
    } catch (err) {
      // What the Node.js runtime answers for an unhandled exception in the function.
      headers['x-amz-function-error'] = 'Unhandled';
      const e = err as Error;
      body = JSON.stringify({ errorType: e.name ?? 'Error', errorMessage: e.message ?? String(err), trace: [] });
    }
    call.status = 200;
    res.writeHead(200, headers);
    res.end(body);
  }
}
