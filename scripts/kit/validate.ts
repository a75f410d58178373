// Pure input rules. Every value from the command line passes through one of these before any
// AWS call, and a failure names the flag and the rule it broke.
import { REGION_NAME_PATTERN } from '../../lambda/shared/names.ts';
import { UsageError } from './errors.ts';
import { CLOUDFORMATION_LIMITS } from '../../contract/limits.ts';
import { ACCOUNT_ID_BODY, ACCOUNT_ID_PATTERN, PARTITION_BODY, patternOf } from '../../contract/patterns.ts';

export const ACCOUNT_ID = ACCOUNT_ID_PATTERN;
export const OU_ID = /^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/;
export const ROOT_ID = /^r-[0-9a-z]{4,32}$/;
export const ORG_ID = /^o-[a-z0-9]{10,32}$/;
export const REGION = new RegExp(REGION_NAME_PATTERN);
/** CloudFormation stack and StackSet names. */
export const STACK_NAME = patternOf(['^[a-zA-Z][-a-zA-Z0-9]{0,', CLOUDFORMATION_LIMITS.stackNameLength - 1, '}$']);
/** IAM role names (used for --execution-role-name). */
export const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
export const IAM_ROLE_ARN = patternOf([
  '^arn:',
  PARTITION_BODY,
  ':iam::',
  ACCOUNT_ID_BODY,
  ':role\\/[\\w+=,.@/-]{1,512}$',
]);

/** Splits a comma-separated flag value, trimming blanks; empty items are an error. */
export function splitList(flag: string, value: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === ''))
    throw new UsageError(`--${flag}: empty item in "${value}" (use a comma-separated list without blanks)`);
  return [...new Set(items)];
}

export function accountIds(flag: string, value: string): string[] {
  const ids = splitList(flag, value);
  for (const id of ids) {
    if (!ACCOUNT_ID.test(id)) throw new UsageError(`--${flag}: "${id}" is not an AWS account ID (exactly 12 digits)`);
  }
  return ids;
}

export function accountId(flag: string, value: string): string {
  if (!ACCOUNT_ID.test(value))
    throw new UsageError(`--${flag}: "${value}" is not an AWS account ID (exactly 12 digits)`);
  return value;
}

/** Organizational unit IDs, or the organization root (r-…). */
export function ouIds(flag: string, value: string): string[] {
  const ids = splitList(flag, value);
  for (const id of ids) {
    if (!OU_ID.test(id) && !ROOT_ID.test(id)) {
      throw new UsageError(
        `--${flag}: "${id}" is not an organizational unit ID (ou-xxxx-xxxxxxxx, matching ${OU_ID.source}) or a root ID (r-xxxx)`,
      );
    }
  }
  return ids;
}

export function region(flag: string, value: string): string {
  if (!REGION.test(value))
    throw new UsageError(`--${flag}: "${value}" is not an AWS Region name (such as us-east-1 or us-gov-west-1)`);
  return value;
}

export function regions(flag: string, value: string): string[] {
  return splitList(flag, value).map((r) => region(flag, r));
}

export function orgId(flag: string, value: string): string {
  if (!ORG_ID.test(value))
    throw new UsageError(
      `--${flag}: "${value}" is not an organization ID (o- followed by 10–32 lowercase letters or digits)`,
    );
  return value;
}

export function stackName(flag: string, value: string): string {
  if (!STACK_NAME.test(value)) {
    throw new UsageError(
      `--${flag}: "${value}" is not a valid stack name (letters, digits and hyphens, starting with a letter, at most ${CLOUDFORMATION_LIMITS.stackNameLength})`,
    );
  }
  return value;
}

/** S3 general purpose bucket naming rules (S3 User Guide, "Bucket naming rules"). */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'must be 3–63 characters long';
  if (!/^[a-z0-9.-]+$/.test(name)) return 'may contain only lowercase letters, digits, dots and hyphens';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'must begin and end with a letter or digit';
  if (name.includes('..')) return 'must not contain two adjacent dots';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'must not be formatted as an IP address';
  for (const p of ['xn--', 'sthree-', 'amzn-s3-demo-']) if (name.startsWith(p)) return `must not start with "${p}"`;
  for (const s of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'])
    if (name.endsWith(s)) return `must not end with "${s}"`;
  return undefined;
}

/** A bucket name, possibly with a {region} placeholder, checked for every Region it expands to. */
export function bucketTemplate(flag: string, value: string, forRegions: readonly string[]): void {
  const leftover = value.replace(/\{region\}/g, '');
  if (/[{}]/.test(leftover)) throw new UsageError(`--${flag}: "${value}" may only use the placeholder {region}`);
  for (const r of forRegions) {
    const name = value.replace(/\{region\}/g, r);
    const problem = bucketNameProblem(name);
    if (problem) throw new UsageError(`--${flag}: bucket name "${name}" ${problem} (S3 bucket naming rules)`);
  }
}

/** An S3 key prefix: no leading or trailing slash, safe characters only, no empty or dot segments. */
export function keyPrefix(flag: string, value: string): string {
  if (value === '') return value;
  if (value.length > 256) throw new UsageError(`--${flag}: must be at most 256 characters`);
  if (!/^[A-Za-z0-9!_.*'()/-]+$/.test(value)) {
    throw new UsageError(
      `--${flag}: "${value}" may contain only letters, digits and !_.*'()-/ (S3 safe key characters)`,
    );
  }
  if (value.startsWith('/') || value.endsWith('/'))
    throw new UsageError(`--${flag}: "${value}" must not start or end with "/"`);
  if (value.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) {
    throw new UsageError(`--${flag}: "${value}" must not contain empty, "." or ".." segments`);
  }
  return value;
}

export function integer(flag: string, value: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value))
    throw new UsageError(`--${flag}: "${value}" is not a whole number (expected ${min}–${max})`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`--${flag}: ${n} is out of range (expected ${min}–${max})`);
  return n;
}

export function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag}: "${value}" is not allowed (expected one of ${allowed.join(', ')})`);
  }
  return value as T;
}

/** A template URL that CloudFormation accepts: HTTPS on an S3 endpoint. */
export function s3TemplateUrl(flag: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--${flag}: "${value}" is not a URL`);
  }
  if (url.protocol !== 'https:' || !/(^|\.)s3[.-]([a-z0-9-]+\.)?amazonaws\.com(\.cn)?$/.test(url.hostname)) {
    throw new UsageError(`--${flag}: must be an https:// Amazon S3 URL (CloudFormation refuses other hosts)`);
  }
  return value;
}

/** Refuses two flags given together. */
export function exclusive(given: ReadonlySet<string>, a: string, b: string): void {
  if (given.has(a) && given.has(b)) throw new UsageError(`--${a} and --${b} cannot be used together`);
}
