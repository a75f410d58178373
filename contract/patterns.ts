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

/** An EventBridge schedule expression: rate(N unit) or cron(…). */
export const SCHEDULE_EXPRESSION_PATTERN = /^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$/;

/** SSM's tag character set (Unicode letters, separators, digits and _ . : / = + - @), inside a class. */
export const SSM_TAG_CHARACTERS = '\\p{L}\\p{Z}\\p{N}_.:/=+\\-@';
/** The ASCII part of SSM's tag character set, for CloudFormation AllowedPatterns (no \\p classes there). */
export const SSM_TAG_ASCII_CHARACTERS = 'A-Za-z0-9 _.:/=+@-';
/** SSM's character rule for tag keys and values. */
export const SSM_TAG_PATTERN = /* @__PURE__ */ patternOf(['^[', SSM_TAG_CHARACTERS, ']*$'], 'u');

export const EC2_INSTANCE_ID_PATTERN = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
export const MANAGED_INSTANCE_ID_PATTERN = /^mi-[0-9a-f]{17}$/;
