// The build configuration: names, schedules and defaults baked into the generated templates.
// It is validated before anything is written, and a bad value names its field.
import { readFileSync } from 'node:fs';
// zod/mini (with the English messages) loads ~50 ms faster than zod: the build starts with it.
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import {
  ACTIVATION_MANAGER_ENVIRONMENT,
  PARAMETER_PATH_RULE,
  RESERVED_TAG_PREFIX_LENGTH,
  LIFECYCLE_ENVIRONMENT,
  LIFECYCLE_MODES,
  TAG_MANAGER_ENVIRONMENT,
  type NumberSetting,
} from '../contract/environment.ts';
import { ContractError } from '../contract/errors.ts';
import {
  ACTIVATION_MAX_EXPIRY_DAYS,
  AGENCY_ACCOUNTS_LIST_MAX_LENGTH,
  AGENCY_OUS_LIST_MAX_LENGTH,
  ACTIVATION_MAX_REGISTRATION_LIMIT,
  LOG_RETENTION_DAYS,
  NODE_RUNTIME_DEPRECATION,
  SSM_MAX_KEY_LENGTH,
  SSM_MAX_VALUE_LENGTH,
  supportedRuntimes,
} from '../contract/limits.ts';
import {
  ACCOUNT_ID_PATTERN,
  OU_ID_PATTERN,
  PARAMETER_PATH_PATTERN,
  PARAMETER_PATH_RESERVED_PREFIX,
  SCHEDULE_EXPRESSION_PATTERN,
  SCHEDULE_EXPRESSION_RULE,
  SSM_TAG_CHARACTERS,
} from '../contract/patterns.ts';

// English messages only: importing zod's locale index would bundle all of them into the build.
z.config(en());

export { NODE_RUNTIME_DEPRECATION };

/** SSM's tag-key characters, at least one; aws: keys are refused by a check of their own. */
const SSM_TAG_KEY_CHARACTERS = new RegExp(`^[${SSM_TAG_CHARACTERS}]+$`, 'u');

const scheduleExpression = z.string().check(
  z.regex(SCHEDULE_EXPRESSION_PATTERN, {
    message: SCHEDULE_EXPRESSION_RULE,
  }),
);

const parameterPath = z.string().check(
  z.regex(PARAMETER_PATH_PATTERN, { message: `must be ${PARAMETER_PATH_RULE.text}` }),
  z.refine((p) => !PARAMETER_PATH_RESERVED_PREFIX.test(p), {
    message: 'must not start with /aws or /ssm: Parameter Store reserves those prefixes',
  }),
);
const int = (min: number, max: number) => z.int().check(z.gte(min), z.lte(max));
/** A setting the build writes into a function's environment: the handler's own range (contract/environment.ts). */
const envInt = (s: NumberSetting) => int(s.min, s.max);

const lifecycleSchema = z.strictObject({
  /** Nodes per agency; 0 = an even share of the standard-tier limit less quotaHeadroomPercent. */
  agencyNodeQuota: envInt(ACTIVATION_MANAGER_ENVIRONMENT.agencyNodeQuota),
  quotaHeadroomPercent: envInt(ACTIVATION_MANAGER_ENVIRONMENT.quotaHeadroomPercent),
  orphanSweep: z.strictObject({
    /** enabled deregisters; dry-run only reports; disabled turns the schedule off. */
    mode: z.enum(LIFECYCLE_MODES),
    schedule: scheduleExpression,
    unclaimedHours: envInt(LIFECYCLE_ENVIRONMENT.unclaimedHours),
    connectionLostDays: envInt(LIFECYCLE_ENVIRONMENT.connectionLostDays),
  }),
  membership: z.strictObject({
    mode: z.enum(LIFECYCLE_MODES),
    schedule: scheduleExpression,
    organizationalUnits: z
      .array(z.string().check(z.regex(OU_ID_PATTERN, { message: 'must be an OU ID (ou-…) or a root ID (r-…)' })))
      .check(
        z.refine((ous) => ous.join(',').length <= AGENCY_OUS_LIST_MAX_LENGTH, {
          message: `must be at most ${AGENCY_OUS_LIST_MAX_LENGTH} characters joined with commas (the fleet lifecycle's 4 KB environment): name parent OUs`,
        }),
      ),
    accounts: z
      .array(z.string().check(z.regex(ACCOUNT_ID_PATTERN, { message: 'must be a 12-digit account ID' })))
      .check(
        z.refine((ids) => ids.join(',').length <= AGENCY_ACCOUNTS_LIST_MAX_LENGTH, {
          message: "must name at most 50 accounts (the fleet lifecycle's 4 KB environment): put more in an OU",
        }),
      ),
    graceHours: envInt(LIFECYCLE_ENVIRONMENT.graceHours),
    /** What offboarding does with a leaver's nodes: deregister them, or keep them and report. */
    leaverNodes: z.enum(['deregister', 'keep']),
  }),
});

