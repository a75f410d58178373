// What the generated central-operations template lets through: each parameter value CloudFormation
// would refuse (its own parameter checks, then the template's Rules), against what SSM refuses.
import { describe, expect, it } from 'vitest';
import { RATE_CONTROL_MAX_LENGTH } from '../../contract/run-command.ts';
import { TIME_ZONE_NAME_MAX_LENGTH } from '../../contract/operations.ts';
import { SCHEDULE_EXPRESSION_ALLOWED_PATTERN } from '../../contract/patterns.ts';
import { refusedParameters, type ParameterDeclaration } from '../../testing/helpers/cfn-parameters.ts';
import { HUB, loadGenerated, ResolvedStack } from '../../testing/helpers/iam-sim.ts';

const template = loadGenerated('central-operations') as {
  Parameters: Record<string, ParameterDeclaration>;
  Rules: Record<string, any>;
};
// HubReaderPolicy imports central-manager's SyncTableName export.
const STACK = {
  ...HUB,
  stackName: 'ssm-hub-central-operations',
  imports: { 'ssm-hub-central-manager-SyncTableName': 'ssm-hub-sync' },
};
/** Everything CloudFormation refuses for these values: parameter checks first, then the Rules. */
const refused = (parameters: Record<string, string>): string[] => {
  const params = refusedParameters(template.Parameters, parameters);
  return params.length ? params : new ResolvedStack('central-operations', { ...STACK, parameters }).failedRules();
};
const accepts = (name: string, value: string) => refusedParameters(template.Parameters, { [name]: value }).length === 0;

describe('central-operations: install window hours', () => {
  it('refuses at deploy time a cutoff of the window length or more (no hour left to start a task)', () => {
    const rule = template.Rules.InstallCutoffBelowDuration;
    expect(rule.RuleCondition).toEqual({ 'Fn::Equals': [{ Ref: 'EnableInstallWindow' }, 'true'] });
    // One assertion per length 1-23; a 24-hour window takes every cutoff 0-23.
    expect(rule.Assertions).toHaveLength(23);
    expect(rule.Assertions[3]).toEqual({
      Assert: {
        'Fn::Or': [
          { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'InstallDurationHours' }, '4'] }] },
          { 'Fn::Contains': [['0', '1', '2', '3'], { Ref: 'InstallCutoffHours' }] },
        ],
      },
      AssertDescription: 'InstallCutoffHours must be less than InstallDurationHours, which is 4: use 0-3',
    });
  });

  const rule = (d: number) =>
    `InstallCutoffHours must be less than InstallDurationHours, which is ${d}: use ${d === 1 ? '0' : `0-${d - 1}`}`;
  it.each([
    { duration: '4', cutoff: '1', refused: [] },
    { duration: '1', cutoff: '0', refused: [] },
    { duration: '1', cutoff: '1', refused: [rule(1)] },
    { duration: '2', cutoff: '1', refused: [] },
    { duration: '2', cutoff: '2', refused: [rule(2)] },
    { duration: '4', cutoff: '3', refused: [] },
    { duration: '4', cutoff: '4', refused: [rule(4)] },
    { duration: '4', cutoff: '23', refused: [rule(4)] },
    { duration: '23', cutoff: '22', refused: [] },
    { duration: '23', cutoff: '23', refused: [rule(23)] },
    { duration: '24', cutoff: '23', refused: [] },
    { duration: '24', cutoff: '0', refused: [] },
    { duration: '02', cutoff: '2', refused: ['InstallDurationHours: not in AllowedValues'] },
    { duration: '2.0', cutoff: '2', refused: ['InstallDurationHours: not in AllowedValues'] },
    { duration: '4', cutoff: '04', refused: ['InstallCutoffHours: not in AllowedValues'] },
    { duration: '4', cutoff: ' 4', refused: ['InstallCutoffHours: not in AllowedValues'] },
    { duration: '0', cutoff: '0', refused: ['InstallDurationHours: not in AllowedValues'] },
    { duration: '25', cutoff: '0', refused: ['InstallDurationHours: not in AllowedValues'] },
    { duration: '4', cutoff: '-1', refused: ['InstallCutoffHours: not in AllowedValues'] },
  ])(
    'InstallDurationHours $duration with InstallCutoffHours $cutoff: refused $refused',
    ({ duration, cutoff, refused: r }) => {
      expect(refused({ InstallDurationHours: duration, InstallCutoffHours: cutoff })).toEqual(r);
    },
  );

  it('takes exactly the pairs with the cutoff below the length, over every length and cutoff SSM allows', () => {
    const wrong: string[] = [];
    for (let d = 1; d <= 24; d++)
      for (let c = 0; c <= 23; c++) {
        const out = refused({ InstallDurationHours: String(d), InstallCutoffHours: String(c) });
        if ((out.length === 0) !== c < d) wrong.push(`${d}/${c}: ${JSON.stringify(out)}`);
      }
    expect(wrong).toEqual([]);
  });

  it('leaves the hours unchecked while the install window is off (they configure nothing then)', () => {
    expect(refused({ EnableInstallWindow: 'false', InstallDurationHours: '4', InstallCutoffHours: '4' })).toEqual([]);
  });
});

