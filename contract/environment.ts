// Each Lambda function's environment, defined once: the name, type, range and default of every
// variable. The template builders write it (`environmentVariables`), the handlers read and
// validate it (`readEnvironment`), and the build configuration takes its ranges from it, so the
// three cannot drift apart. Hand-written (no zod) to keep the collector's bundle small.
import { ContractError } from './errors.ts';
import { DEFAULT_RESERVED_TAG_PREFIX } from './names.ts';
import {
  ACCOUNT_ID_BODY,
  ACCOUNT_ID_LIST_PATTERN,
  OU_ID_LIST_PATTERN,
  AGENCY_ALIAS_PREFIX,
  PARAMETER_PATH_PATTERN,
  PARTITION_BODY,
  patternOf,
  SSM_TAG_CHARACTERS,
} from './patterns.ts';

/**
 * Who sets a variable: `template` (the builder writes it), `runtime` (Lambda sets it, such as
 * AWS_REGION) or `operator` (a tuning knob the template leaves out; the default applies).
 */
export type SettingSource = 'template' | 'runtime' | 'operator';

interface SettingBase {
  /** The environment variable's name. */
  name: string;
  /** Who sets it; `template` when left out. */
  source?: SettingSource;
  /** No value and no default is allowed: the setting reads as undefined. */
  optional?: boolean;
}
export interface StringSetting extends SettingBase {
  /** `string` when left out. */
  type?: 'string';
  default?: string;
  /** The rule a value must match, and how an error message states it. */
  rule?: { pattern: RegExp; text: string };
}
export interface NumberSetting extends SettingBase {
  /** `integer` refuses fractions. */
  type: 'integer' | 'number';
  min: number;
  max: number;
  default?: number;
}
export type Setting = StringSetting | NumberSetting;
export type EnvironmentSpec = Readonly<Record<string, Setting>>;

type ValueOf<S extends Setting> =
  (S extends NumberSetting ? number : string) | (S extends { optional: true } ? undefined : never);
export type EnvironmentOf<E extends EnvironmentSpec> = { -readonly [K in keyof E]: ValueOf<E[K]> };

export class EnvironmentError extends ContractError {
  override readonly name = 'EnvironmentError';
}

/** The reserved tag prefix: SSM tag-key characters, 2–64 of them, not aws: (reserved by AWS). */
export const RESERVED_TAG_PREFIX_LENGTH = { min: 2, max: 64 } as const;
export const RESERVED_TAG_PREFIX_RULE = {
  pattern: /* @__PURE__ */ patternOf(
    [
      '^(?![aA][wW][sS]:)[',
      SSM_TAG_CHARACTERS,
      ']{',
      RESERVED_TAG_PREFIX_LENGTH.min,
      ',',
      RESERVED_TAG_PREFIX_LENGTH.max,
      '}$',
    ],
    'u',
  ),
  text: '2–64 characters SSM allows in tag keys, not starting with aws:',
};
export const PARAMETER_PATH_RULE = {
  pattern: PARAMETER_PATH_PATTERN,
  text: 'a Parameter Store path such as /central-hub/activation',
};
/** arn:<partition>:lambda:<region>:<account>:function:<name>:agency-<account>; groups: Region, account. */
export const HUB_ALIAS_ARN_PATTERN = /* @__PURE__ */ patternOf([
  '^arn:',
  PARTITION_BODY,
  ':lambda:([a-z0-9-]+):(',
  ACCOUNT_ID_BODY,
  '):function:[A-Za-z0-9_-]{1,64}:',
  AGENCY_ALIAS_PREFIX,
  ACCOUNT_ID_BODY,
  '$',
]);

