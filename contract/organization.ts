// The organization rule both the operator CLI (`onboard --ou`, `rollout`) and the fleet-lifecycle
// function follow: every ACTIVE account under some OUs or roots, child OUs included. Each caller
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

/** Breadth first, each parent read once. */
export async function activeAccountsUnder(parents: readonly string[], reads: OrganizationReads): Promise<Set<string>> {
  const accounts = new Set<string>();
  const queue = [...parents];
  const seen = new Set<string>();
  while (queue.length) {
    const parent = queue.shift()!;
    if (seen.has(parent)) continue;
    seen.add(parent);
    for await (const page of reads.accounts(parent)) {
      for (const a of page) if (a.Id && (a.State ?? a.Status) === 'ACTIVE') accounts.add(a.Id);
    }
    for await (const ids of reads.childOus(parent)) queue.push(...ids);
  }
  return accounts;
}
