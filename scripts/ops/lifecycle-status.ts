// What `status` shows of the fleet lifecycle, apart from status.ts so its edit there stays small:
// the registration errors each agency's collector last reported, and the activation tier in force.
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetServiceSettingCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { ACTIVATION_TIER_SETTING_ID, advancedTierOn } from '../../contract/limits.ts';
import { SYNC_TABLE } from '../../contract/names.ts';

/** One collector Region's part of an agency's registration errors; no `region`: a collector that names none. */
export interface RegionErrorCount {
  region?: string;
  count: number;
  reportedAt?: string;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Pure: the agency row read back, one entry per Region (sorted) and one for the older collectors'
 * slot when it holds a list. A value that is not a count counts 0.
 */
export function regionErrorCounts(row: Record<string, unknown> | undefined): RegionErrorCount[] {
  if (!row) return [];
  const P = SYNC_TABLE.registrationErrorCountRegionPrefix;
  const counts: RegionErrorCount[] = Object.keys(row)
    .filter((k) => k.startsWith(P))
    .sort()
    .map((k) => {
      const region = k.slice(P.length);
      const at = text(row[`${SYNC_TABLE.reportedAtRegionPrefix}${region}`]);
      return { region, count: typeof row[k] === 'number' ? row[k] : 0, ...(at ? { reportedAt: at } : {}) };
    });
  if (typeof row.registrationErrors === 'object' && row.registrationErrors !== null) {
    const at = text(row[SYNC_TABLE.legacyReportedAt]) ?? text(row.reportedAt);
    const n = typeof row.registrationErrorCount === 'number' ? row.registrationErrorCount : 0;
    counts.push({ count: n, ...(at ? { reportedAt: at } : {}) });
  }
  return counts;
}

export type ActivationTier = 'standard' | 'advanced';

export interface RegistrationErrorSummary {
  /** Instances whose registration failed, as the agency's collectors last reported them (every Region). */
  registrationErrors: number;
  /** When a collector of the agency last reported (any Region). */
  registrationErrorsReportedAt?: string;
  /** Each collector Region's count; an entry without `region` is a collector that names none. */
  registrationErrorsByRegion?: RegionErrorCount[];
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
  const byRegion = regionErrorCounts(out.Item);
  const at = typeof out.Item?.reportedAt === 'string' ? out.Item.reportedAt : undefined;
  return {
    registrationErrors: byRegion.reduce((n, r) => n + r.count, 0),
    ...(at ? { registrationErrorsReportedAt: at } : {}),
    ...(byRegion.length ? { registrationErrorsByRegion: byRegion } : {}),
  };
}

/** Pure: "us-east-1: 1, us-west-2: 2", the Regions that reported errors, for the warning. */
export const registrationErrorRegionsText = (byRegion: readonly RegionErrorCount[] = []): string =>
  byRegion
    .filter((r) => r.count > 0)
    .map((r) => `${r.region ?? 'Region not named'}: ${r.count}`)
    .join(', ');

/** The tier hybrid nodes register into in this Region (GetServiceSetting). */
export async function activationTier(ssm: SSMClient): Promise<ActivationTier> {
  const out = await ssm.send(new GetServiceSettingCommand({ SettingId: ACTIVATION_TIER_SETTING_ID }));
  return advancedTierOn(out?.ServiceSetting?.SettingValue) ? 'advanced' : 'standard';
}

/** Pure: the standard-tier warning applies only while the standard tier is in force. */
export const standardTierApplies = (tier: ActivationTier | undefined): boolean => tier !== 'advanced';
