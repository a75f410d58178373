// The tag manager's settings, read from its environment on every invocation (cheap, and lets
// tests change a setting between calls). The contract (contract/environment.ts) defines them.
import { TAG_MANAGER_ENVIRONMENT, variableNames, type EnvironmentOf } from '../../contract/environment.ts';
import { readEnvironment } from '../shared/environment.ts';
import { ConfigurationError } from '../shared/errors.ts';

export { ConfigurationError };

/** Settings the template leaves out (operator tuning; defaults apply otherwise). */
export const LOCAL_ENV = {
  driftCheckHours: TAG_MANAGER_ENVIRONMENT.driftCheckHours.name,
  ssmMaxAttempts: TAG_MANAGER_ENVIRONMENT.ssmMaxAttempts.name,
  retryBaseDelayMs: TAG_MANAGER_ENVIRONMENT.retryBaseDelayMs.name,
} as const;
export const TAG_MANAGER_VARIABLES = variableNames(TAG_MANAGER_ENVIRONMENT);

export type TagManagerConfig = EnvironmentOf<typeof TAG_MANAGER_ENVIRONMENT>;

export function readConfig(env: NodeJS.ProcessEnv = process.env): TagManagerConfig {
  return readEnvironment(TAG_MANAGER_ENVIRONMENT, env);
}
