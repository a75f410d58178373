// AWS client factory: one client per service and Region, standard credential chain, or the
// named profile through fromIni when --profile is given. Only the AWS-facing subcommands import
// this module, so `build` and `lint` never load the SDK.
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromIni } from '@aws-sdk/credential-providers';
import type { Context } from '../kit/index.ts';
import { UsageError } from '../kit/index.ts';
import { REGION } from '../kit/validate.ts';

export interface Clients {
  cloudformation(region: string): CloudFormationClient;
  s3(region: string): S3Client;
  sts(region: string): STSClient;
  organizations(region: string): OrganizationsClient;
  ssm(region: string): SSMClient;
  dynamodb(region: string): DynamoDBDocumentClient;
  tagging(region: string): ResourceGroupsTaggingAPIClient;
}

export function makeClients(ctx: Context, profile: string | undefined): Clients {
  const credentials = profile ? fromIni({ profile }) : undefined;
  const cache = new Map<string, unknown>();
  // Adaptive retries smooth out throttling while we poll long-running operations.
  const base = (region: string) => ({ region, credentials, retryMode: 'adaptive', maxAttempts: 6 });
  function get<T>(
    service: keyof NonNullable<Context['awsConfig']>,
    region: string,
    make: (cfg: Record<string, unknown>) => T,
  ): T {
    const key = `${service}:${region}`;
    if (!cache.has(key)) cache.set(key, make({ ...base(region), ...(ctx.awsConfig?.[service] ?? {}) }));
    return cache.get(key) as T;
  }
  return {
    cloudformation: (r) => get('cloudformation', r, (c) => new CloudFormationClient(c)),
    s3: (r) => get('s3', r, (c) => new S3Client(c)),
    sts: (r) => get('sts', r, (c) => new STSClient(c)),
    organizations: (r) => get('organizations', r, (c) => new OrganizationsClient(c)),
    ssm: (r) => get('ssm', r, (c) => new SSMClient(c)),
    tagging: (r) => get('tagging', r, (c) => new ResourceGroupsTaggingAPIClient(c)),
    dynamodb: (r) =>
      get('dynamodb', r, (c) =>
        DynamoDBDocumentClient.from(new DynamoDBClient(c), { marshallOptions: { removeUndefinedValues: true } }),
      ),
  };
}

/**
 * The home Region: --region, else AWS_REGION / AWS_DEFAULT_REGION, else the profile's Region as
 * the SDK resolves it. Resolving reads local config only; it makes no AWS call.
 */
export async function resolveRegion(
  ctx: Context,
  flag: string | undefined,
  profile: string | undefined,
): Promise<string> {
  const fromEnv = ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION;
  let value = flag ?? fromEnv;
  if (!value) {
    try {
      value = await new STSClient({ profile }).config.region();
    } catch {
      value = undefined;
    }
  }
  if (!value) throw new UsageError('--region is required (or set AWS_REGION, or a region in the profile)');
  if (!REGION.test(value)) {
    throw new UsageError(
      `${flag ? '--region' : 'AWS_REGION'}: "${value}" is not an AWS Region name (such as us-east-1)`,
    );
  }
  return value;
}

export async function callerAccount(clients: Clients, region: string): Promise<string> {
  const id = await clients.sts(region).send(new GetCallerIdentityCommand({}));
  if (!id.Account) throw new Error('STS GetCallerIdentity returned no account');
  return id.Account;
}

/** The partition-aware ARN prefix for a Region. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  return 'aws';
}
