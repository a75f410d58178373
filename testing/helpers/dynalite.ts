// Starts dynalite (a real DynamoDB API server, in memory) on a free loopback port and creates
// the sync-state table as the template defines it: key managedInstanceId, GSI byAgency.
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SYNC_TABLE } from '../../lambda/shared/names.ts';

type DynaliteFactory = (opts: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

export interface DynaliteHandle {
  endpoint: string;
  tableName: string;
  client: DynamoDBClient;
  /** Requests received per DynamoDB operation (from the X-Amz-Target header), table creation included. */
  calls: Record<string, number>;
  close(): Promise<void>;
}

export async function startDynalite(tableName = 'ssm-hub-sync-state'): Promise<DynaliteHandle> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const calls: Record<string, number> = {};
  // A second listener beside dynalite's own: it only counts (target "DynamoDB_20120810.<Operation>").
  server.on('request', (req: { headers: Record<string, unknown> }) => {
    const op = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? 'unknown';
    calls[op] = (calls[op] ?? 0) + 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
  });
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: SYNC_TABLE.partitionKey, AttributeType: 'S' },
        { AttributeName: SYNC_TABLE.agencyIndexPartitionKey, AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: SYNC_TABLE.partitionKey, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: SYNC_TABLE.agencyIndexName,
          KeySchema: [
            { AttributeName: SYNC_TABLE.agencyIndexPartitionKey, KeyType: 'HASH' },
            { AttributeName: SYNC_TABLE.partitionKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
  return {
    endpoint,
    tableName,
    client,
    calls,
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
