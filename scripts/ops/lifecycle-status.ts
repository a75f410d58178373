// What `status` shows of the fleet lifecycle, apart from status.ts so its edit there stays small:
// the registration errors each agency's collector last reported, and the activation tier in force.
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetServiceSettingCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { ACTIVATION_TIER_SETTING_ID, advancedTierOn } from '../../contract/limits.ts';
import { SYNC_TABLE } from '../../contract/names.ts';

export type ActivationTier = 'standard' | 'advanced';

export interface RegistrationErrorSummary {
  /** Instances whose registration failed, as the agency's collector last reported them. */
  registrationErrors: number;
  registrationErrorsReportedAt?: string;
}

/** The agency's registration-error record (one GetItem); zero when its collector never reported. */
export async function registrationErrorSummary(
  ddb: DynamoDBDocumentClient,
  table: string,
  account: string,
): Promise<RegistrationErrorSummary> {
  const out = await ddb.send(
    new GetCommand({
      TableName: table,
      Key: { [SYNC_TABLE.partitionKey]: `${SYNC_TABLE.registrationErrorKeyPrefix}${account}` },
      ConsistentRead: true,
    }),
  );
  const item = out.Item ?? {};
  const count = typeof item.registrationErrorCount === 'number' ? item.registrationErrorCount : 0;
  const at = typeof item.reportedAt === 'string' ? item.reportedAt : undefined;
  return { registrationErrors: count, ...(at ? { registrationErrorsReportedAt: at } : {}) };
}

/** The tier hybrid nodes register into in this Region (GetServiceSetting). */
export async function activationTier(ssm: SSMClient): Promise<ActivationTier> {
  const out = await ssm.send(new GetServiceSettingCommand({ SettingId: ACTIVATION_TIER_SETTING_ID }));
  return advancedTierOn(out?.ServiceSetting?.SettingValue) ? 'advanced' : 'standard';
}

/** Pure: the standard-tier warning applies only while the standard tier is in force. */
export const standardTierApplies = (tier: ActivationTier | undefined): boolean => tier !== 'advanced';
