// Pure: what keeps the onboarded agencies equal to the accounts in the configured OUs. An account
// that joins is onboarded now; one that left is first marked, and offboarded once it has been gone
// for the grace period (an account moved by mistake and moved back is never offboarded).

export interface MembershipState {
  /** Accounts the OUs (and the explicit list) hold now, without the hub's own account. */
  desired: ReadonlySet<string>;
  /** Agencies that have a permissions stack, with its status. */
  onboarded: ReadonlyMap<string, string>;
  /** Agencies marked as gone, with the time they were first missed. */
  missingSince: ReadonlyMap<string, Date>;
  /** Accounts the OUs still list that are not ACTIVE (suspended, closing): neither joined nor left. */
  held?: ReadonlySet<string>;
}

export interface MembershipPlan {
  join: string[];
  /** Newly missed: mark them now. */
  mark: string[];
  /** Back in the OUs (or offboarded meanwhile): their marks go. */
  unmark: string[];
  leave: string[];
  /** Stacks whose creation failed: deleted so the next run creates them again. */
  retry: string[];
  /**
   * Onboarded agencies still in the OUs but not ACTIVE: kept as they are. A suspension can be
   * lifted; a closed account leaves the organization after its post-closure period, and is then
   * offboarded as a leaver.
   */
  held: string[];
}

const FAILED = /^(ROLLBACK_COMPLETE|CREATE_FAILED|ROLLBACK_FAILED|DELETE_FAILED)$/;
const BUSY = /_IN_PROGRESS$/;

export function membershipPlan(s: MembershipState, now: Date, graceHours: number): MembershipPlan {
  const plan: MembershipPlan = { join: [], mark: [], unmark: [], leave: [], retry: [], held: [] };
  for (const account of [...s.desired].sort()) {
    const status = s.onboarded.get(account);
    if (status === undefined) plan.join.push(account);
    else if (FAILED.test(status) && status !== 'DELETE_FAILED') plan.retry.push(account);
    if (s.missingSince.has(account)) plan.unmark.push(account);
  }
  for (const [account, status] of [...s.onboarded].sort(([a], [b]) => a.localeCompare(b))) {
    if (s.desired.has(account) || BUSY.test(status)) continue;
    if (s.held?.has(account)) {
      plan.held.push(account);
      if (s.missingSince.has(account)) plan.unmark.push(account);
      continue;
    }
    const since = s.missingSince.get(account);
    if (!since) plan.mark.push(account);
    else if (now.getTime() - since.getTime() >= graceHours * 3_600_000) plan.leave.push(account);
  }
  for (const account of s.missingSince.keys())
    if (!s.onboarded.has(account) && !s.desired.has(account)) plan.unmark.push(account);
  return plan;
}

/** Why a leaver's node is deregistered: always stamped for the leaver by its activation. */
export type LeaverNodeReason = 'agency-left' | 'agency-left-row-and-stamp';

export interface LeaverNodes {
  account: string;
  /** Nodes registered with the leaver's activations that SSM confirms carry its stamp. */
  confirmed: readonly string[];
  /** Nodes SSM confirms carry the leaver's stamp, whatever their activation. */
  stamped: readonly string[];
  /** Sync-table rows of the confirmed nodes (a row of another agency means: not the leaver's). */
  rows: ReadonlyMap<string, { agencyAccountId?: string }>;
  /** Nodes the sync table files under the leaver. */
  rowIds: readonly string[];
}

export interface LeaverNodePlan {
  deregister: { managedInstanceId: string; reason: LeaverNodeReason }[];
  /** Stamped for the leaver, but the sync table files them under another agency: left alone. */
  otherAgency: { managedInstanceId: string; rowAgency: string }[];
  /** Rows filed under the leaver whose node SSM does not confirm as the leaver's: only the row goes. */
  rowOnly: string[];
  /** Stamped for the leaver, but neither in its record nor in the table: left alone, reported. */
  unknown: string[];
}

/**
 * Pure: what offboarding does with the leaver's nodes. A node is deregistered only when SSM
 * confirms it carries the leaver's stamp AND the leaver's record or rows lead to it, and no row
 * files it under another agency. A row alone never deregisters anything.
 */
export function leaverNodePlan(n: LeaverNodes): LeaverNodePlan {
  const plan: LeaverNodePlan = { deregister: [], otherAgency: [], rowOnly: [], unknown: [] };
  const stamped = new Set(n.stamped);
  const filedUnderLeaver = new Set(n.rowIds);
  const seen = new Set<string>();
  for (const id of [...n.confirmed].sort()) {
    seen.add(id);
    const rowAgency = n.rows.get(id)?.agencyAccountId;
    if (rowAgency && rowAgency !== n.account) plan.otherAgency.push({ managedInstanceId: id, rowAgency });
    else plan.deregister.push({ managedInstanceId: id, reason: 'agency-left' });
  }
  for (const id of [...filedUnderLeaver].sort()) {
    if (seen.has(id)) continue;
    seen.add(id);
    if (stamped.has(id)) plan.deregister.push({ managedInstanceId: id, reason: 'agency-left-row-and-stamp' });
    else plan.rowOnly.push(id);
  }
  plan.unknown = [...stamped].filter((id) => !seen.has(id)).sort();
  return plan;
}
