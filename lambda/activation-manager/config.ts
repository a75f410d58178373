// Settings read from the function's environment (defined in contract/environment.ts). Read per
// invocation, so tests and a changed configuration take effect without a cold start.
import { ACTIVATION_MANAGER_ENVIRONMENT } from '../../contract/environment.ts';
import { readEnvironment } from '../shared/environment.ts';
import { ConfigurationError } from '../shared/errors.ts';

export { ConfigurationError };

export interface ManagerConfig {
  parameterPrefix: string;
  kmsKeyId: string;
  managedNodeRoleName: string;
  reservedTagPrefix: string;
  rotateDaysBeforeExpiry: number;
  rotateAtUsagePercent: number;
  metricNamespace: string;
  agencyNodeQuota: number;
  quotaHeadroomPercent: number;
  standardTierNodeLimit: number;
  region: string;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): ManagerConfig {
  const { activationParameterPrefix, activationKmsKeyId, ...rest } = readEnvironment(
    ACTIVATION_MANAGER_ENVIRONMENT,
    env,
  );
  return { parameterPrefix: activationParameterPrefix, kmsKeyId: activationKmsKeyId, ...rest };
}
