// When the collector observed a tag set. The hub compares it with the observation of the tag set
// it last applied, and never writes an older one over a newer (lambda/tag-manager/ordering.ts).
// Pure: no AWS calls, no environment.
import type { SyncInstance } from '../shared/contract.ts';
import { SNAPSHOT_OBSERVED_MARGIN_MS } from '../../contract/limits.ts';
import { isIsoDateTime } from './answers.ts';

export type Observed = Pick<SyncInstance, 'observedAt' | 'observedVersion'>;

/**
 * A "Tag Change on Resource" event's observation: its `time`, and `detail.version` when that is a
 * non-negative integer. What AWS documents, and what this relies on beyond it:
 * - EventBridge User Guide, "Event structure reference": `time` is one of the fields of every
 *   event, "the event timestamp, which can be specified by the service originating the event"
 *   (ISO 8601, whole seconds in every sample). Taken as the time of the tag change.
 * - EventBridge events reference, "Tags events": source `aws.tag` sends "Tag Change on Resource"
 *   with delivery "best effort"; the page documents no field of `detail`. So `detail.version` has
 *   no documented meaning: it is sent only to order two events of the same `time`, never alone.
 * - Once delivered, EventBridge retries a target by its retry policy (events reference, "Delivery
 *   level for AWS service events"), and does not guarantee order (an AWS expert's answer on
 *   re:Post, "AWS event Bridge"): hence the observation at all.
 * No valid `time`: no observation, and the hub applies the tags as it did before ordering existed.
 */
export function observedOfEvent(time: unknown, version: unknown): Observed {
  if (!isIsoDateTime(time)) return {};
  const observedAt = new Date(time).toISOString();
  return typeof version === 'number' && Number.isSafeInteger(version) && version >= 0
    ? { observedAt, observedVersion: version }
    : { observedAt };
}

/**
 * A reconcile's observation: when its DescribeInstances page was requested, less
 * SNAPSHOT_OBSERVED_MARGIN_MS (clock skew, and EC2's eventual consistency). A change an event
 * already synced within that margin makes the snapshot count as older: it is then not applied,
 * which loses nothing, since the event carried the whole tag set.
 */
export const observedOfSnapshot = (requestedAtMs: number): Observed => ({
  observedAt: new Date(requestedAtMs - SNAPSHOT_OBSERVED_MARGIN_MS).toISOString(),
});