export const TAG_MANAGER_ENVIRONMENT = {
  syncTableName: { name: 'SYNC_TABLE_NAME', source: 'template' },
  reservedTagPrefix: {
    name: 'RESERVED_TAG_PREFIX',
    rule: RESERVED_TAG_PREFIX_RULE,
    default: DEFAULT_RESERVED_TAG_PREFIX,
  },
  activationParameterPrefix: {
    name: 'ACTIVATION_PARAMETER_PREFIX',
    rule: PARAMETER_PATH_RULE,
  },
  metricNamespace: { name: 'METRIC_NAMESPACE', default: 'SsmHub' },
  /** SSM calls in flight at once. */
  ssmConcurrency: { type: 'integer', name: 'SSM_CONCURRENCY', min: 1, max: 50, default: 5 },
  /** Hub requests one agency may make per minute; beyond it the hub answers Throttled. */
  agencyRequestsPerMinute: {
    type: 'integer',
    name: 'AGENCY_REQUESTS_PER_MINUTE',
    min: 10,
    max: 100_000,
    default: 600,
  },
  /** Hours between drift passes that re-read a node's SSM tags. */
  driftCheckHours: {
    type: 'number',
    name: 'DRIFT_CHECK_HOURS',
    source: 'operator',
    min: 0,
    max: 8_760, // a year; a literal, so esbuild can drop the unused specs from a bundle
    default: 168,
  },
  ssmMaxAttempts: { type: 'integer', name: 'SSM_MAX_ATTEMPTS', source: 'operator', min: 1, max: 20, default: 8 },
  /**
   * When set, SDK clients use jittered exponential backoff with this base delay (ms) and no
   * client-side rate limiter, instead of the SDK's adaptive mode. For tests and tuning only.
   */
  retryBaseDelayMs: {
    type: 'number',
    name: 'RETRY_BASE_DELAY_MS',
    source: 'operator',
    min: 0,
    max: 60_000,
    optional: true,
  },
} as const satisfies EnvironmentSpec;

export const ACTIVATION_MANAGER_ENVIRONMENT = {
  activationParameterPrefix: {
    name: 'ACTIVATION_PARAMETER_PREFIX',
    rule: PARAMETER_PATH_RULE,
  },
  activationKmsKeyId: { name: 'ACTIVATION_KMS_KEY_ID', source: 'template' },
  /** CreateActivation takes a role name (path/name for a role with a path), never an ARN. */
  managedNodeRoleName: {
    name: 'MANAGED_NODE_ROLE_NAME',
    rule: { pattern: /^(?!arn:)/, text: 'an IAM role name, not an ARN' },
  },
  reservedTagPrefix: {
    name: 'RESERVED_TAG_PREFIX',
    rule: RESERVED_TAG_PREFIX_RULE,
  },
  /** Rotation starts this many days before an activation expires. */
  rotateDaysBeforeExpiry: {
    type: 'integer',
    name: 'ROTATE_DAYS_BEFORE_EXPIRY',
    min: 1,
    max: 29,
    default: 7,
  },
  /** Rotation starts once this share of an activation's registrations is used. */
  rotateAtUsagePercent: {
    type: 'integer',
    name: 'ROTATE_AT_USAGE_PERCENT',
    min: 1,
    max: 100,
    default: 90,
  },
  metricNamespace: {
    name: 'METRIC_NAMESPACE',
    default: 'SsmHub/ActivationManager',
  },
  /** Nodes one agency may hold; 0 = an even share of the standard-tier limit, less the headroom. */
  agencyNodeQuota: { type: 'integer', name: 'AGENCY_NODE_QUOTA', min: 0, max: 100_000, default: 0 },
  /** Share of the standard-tier limit the even-share quota leaves free, in percent. */
  quotaHeadroomPercent: { type: 'integer', name: 'QUOTA_HEADROOM_PERCENT', min: 0, max: 90, default: 10 },
  /** The standard tier's hybrid nodes per account and Region. */
  standardTierNodeLimit: { type: 'integer', name: 'STANDARD_TIER_NODE_LIMIT', min: 1, max: 100_000, default: 1000 },
  region: { name: 'AWS_REGION', source: 'runtime' },
} as const satisfies EnvironmentSpec;

