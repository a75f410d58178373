// The report operation: the registration errors the agency's collector sees on its instances.
// The rows are keyed by the agency the alias names (never by the payload), so an agency writes only
// its own records and cannot read, change or clear another's. Each report replaces the last one of
// the same collector Region: an instance whose registration later succeeded (its error tag removed)
// drops out, and another Region's list is never touched. Each Region's list has a row of its own,
// `regerr#<account>#<region>`; the agency row `regerr#<account>` keeps, per Region, its count and
// when its collector last reported (the orphan sweep's guard takes the oldest, so a healthy
// collector in one Region never vouches for a broken one in another). A collector of an earlier
// release names no Region: its list stays in the agency row, replaced by each such report, as before,
// until a Region's report finds it older than LEGACY_REGISTRATION_ERRORS_MAX_AGE_HOURS.
import { PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RegistrationError, ReportResponse } from '../shared/contract.ts';
import { log } from '../shared/log.ts';
import { LEGACY_REGISTRATION_ERRORS_MAX_AGE_HOURS, SYNC_TABLE } from '../shared/names.ts';
import type { OpContext } from './context.ts';

/** The sync-table key of an agency's registration-error record. */
export const registrationErrorKey = (agencyAccountId: string): string =>
  `${SYNC_TABLE.registrationErrorKeyPrefix}${agencyAccountId}`;

/** The sync-table key of the list one collector Region last reported. */
export const regionErrorKey = (agencyAccountId: string, region: string): string =>
  `${registrationErrorKey(agencyAccountId)}#${region}`;

/** Pure: the errors by instance. Instance IDs are data: no prototype, a repeated ID keeps its last error. */
function byInstance(errors: readonly RegistrationError[]): Record<string, string> {
  const map = Object.create(null) as Record<string, string>;
  for (const e of errors) map[e.ec2InstanceId] = e.error;
  return { ...map };
}

/** Pure: the agency row a collector that names no Region writes (today's record, with its own time). */
export function registrationErrorRecord(agencyAccountId: string, errors: readonly RegistrationError[], at: string) {
  const registrationErrors = byInstance(errors);
  return {
    [SYNC_TABLE.partitionKey]: registrationErrorKey(agencyAccountId),
    reportedBy: agencyAccountId,
    registrationErrors,
    registrationErrorCount: Object.keys(registrationErrors).length,
    reportedAt: at,
    [SYNC_TABLE.legacyReportedAt]: at,
  };
}

/** Pure: a Region's report: its own list row, and what it sets in the agency row. */
export function regionReport(
  agencyAccountId: string,
  errors: readonly RegistrationError[],
  at: string,
  region: string,
) {
  const registrationErrors = byInstance(errors);
  const count = Object.keys(registrationErrors).length;
  return {
    listRow: {
      [SYNC_TABLE.partitionKey]: regionErrorKey(agencyAccountId, region),
      reportedBy: agencyAccountId,
      region,
      registrationErrors,
      registrationErrorCount: count,
      reportedAt: at,
    },
    agencyRow: {
      [SYNC_TABLE.partitionKey]: registrationErrorKey(agencyAccountId),
      reportedBy: agencyAccountId,
      reportedAt: at,
      [`${SYNC_TABLE.reportedAtRegionPrefix}${region}`]: at,
      [`${SYNC_TABLE.registrationErrorCountRegionPrefix}${region}`]: count,
    },
  };
}

/** Sets the record's attributes; every other attribute (other Regions, the older slot) stays. */
export async function writeRegistrationErrors(
  ddb: DynamoDBDocumentClient,
  table: string,
  record: Record<string, unknown>,
): Promise<void> {
  const { [SYNC_TABLE.partitionKey]: key, ...attributes } = record;
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

/** Pure: a list left by a collector that names no Region, written before this time, is dropped. */
export const legacyListCutoff = (now: Date): string =>
  new Date(now.getTime() - LEGACY_REGISTRATION_ERRORS_MAX_AGE_HOURS * 3_600_000).toISOString();

/**
 * Removes the agency row's list of a collector that names no Region when it is older than the
 * cutoff or has no time (written by the earlier hub): one conditional write; a fresh list stays.
 */
async function dropStaleLegacyList(ddb: DynamoDBDocumentClient, table: string, agency: string, now: Date) {
  try {
    await ddb.send(
      new UpdateCommand({
        TableName: table,
        Key: { [SYNC_TABLE.partitionKey]: registrationErrorKey(agency) },
        UpdateExpression: 'REMOVE #list, #count, #at',
        ConditionExpression: 'attribute_exists(#list) AND (attribute_not_exists(#at) OR #at < :cutoff)',
        ExpressionAttributeNames: {
          '#list': 'registrationErrors',
          '#count': 'registrationErrorCount',
          '#at': SYNC_TABLE.legacyReportedAt,
        },
        ExpressionAttributeValues: { ':cutoff': legacyListCutoff(now) },
      }),
    );
  } catch (err) {
    // DynamoDB UpdateItem: a condition that does not hold fails with ConditionalCheckFailedException.
    if ((err as { name?: string }).name !== 'ConditionalCheckFailedException') throw err;
  }
}

export async function recordRegistrationErrors(
  ctx: OpContext,
  errors: readonly RegistrationError[],
  region?: string,
): Promise<ReportResponse> {
  const at = ctx.now.toISOString();
  let list: Record<string, string>;
  if (region) {
    const { listRow, agencyRow } = regionReport(ctx.agencyAccountId, errors, at, region);
    // The list first: the count in the agency row never names a list that is not there yet.
    await ctx.ddb.send(new PutCommand({ TableName: ctx.config.syncTableName, Item: listRow }));
    await writeRegistrationErrors(ctx.ddb, ctx.config.syncTableName, agencyRow);
    await dropStaleLegacyList(ctx.ddb, ctx.config.syncTableName, ctx.agencyAccountId, ctx.now);
    list = listRow.registrationErrors;
  } else {
    const record = registrationErrorRecord(ctx.agencyAccountId, errors, at);
    await writeRegistrationErrors(ctx.ddb, ctx.config.syncTableName, record);
    list = record.registrationErrors;
  }
  const recorded = Object.keys(list).length;
  log(recorded > 0 ? 'WARN' : 'INFO', 'registration errors reported', {
    agencyAccountId: ctx.agencyAccountId,
    ...(region ? { region } : {}),
    registrationErrors: recorded,
    ec2InstanceIds: Object.keys(list).slice(0, 20),
    requestId: ctx.requestId,
  });
  return { recorded };
}
