// Pure: which managed nodes of an agency are orphans. Nothing is swept unless the agency's
// collector has reported after the moment the node became overdue: a collector that stopped
// running (or an agency cut off from the hub) must never make its healthy nodes look orphaned.
import type { NodeInfo, NodeRow } from './nodes-io.ts';
import { SYNC_TABLE } from '../shared/names.ts';

export type OrphanReason = 'unclaimed' | 'connection-lost';

export interface SweepWindows {
  unclaimedHours: number;
  connectionLostDays: number;
}

const HOUR_MS = 3_600_000;

/** Why the node is an orphan, or undefined for a node to keep. */
export function orphanReason(
  node: NodeInfo,
  row: NodeRow | undefined,
  reportedAt: Date | undefined,
  now: Date,
  w: SweepWindows,
): OrphanReason | undefined {
  if (!reportedAt) return undefined;
  const overdueSince = (from: Date | undefined, ms: number) => (from ? from.getTime() + ms : Infinity);
  const due = (at: number) => at <= now.getTime() && reportedAt.getTime() >= at;
  // No sync has claimed it (no row binds it to an EC2 instance) long after it registered.
  if (!row?.ec2InstanceId && due(overdueSince(node.registeredAt, w.unclaimedHours * HOUR_MS))) return 'unclaimed';
  if (node.pingStatus === 'ConnectionLost' && due(overdueSince(node.lastPingAt, w.connectionLostDays * 24 * HOUR_MS)))
    return 'connection-lost';
  return undefined;
}

/**
 * The time the guard uses, from the agency's `regerr#` row: the oldest of its per-Region reports
 * (`reportedAt#<region>`) and `reportedAt` (the latest of any, all an older collector writes), so
 * every Region's collector must have reported. No row, or any value that is not a time: undefined
 * (nothing is swept).
 */
export function guardReportedAt(row: Record<string, unknown> | undefined): Date | undefined {
  if (!row) return undefined;
  const values = Object.entries(row)
    .filter(([k]) => k === 'reportedAt' || k.startsWith(SYNC_TABLE.reportedAtRegionPrefix))
    .map(([, v]) => (typeof v === 'string' ? Date.parse(v) : NaN));
  if (!values.length || values.some((t) => Number.isNaN(t))) return undefined;
  return new Date(Math.min(...values));
}
