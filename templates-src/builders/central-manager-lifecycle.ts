// central-manager, the automatic fleet lifecycle: the activation manager's view of the Region's
// node capacity (tier and per-agency quota), the orphan sweep and agency membership by OU. Kept
// apart from central-manager.ts, which calls each section in one line.
import type { BuildConfig } from '../config.ts';
import { Sub } from '../kit/intrinsics.ts';
import { allow, type Statement } from '../kit/iam.ts';
import { ACTIVATION_TIER_SETTING_ID } from '../../contract/limits.ts';

/** The activation manager's capacity settings (contract: ACTIVATION_MANAGER_ENVIRONMENT). */
export function activationCapacityEnvironment(config: BuildConfig) {
  return {
    agencyNodeQuota: config.lifecycle.agencyNodeQuota,
    quotaHeadroomPercent: config.lifecycle.quotaHeadroomPercent,
    standardTierNodeLimit: config.standardTierNodeLimit,
  };
}

/** Rotation reads the tier in force and counts the Region's and the agency's nodes. */
export function activationCapacityStatements(): Statement[] {
  return [
    allow(
      'ReadActivationTier',
      'ssm:GetServiceSetting',
      Sub(`arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:servicesetting${ACTIVATION_TIER_SETTING_ID}`),
    ),
    // DescribeInstanceInformation has no resource-level permissions.
    allow('CountManagedNodes', 'ssm:DescribeInstanceInformation', '*'),
  ];
}