describe('central-operations: rate controls', () => {
  it.each(['ScanMaxConcurrency', 'ScanMaxErrors', 'InstallMaxConcurrency', 'InstallMaxErrors'])(
    "%s is refused over SSM's 7 characters, which the pattern alone lets through",
    (name) => {
      expect(template.Parameters[name]!.MaxLength).toBe(RATE_CONTROL_MAX_LENGTH);
      expect(accepts(name, '1234567')).toBe(true);
      expect(accepts(name, '12345678')).toBe(false);
      expect(accepts(name, '100%')).toBe(true);
    },
  );
});

describe('central-operations: InstallScheduleTimezone', () => {
  const names = [...Intl.supportedValuesOf('timeZone'), 'UTC', 'Etc/GMT+5', 'Etc/GMT-14', 'EST5EDT', 'GMT0'];
  it(`takes every IANA time zone name Node knows (${names.length}), and the legacy ones with digits and +`, () => {
    expect(names.filter((n) => !accepts('InstallScheduleTimezone', n))).toEqual([]);
  });

  it.each([
    ['', 'empty'],
    ['+10:00', 'an offset, not a name'],
    ['Australia/Sydney ', 'a trailing space'],
    ['Australia Sydney', 'a space'],
    ['../etc/passwd', 'a component starting with a dot'],
    ['-Europe/Berlin', 'a component starting with -'],
    ['/UTC', 'an empty component'],
    ['Europe//Berlin', 'an empty component'],
    ['Europe/', 'an empty last component'],
    ['America/Argentina/Buenos_Aires/X', 'four components'],
    ['America/Fifteen_Letters', 'a component of 15 characters'],
    ['Asia/Tokyo;rm', 'a semicolon'],
  ])('refuses %j (%s)', (value) => {
    expect(accepts('InstallScheduleTimezone', value)).toBe(false);
  });

  it('is at most TIME_ZONE_NAME_MAX_LENGTH characters, the longest name the pattern allows', () => {
    expect(template.Parameters.InstallScheduleTimezone!.MaxLength).toBe(TIME_ZONE_NAME_MAX_LENGTH);
    const longest = Array.from({ length: 3 }, () => 'A'.repeat(14)).join('/');
    expect(longest).toHaveLength(TIME_ZONE_NAME_MAX_LENGTH);
    expect(accepts('InstallScheduleTimezone', longest)).toBe(true);
  });
});

describe('central-operations: schedules', () => {
  const associations = ['InventorySchedule', 'PatchScanSchedule'];
  it.each([
    'rate(30 minutes)',
    'rate(44639 minutes)',
    'rate(1 hour)',
    'rate(743 hours)',
    'rate(1 day)',
    'rate(30 days)',
    'cron(0/30 * * * ? *)',
    'cron(0 2 ? * * *)',
    'cron(30 23 ? * TUE#3 *)',
    'cron(0 0 ? * 3L *)',
    'cron(15 13 ? * MON *)',
  ])('an association schedule takes %s', (value) => {
    for (const name of associations) expect(accepts(name, value), name).toBe(true);
  });

  it.each([
    ['rate(1 minute)', 'under 30 minutes'],
    ['rate(29 minutes)', 'under 30 minutes'],
    ['rate(44640 minutes)', '31 days'],
    ['rate(744 hours)', '31 days'],
    ['rate(31 days)', '31 days'],
    ['rate(365 days)', 'over 31 days'],
    ['cron(0 2 ? JAN * *)', 'a month'],
    ['cron(0 2 1 1-6 ? *)', 'a month range'],
    ['rate(1 hours)', 'a plural unit with 1 (EventBridge refuses it too)'],
  ])('an association schedule refuses %s (%s: State Manager does)', (value) => {
    for (const name of associations) expect(accepts(name, value), name).toBe(false);
  });

  it('leaves the install window on EventBridge\'s rule: maintenance windows take "all cron and rate expressions"', () => {
    expect(template.Parameters.InstallSchedule!.AllowedPattern).toBe(SCHEDULE_EXPRESSION_ALLOWED_PATTERN);
    expect(accepts('InstallSchedule', 'rate(1 hour)')).toBe(true);
    expect(accepts('InstallSchedule', 'cron(0 3 ? JAN SUN *)')).toBe(true);
  });
});
