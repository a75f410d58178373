// What every template builder receives: the validated configuration, the bundled Lambda code. Builders are pure: the same context gives the same template.
import type { BuildConfig } from '../config.ts';
import { REGION_NAME_PATTERN } from '../../lambda/shared/names.ts';
import { ACCOUNT_ID_PATTERN } from '../../contract/patterns.ts';

export interface BuildContext {
  config: BuildConfig;
  bundles: { 'tag-manager': string; 'activation-manager': string; collector: string; 'fleet-lifecycle': string };
  /** Decides which runtimes count as deprecated. */
  today: Date;
}

/** The contract's account-ID rule as a CloudFormation AllowedPattern. */
export const ACCOUNT_ID_ALLOWED_PATTERN = ACCOUNT_ID_PATTERN.source;
export const REGION_ALLOWED_PATTERN = REGION_NAME_PATTERN;
