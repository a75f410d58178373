// Every pattern the templates, documents, handlers and CLI check, written once. Each is a RegExp
// whose `.source` a CloudFormation AllowedPattern can carry; where `.source` would differ from the
// text (V8 writes a / as \/), the text is exported too as *_ALLOWED_PATTERN.
// A pattern that embeds another (an ARN holds an account ID) is built from the other's body.

/** A RegExp from parts; a pure call, so a bundle that never uses a pattern drops it. */
export function patternOf(parts: ReadonlyArray<string | number>, flags?: string): RegExp {
  return new RegExp(parts.join(''), flags);
}

/** Body of the account-ID rule (12 digits), for patterns that embed an account ID. */
export const ACCOUNT_ID_BODY = '\\d{12}';
/** An AWS account ID: exactly 12 digits. */
export const ACCOUNT_ID_PATTERN = /* @__PURE__ */ patternOf(['^', ACCOUNT_ID_BODY, '$']);

/**
 * An AWS Region name (us-east-1, us-gov-west-1, ap-southeast-5, us-isob-east-1), as the
 * templates, the documents and the CLI all check it. A string: it is an AllowedPattern as is.
 */
export const REGION_NAME_PATTERN = '^[a-z]{2}(-[a-z]+)+-\\d+$';

/** Alias of the central tag manager that one agency account may invoke: agency-<account ID>. */
export const AGENCY_ALIAS_PREFIX = 'agency-';
export const AGENCY_ALIAS_PATTERN = /* @__PURE__ */ patternOf(['^', AGENCY_ALIAS_PREFIX, '(', ACCOUNT_ID_BODY, ')$']);

/** An ARN's partition (aws, aws-cn, aws-us-gov, aws-iso…). */
export const PARTITION_BODY = 'aws[a-z-]*';

/** A Parameter Store path or name: slash-separated segments of a-z A-Z 0-9 _ . - (Parameter Store's naming rule). */
export const PARAMETER_PATH_ALLOWED_PATTERN = '^(/[a-zA-Z0-9_.-]+)+$';
export const PARAMETER_PATH_PATTERN = /* @__PURE__ */ new RegExp(PARAMETER_PATH_ALLOWED_PATTERN);
/** Parameter Store refuses names whose first segment starts with aws or ssm (any case). */
export const PARAMETER_PATH_RESERVED_PREFIX = /^\/(aws|ssm)/i;

// EventBridge schedule expressions (EventBridge User Guide, "Schedule expressions for rules"):
// rate(1 minute|hour|day) is singular and rate(N minutes|hours|days) plural for N > 1 (no zero,
// no leading zero); cron has six space-separated fields (minutes, hours, day of month, month,
// day of week, year) and exactly one of day of month and day of week is ?. Month and day names
// are taken in capitals only. Groups stay non-capturing: with capturing groups V8 answered some
// cron expressions differently once it had compiled the regex (a test repeats each check).
/** One item of a cron field: *, a value or a range, with an optional /step; `extra` adds field-specific forms. */
const cronItem = (v: string, extra = '') => `(?:${extra}(?:\\*|(?:${v})(?:-(?:${v}))?)(?:/[0-9]+)?)`;
/** A comma list of items, each followed by a comma and another item, or by the end of the field. */
const cronField = (item: string) => `(?:${item}(?:,(?![ )])|(?=[ )])))+`;

/** EventBridge's rate(): 1 with a singular unit, N > 1 (no leading zero) with a plural one. */
const EVENTBRIDGE_RATE = 'rate\\((?:1 (?:minute|hour|day)|(?:[2-9]|[1-9][0-9]+) (?:minutes|hours|days))\\)';

/**
 * Builds a schedule rule: `rate` is the rate() alternative, `anyMonth` takes only * as cron's month
 * (State Manager associations). With no options, EventBridge's rule. A pure call, so a bundle that
 * never uses it drops it.
 */
