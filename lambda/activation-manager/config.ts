// Settings read from the function's environment (names in lambda/shared/names.ts). Read per
// invocation, so tests and a changed configuration take effect without a cold start.
import { ACTIVATION_MANAGER_ENV as ENV } from '../shared/names.ts';

export interface ManagerConfig {
  parameterPrefix: string;
  kmsKeyId: string;
  managedNodeRoleName: string;
  reservedTagPrefix: string;
  rotateDaysBeforeExpiry: number;
  rotateAtUsagePercent: number;
  metricNamespace: string;
  region: string;
}

export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new ConfigurationError(`environment variable ${name} is not set`);
  return value;
}

function intSetting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigurationError(`environment variable ${name} must be an integer from ${min} to ${max}`);
  }
  return n;
}

export function readConfig(): ManagerConfig {
  const parameterPrefix = required(ENV.activationParameterPrefix).replace(/\/+$/, '');
  if (!/^(\/[a-zA-Z0-9_.-]+)+$/.test(parameterPrefix)) {
    throw new ConfigurationError(
      `environment variable ${ENV.activationParameterPrefix} must be a parameter path such as /ssm-hub/agencies`,
    );
  }
  const managedNodeRoleName = required(ENV.managedNodeRoleName);
  // CreateActivation takes a role name; an ARN here is a template bug worth a clear message.
  // A role with a path is passed as path/name (e.g. service-role/MyRole), so '/' is allowed.
  if (managedNodeRoleName.startsWith('arn:')) {
    throw new ConfigurationError(
      `environment variable ${ENV.managedNodeRoleName} must be an IAM role name, not an ARN`,
    );
  }
  return {
    parameterPrefix,
    kmsKeyId: required(ENV.activationKmsKeyId),
    managedNodeRoleName,
    reservedTagPrefix: required(ENV.reservedTagPrefix),
    rotateDaysBeforeExpiry: intSetting(ENV.rotateDaysBeforeExpiry, 7, 0, 29),
    rotateAtUsagePercent: intSetting(ENV.rotateAtUsagePercent, 90, 1, 100),
    metricNamespace: process.env[ENV.metricNamespace] || 'SsmHub/ActivationManager',
    region: required('AWS_REGION'),
  };
}
