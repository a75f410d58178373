// The pure ownership and change rules of the tag manager, each as a table.
import { describe, expect, it } from 'vitest';
import type { ActivationRecord } from '../../../lambda/shared/activation-record.ts';
import { emptyTags, type TagPlan, type Tags } from '../../../lambda/shared/tag-rules.ts';
import { ownedByActivationId, ownershipFromRow, stampedAgency } from '../../../lambda/tag-manager/ownership.ts';
import { isUnchanged } from '../../../lambda/tag-manager/sync.ts';
import type { SyncRow } from '../../../lambda/tag-manager/table-io.ts';

const A = '111111111111';
const B = '222222222222';
const P = 'central-it:';
const STAMP = `${P}activation-agency`;
const MI = 'mi-0123456789abcdef0';
const EC2 = 'i-0123456789abcdef0';

const row = (fields: Partial<SyncRow> = {}): SyncRow => ({
  managedInstanceId: MI,
  agencyAccountId: A,
  ec2InstanceId: EC2,
  fingerprint: 'fp-1',
  ...fields,
});

const record = (agency: string, current: string, known: string[] = [current]): ActivationRecord =>
  ({
    agencyAccountId: agency,
    current: { activationId: current },
    previous: [],
    knownActivationIds: known,
  }) as unknown as ActivationRecord;

/** A prototype-free tag set, as the handler builds them. */
const tags = (entries: Record<string, string>): Tags => Object.assign(emptyTags(), entries);

describe('ownershipFromRow', () => {
  it.each([
    { case: 'no row', r: undefined, expected: 'unknown' },
    { case: "the caller's row", r: row(), expected: 'owned' },
    { case: "another agency's row", r: row({ agencyAccountId: B }), expected: 'other-agency' },
  ])('$case: $expected', ({ r, expected }) => {
    expect(ownershipFromRow(r, A)).toBe(expected);
  });
});

describe('ownedByActivationId', () => {
  it.each([
    { case: 'the current activation', info: { activationId: 'act-1' }, rec: record(A, 'act-1'), owned: true },
    {
      case: 'an older activation still in knownActivationIds',
      info: { activationId: 'act-0' },
      rec: record(A, 'act-1', ['act-1', 'act-0']),
      owned: true,
    },
    {
      case: 'the current one missing from knownActivationIds',
      info: { activationId: 'act-1' },
      rec: record(A, 'act-1', []),
      owned: true,
    },
    {
      case: 'an activation the record never held',
      info: { activationId: 'act-9' },
      rec: record(A, 'act-1'),
      owned: false,
    },
    {
      case: 'a record issued to another agency',
      info: { activationId: 'act-1' },
      rec: record(B, 'act-1'),
      owned: false,
    },
    { case: 'no record', info: { activationId: 'act-1' }, rec: undefined, owned: false },
    { case: 'a node SSM did not describe', info: undefined, rec: record(A, 'act-1'), owned: false },
    { case: 'a node without an activation ID', info: {}, rec: record(A, 'act-1'), owned: false },
  ])('$case: $owned', ({ info, rec, owned }) => {
    expect(ownedByActivationId(info, rec, A)).toBe(owned);
  });
});

describe('stampedAgency', () => {
  it.each([
    { case: 'a stamp', t: tags({ [STAMP]: A, Name: 'web' }), expected: A },
    { case: 'no stamp', t: tags({ Name: 'web' }), expected: undefined },
    { case: 'no tags read', t: undefined, expected: undefined },
    { case: 'an empty stamp', t: tags({ [STAMP]: '' }), expected: '' },
    { case: 'a stamp under another prefix', t: tags({ [`other:activation-agency`]: A }), expected: undefined },
    { case: 'tags named like Object members', t: tags({ constructor: 'x', ['__proto__']: 'y' }), expected: undefined },
  ])('$case', ({ t, expected }) => {
    expect(stampedAgency(t, P)).toBe(expected);
  });
});

describe('isUnchanged', () => {
  const plan = { fingerprint: 'fp-1' } as TagPlan;
  it.each([
    { case: 'the same agency, instance and tags, no drift check due', r: row(), drift: false, unchanged: true },
    { case: 'a drift check due', r: row(), drift: true, unchanged: false },
    { case: 'no row yet', r: undefined, drift: false, unchanged: false },
    { case: 'other tags applied last time', r: row({ fingerprint: 'fp-0' }), drift: false, unchanged: false },
    { case: 'no tags applied yet', r: row({ fingerprint: undefined }), drift: false, unchanged: false },
    { case: 'another agency', r: row({ agencyAccountId: B }), drift: false, unchanged: false },
    { case: 'another EC2 instance', r: row({ ec2InstanceId: 'i-0fedcba9876543210' }), drift: false, unchanged: false },
    { case: 'no EC2 instance bound yet', r: row({ ec2InstanceId: undefined }), drift: false, unchanged: false },
  ])('$case: $unchanged', ({ r, drift, unchanged }) => {
    expect(isUnchanged(r, A, EC2, plan, drift)).toBe(unchanged);
  });
});
