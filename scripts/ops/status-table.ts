// What `status` learns of the agencies from the sync-state table itself: an agency whose
// permissions stack is gone (offboarded) can still have node rows, and its nodes still carry the
// ownership tag that `run` and the patch window target, so status must list it.
import { paginateScan, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SYNC_TABLE } from '../../contract/names.ts';
import { ACCOUNT_ID_PATTERN } from '../../contract/patterns.ts';

/**
 * Every agency with at least one node row: a scan of the byAgency index (it holds node rows only,
 * projected to the agency key), so the per-agency rows (rate#, regerr#, rejected#) never count.
 */
export async function agenciesInTable(ddb: DynamoDBDocumentClient, table: string): Promise<Set<string>> {
  const found = new Set<string>();
  const input = {
    TableName: table,
    IndexName: SYNC_TABLE.agencyIndexName,
    ProjectionExpression: '#a',
    ExpressionAttributeNames: { '#a': SYNC_TABLE.agencyIndexPartitionKey },
  };
  for await (const page of paginateScan({ client: ddb }, input)) {
    for (const item of page.Items ?? []) {
      const a = item[SYNC_TABLE.agencyIndexPartitionKey];
      if (typeof a === 'string' && ACCOUNT_ID_PATTERN.test(a)) found.add(a);
    }
  }
  return found;
}

/** Pure: the agencies status reports: those with a permissions stack and those only in the table, sorted. */
export const reportedAgencies = (withStack: Iterable<string>, inTable: Iterable<string> = []): string[] =>
  [...new Set([...withStack, ...inTable])].sort();
