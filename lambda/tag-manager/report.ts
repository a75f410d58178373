// The report operation: the registration errors the agency's collector sees on its instances.
// The row is keyed by the agency the alias names (never by the payload), so an agency writes only
// its own record and cannot read, change or clear another's. Each report replaces the last one:
// an instance whose registration later succeeded (its error tag removed) drops out.
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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
export function registrationErrorRecord(agencyAccountId: string, errors: readonly RegistrationError[], at: string) {
  const byInstance = Object.create(null) as Record<string, string>;
  for (const e of errors) byInstance[e.ec2InstanceId] = e.error;
  return {
    [SYNC_TABLE.partitionKey]: registrationErrorKey(agencyAccountId),
    reportedBy: agencyAccountId,
    registrationErrors: { ...byInstance },
    registrationErrorCount: Object.keys(byInstance).length,
    reportedAt: at,
  };
}

export async function writeRegistrationErrors(
  ddb: DynamoDBDocumentClient,
  table: string,
  record: ReturnType<typeof registrationErrorRecord>,
): Promise<void> {
  await ddb.send(new PutCommand({ TableName: table, Item: record }));
}

export async function recordRegistrationErrors(
  ctx: OpContext,
  errors: readonly RegistrationError[],
): Promise<ReportResponse> {
  const record = registrationErrorRecord(ctx.agencyAccountId, errors, ctx.now.toISOString());
  await writeRegistrationErrors(ctx.ddb, ctx.config.syncTableName, record);
  log(record.registrationErrorCount > 0 ? 'WARN' : 'INFO', 'registration errors reported', {
    agencyAccountId: ctx.agencyAccountId,
    registrationErrors: record.registrationErrorCount,
    ec2InstanceIds: Object.keys(record.registrationErrors).slice(0, 20),
    requestId: ctx.requestId,
  });
  return { recorded: record.registrationErrorCount };
}
