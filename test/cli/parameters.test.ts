// The stack-parameter merge, as tables: what an update sends (ops/stacks.ts updateParameters, used
// by onboard and rollout) and which parameters rollout names for a new or an existing StackSet
// (ops/rollout.ts stackSetRequest).
import type { Parameter } from '@aws-sdk/client-cloudformation';
import { describe, expect, it } from 'vitest';
import { stackSetRequest, type RolloutPlan } from '../../scripts/ops/rollout.ts';
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
  const plan = (fields: Partial<RolloutPlan>): RolloutPlan =>
    ({
      targets: { selfManaged: false },
      template: { TemplateBody: '{}' },
      extraParams: {},
      ...fields,
    }) as unknown as RolloutPlan;
  const CALLER = '999999999999';
  const REGION = 'eu-west-1';
  it.each([
    {
      case: 'no central flags: a new StackSet points at the caller and this Region, an update changes neither',
      fields: {},
      create: [value('CentralAccountId', CALLER), value('CentralRegion', REGION)],
      given: [],
    },
    {
      case: 'both central flags: named on create and on update',
      fields: { centralAccount: '111111111111', centralRegion: 'us-east-1' },
      create: [value('CentralAccountId', '111111111111'), value('CentralRegion', 'us-east-1')],
      given: [value('CentralAccountId', '111111111111'), value('CentralRegion', 'us-east-1')],
    },
    {
      case: 'only --central-region: the account stays as it is on update',
      fields: { centralRegion: 'us-east-1' },
      create: [value('CentralAccountId', CALLER), value('CentralRegion', 'us-east-1')],
      given: [value('CentralRegion', 'us-east-1')],
    },
    {
      case: 'other collector parameters go to both',
      fields: { extraParams: { AlarmEmail: 'ops@example.org' } },
      create: [
        value('CentralAccountId', CALLER),
        value('CentralRegion', REGION),
        value('AlarmEmail', 'ops@example.org'),
      ],
      given: [value('AlarmEmail', 'ops@example.org')],
    },
  ])('$case', ({ fields, create, given }) => {
    const req = stackSetRequest(plan(fields), 'ssm-hub-agency-collector', CALLER, REGION);
    expect(req.createParameters).toEqual(create);
    expect(req.givenParameters).toEqual(given);
  });
});
