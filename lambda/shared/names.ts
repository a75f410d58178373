// The names now live in the project contract (contract/); this module keeps the handlers' imports short.
import {
  ACTIVATION_MANAGER_ENVIRONMENT,
  COLLECTOR_ENVIRONMENT,
  TAG_MANAGER_ENVIRONMENT,
  variableNames,
} from '../../contract/environment.ts';

export * from '../../contract/names.ts';
export { AGENCY_ALIAS_PATTERN, AGENCY_ALIAS_PREFIX, REGION_NAME_PATTERN } from '../../contract/patterns.ts';

/** Environment variable names of each Lambda function, by setting (the contract defines them). */
export const TAG_MANAGER_ENV = /* @__PURE__ */ variableNames(TAG_MANAGER_ENVIRONMENT);
export const ACTIVATION_MANAGER_ENV = /* @__PURE__ */ variableNames(ACTIVATION_MANAGER_ENVIRONMENT);
export const COLLECTOR_ENV = /* @__PURE__ */ variableNames(COLLECTOR_ENVIRONMENT);
