// Connection and request timeouts for every SDK client a handler creates, and an error that
// names the call that got no answer. The numbers live in contract/network.ts. The options are
// passed as plain data (the client builds its NodeHttpHandler from them), so a bundle imports
// nothing more from the SDK.
import { AWS_CALL_TIMEOUTS, type CallTimeouts } from '../../contract/network.ts';
import { HandlerError } from './errors.ts';

/** A call that got no answer in time; the message names the service and the operation. */
export class CallTimeoutError extends HandlerError {
  override readonly name = 'CallTimeoutError';
}

/**
 * `requestHandler` settings of a client (@smithy/node-http-handler NodeHttpHandlerOptions).
 * `throwOnRequestTimeout` makes a request timeout an error (without it, this handler version only
 * logs a warning); handler versions that predate it treat `requestTimeout` as a socket idle
 * timeout, which also ends a call to an endpoint that never answers. The request timer stops when
 * the answer's headers arrive, so `socketTimeout` (the same number, of silence) ends an answer
 * whose body stalls after them.
 */
export const timeoutOptions = (t: CallTimeouts = AWS_CALL_TIMEOUTS) => ({
  requestHandler: {
    connectionTimeout: t.connectionTimeoutMs,
    requestTimeout: t.requestTimeoutMs,
    throwOnRequestTimeout: true,
    socketTimeout: t.requestTimeoutMs,
  },
});

/** @smithy/node-http-handler names its connection, request and socket timeouts "TimeoutError". */
const isTimeout = (err: unknown): boolean => (err as { name?: unknown } | null)?.name === 'TimeoutError';

type Next = (args: unknown) => Promise<unknown>;
interface MiddlewareClient {
  middlewareStack: { add(middleware: never, options: never): void };
}

/**
 * Wraps every call of `client` (outside the retries, so after the last attempt): a timeout
 * becomes a CallTimeoutError naming `service`, the operation and the limits.
 */
export function nameTimeouts<C extends MiddlewareClient>(
  client: C,
  service: string,
  t: CallTimeouts = AWS_CALL_TIMEOUTS,
): C {
  const middleware = (next: Next, context: { commandName?: string }) => async (args: unknown) => {
    try {
      return await next(args);
    } catch (err) {
      if (!isTimeout(err)) throw err;
      const operation = (context.commandName ?? 'call').replace(/Command$/, '');
      const attempts = (err as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1;
      throw new CallTimeoutError(
        `${service} ${operation} got no answer (${attempts} attempt(s); limits: connection ${t.connectionTimeoutMs / 1000} s, request ${t.requestTimeoutMs / 1000} s)`,
        { cause: err },
      );
    }
  };
  (client.middlewareStack.add as (m: unknown, o: object) => void)(middleware, {
    step: 'initialize',
    name: 'callTimeoutName',
    priority: 'high',
    override: true,
  });
  return client;
}
