// Limits and patterns of the central-operations template's parameters: State Manager associations,
// the patch-install maintenance window and its time zone. A file of its own: no Lambda imports it,
// so the bundles inside the templates do not change with it.
import { schedulePattern } from './patterns.ts';

/** An inclusive integer range. */
export interface IntegerRange {
  min: number;
  max: number;
}

/**
 * CreateMaintenanceWindow (SSM API reference, Request Parameters): Duration "Valid Range: Minimum
 * value of 1. Maximum value of 24", Cutoff "Minimum value of 0. Maximum value of 23"; and "No
 * maintenance window tasks are permitted to start after the resulting endtime minus the number of
 * hours you specify for Cutoff", so a cutoff of the duration or more leaves no time to start a task.
 */
export const MAINTENANCE_WINDOW_HOURS: { duration: IntegerRange; cutoff: IntegerRange } = {
  duration: { min: 1, max: 24 },
  cutoff: { min: 0, max: 23 },
};

/** The integers of a range as decimal strings without leading zeros: what AllowedValues lists and a rule compares. */
export function integerStrings(range: IntegerRange): string[] {
  return Array.from({ length: range.max - range.min + 1 }, (_, i) => String(range.min + i));
}

/**
 * A regex alternation (no anchors, no groups) matching exactly the decimal integers min..max
 * written without leading zeros. For AllowedPatterns, where CloudFormation compares no numbers.
 */
export function integerRangePattern(min: number, max: number): string {
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min)
    throw new RangeError(`integerRangePattern: needs 0 <= min <= max, got ${min}..${max}`);
  const parts: string[] = [];
  for (let digits = String(min).length; digits <= String(max).length; digits++) {
    const lo = Math.max(min, digits === 1 ? 0 : 10 ** (digits - 1));
    const hi = Math.min(max, 10 ** digits - 1);
    parts.push(...sameLength(String(lo), String(hi)));
  }
  return parts.join('|');
}

/** Alternatives matching lo..hi, two decimal strings of one length (lo <= hi). */
function sameLength(lo: string, hi: string): string[] {
  if (lo === hi) return [lo];
  const rest = lo.length - 1;
  const [a, b] = [Number(lo[0]), Number(hi[0])];
  if (a === b) return sameLength(lo.slice(1), hi.slice(1)).map((p) => `${a}${p}`);
  const [zeros, nines] = ['0'.repeat(rest), '9'.repeat(rest)];
  const out: string[] = [];
  const fullFrom = lo.slice(1) === zeros ? a : a + 1;
  const fullTo = hi.slice(1) === nines ? b : b - 1;
  if (fullFrom !== a) out.push(...sameLength(lo.slice(1), nines).map((p) => `${a}${p}`));
  if (fullFrom <= fullTo)
    out.push(`${fullFrom === fullTo ? fullFrom : `[${fullFrom}-${fullTo}]`}${'[0-9]'.repeat(rest)}`);
  if (fullTo !== b) out.push(...sameLength(zeros, hi.slice(1)).map((p) => `${b}${p}`));
  return out;
}

/**
 * State Manager association rate expressions: "intervals of 30 minutes or greater and less than 31
 * days" (Systems Manager User Guide, "Reference: Cron and rate expressions for Systems Manager",
 * Cron and rate expressions for associations), in minutes.
 */
export const ASSOCIATION_RATE_MINUTES = { min: 30, below: 31 * 24 * 60 } as const;

/** rate() over the association interval, in each unit: 1 singular, more plural (the same page). */
function associationRate(): string {
  const units = [
    ['minute', 1],
    ['hour', 60],
    ['day', 24 * 60],
  ] as const;
  const alternatives = units.map(([unit, minutes]) => {
    const lo = Math.ceil(ASSOCIATION_RATE_MINUTES.min / minutes);
    const hi = Math.floor((ASSOCIATION_RATE_MINUTES.below - 1) / minutes);
    const plural = `(?:${integerRangePattern(Math.max(lo, 2), hi)}) ${unit}s`;
    return lo <= 1 ? `1 ${unit}|${plural}` : plural;
  });
  return `rate\\((?:${alternatives.join('|')})\\)`;
}

/**
 * An association's ScheduleExpression: the association rates above, or an EventBridge cron whose
 * month is * ("State Manager doesn't currently support specifying months in cron expressions for
 * associations", the same page). The page lists the cron schedules associations support in words
 * (every 1/2, 1, 2, 4, 8 or 12 hours, every day, week, nth day, last x day of the month), not as a
 * grammar, so cron is otherwise EventBridge's rule.
 */
export const ASSOCIATION_SCHEDULE_ALLOWED_PATTERN = schedulePattern({ rate: associationRate(), anyMonth: true });
export const ASSOCIATION_SCHEDULE_RULE =
  'must be rate() from 30 minutes to under 31 days (rate(30 minutes), rate(1 hour), rate(30 days)), or cron() with six fields, one ? and * as the month';

/**
 * A maintenance window's ScheduleTimezone is an IANA time zone name (Systems Manager User Guide,
 * "Maintenance window scheduling and active period options": "You specify time zones in Internet
 * Assigned Numbers Authority (IANA) format"); the API reference gives it no pattern or length. The
 * tz database's naming rules (its "Theory" file): components of ASCII letters, '.', '-' and '_'
 * (digits and '+' in legacy names such as Etc/GMT+5 and EST5EDT), not starting with '-', each at
 * most 14 characters. Its names have at most 3 components (America/Argentina/Buenos_Aires).
 */
export const TIME_ZONE_NAME_LIMITS = { componentLength: 14, components: 3 } as const;
export const TIME_ZONE_NAME_MAX_LENGTH =
  TIME_ZONE_NAME_LIMITS.components * (TIME_ZONE_NAME_LIMITS.componentLength + 1) - 1;
const zoneComponent = `[A-Za-z][A-Za-z0-9._+-]{0,${TIME_ZONE_NAME_LIMITS.componentLength - 1}}`;
export const TIME_ZONE_NAME_ALLOWED_PATTERN = `^${zoneComponent}(?:/${zoneComponent}){0,${TIME_ZONE_NAME_LIMITS.components - 1}}$`;
