// The stack-parameter merge, as tables: what an update sends (ops/stacks.ts updateParameters, used
// by onboard and rollout) and which parameters rollout names for a new or an existing StackSet
// (ops/rollout.ts stackSetRequest), and which agency template each parameter goes to
// (ops/agency-stacksets.ts routeParameters).
import type { Parameter, StackInstanceSummary } from '@aws-sdk/client-cloudformation';
import type { InstanceTargets } from '../../scripts/ops/stackset.ts';
import { describe, expect, it } from 'vitest';
import { stackSetRequest, withoutAccounts, type RolloutPlan } from '../../scripts/ops/rollout.ts';
import { instancesOutsideTargets, routeParameters, type AgencyStackSet } from '../../scripts/ops/agency-stacksets.ts';
import { updateParameters } from '../../scripts/ops/stacks.ts';

const value = (ParameterKey: string, ParameterValue: string): Parameter => ({ ParameterKey, ParameterValue });
const previous = (ParameterKey: string): Parameter => ({ ParameterKey, UsePreviousValue: true });

describe('updateParameters', () => {
  it.each([
    {
      case: 'a new stack (nothing existing)',
      existing: undefined,
      given: [value('A', '1')],
      declared: undefined,
      expected: [value('A', '1')],
    },
    {
      case: 'an existing parameter not given keeps its value',
      existing: [value('A', '0'), value('AlarmEmail', 'ops@example.org')],
      given: [value('A', '1')],
      declared: undefined,
      expected: [value('A', '1'), previous('AlarmEmail')],
    },
    {
      case: 'a given parameter replaces the existing value',
      existing: [value('A', '0')],
      given: [value('A', '1')],
      declared: undefined,
      expected: [value('A', '1')],
    },
    {
      case: 'a parameter the new template no longer declares is dropped',
      existing: [value('A', '0'), value('Retired', 'x'), value('Kept', 'y')],
      given: [value('A', '1')],
      declared: new Set(['A', 'Kept']),
      expected: [value('A', '1'), previous('Kept')],
    },
    {
      case: 'nothing given: every declared parameter keeps its value',
      existing: [value('A', '0'), value('B', '0')],
      given: [],
      declared: new Set(['A', 'B']),
      expected: [previous('A'), previous('B')],
    },
    {
      case: 'an existing entry without a key is ignored',
      existing: [{ ParameterValue: 'x' }],
      given: [value('A', '1')],
      declared: undefined,
      expected: [value('A', '1')],
    },
  ])('$case', ({ existing, given, declared, expected }) => {
    expect(updateParameters(existing, given, declared)).toEqual(expected);
  });
});

describe('stackSetRequest parameters', () => {
  const plan = { targets: { selfManaged: false } } as unknown as RolloutPlan;
  const set = (template: AgencyStackSet['template'], declares: string[], given: Record<string, string>) =>
    ({ template, source: { TemplateBody: '{}' }, declares: new Set(declares), given }) as AgencyStackSet;
  const COLLECTOR = ['CentralAccountId', 'CentralRegion', 'ReconcileSchedule', 'AlarmEmail'];
  const REGISTRATION = ['CentralRegion', 'EnableZeroTouchRegistration', 'OptInTagKey', 'OptInTagValue'];
  const CALLER = '999999999999';
  const REGION = 'eu-west-1';
  it.each([
    {
      case: 'no central flags: a new StackSet points at the caller and this Region, an update changes neither',
      set: set('agency-collector', COLLECTOR, {}),
      create: [value('CentralAccountId', CALLER), value('CentralRegion', REGION)],
      given: [],
    },
    {
      case: 'both central flags: named on create and on update',
      set: set('agency-collector', COLLECTOR, { CentralAccountId: '111111111111', CentralRegion: 'us-east-1' }),
      create: [value('CentralAccountId', '111111111111'), value('CentralRegion', 'us-east-1')],
      given: [value('CentralAccountId', '111111111111'), value('CentralRegion', 'us-east-1')],
    },
    {
      case: 'only --central-region: the account stays as it is on update',
      set: set('agency-collector', COLLECTOR, { CentralRegion: 'us-east-1' }),
      create: [value('CentralAccountId', CALLER), value('CentralRegion', 'us-east-1')],
      given: [value('CentralRegion', 'us-east-1')],
    },
    {
      case: 'other collector parameters go to both',
      set: set('agency-collector', COLLECTOR, { AlarmEmail: 'ops@example.org' }),
      create: [
        value('CentralAccountId', CALLER),
        value('CentralRegion', REGION),
        value('AlarmEmail', 'ops@example.org'),
      ],
      given: [value('AlarmEmail', 'ops@example.org')],
    },
    {
      case: 'the registration template gets no CentralAccountId, only the Region default',
      set: set('agency-registration', REGISTRATION, { EnableZeroTouchRegistration: 'false' }),
      create: [value('CentralRegion', REGION), value('EnableZeroTouchRegistration', 'false')],
      given: [value('EnableZeroTouchRegistration', 'false')],
    },
  ])('$case', ({ set: s, create, given }) => {
    const req = stackSetRequest(plan, s, `ssm-hub-${s.template}`, CALLER, REGION);
    expect(req.createParameters).toEqual(create);
    expect(req.givenParameters).toEqual(given);
  });
});

