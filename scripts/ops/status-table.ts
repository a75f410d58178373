// What `status` learns of the agencies from the sync-state table itself: an agency whose
// permissions stack is gone (offboarded) can still have node rows, and its nodes still carry the
// ownership tag that `run` and the patch window target, so status must list it.
import { paginateScan, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SYNC_TABLE } from '../../contract/names.ts';
import { ACCOUNT_ID_PATTERN } from '../../contract/patterns.ts';

/** What the node rows of one agency say: their count, the latest sync, and the nodes whose last sync failed. */
export interface NodeRowSummary {
  syncedNodes: number;
  lastSyncAt?: string;
  errorNodes: number;
  latestError?: { managedInstanceId: string; at?: string; error: string };
}

const A = SYNC_TABLE.attributes;

/** The byAgency index attributes a summary needs (names for ExpressionAttributeNames). */
export const SUMMARY_PROJECTION = {
  expression: '#agency, #id, #sync, #err',
  names: {
    '#agency': SYNC_TABLE.agencyIndexPartitionKey,
    '#id': A.managedInstanceId,
    '#sync': A.lastSyncAt,
    '#err': A.lastError,
  },
} as const;

export const emptySummary = (): NodeRowSummary => ({ syncedNodes: 0, errorNodes: 0 });

/** Pure: adds one node row (an item of the byAgency index) to its agency's summary. */
export function addNodeRow(s: NodeRowSummary, item: Record<string, unknown>): void {
  s.syncedNodes++;
  const at = typeof item[A.lastSyncAt] === 'string' ? (item[A.lastSyncAt] as string) : undefined;
  if (at && (!s.lastSyncAt || at > s.lastSyncAt)) s.lastSyncAt = at;
  const err = item[A.lastError];
  if (typeof err !== 'string' || err === '') return;
  s.errorNodes++;
  if (!s.latestError || (at ?? '') > (s.latestError.at ?? ''))
    s.latestError = { managedInstanceId: String(item[A.managedInstanceId]), at, error: err };
}

/**
 * Every agency with at least one node row, each with its summary: one scan of the byAgency index
 * (it holds node rows only, so the per-agency rows rate#, regerr#, rejected# never count). Without
 * --agencies this is status's only read of the node rows, so an agency whose permissions stack is
 * gone (offboarded, nodes kept) is found and summed in the same pass.
 */
export async function summariesByAgency(
  ddb: DynamoDBDocumentClient,
  table: string,
): Promise<Map<string, NodeRowSummary>> {
  const found = new Map<string, NodeRowSummary>();
  const input = {
    TableName: table,
    IndexName: SYNC_TABLE.agencyIndexName,
    ProjectionExpression: SUMMARY_PROJECTION.expression,
    ExpressionAttributeNames: { ...SUMMARY_PROJECTION.names },
  };
  for await (const page of paginateScan({ client: ddb }, input)) {
    for (const item of page.Items ?? []) {
      const a = item[SYNC_TABLE.agencyIndexPartitionKey];
      if (typeof a !== 'string' || !ACCOUNT_ID_PATTERN.test(a)) continue;
      let s = found.get(a);
      if (!s) found.set(a, (s = emptySummary()));
      addNodeRow(s, item);
    }
  }
  return found;
}

/** Pure: the agencies status reports: those with a permissions stack and those only in the table, sorted. */
export const reportedAgencies = (withStack: Iterable<string>, inTable: Iterable<string> = []): string[] =>
  [...new Set([...withStack, ...inTable])].sort();
