// A loopback SSM endpoint for tests that run an agency account and the hub in one process: each
// call goes on to the agency's fake or to the hub's, as `agencySide` decides from the call's
// X-Amz-Target header and its JSON body. The request is read whole and forwarded unchanged.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Parameter Store reads and writes (GetParameters, PutParameter) are the agency's; the rest the hub's. */
export const parameterStoreCalls = (target: string): boolean => /\.(GetParameters|PutParameter)$/.test(target);

export function startSsmRouter(
  agencyEndpoint: string,
  hubEndpoint: string,
  agencySide: (target: string, body: string) => boolean = parameterStoreCalls,
): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const target = String(req.headers['x-amz-target'] ?? '');
    const upstream = new URL(agencySide(target, body.toString('utf8')) ? agencyEndpoint : hubEndpoint);
    const fwd = request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 500, up.headers);
        up.pipe(res);
      },
    );
    fwd.end(body);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }),
    ),
  );
}
