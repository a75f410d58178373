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
}

const FAILED = /^(ROLLBACK_COMPLETE|CREATE_FAILED|ROLLBACK_FAILED|DELETE_FAILED)$/;
const BUSY = /_IN_PROGRESS$/;

export function membershipPlan(s: MembershipState, now: Date, graceHours: number): MembershipPlan {
  const plan: MembershipPlan = { join: [], mark: [], unmark: [], leave: [], retry: [] };
  for (const account of [...s.desired].sort()) {
    const status = s.onboarded.get(account);
    if (status === undefined) plan.join.push(account);
    else if (FAILED.test(status) && status !== 'DELETE_FAILED') plan.retry.push(account);
    if (s.missingSince.has(account)) plan.unmark.push(account);
  }
  for (const [account, status] of [...s.onboarded].sort(([a], [b]) => a.localeCompare(b))) {
    if (s.desired.has(account) || BUSY.test(status)) continue;
    const since = s.missingSince.get(account);
    if (!since) plan.mark.push(account);
    else if (now.getTime() - since.getTime() >= graceHours * 3_600_000) plan.leave.push(account);
  }
  for (const account of s.missingSince.keys())
    if (!s.onboarded.has(account) && !s.desired.has(account)) plan.unmark.push(account);
  return plan;
}
