// The organization rule both the operator CLI (`onboard --ou`, `rollout`) and the fleet-lifecycle
// function follow: every ACTIVE account under some OUs or roots, child OUs included (the lifecycle
// also keeps the others it lists, so a suspended agency is not taken for one that left). Each caller
// brings its own Organizations reads (its client, and the listing its IAM policy allows).

/** An account as Organizations lists it: State replaces the deprecated Status; either may be set. */
interface ListedAccount {
  Id?: string;
  State?: string;
  Status?: string;
}

export interface OrganizationReads {
  /** The accounts directly under `parent`, page by page. */
  accounts(parent: string): AsyncIterable<ListedAccount[]>;
  /** The IDs of the OUs directly under `parent`, page by page. */
  childOus(parent: string): AsyncIterable<string[]>;
}

export interface AccountsUnder {
  active: Set<string>;
  /**
   * Listed under the OUs but not ACTIVE (Organizations user guide, "Monitor the state of your AWS
   * accounts": PENDING_ACTIVATION, SUSPENDED by AWS, PENDING_CLOSURE, CLOSED for the reinstatement
   * period before it leaves the organization; the retired Status field used SUSPENDED for closed).
   */
  inactive: Set<string>;
}

/** Breadth first, each parent read once. */
export async function accountsUnder(parents: readonly string[], reads: OrganizationReads): Promise<AccountsUnder> {
  const found: AccountsUnder = { active: new Set(), inactive: new Set() };
  const queue = [...parents];
  const seen = new Set<string>();
  while (queue.length) {
    const parent = queue.shift()!;
    if (seen.has(parent)) continue;
    seen.add(parent);
    for await (const page of reads.accounts(parent)) {
      for (const a of page) if (a.Id) ((a.State ?? a.Status) === 'ACTIVE' ? found.active : found.inactive).add(a.Id);
    }
    for await (const ids of reads.childOus(parent)) queue.push(...ids);
  }
  return found;
}

export async function activeAccountsUnder(parents: readonly string[], reads: OrganizationReads): Promise<Set<string>> {
  return (await accountsUnder(parents, reads)).active;
}
