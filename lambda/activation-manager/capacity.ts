// The Region's node capacity as one rotation run sees it: the tier in force (GetServiceSetting),
// the hybrid nodes registered now, and the quota each agency gets. Read once per run; every
// activation the run creates adds its limit to `committed`, so two rotations of one run cannot
// both take the last room.
import { ACTIVATION_TIER_SETTING_ID, advancedTierOn } from '../../contract/limits.ts';
import type { ActivationRecord } from '../shared/activation-record.ts';
import type { ManagerConfig } from './config.ts';
import { agencyQuota, cappedRegistrationLimit, type CappedLimit } from './quota.ts';
import { activationTierSetting, countManagedNodes } from './ssm-io.ts';

export interface RunCapacity {
  advanced: boolean;
  quota: number | undefined;
  regionNodes: number;
  /** Registrations the activations created in this run may still add. */
  committed: number;
}

export async function readCapacity(cfg: ManagerConfig, agencies: number): Promise<RunCapacity> {
  const advanced = advancedTierOn(await activationTierSetting(ACTIVATION_TIER_SETTING_ID));
  // On the advanced tier the Region count matters only for a configured quota: skip the listing.
  const regionNodes = advanced ? 0 : await countManagedNodes();
  return { advanced, quota: agencyQuota(cfg, agencies, advanced), regionNodes, committed: 0 };
}

/** Every activation the record knows: its nodes are the agency's nodes. */
export const agencyActivationIds = (record: ActivationRecord): string[] => [
  ...new Set([
    record.current.activationId,
    ...record.previous.map((p) => p.activationId),
    ...record.knownActivationIds,
  ]),
];

/**
 * The limit the agency's next activation may have, from its nodes now, the registrations still open
 * on an activation that stays valid beside it (`agencyOpen`), and the run's capacity.
 */
export async function nextLimit(
  cfg: ManagerConfig,
  cap: RunCapacity,
  record: ActivationRecord | undefined,
  wanted: number,
  agencyOpen = 0,
): Promise<CappedLimit & { agencyNodes: number }> {
  const ids = record ? agencyActivationIds(record) : [];
  const agencyNodes = cap.quota === undefined ? 0 : await countManagedNodes(ids);
  const limit = cappedRegistrationLimit(
    wanted,
    {
      agencyNodes,
      agencyOpen,
      regionNodes: cap.regionNodes + cap.committed,
      advanced: cap.advanced,
      quota: cap.quota,
    },
    cfg.standardTierNodeLimit,
  );
  return { ...limit, agencyNodes };
}

/** Why no activation can be created now, in words an operator can act on. */
export function capacityRefusal(reason: 'agency-quota' | 'standard-tier', quota: number | undefined): string {
  return reason === 'agency-quota'
    ? `the agency's managed nodes (and the registrations still open on its current activation) already fill its quota of ${quota}; raise lifecycle.agencyNodeQuota or deregister nodes`
    : "the Region's standard tier has no room for another node; enable the advanced tier or deregister nodes";
}
