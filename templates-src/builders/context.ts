// What every template builder receives: the validated configuration, the bundled Lambda code. Builders are pure: the same context gives the same template.
import type { BuildConfig } from '../config.ts';

export interface BuildContext {
  config: BuildConfig;
  bundles: { 'tag-manager': string; 'activation-manager': string; collector: string };
  /** Decides which runtimes count as deprecated. */
  today: Date;
}

export const ACCOUNT_ID_ALLOWED_PATTERN = '^\\d{12}$';
export const REGION_ALLOWED_PATTERN = '^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\\d$';
