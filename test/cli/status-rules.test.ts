// The pure rules status, nodes and report --from add: table tests, one per rule.
import { describe, expect, it } from 'vitest';
import { regionErrorCounts, registrationErrorRegionsText } from '../../scripts/ops/lifecycle-status.ts';
import { reportedAgencies } from '../../scripts/ops/status-table.ts';
import { shapeProblem } from '../../scripts/ops/report-model.ts';
import { perAgencyViews } from '../../scripts/ops/nodes.ts';
import { legacyListCutoff } from '../../lambda/tag-manager/report.ts';
import { agencyWarnings, silentCollectors } from '../../scripts/ops/status.ts';

const A = '111111111111';

describe('regionErrorCounts: an agency row read back, one entry per collector Region', () => {
  it.each([
    { case: 'no row', row: undefined, want: [] },
    {
      case: 'two Regions, sorted, each with its report time',
      row: {
        'registrationErrorCount#us-west-2': 2,
        'reportedAt#us-west-2': 't2',
        'registrationErrorCount#eu-west-1': 0,
        'reportedAt#eu-west-1': 't1',
      },
      want: [
        { region: 'eu-west-1', count: 0, reportedAt: 't1' },
        { region: 'us-west-2', count: 2, reportedAt: 't2' },
      ],
    },
    {
      case: 'the list of a collector that names no Region, with its own time',
      row: { registrationErrors: { 'i-1': 'x' }, registrationErrorCount: 1, legacyReportedAt: 't0', reportedAt: 't9' },
      want: [{ count: 1, reportedAt: 't0' }],
    },
    {
      case: 'a row of the earlier hub (its time is reportedAt)',
      row: { registrationErrors: {}, registrationErrorCount: 0, reportedAt: 't9' },
      want: [{ count: 0, reportedAt: 't9' }],
    },
    {
      case: 'a count that is not a number',
      row: { 'registrationErrorCount#us-east-1': '3' },
      want: [{ region: 'us-east-1', count: 0 }],
    },
  ])('$case', ({ row, want }) => {
    expect(regionErrorCounts(row)).toEqual(want);
  });

  it.each([
    { byRegion: [], want: '' },
    { byRegion: [{ region: 'us-east-1', count: 0 }], want: '' },
    { byRegion: [{ region: 'us-east-1', count: 1 }, { count: 2 }], want: 'us-east-1: 1, Region not named: 2' },
  ])('names the Regions with errors: "$want"', ({ byRegion, want }) => {
    expect(registrationErrorRegionsText(byRegion)).toBe(want);
  });
});

describe("nodes: a Region's list row names its agency and Region", () => {
  it.each([
    {
      case: "a Region's row",
      item: { managedInstanceId: `regerr#${A}#us-west-2`, registrationErrors: { 'i-2': 'e' }, reportedAt: 't' },
      want: [{ agency: A, region: 'us-west-2', ec2InstanceId: 'i-2', reason: 'e', reportedAt: 't' }],
    },
    {
      case: 'the agency row with a list of a collector that names no Region',
      item: { managedInstanceId: `regerr#${A}`, registrationErrors: { 'i-3': 'f' }, legacyReportedAt: 't0' },
      want: [{ agency: A, ec2InstanceId: 'i-3', reason: 'f', reportedAt: 't0' }],
    },
    {
      case: 'the agency row with counts only',
      item: { managedInstanceId: `regerr#${A}`, 'registrationErrorCount#us-east-1': 1 },
      want: [],
    },
  ])('$case', ({ item, want }) => {
    expect(perAgencyViews(item)).toEqual(want.map((w) => ({ state: 'registration-error', ...w })));
  });
});

