// The build configuration: names, schedules and defaults baked into the generated templates.
// It is validated before anything is written, and a bad value names its field.
import { readFileSync } from 'node:fs';
// zod/mini (with the English messages) loads ~50 ms faster than zod: the build starts with it.
import * as z from 'zod/mini';

z.config(z.locales.en());

/** Lambda Node.js runtimes and the day each is deprecated (AWS Lambda runtime deprecation policy). */
export const NODE_RUNTIME_DEPRECATION: Readonly<Record<string, string>> = {
  'nodejs18.x': '2025-09-01',
  'nodejs20.x': '2026-04-30',
  'nodejs22.x': '2027-04-30',
  'nodejs24.x': '2028-04-30',
};

/** Matches SSM's tag key rule; the prefix must itself be a legal key start and not aws:. */
const SSM_TAG_KEY_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u;

/** The retention periods CloudWatch Logs accepts (RetentionInDays). */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

const scheduleExpression = z.string().check(
  z.regex(/^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$/, {
    message: 'must be an EventBridge schedule expression such as rate(1 hour) or cron(0 * * * ? *)',
  }),
);

const parameterPath = z.string().check(
  z.regex(/^(\/[a-zA-Z0-9_.-]+)+$/, { message: 'must be a Parameter Store path such as /central-hub/activation' }),
  z.refine((p) => !/^\/(aws|ssm)/i.test(p), {
    message: 'must not start with /aws or /ssm: Parameter Store reserves those prefixes',
  }),
);
const int = (min: number, max: number) => z.int().check(z.gte(min), z.lte(max));

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
      z.minLength(2),
      z.maxLength(64),
      z.regex(SSM_TAG_KEY_CHARS, { message: 'must use only the characters SSM allows in tag keys' }),
      z.refine((p) => !p.toLowerCase().startsWith('aws:'), { message: 'must not start with aws: (reserved by AWS)' }),
    ),
    reconcileSchedule: scheduleExpression,
    rotationSchedule: scheduleExpression,
    activation: z.strictObject({
      registrationLimit: int(1, 1000),
      expiryDays: int(2, 30),
      rotateDaysBeforeExpiry: int(1, 29),
      rotateAtUsagePercent: int(1, 100),
    }),
    agencyActivationParameterPath: parameterPath,
    centralActivationParameterPrefix: parameterPath,
    nodeReadableParameterPath: parameterPath,
    zeroTouch: z.strictObject({
      enabledByDefault: z.boolean(),
      optInTagKey: z
        .string()
        .check(z.minLength(1), z.maxLength(128), z.regex(SSM_TAG_KEY_CHARS, { message: 'must be a valid tag key' })),
      optInTagValue: z.string().check(z.maxLength(256)),
    }),
    standardTierNodeLimit: z.int().check(z.positive()),
    /** Hub requests one agency may make per minute; beyond it the hub answers Throttled. */
    agencyRequestsPerMinute: int(10, 100_000),
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

export class ConfigError extends Error {
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
      `${source} is invalid:\n  runtime: ${parsed.data.runtime} was deprecated on ${deprecatedOn}; use one of ${Object.entries(
        NODE_RUNTIME_DEPRECATION,
      )
        .filter(([, d]) => today.toISOString().slice(0, 10) < d)
        .map(([r]) => r)
        .join(', ')}`,
    );
  }
  return parsed.data;
}

export function loadBuildConfig(path: string, today = new Date()): BuildConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read build configuration ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`);
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
    centralStackName: `${c.namePrefix}-central-manager`,
    agencyPermissionsStackName: (agencyAccountId: string) => `${c.namePrefix}-agency-${agencyAccountId}`,
    agencyCollectorStackName: `${c.namePrefix}-agency-collector`,
  };
}
