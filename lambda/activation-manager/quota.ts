// Pure rules of the Region's node capacity: the tier in force, each agency's node quota, and the
// registration limit a new activation may have. One agency must not use up the standard tier's
// shared 1,000 nodes on its own, and no activation may take the Region over them.

export interface QuotaPolicy {
  /** Configured nodes per agency; 0 = an even share of the standard-tier limit less the headroom. */
  agencyNodeQuota: number;
  quotaHeadroomPercent: number;
  standardTierNodeLimit: number;
}

/**
 * The nodes one agency may hold: the configured quota, or on the standard tier an even share of
 * the limit after the headroom (at least 1). On the advanced tier with no quota configured: none.
 */
export function agencyQuota(policy: QuotaPolicy, agencies: number, advanced: boolean): number | undefined {
  if (policy.agencyNodeQuota > 0) return policy.agencyNodeQuota;
  if (advanced) return undefined;
  const usable = Math.floor((policy.standardTierNodeLimit * (100 - policy.quotaHeadroomPercent)) / 100);
  return Math.max(1, Math.floor(usable / Math.max(1, agencies)));
}

export interface Capacity {
  /** Nodes registered with this agency's activations now. */
  agencyNodes: number;
  /** Registrations still open on an activation of the agency that stays valid beside the new one. */
  agencyOpen?: number;
  /** Hybrid nodes registered in the Region now (every agency). */
  regionNodes: number;
  advanced: boolean;
  quota: number | undefined;
}

export type CappedLimit =
  { ok: true; registrationLimit: number; capped: boolean } | { ok: false; reason: 'agency-quota' | 'standard-tier' };

/**
 * The registration limit a new activation gets: the wanted one, cut so that the agency's nodes
 * (plus the registrations still open beside it) stay within its quota and (on the standard tier)
 * the Region's nodes within the tier's limit. Refused when not even one more node fits.
 */
export function cappedRegistrationLimit(wanted: number, c: Capacity, standardTierNodeLimit: number): CappedLimit {
  const byQuota = c.quota === undefined ? Infinity : c.quota - c.agencyNodes - (c.agencyOpen ?? 0);
  const byTier = c.advanced ? Infinity : standardTierNodeLimit - c.regionNodes;
  if (byQuota < 1) return { ok: false, reason: 'agency-quota' };
  if (byTier < 1) return { ok: false, reason: 'standard-tier' };
  const registrationLimit = Math.min(wanted, byQuota, byTier);
  return { ok: true, registrationLimit, capped: registrationLimit < wanted };
}
