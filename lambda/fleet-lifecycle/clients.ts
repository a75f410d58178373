// SDK clients, created on first use so the environment (endpoints in tests) is read after load.
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { nameTimeouts, timeoutOptions } from '../shared/timeouts.ts';

const retry = { retryMode: 'adaptive' as const, maxAttempts: 6, ...timeoutOptions() };
let ssmClient: SSMClient | undefined;
let ddbClient: DynamoDBDocumentClient | undefined;
let cfnClient: CloudFormationClient | undefined;
let orgsClient: OrganizationsClient | undefined;

export const ssm = (): SSMClient => (ssmClient ??= nameTimeouts(new SSMClient(retry), 'SSM'));
export const ddb = (): DynamoDBDocumentClient =>
  (ddbClient ??= DynamoDBDocumentClient.from(nameTimeouts(new DynamoDBClient(retry), 'DynamoDB'), {
    marshallOptions: { removeUndefinedValues: true },
  }));
export const cfn = (): CloudFormationClient =>
  (cfnClient ??= nameTimeouts(new CloudFormationClient(retry), 'CloudFormation'));
/** Organizations has one endpoint per partition; the SDK resolves it from the Region. */
export const orgs = (): OrganizationsClient =>
  (orgsClient ??= nameTimeouts(new OrganizationsClient(retry), 'Organizations'));