export const buildConfigSchema = z
  .strictObject({
    namePrefix: z.string().check(
      z.regex(/^[a-z][a-z0-9-]{1,23}$/, {
        message: 'must be 2–24 lowercase letters, digits or hyphens, starting with a letter',
      }),
    ),
    runtime: z.string().check(
      z.refine((r) => r in NODE_RUNTIME_DEPRECATION, {
        message: `must be one of ${Object.keys(NODE_RUNTIME_DEPRECATION).join(', ')}`,
      }),
    ),
    architecture: z.enum(['arm64', 'x86_64']),
    reservedTagPrefix: z.string().check(
      z.minLength(RESERVED_TAG_PREFIX_LENGTH.min),
      z.maxLength(RESERVED_TAG_PREFIX_LENGTH.max),
      z.regex(SSM_TAG_KEY_CHARACTERS, { message: 'must use only the characters SSM allows in tag keys' }),
      z.refine((p) => !p.toLowerCase().startsWith('aws:'), { message: 'must not start with aws: (reserved by AWS)' }),
    ),
    reconcileSchedule: scheduleExpression,
    rotationSchedule: scheduleExpression,
    activation: z.strictObject({
      registrationLimit: int(1, ACTIVATION_MAX_REGISTRATION_LIMIT),
      expiryDays: int(2, ACTIVATION_MAX_EXPIRY_DAYS),
      rotateDaysBeforeExpiry: envInt(ACTIVATION_MANAGER_ENVIRONMENT.rotateDaysBeforeExpiry),
      rotateAtUsagePercent: envInt(ACTIVATION_MANAGER_ENVIRONMENT.rotateAtUsagePercent),
    }),
    agencyActivationParameterPath: parameterPath,
    centralActivationParameterPrefix: parameterPath,
    nodeReadableParameterPath: parameterPath,
    zeroTouch: z.strictObject({
      enabledByDefault: z.boolean(),
      optInTagKey: z
        .string()
        .check(
          z.minLength(1),
          z.maxLength(SSM_MAX_KEY_LENGTH),
          z.regex(SSM_TAG_KEY_CHARACTERS, { message: 'must be a valid tag key' }),
        ),
      optInTagValue: z.string().check(z.maxLength(SSM_MAX_VALUE_LENGTH)),
    }),
    standardTierNodeLimit: z.int().check(z.positive()),
    /** Hub requests one agency may make per minute; beyond it the hub answers Throttled. */
    agencyRequestsPerMinute: envInt(TAG_MANAGER_ENVIRONMENT.agencyRequestsPerMinute),
    /** The automatic fleet lifecycle: node quota, orphan sweep, membership by OU (README, Operating). */
    lifecycle: lifecycleSchema,
    logRetentionDays: z.number().check(
      z.refine((d) => LOG_RETENTION_DAYS.includes(d), {
        message: `must be one of CloudWatch Logs' retention periods: ${LOG_RETENTION_DAYS.join(', ')}`,
      }),
    ),
  })
  .check(
    z.refine((c) => c.activation.rotateDaysBeforeExpiry < c.activation.expiryDays, {
      message: 'must be smaller than activation.expiryDays',
      path: ['activation', 'rotateDaysBeforeExpiry'],
    }),
  );

export type BuildConfig = z.infer<typeof buildConfigSchema>;

export class ConfigError extends ContractError {
  override readonly name = 'ConfigError';
}

/**
 * Validates a build configuration. `today` decides which runtimes count as deprecated, so a
 * build made after a runtime's deprecation date refuses it.
 */
export function parseBuildConfig(raw: unknown, source = 'build.config.json', today = new Date()): BuildConfig {
  const parsed = buildConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`${source} is invalid:\n${lines.join('\n')}`);
  }
  const deprecatedOn = NODE_RUNTIME_DEPRECATION[parsed.data.runtime]!;
  if (today.toISOString().slice(0, 10) >= deprecatedOn) {
    throw new ConfigError(
      `${source} is invalid:\n  runtime: ${parsed.data.runtime} was deprecated on ${deprecatedOn}; use one of ${supportedRuntimes(today).join(', ')}`,
    );
  }
  return parsed.data;
}

export function loadBuildConfig(path: string, today = new Date()): BuildConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read build configuration ${path}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseBuildConfig(raw, path, today);
}

/** Derived names, so every builder and handler agrees on them. */
export function derivedNames(c: BuildConfig) {
  return {
    tagManagerFunctionName: `${c.namePrefix}-tag-manager`,
    activationManagerFunctionName: `${c.namePrefix}-activation-manager`,
    collectorFunctionName: `${c.namePrefix}-collector`,
    metricNamespace: `SsmHub/${c.namePrefix}`,
    stackSetName: `${c.namePrefix}-agency-collector`,
    /** Beside the collector's StackSet, with the same targets (README, Rolling out). */
    registrationStackSetName: `${c.namePrefix}-agency-registration`,
    centralStackName: `${c.namePrefix}-central-manager`,
    centralOperationsStackName: `${c.namePrefix}-central-operations`,
    agencyPermissionsStackName: (agencyAccountId: string) => `${c.namePrefix}-agency-${agencyAccountId}`,
    agencyCollectorStackName: `${c.namePrefix}-agency-collector`,
    agencyRegistrationStackName: `${c.namePrefix}-agency-registration`,
  };
}
