// The fleet-lifecycle function's settings (contract/environment.ts: LIFECYCLE_ENVIRONMENT), read per
// invocation so a changed setting (or a test) takes effect without a cold start.
import { LIFECYCLE_ENVIRONMENT, type EnvironmentOf } from '../../contract/environment.ts';
import { readEnvironment } from '../shared/environment.ts';

export type LifecycleConfig = EnvironmentOf<typeof LIFECYCLE_ENVIRONMENT>;

export const readConfig = (env: NodeJS.ProcessEnv = process.env): LifecycleConfig =>
  readEnvironment(LIFECYCLE_ENVIRONMENT, env);

/** A comma-separated list setting as its items (none when empty or unset). */
export const listOf = (value: string | undefined): string[] => (value ? value.split(',').filter(Boolean) : []);
