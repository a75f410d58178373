// What every loopback AWS fake shares: an HTTP server on 127.0.0.1 at a free port, the request
// body, the AWS JSON 1.1 answer and error shapes, and the seeded random source that picks throttled
// calls. Each fake keeps only its API's own rules.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface Loopback {
  /** http://127.0.0.1:<port>, for the SDK client's endpoint. */
  endpoint: string;
  /** Closes open connections too, so a client's keep-alive socket never holds a test run open. */
  close(): Promise<void>;
}

/** Serves `handle` on a free loopback port; a request it fails answers with `onError` (default: socket reset). */
export async function listenLoopback(
  handle: RequestHandler,
  onError: (res: ServerResponse, err: unknown) => void = (res, err) => res.destroy(err as Error),
): Promise<Loopback> {
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => onError(res, err));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** The base of the class-style fakes: start() returns the endpoint, url repeats it, stop() ends it. */
export abstract class LoopbackFake {
  private loopback: Loopback | undefined;

  async start(): Promise<string> {
    this.loopback = await listenLoopback((req, res) => this.handle(req, res));
    return this.url;
  }

  get url(): string {
    if (!this.loopback) throw new Error('fake: not started');
    return this.loopback.endpoint;
  }

  async stop(): Promise<void> {
    await this.loopback?.close().catch(() => undefined);
    this.loopback = undefined;
  }

  protected abstract handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/** The whole request body. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** An error a fake answers with: the service's error code (`__type`), its message and HTTP status. */
export class FakeApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** An AWS JSON 1.1 answer (Content-Type application/x-amz-json-1.1, with a request ID). */
export function sendAwsJson(res: ServerResponse, status: number, payload: unknown, requestId = 'fake-request'): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'x-amzn-requestid': requestId,
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * The AWS JSON 1.1 protocol gate (service model: protocol json, POST to /, signed with SigV4 for
 * `signingName`): the error to answer with, or undefined when the request is well-formed.
 */
export function awsJsonRequestError(req: IncomingMessage, signingName: string): FakeApiError | undefined {
  if (req.method !== 'POST' || !String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1'))
    return new FakeApiError('SerializationException', 'expected a POST with application/x-amz-json-1.1');
  if (!new RegExp(`/${signingName}/aws4_request`).test(String(req.headers.authorization ?? '')))
    return new FakeApiError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  return undefined;
}

/** A JSON request body as an object (an empty body is {}); malformed JSON is a SerializationException. */
export function parseJsonBody(body: Buffer): Record<string, unknown> {
  try {
    return body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
  } catch {
    throw new FakeApiError('SerializationException', 'body is not JSON');
  }
}

/** mulberry32: tiny, seeded, good enough to pick throttled calls reproducibly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Answers a failed AWS JSON 1.1 request: a FakeApiError with its own type and status, anything
 * else as HTTP 500 of the service's internal error type. `messageKey` follows the service
 * (the Tagging API writes Message).
 */
export function sendAwsJsonError(
  res: ServerResponse,
  err: unknown,
  internalType = 'InternalServerError',
  messageKey: 'message' | 'Message' = 'message',
): void {
  const e = err instanceof FakeApiError ? err : new FakeApiError(internalType, String(err), 500);
  sendAwsJson(res, e.status, { __type: e.type, [messageKey]: e.message });
}
