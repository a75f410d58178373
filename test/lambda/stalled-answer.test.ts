// An endpoint that sends an answer's headers and part of its body, then goes silent: the request
// timer of @smithy/node-http-handler stops at the headers, so only the socket's idle timeout ends
// the call. Real time, with short limits (Node's socket timers do not run on a fake clock).
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { nameTimeouts, timeoutOptions } from '../../lambda/shared/timeouts.ts';

let server: Server;
let url = '';
const sockets = new Set<Socket>();
beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', () =>
      socket.write(
        'HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 200\r\n\r\n{"Parameters":[',
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('an answer whose body stalls after its headers', () => {
  it('ends after the request timeout of silence, with an error naming the call', async () => {
    const limits = { connectionTimeoutMs: 200, requestTimeoutMs: 400 };
    const client = nameTimeouts(
      new SSMClient({
        region: 'us-east-1',
        endpoint: url,
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
        maxAttempts: 1,
        ...timeoutOptions(limits),
      }),
      'SSM',
      limits,
    );
    const began = Date.now();
    const error = await client.send(new GetParametersCommand({ Names: ['/a', '/b'] })).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.name).toBe('CallTimeoutError');
    expect(error?.message).toMatch(/^SSM GetParameters got no answer/);
    expect(Date.now() - began).toBeLessThan(5_000);
  });
});
