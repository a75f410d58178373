// The report operation: the registration errors the agency's collector sees on its instances.
// The row is keyed by the agency the alias names (never by the payload), so an agency writes only
// its own record and cannot read, change or clear another's. Each report replaces the last one:
// an instance whose registration later succeeded (its error tag removed) drops out. The row also
// keeps, per collector Region, when that Region's collector last reported: the orphan sweep's
// guard takes the oldest, so a healthy collector in one Region never vouches for a broken one in
// another.
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RegistrationError, ReportResponse } from '../shared/contract.ts';
import { log } from '../shared/log.ts';
import { SYNC_TABLE } from '../shared/names.ts';
import type { OpContext } from './context.ts';

/** The sync-table key of an agency's registration-error record. */
export const registrationErrorKey = (agencyAccountId: string): string =>
  `${SYNC_TABLE.registrationErrorKeyPrefix}${agencyAccountId}`;

/**
 * Pure: the record to store. Instance IDs are data: the map has no prototype, and a repeated ID
 * keeps its last error.
 */
export function registrationErrorRecord(
  agencyAccountId: string,
  errors: readonly RegistrationError[],
  at: string,
  region?: string,
) {
  const byInstance = Object.create(null) as Record<string, string>;
  for (const e of errors) byInstance[e.ec2InstanceId] = e.error;
  return {
    [SYNC_TABLE.partitionKey]: registrationErrorKey(agencyAccountId),
    reportedBy: agencyAccountId,
    registrationErrors: { ...byInstance },
    registrationErrorCount: Object.keys(byInstance).length,
    reportedAt: at,
    ...(region ? { [`${SYNC_TABLE.reportedAtRegionPrefix}${region}`]: at } : {}),
  };
}

/** Sets the record's attributes; the other Regions' `reportedAt#<region>` attributes stay. */
export async function writeRegistrationErrors(
  ddb: DynamoDBDocumentClient,
  table: string,
  record: ReturnType<typeof registrationErrorRecord>,
): Promise<void> {
  const { [SYNC_TABLE.partitionKey]: key, ...attributes } = record as Record<string, unknown>;
  const names = Object.keys(attributes);
  await ddb.send(
    new UpdateCommand({
      TableName: table,
      Key: { [SYNC_TABLE.partitionKey]: key },
      UpdateExpression: `SET ${names.map((_, i) => `#a${i} = :v${i}`).join(', ')}`,
      ExpressionAttributeNames: Object.fromEntries(names.map((n, i) => [`#a${i}`, n])),
      ExpressionAttributeValues: Object.fromEntries(names.map((n, i) => [`:v${i}`, attributes[n]])),
    }),
  );
}

export async function recordRegistrationErrors(
  ctx: OpContext,
  errors: readonly RegistrationError[],
  region?: string,
): Promise<ReportResponse> {
  const record = registrationErrorRecord(ctx.agencyAccountId, errors, ctx.now.toISOString(), region);
  await writeRegistrationErrors(ctx.ddb, ctx.config.syncTableName, record);
  log(record.registrationErrorCount > 0 ? 'WARN' : 'INFO', 'registration errors reported', {
    agencyAccountId: ctx.agencyAccountId,
    registrationErrors: record.registrationErrorCount,
    ec2InstanceIds: Object.keys(record.registrationErrors).slice(0, 20),
    requestId: ctx.requestId,
  });
  return { recorded: record.registrationErrorCount };
}
