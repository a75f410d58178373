// What every operation needs for one invocation.
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TagManagerConfig } from './config.ts';

export interface OpContext {
  config: TagManagerConfig;
  agencyAccountId: string;
  ssm: SSMClient;
  ddb: DynamoDBDocumentClient;
  now: Date;
  requestId: string;
}
