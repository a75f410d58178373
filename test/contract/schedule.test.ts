// Schedules are validated exactly as EventBridge validates them (EventBridge User Guide, "Schedule
// expressions for rules"), by one rule in contract/ used by the build config and by the agency
// template's ReconcileSchedule AllowedPattern.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SCHEDULE_EXPRESSION_ALLOWED_PATTERN, SCHEDULE_EXPRESSION_PATTERN } from '../../contract/patterns.ts';
import { parseBuildConfig } from '../../templates-src/config.ts';
import { loadGenerated } from '../../testing/helpers/iam-sim.ts';

const good = JSON.parse(readFileSync(new URL('../../build.config.json', import.meta.url), 'utf8'));

describe('EventBridge schedule expressions', () => {
  it.each([
    'rate(1 minute)',
    'rate(1 hour)',
    'rate(1 day)',
    'rate(5 minutes)',
    'rate(12 hours)',
    'rate(365 days)',
    'cron(0 12 * * ? *)',
    'cron(15 10 ? * 6L 2019-2022)',
    'cron(0/15 * * * ? *)',
    'cron(0 8 1 * ? *)',
    'cron(0 18 ? * MON-FRI *)',
    'cron(0 10 ? * 3#2 *)',
    'cron(0,30 1,2 L * ? *)',
    'cron(0 12 15W * ? *)',
    'cron(5 0 ? JAN-MAR SUN 2030)',
  ])('accepts %s', (expression) => {
    expect(SCHEDULE_EXPRESSION_PATTERN.test(expression)).toBe(true);
  });

  it.each([
    ['rate(1 hours)', 'a plural unit with 1'],
    ['rate(5 minute)', 'a singular unit with more than 1'],
    ['rate(0 minutes)', 'zero'],
    ['rate(01 minutes)', 'a leading zero'],
    ['rate(1 minutes)', 'a plural unit with 1'],
    ['rate(2 weeks)', 'an unknown unit'],
    ['cron(0 12 * * * *)', 'no ? in day of month or day of week'],
    ['cron(0 12 ? * ? *)', '? in both day fields'],
    ['cron(0 12 * * ?)', 'five fields'],
    ['cron(0 12 * * ? * *)', 'seven fields'],
    ['cron(60 12 * * ? *)', 'minute 60'],
    ['cron(0 24 * * ? *)', 'hour 24'],
    ['cron(0 12 32 * ? *)', 'day 32'],
    ['cron(0 12 * 13 ? *)', 'month 13'],
    ['cron(0 12 ? * 8 *)', 'day of week 8'],
    ['cron(0 12 * * ? 1969)', 'a year before 1970'],
    ['cron(0, 12 * * ? *)', 'a trailing comma'],
    ['every hour', 'no expression at all'],
  ])('refuses %s (%s)', (expression) => {
    expect(SCHEDULE_EXPRESSION_PATTERN.test(expression)).toBe(false);
  });

  it('gives the same answer on every use of one RegExp (V8 compiles a regex after its first runs)', () => {
    const re = new RegExp(SCHEDULE_EXPRESSION_ALLOWED_PATTERN);
    for (const [expression, expected] of [
      ['cron(0 1 L * ? *)', true],
      ['cron(0,30 1,2 L * ? *)', true],
      ['cron(0 12 * * * *)', false],
    ] as const) {
      expect(Array.from({ length: 20 }, () => re.test(expression))).toEqual(Array(20).fill(expected));
    }
  });

  it('is the AllowedPattern of the agency template, so CloudFormation refuses what EventBridge would', () => {
    const parameters = loadGenerated('agency-collector').Parameters as Record<string, { AllowedPattern?: string }>;
    expect(parameters.ReconcileSchedule!.AllowedPattern).toBe(SCHEDULE_EXPRESSION_ALLOWED_PATTERN);
  });

  it.each(['rate(1 hours)', 'rate(5 minute)', 'rate(0 minutes)'])(
    'refuses %s in the build config, naming the field and the rule',
    (expression) => {
      expect(() => parseBuildConfig({ ...good, rotationSchedule: expression }, 'build.config.json')).toThrow(
        /rotationSchedule: must be an EventBridge schedule expression: rate\(1 minute\|hour\|day\)/,
      );
    },
  );
});
