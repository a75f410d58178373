// What every operation needs for one invocation.
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TagManagerConfig } from './config.ts';
import type { HubLocation } from './identity.ts';

export interface OpContext {
  config: TagManagerConfig;
  agencyAccountId: string;
  ssm: SSMClient;
  tagging: ResourceGroupsTaggingAPIClient;
  /** The hub's partition, Region and account (from its own ARN): the managed nodes' ARNs. */
  hub: HubLocation;
  ddb: DynamoDBDocumentClient;
  now: Date;
  requestId: string;
  /** Milliseconds left before Lambda stops this invocation. */
  remainingMs: () => number;
}

/** Nodes are not started with less time than this left: they are answered as deferred instead. */
export const NODE_START_RESERVE_MS = 20_000;
export const DEFERRED_REASON = 'deferred: the invocation ran out of time; the next reconcile retries it';
/** Nodes the agency's per-minute node-lookup budget had no room for: answered failed, retried next reconcile. */
export const LOOKUP_LIMIT_REASON =
  'deferred: the agency used up its node lookups this minute (each node the hub must look up in SSM counts); the next reconcile retries it';
/** Pure: a failed result that only waits for the next reconcile (kept apart from failures in metrics). */
export const isDeferred = (reason: string | undefined): boolean =>
  reason === DEFERRED_REASON || reason === LOOKUP_LIMIT_REASON;