describe('silentCollectors: collector Regions the orphan sweep waits for', () => {
  const now = new Date('2026-12-08T12:00:00Z');
  it.each([
    {
      case: 'a Region that reported an hour ago',
      byRegion: [{ region: 'us-east-1', count: 0, reportedAt: '2026-12-08T11:00:00Z' }],
      want: [],
    },
    {
      case: 'a Region silent for exactly 24 h',
      byRegion: [{ region: 'eu-west-1', count: 2, reportedAt: '2026-12-07T12:00:00Z' }],
      want: [{ region: 'eu-west-1', reportedAt: '2026-12-07T12:00:00Z', hoursAgo: 24 }],
    },
    {
      case: 'one silent among two',
      byRegion: [
        { region: 'us-east-1', count: 0, reportedAt: '2026-12-08T11:30:00Z' },
        { region: 'eu-west-1', count: 0, reportedAt: '2026-11-08T12:00:00Z' },
      ],
      want: [{ region: 'eu-west-1', reportedAt: '2026-11-08T12:00:00Z', hoursAgo: 720 }],
    },
    {
      case: 'an older collector that names no Region',
      byRegion: [{ count: 1, reportedAt: '2026-12-06T12:00:00Z' }],
      want: [{ reportedAt: '2026-12-06T12:00:00Z', hoursAgo: 48 }],
    },
    { case: 'no report time', byRegion: [{ region: 'us-east-1', count: 1 }], want: [] },
    { case: 'nothing reported', byRegion: undefined, want: [] },
  ])('$case', ({ byRegion, want }) => {
    expect(silentCollectors(byRegion, now)).toEqual(want);
  });

  it('warns, naming the Region and what it pauses', () => {
    const view = {
      account: A,
      permissionsStack: 'CREATE_COMPLETE',
      stackInstances: [],
      silentCollectors: [{ region: 'eu-west-1', reportedAt: '2026-11-08T12:00:00Z', hoursAgo: 720 }],
    };
    expect(agencyWarnings(view, 90, true).filter((w) => w.includes('last reported'))).toEqual([
      `agency ${A}: its collector in eu-west-1 last reported 720 h ago (2026-11-08T12:00:00Z): the orphan sweep of this agency's nodes waits until it reports again (a collector removed on purpose: see the README, "A collector Region that is gone")`,
    ]);
  });
});

describe('an agency with more than one permissions stack', () => {
  it('is warned about, naming the stacks, since each holds an activation', () => {
    const view = { account: A, permissionsStack: 'CREATE_COMPLETE; also agency-perms', stackInstances: [] };
    expect(agencyWarnings(view, 90, true).filter((w) => w.includes('more than one'))).toEqual([
      `agency ${A}: more than one permissions stack (CREATE_COMPLETE; also agency-perms), each holding an activation: delete the extra one`,
    ]);
  });
});

describe('reportedAgencies: stacks and table together', () => {
  it.each([
    { withStack: [A], inTable: undefined, want: [A] },
    { withStack: ['222222222222'], inTable: [A, '222222222222'], want: [A, '222222222222'] },
    { withStack: [], inTable: ['333333333333'], want: ['333333333333'] },
  ])('$withStack and $inTable give $want', ({ withStack, inTable, want }) => {
    expect(reportedAgencies(withStack, inTable)).toEqual(want);
  });
});

describe('shapeProblem: the first field that breaks the rule', () => {
  const shape = { a: 'string', n: '?number', list: [{ x: 'number' }], opt: ['?', { y: 'string' }] } as const;
  it.each([
    { case: 'a good value', value: { a: 's', list: [] }, want: undefined },
    { case: 'a missing field', value: { list: [] }, want: 'a is missing' },
    { case: 'a wrong type', value: { a: 1, list: [] }, want: 'a: must be a string' },
    { case: 'an optional number that is text', value: { a: 's', n: '1', list: [] }, want: 'n: must be a number' },
    { case: 'NaN as a number', value: { a: 's', n: Number.NaN, list: [] }, want: 'n: must be a number' },
    { case: 'a list that is not one', value: { a: 's', list: {} }, want: 'list: must be a list' },
    { case: 'a bad list item', value: { a: 's', list: [{ x: 1 }, { x: 'b' }] }, want: 'list[1].x: must be a number' },
    {
      case: 'an optional object that is wrong',
      value: { a: 's', list: [], opt: { y: 2 } },
      want: 'opt.y: must be a string',
    },
    { case: 'not an object', value: [], want: 'the top level: must be an object' },
  ])('$case', ({ value, want }) => {
    expect(shapeProblem(value, shape, '')).toBe(want);
  });
});

describe('legacyListCutoff', () => {
  it('is 24 hours before now', () => {
    expect(legacyListCutoff(new Date('2026-06-02T12:00:00.000Z'))).toBe('2026-06-01T12:00:00.000Z');
  });
});
