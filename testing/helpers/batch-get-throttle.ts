// A loopback proxy in front of dynalite that can answer BatchGetItem as a throttled table does.
// DynamoDB API reference, BatchGetItem: "If DynamoDB returns any unprocessed items, you should retry
// the batch operation on those items"; "A single operation can retrieve up to 16 MB of data ... or
// returns a partial result if ... the table's provisioned throughput is exceeded"; the answer is
// HTTP 200 with the keys not read in UnprocessedKeys (same shape as RequestItems), and "If none of
// the items can be processed due to insufficient provisioned throughput on all of the tables in
// the request, then BatchGetItem returns a ProvisionedThroughputExceededException" (so a partial
// answer always reads at least one key, as here). It can also fail the next requests of one
// operation with ResourceNotFoundException, HTTP 400, an error every item operation lists ("The
// operation tried to access a nonexistent table or index ... or its status might not be ACTIVE",
// DynamoDB API reference, e.g. DeleteItem, Errors); the SDK does not retry it. Every other request
// passes through unchanged.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BatchGetThrottle {
  endpoint: string;
  /** How many BatchGetItem requests from now on read only their first key (0: pass through). */
  starve(requests: number): void;
  /** The next `count` requests of `operation` (e.g. DeleteItem) fail with ResourceNotFoundException. */
  failNext(operation: string, count: number): void;
  close(): Promise<void>;
}

const readBody = (req: http.IncomingMessage): Promise<Buffer> =>
  new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });

export async function startBatchGetThrottle(target: string): Promise<BatchGetThrottle> {
  const to = new URL(target);
  let starved = 0;
  const failing = new Map<string, number>();
  const forward = (req: http.IncomingMessage, body: Buffer, done: (r: http.IncomingMessage) => void) => {
    const headers = { ...req.headers, 'content-length': String(body.length) };
    http.request({ host: to.hostname, port: to.port, path: req.url, method: req.method, headers }, done).end(body);
  };
  const server = http.createServer((req, res) => {
    void readBody(req).then((body) => {
      const operation = String(req.headers['x-amz-target']).split('.')[1] ?? '';
      if ((failing.get(operation) ?? 0) > 0) {
        failing.set(operation, failing.get(operation)! - 1);
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
        return res.end(
          JSON.stringify({
            __type: 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException',
            message: 'Requested resource not found',
          }),
        );
      }
      const isBatchGet = String(req.headers['x-amz-target']).endsWith('.BatchGetItem');
      const request = isBatchGet ? (JSON.parse(body.toString()) as { RequestItems: Record<string, any> }) : undefined;
      const table = request ? Object.keys(request.RequestItems)[0]! : '';
      const keys = (request?.RequestItems[table]?.Keys ?? []) as unknown[];
      if (!isBatchGet || starved === 0 || keys.length < 2) {
        return forward(req, body, (r) => {
          res.writeHead(r.statusCode ?? 500, r.headers);
          r.pipe(res);
        });
      }
      starved--;
      const first = { RequestItems: { [table]: { ...request!.RequestItems[table], Keys: keys.slice(0, 1) } } };
      forward(req, Buffer.from(JSON.stringify(first)), (r) => {
        void readBody(r).then((answer) => {
          const out = JSON.parse(answer.toString()) as Record<string, unknown>;
          out.UnprocessedKeys = { [table]: { ...request!.RequestItems[table], Keys: keys.slice(1) } };
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(JSON.stringify(out));
        });
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    starve(requests) {
      starved = requests;
    },
    failNext(operation, count) {
      failing.set(operation, count);
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
