// The handlers' one environment reader (Powertools' envUtils style): each function's variables,
// types, ranges and defaults come from its definition in contract/environment.ts, the same one the
// template builder writes from. Kept here, apart from the contract's writer, so a bundle carries
// only the reader.
import {
  isNumberSetting,
  settingProblem,
  type EnvironmentOf,
  type EnvironmentSpec,
} from '../../contract/environment.ts';
import { ConfigurationError } from './errors.ts';

/**
 * Reads and validates one function's environment. An unset or empty variable takes its default;
 * without one it is a ConfigurationError, unless the setting is optional. Errors name the variable.
 */
export function readEnvironment<E extends EnvironmentSpec>(
  spec: E,
  env: NodeJS.ProcessEnv = process.env,
): EnvironmentOf<E> {
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(spec)) {
    const raw = env[setting.name];
    const unset = raw === undefined || raw === '';
    const problem = unset
      ? setting.default === undefined && !setting.optional
        ? 'is not set'
        : undefined
      : settingProblem(setting, raw);
    if (problem) throw new ConfigurationError(`environment variable ${setting.name} ${problem}`);
    out[key] = unset ? setting.default : isNumberSetting(setting) ? Number(raw) : raw;
  }
  return out as EnvironmentOf<E>;
}