describe('routeParameters', () => {
  const declared = {
    'agency-collector': new Set(['CentralAccountId', 'CentralRegion', 'ReconcileSchedule', 'AlarmEmail']),
    'agency-registration': new Set(['CentralRegion', 'EnableZeroTouchRegistration', 'OptInTagKey', 'OptInTagValue']),
  };
  const names = (r: ReturnType<typeof routeParameters>) => ({
    collector: r['agency-collector'].map((a) => a.name),
    registration: r['agency-registration'].map((a) => a.name),
  });
  it.each([
    { case: 'CentralRegion goes to both templates', param: 'CentralRegion', collector: true, registration: true },
    { case: 'CentralAccountId only to the collector', param: 'CentralAccountId', collector: true, registration: false },
    {
      case: 'ReconcileSchedule only to the collector',
      param: 'ReconcileSchedule',
      collector: true,
      registration: false,
    },
    { case: 'AlarmEmail only to the collector', param: 'AlarmEmail', collector: true, registration: false },
    {
      case: 'EnableZeroTouchRegistration only to registration',
      param: 'EnableZeroTouchRegistration',
      collector: false,
      registration: true,
    },
    { case: 'OptInTagKey only to registration', param: 'OptInTagKey', collector: false, registration: true },
  ])('$case', ({ param, collector, registration }) => {
    const r = names(routeParameters([{ flag: '--param', name: param, value: 'x' }], declared));
    expect(r.collector).toEqual(collector ? [param] : []);
    expect(r.registration).toEqual(registration ? [param] : []);
  });
  it.each(['NoSuchParameter', '__proto__', 'constructor'])(
    'refuses %s, which no agency template declares, naming it and what each declares',
    (name) => {
      expect(() => routeParameters([{ flag: '--param', name, value: 'x' }], declared)).toThrow(
        new RegExp(
          `^--param: no agency template declares a parameter ${name} \\(agency-collector: CentralAccountId, .*; agency-registration: CentralRegion, .*\\)$`,
        ),
      );
    },
  );
});

describe('instancesOutsideTargets (an upgrade must reach every existing collector stack instance)', () => {
  const at = (Account: string, Region: string, OrganizationalUnitId?: string) => ({
    Account,
    Region,
    OrganizationalUnitId,
  });
  const OU = 'ou-abcd-12345678';
  it.each([
    ['same OU and Region', [at('111111111111', 'us-east-1', OU)], { ous: [OU], regions: ['us-east-1'] }, []],
    [
      'another Region',
      [at('111111111111', 'us-west-2', OU)],
      { ous: [OU], regions: ['us-east-1'] },
      ['111111111111/us-west-2'],
    ],
    [
      'another OU',
      [at('111111111111', 'us-east-1', 'ou-abcd-87654321')],
      { ous: [OU], regions: ['us-east-1'] },
      ['111111111111/us-east-1'],
    ],
    [
      'a root reaches every OU',
      [at('111111111111', 'us-east-1', 'ou-abcd-87654321')],
      { ous: ['r-ab12'], regions: ['us-east-1'] },
      [],
    ],
    [
      'OUs narrowed to other accounts',
      [at('111111111111', 'us-east-1', OU)],
      { ous: [OU], accounts: ['222222222222'], regions: ['us-east-1'] },
      ['111111111111/us-east-1'],
    ],
    [
      'self-managed, listed account',
      [at('111111111111', 'us-east-1')],
      { accounts: ['111111111111'], regions: ['us-east-1'] },
      [],
    ],
    [
      'self-managed, unlisted account',
      [at('333333333333', 'us-east-1')],
      { accounts: ['111111111111'], regions: ['us-east-1'] },
      ['333333333333/us-east-1'],
    ],
  ] as Array<[string, StackInstanceSummary[], Omit<InstanceTargets, 'selfManaged'>, string[]]>)(
    '%s',
    (_, instances, t, expected) => {
      expect(instancesOutsideTargets(instances, { selfManaged: !t.ous, ...t })).toEqual(expected);
    },
  );
});

describe('instancesOutsideTargets with the accounts the OUs reach', () => {
  it('counts an instance deployed through a child OU as reached when the run names its parent', () => {
    const child = { Account: '111111111111', Region: 'us-east-1', OrganizationalUnitId: 'ou-abcd-child001' };
    const t: InstanceTargets = { selfManaged: false, ous: ['ou-abcd-12345678'], regions: ['us-east-1'] };
    expect(instancesOutsideTargets([child], t)).toEqual(['111111111111/us-east-1']);
    expect(instancesOutsideTargets([child], t, new Set(['111111111111']))).toEqual([]);
    expect(instancesOutsideTargets([child], t, new Set(['222222222222']))).toEqual(['111111111111/us-east-1']);
  });
});

describe('withoutAccounts (registration skips accounts whose collector failed)', () => {
  const ou: InstanceTargets = { selfManaged: false, ous: ['ou-abcd-12345678'], regions: ['us-east-1'] };
  it.each([
    ['nothing to skip', ou, [], ou],
    ['OUs: the accounts left out', ou, ['222222222222'], { ...ou, excludeAccounts: ['222222222222'] }],
    [
      'named accounts: the others',
      { ...ou, accounts: ['111111111111', '222222222222'] },
      ['222222222222'],
      { ...ou, accounts: ['111111111111'] },
    ],
    ['named accounts: none left', { ...ou, accounts: ['222222222222'] }, ['222222222222'], undefined],
  ] as Array<[string, InstanceTargets, string[], InstanceTargets | undefined]>)('%s', (_, t, skip, expected) => {
    expect(withoutAccounts(t, skip)).toEqual(expected);
  });
});