export const COLLECTOR_ENVIRONMENT = {
  hubFunctionArn: {
    name: 'HUB_FUNCTION_ARN',
    rule: { pattern: HUB_ALIAS_ARN_PATTERN, text: 'the ARN of the hub alias agency-<account ID>' },
  },
  activationParameterPath: {
    name: 'ACTIVATION_PARAMETER_PATH',
    rule: PARAMETER_PATH_RULE,
  },
  reservedTagPrefix: {
    name: 'RESERVED_TAG_PREFIX',
    rule: RESERVED_TAG_PREFIX_RULE,
  },
  metricNamespace: {
    name: 'METRIC_NAMESPACE',
    rule: { pattern: /^[^:].{0,254}$/, text: 'a CloudWatch metric namespace' },
  },
} as const satisfies EnvironmentSpec;

/** How a lifecycle task runs: on, reporting only (dry run), or off (its schedule disabled). */
export const LIFECYCLE_MODES = ['enabled', 'dry-run', 'disabled'] as const;
const LIFECYCLE_MODE_RULE = { pattern: /^(enabled|dry-run|disabled)$/, text: 'one of enabled, dry-run, disabled' };

/** The fleet-lifecycle function: orphan sweep and agency membership by OU. */
export const LIFECYCLE_ENVIRONMENT = {
  syncTableName: { name: 'SYNC_TABLE_NAME' },
  activationParameterPrefix: { name: 'ACTIVATION_PARAMETER_PREFIX', rule: PARAMETER_PATH_RULE },
  metricNamespace: { name: 'METRIC_NAMESPACE', default: 'SsmHub' },
  sweepMode: { name: 'SWEEP_MODE', rule: LIFECYCLE_MODE_RULE, default: 'enabled' },
  /** A node no sync has claimed this many hours after it registered is an orphan. */
  unclaimedHours: { type: 'integer', name: 'UNCLAIMED_HOURS', min: 1, max: 8_760, default: 24 },
  /** A node ConnectionLost for this many days is an orphan. */
  connectionLostDays: { type: 'integer', name: 'CONNECTION_LOST_DAYS', min: 1, max: 3_650, default: 30 },
  membershipMode: { name: 'MEMBERSHIP_MODE', rule: LIFECYCLE_MODE_RULE, default: 'disabled' },
  agencyOus: {
    name: 'AGENCY_OUS',
    rule: { pattern: OU_ID_LIST_PATTERN, text: 'a comma-separated list of OU IDs (ou-…) or root IDs (r-…)' },
    optional: true,
  },
  agencyAccounts: {
    name: 'AGENCY_ACCOUNTS',
    rule: { pattern: ACCOUNT_ID_LIST_PATTERN, text: 'a comma-separated list of 12-digit account IDs' },
    optional: true,
  },
  /** An account gone from the OUs is offboarded this many hours after it was first missed. */
  graceHours: { type: 'integer', name: 'GRACE_HOURS', min: 0, max: 8_760, default: 72 },
  leaverNodes: {
    name: 'LEAVER_NODES',
    rule: { pattern: /^(deregister|keep)$/, text: 'deregister or keep' },
    default: 'deregister',
  },
  /** Agency permissions stacks are named <prefix><account ID>. */
  agencyStackPrefix: {
    name: 'AGENCY_STACK_PREFIX',
    rule: { pattern: /^[A-Za-z][A-Za-z0-9-]{0,100}$/, text: 'a stack-name prefix' },
  },
  centralStackName: { name: 'CENTRAL_STACK_NAME' },
  /** The agency-permissions template, embedded at build time (the same one `onboard` deploys). */
  agencyTemplateBody: { name: 'AGENCY_TEMPLATE_BODY', rule: { pattern: /^\{/, text: 'a JSON template body' } },
  /** The role CloudFormation uses for agency stacks the lifecycle creates and deletes. */
  stackRoleArn: {
    name: 'STACK_ROLE_ARN',
    rule: { pattern: /^arn:aws[a-z-]*:iam::\d{12}:role\//, text: 'an IAM role ARN' },
  },
  /** The tag key prefix whose `activation-agency` key the activation stamps on each node it registers. */
  reservedTagPrefix: {
    name: 'RESERVED_TAG_PREFIX',
    rule: RESERVED_TAG_PREFIX_RULE,
    default: DEFAULT_RESERVED_TAG_PREFIX,
  },
  /** Base delay (ms) of the backoff between BatchGetItem retries (contract/limits.ts: BATCH_GET_RETRY). */
  retryBaseDelayMs: {
    type: 'number',
    name: 'RETRY_BASE_DELAY_MS',
    source: 'operator',
    min: 0,
    max: 60_000,
    optional: true,
  },
  region: { name: 'AWS_REGION', source: 'runtime' },
} as const satisfies EnvironmentSpec;

/** The variable names of one function's environment, by setting: { syncTableName: 'SYNC_TABLE_NAME', … }. */
export function variableNames<E extends EnvironmentSpec>(spec: E): { [K in keyof E]: E[K]['name'] } {
  return Object.fromEntries(Object.entries(spec).map(([k, s]) => [k, s.name])) as { [K in keyof E]: E[K]['name'] };
}

/** True for a setting the template writes. */
export const isTemplateSetting = (s: Setting): boolean => (s.source ?? 'template') === 'template';

/** True for an integer or number setting. */
export const isNumberSetting = (s: Setting): s is NumberSetting => s.type === 'integer' || s.type === 'number';

/** What is wrong with one raw value ("must be …"), or undefined when it is valid. */
export function settingProblem(setting: Setting, raw: string): string | undefined {
  if (!isNumberSetting(setting))
    return setting.rule && !setting.rule.pattern.test(raw) ? `is invalid: must be ${setting.rule.text}` : undefined;
  const n = /\S/.test(raw) ? Number(raw) : NaN;
  const ok =
    (setting.type === 'integer' ? Number.isInteger(n) : Number.isFinite(n)) && n >= setting.min && n <= setting.max;
  return ok
    ? undefined
    : `must be ${setting.type === 'integer' ? 'an integer' : 'a number'} from ${setting.min} to ${setting.max}`;
}

type TemplateKeys<E extends EnvironmentSpec> = {
  [K in keyof E]: E[K] extends { source: 'runtime' | 'operator' } ? never : K;
}[keyof E];
type Defaulted<E extends EnvironmentSpec> = { [K in keyof E]: E[K] extends { default: unknown } ? K : never }[keyof E];

/**
 * The Environment.Variables a template writes for one function: every `template` setting, from
 * `values` or its default. A literal value is checked against the setting's rule; a CloudFormation
 * intrinsic ({ Ref: … }) is written as is. Throws on a missing or bad value, naming the variable.
 */
export function environmentVariables<E extends EnvironmentSpec, V = object>(
  spec: E,
  values: { [K in Exclude<TemplateKeys<E>, Defaulted<E>>]: string | number | V } & {
    [K in Extract<TemplateKeys<E>, Defaulted<E>>]?: string | number | V;
  },
): Record<string, string | V> {
  const given = values as Record<string, string | number | V | undefined>;
  const unknown = Object.keys(given).filter((k) => !spec[k] || !isTemplateSetting(spec[k]));
  if (unknown.length) throw new EnvironmentError(`not template settings of this function: ${unknown.join(', ')}`);
  const out: Record<string, string | V> = {};
  for (const [key, setting] of Object.entries(spec)) {
    if (!isTemplateSetting(setting)) continue;
    const value = given[key] ?? setting.default;
    if (value === undefined) throw new EnvironmentError(`environment variable ${setting.name} has no value`);
    if (typeof value === 'object') {
      out[setting.name] = value;
      continue;
    }
    const text = String(value);
    const problem = settingProblem(setting, text);
    if (problem) throw new EnvironmentError(`environment variable ${setting.name} ${problem}`);
    out[setting.name] = text;
  }
  return out;
}