export function schedulePattern(o: { rate?: string; anyMonth?: boolean } = {}): string {
  const v = {
    minute: '[0-5]?[0-9]',
    hour: '[01]?[0-9]|2[0-3]',
    dayOfMonth: '0?[1-9]|[12][0-9]|3[01]',
    month: '0?[1-9]|1[0-2]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC',
    dayOfWeek: '[1-7]|SUN|MON|TUE|WED|THU|FRI|SAT',
    year: '19[7-9][0-9]|2[01][0-9]{2}',
  };
  // Exactly one of day of month (3rd field) and day of week (5th field) is ?.
  const oneQuestionMark = '(?=[^ ]+ [^ ]+ (?:\\? [^ ]+ [^? ][^ ]*|[^? ][^ ]* [^ ]+ \\?) [^ ]+\\))';
  const fields = [
    cronField(cronItem(v.minute)),
    cronField(cronItem(v.hour)),
    `(?:\\?|${cronField(cronItem(v.dayOfMonth, `LW|L|(?:${v.dayOfMonth})W|`))})`,
    o.anyMonth ? '\\*' : cronField(cronItem(v.month)),
    `(?:\\?|${cronField(cronItem(v.dayOfWeek, `L|(?:${v.dayOfWeek})(?:L|#[1-5])|`))})`,
    cronField(cronItem(v.year)),
  ].join(' ');
  return [`^(?:${o.rate ?? EVENTBRIDGE_RATE}`, `|cron\\(${oneQuestionMark}${fields}\\))$`].join('');
}
/** An EventBridge schedule expression exactly as EventBridge accepts it; an AllowedPattern as is. */
export const SCHEDULE_EXPRESSION_ALLOWED_PATTERN = /* @__PURE__ */ schedulePattern();
export const SCHEDULE_EXPRESSION_PATTERN = /* @__PURE__ */ new RegExp(SCHEDULE_EXPRESSION_ALLOWED_PATTERN);

/** SSM's tag character set (Unicode letters, separators, digits and _ . : / = + - @), inside a class. */
export const SSM_TAG_CHARACTERS = '\\p{L}\\p{Z}\\p{N}_.:/=+\\-@';
/** The ASCII part of SSM's tag character set, for CloudFormation AllowedPatterns (no \\p classes there). */
export const SSM_TAG_ASCII_CHARACTERS = 'A-Za-z0-9 _.:/=+@-';
/** SSM's character rule for tag keys and values. */
export const SSM_TAG_PATTERN = /* @__PURE__ */ patternOf(['^[', SSM_TAG_CHARACTERS, ']*$'], 'u');

export const EC2_INSTANCE_ID_PATTERN = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
export const MANAGED_INSTANCE_ID_PATTERN = /^mi-[0-9a-f]{17}$/;
/** The schedule rule in words, for errors and ConstraintDescription. */
export const SCHEDULE_EXPRESSION_RULE =
  'must be an EventBridge schedule expression: rate(1 minute|hour|day), rate(N minutes|hours|days) with N > 1, or cron with six fields and one ?';

/** An Organizations OU ID (ou-…) or root ID (r-…), as ListChildren / ListAccountsForParent take them. */
export const OU_ID_PATTERN = /^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$/;
/** A comma-separated list of OU or root IDs; empty for none. */
export const OU_ID_LIST_PATTERN =
  /^$|^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})(,(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32}))*$/;
/** A comma-separated list of account IDs; empty for none. */
export const ACCOUNT_ID_LIST_PATTERN = /* @__PURE__ */ patternOf([
  '^$|^',
  ACCOUNT_ID_BODY,
  '(,',
  ACCOUNT_ID_BODY,
  ')*$',
]);
/** An SSM document name (CreateDocument, Name), or a shared document's ARN. */
export const DOCUMENT_NAME_OR_ARN_PATTERN = /* @__PURE__ */ patternOf([
  '^(arn:',
  PARTITION_BODY,
  ':ssm:[a-z0-9-]+:',
  ACCOUNT_ID_BODY,
  ':document/)?[a-zA-Z0-9_.-]{3,128}$',
]);

/** Run Command, State Manager and maintenance window rate controls (SSM API reference, SendCommand). */
export const MAX_CONCURRENCY_PATTERN = '^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$';
export const MAX_ERRORS_PATTERN = '^([1-9][0-9]*|0|[1-9][0-9]%|[0-9]%|100%)$';
// Both are also 1-7 characters: RATE_CONTROL_MAX_LENGTH in run-command.ts (kept out of this file,
// which the Lambda bundles import, so the templates do not change with it).
