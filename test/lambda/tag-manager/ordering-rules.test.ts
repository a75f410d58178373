// The rule that keeps an older tag set from overwriting a newer one (lambda/tag-manager/ordering.ts).
import { describe, expect, it } from 'vitest';
import {
  notOlderCondition,
  observationOf,
  observedAttributes,
  orderTagSet,
  recordsUnchanged,
  storedObservation,
  type Observation,
} from '../../../lambda/tag-manager/ordering.ts';
import { OBSERVED_AT_MAX_AHEAD_MS } from '../../../contract/limits.ts';

const at = (s: string) => `2026-12-08T00:30:${s}Z`;
const event = (s: string, version?: number): Observation =>
  version === undefined ? { at: at(s) } : { at: at(s), version };
/** A reconcile's observation: its page's request time less the margin, milliseconds included, no version. */
const snapshot = (s: string): Observation => ({ at: at(s) });

describe('orderTagSet', () => {
  it.each([
    {
      case: 'an older event after a newer one',
      stored: event('05.000', 5),
      incoming: event('04.000', 4),
      want: 'superseded',
    },
    { case: 'a newer event', stored: event('04.000', 4), incoming: event('05.000', 5), want: 'apply' },
    { case: 'the same event again (a retry)', stored: event('05.000', 5), incoming: event('05.000', 5), want: 'apply' },
    { case: 'equal time, lower version', stored: event('05.000', 5), incoming: event('05.000', 4), want: 'superseded' },
    { case: 'equal time, higher version', stored: event('05.000', 4), incoming: event('05.000', 5), want: 'apply' },
    {
      case: 'an older time wins nothing by a higher version',
      stored: event('05.000', 1),
      incoming: event('04.000', 9),
      want: 'superseded',
    },
    {
      case: 'a newer time applies despite a lower version',
      stored: event('04.000', 9),
      incoming: event('05.000', 1),
      want: 'apply',
    },
    {
      case: 'equal time, stored without version',
      stored: event('05.000'),
      incoming: event('05.000', 4),
      want: 'apply',
    },
    {
      case: 'equal time, incoming without version',
      stored: event('05.000', 5),
      incoming: event('05.000'),
      want: 'apply',
    },
    {
      case: 'no stored observation (a row from before ordering)',
      stored: undefined,
      incoming: event('04.000', 4),
      want: 'apply',
    },
    {
      case: 'no incoming observation (an older collector)',
      stored: event('05.000', 5),
      incoming: undefined,
      want: 'apply',
    },
    { case: 'neither side observed', stored: undefined, incoming: undefined, want: 'apply' },
    {
      case: 'a reconcile snapshot read before an applied event',
      stored: event('05.000', 5),
      incoming: snapshot('03.250'),
      want: 'superseded',
    },
    {
      case: 'a reconcile snapshot read after an applied event',
      stored: event('05.000', 5),
      incoming: snapshot('05.250'),
      want: 'apply',
    },
    {
      case: 'an event older than an applied snapshot',
      stored: snapshot('05.250'),
      incoming: event('05.000', 7),
      want: 'superseded',
    },
    {
      case: 'an event newer than an applied snapshot',
      stored: snapshot('05.250'),
      incoming: event('06.000', 1),
      want: 'apply',
    },
    {
      case: 'a snapshot older than the last snapshot',
      stored: snapshot('05.250'),
      incoming: snapshot('05.249'),
      want: 'superseded',
    },
  ])('$case: $want', ({ stored, incoming, want }) => {
    expect(orderTagSet(stored, incoming)).toBe(want);
  });
});

describe('recordsUnchanged (an unchanged tag set moves the stored observation forward)', () => {
  it.each([
    { case: 'a newer event', stored: event('04.000', 4), incoming: event('05.000', 5), want: true },
    { case: 'an event on a row without observation', stored: undefined, incoming: event('05.000', 5), want: true },
    { case: 'the same event again', stored: event('05.000', 5), incoming: event('05.000', 5), want: false },
    { case: 'an older event', stored: event('05.000', 5), incoming: event('04.000', 4), want: false },
    {
      case: 'a reconcile (no version): no table write in the steady state',
      stored: event('04.000', 4),
      incoming: snapshot('09.000'),
      want: false,
    },
    { case: 'no observation', stored: event('04.000', 4), incoming: undefined, want: false },
  ])('$case: $want', ({ stored, incoming, want }) => {
    expect(recordsUnchanged(stored, incoming)).toBe(want);
  });
});

describe('observationOf', () => {
  const now = new Date('2026-12-08T00:30:00.000Z');
  it.each([
    {
      case: 'whole seconds normalized to milliseconds',
      sent: { observedAt: '2026-12-08T00:29:59Z', observedVersion: 3 },
      want: { at: '2026-12-08T00:29:59.000Z', version: 3 },
    },
    { case: 'no version', sent: { observedAt: '2026-12-08T00:29:59.5Z' }, want: { at: '2026-12-08T00:29:59.500Z' } },
    { case: 'no time: none (applies as before)', sent: { observedVersion: 3 }, want: undefined },
    { case: 'nothing sent', sent: undefined, want: undefined },
    {
      case: 'a little ahead of the hub clock: kept',
      sent: { observedAt: '2026-12-08T00:30:30Z' },
      want: { at: '2026-12-08T00:30:30.000Z' },
    },
    {
      case: 'far ahead: held at the allowed lead',
      sent: { observedAt: '2027-01-01T00:00:00Z' },
      want: { at: new Date(now.getTime() + OBSERVED_AT_MAX_AHEAD_MS).toISOString() },
    },
  ])('$case', ({ sent, want }) => {
    expect(observationOf(sent, now)).toEqual(want);
  });
});

describe('the stored form', () => {
  it.each([
    { case: 'with a version', o: event('05.000', 5) },
    { case: 'without a version', o: snapshot('05.250') },
  ])('round-trips through the row attributes $case', ({ o }) => {
    expect(storedObservation(observedAttributes(o))).toEqual(o);
  });
  it('reads no observation from a row without one', () => {
    expect(storedObservation({})).toBeUndefined();
    expect(storedObservation(undefined)).toBeUndefined();
    expect(observedAttributes(undefined)).toEqual({});
  });
  it('names only the attributes its condition uses (DynamoDB refuses unused names)', () => {
    expect(Object.keys(notOlderCondition(snapshot('05.250')).names)).toEqual(['#obsAt']);
    expect(Object.keys(notOlderCondition(event('05.000', 5)).names).sort()).toEqual(['#obsAt', '#obsV']);
  });
});
