// When the collector says it observed a tag set: an event's time and version, a reconcile's read.
import { describe, expect, it } from 'vitest';
import { observedOfEvent, observedOfSnapshot } from '../../../lambda/collector/observed.ts';
import { classifyEvent } from '../../../lambda/collector/events.ts';
import { SNAPSHOT_OBSERVED_MARGIN_MS } from '../../../contract/limits.ts';
import { observationOf, orderTagSet } from '../../../lambda/tag-manager/ordering.ts';

const T = '2026-12-08T00:30:22Z';
const T_NORMAL = '2026-12-08T00:30:22.000Z';

describe('observedOfEvent', () => {
  it.each([
    { case: 'time and an integer version', time: T, version: 5, want: { observedAt: T_NORMAL, observedVersion: 5 } },
    { case: 'version 0', time: T, version: 0, want: { observedAt: T_NORMAL, observedVersion: 0 } },
    {
      case: 'a version written as 4.0 (JSON parses it to 4)',
      time: T,
      version: JSON.parse('4.0'),
      want: { observedAt: T_NORMAL, observedVersion: 4 },
    },
    { case: 'no version', time: T, version: undefined, want: { observedAt: T_NORMAL } },
    { case: 'a negative version (not sent)', time: T, version: -1, want: { observedAt: T_NORMAL } },
    { case: 'a fractional version (not sent)', time: T, version: 4.5, want: { observedAt: T_NORMAL } },
    { case: 'a version as a string (not sent)', time: T, version: '5', want: { observedAt: T_NORMAL } },
    {
      case: 'fractional seconds kept',
      time: '2026-12-08T00:30:22.250Z',
      version: 1,
      want: { observedAt: '2026-12-08T00:30:22.250Z', observedVersion: 1 },
    },
    { case: 'no time: nothing observed, even with a version', time: undefined, version: 5, want: {} },
    {
      case: 'a time with an offset (not the UTC form EventBridge writes)',
      time: '2026-12-08T01:30:22+01:00',
      version: 5,
      want: {},
    },
    { case: 'an impossible date', time: '2026-02-30T00:00:00Z', version: 5, want: {} },
    { case: 'a time that is not a string', time: 1_765_000_000, version: 5, want: {} },
  ])('$case', ({ time, version, want }) => {
    expect(observedOfEvent(time, version)).toEqual(want);
  });
});

describe('observedOfSnapshot', () => {
  it('is the time the page was requested, less the margin, in the normalized form', () => {
    const requested = Date.parse('2026-12-08T00:30:22.123Z');
    expect(SNAPSHOT_OBSERVED_MARGIN_MS).toBe(6_000);
    expect(observedOfSnapshot(requested)).toEqual({ observedAt: '2026-12-08T00:30:16.123Z' });
  });

  // The event's time is whole seconds: a change at 00:30:00.900 is reported at 00:30:00.
  it.each([
    ['4.1 s after a change late in its second', 4_100, 'superseded'],
    ['4.999 s after it', 4_999, 'superseded'],
    ['5.1 s after it (outside the assumed consistency window)', 5_100, 'apply'],
  ])('a snapshot read %s counts as older than the change event', (_, afterMs, want) => {
    const change = Date.parse('2026-12-08T00:30:00.900Z');
    const event = observationOf(observedOfEvent('2026-12-08T00:30:00Z', 7), new Date(change));
    const snapshot = observationOf(observedOfSnapshot(change + afterMs), new Date(change + afterMs));
    expect(orderTagSet(event, snapshot)).toBe(want);
  });
});

describe('classifyEvent carries the observation of a tag change', () => {
  const event = (extra: Record<string, unknown>, version?: unknown) => ({
    source: 'aws.tag',
    'detail-type': 'Tag Change on Resource',
    resources: ['arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0'],
    ...extra,
    detail: {
      service: 'ec2',
      'resource-type': 'instance',
      version,
      tags: { managedinstanceid: 'mi-0123456789abcdef0', Team: 'v5' },
    },
  });
  it('from the event time and detail.version', () => {
    expect(classifyEvent(event({ time: T }, 5), 'x')).toMatchObject({
      kind: 'tagChange',
      observed: { observedAt: T_NORMAL, observedVersion: 5 },
    });
  });
  it('as nothing when the event has no time', () => {
    expect(classifyEvent(event({}, 5), 'x')).toMatchObject({ kind: 'tagChange', observed: {} });
  });
});
