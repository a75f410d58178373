// The tag manager's settings, read from its environment on every invocation (cheap, and lets
// tests change a setting between calls). Names shared with the template live in names.ts.
import { TAG_MANAGER_ENV } from '../shared/names.ts';
import { DEFAULT_RESERVED_TAG_PREFIX } from '../shared/tag-rules.ts';

/** Settings local to the tag manager (the template may set them; defaults apply otherwise). */
export const LOCAL_ENV = {
  driftCheckHours: 'DRIFT_CHECK_HOURS',
  ssmMaxAttempts: 'SSM_MAX_ATTEMPTS',
  /**
   * When set, SDK clients use jittered exponential backoff with this base delay (ms) and no
   * client-side rate limiter, instead of the SDK's adaptive mode. For tests and tuning only.
   */
  retryBaseDelayMs: 'RETRY_BASE_DELAY_MS',
} as const;

export interface TagManagerConfig {
  syncTableName: string;
  reservedTagPrefix: string;
  activationParameterPrefix: string;
  metricNamespace: string;
  ssmConcurrency: number;
  driftCheckHours: number;
  /** Requests one agency may make per minute; more are answered Throttled (0 = no limit). */
  agencyRequestsPerMinute: number;
}

export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

function positiveNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new ConfigurationError(`${name} must be a number from ${min} to ${max}`);
  return n;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): TagManagerConfig {
  const syncTableName = env[TAG_MANAGER_ENV.syncTableName];
  const activationParameterPrefix = env[TAG_MANAGER_ENV.activationParameterPrefix];
  if (!syncTableName) throw new ConfigurationError(`${TAG_MANAGER_ENV.syncTableName} is not set`);
  if (!activationParameterPrefix)
    throw new ConfigurationError(`${TAG_MANAGER_ENV.activationParameterPrefix} is not set`);
  return {
    syncTableName,
    activationParameterPrefix,
    reservedTagPrefix: env[TAG_MANAGER_ENV.reservedTagPrefix] || DEFAULT_RESERVED_TAG_PREFIX,
    metricNamespace: env[TAG_MANAGER_ENV.metricNamespace] || 'SsmHub',
    ssmConcurrency: Math.floor(positiveNumber(env, TAG_MANAGER_ENV.ssmConcurrency, 5, 1, 50)),
    driftCheckHours: positiveNumber(env, LOCAL_ENV.driftCheckHours, 168, 0, 24 * 365),
    agencyRequestsPerMinute: Math.floor(
      positiveNumber(env, TAG_MANAGER_ENV.agencyRequestsPerMinute, 600, 0, 1_000_000),
    ),
  };
}
