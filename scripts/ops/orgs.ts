// Organizations look-ups: every ACTIVE account under some OUs (or the root), child OUs included.
import { paginateListAccountsForParent, paginateListOrganizationalUnitsForParent } from '@aws-sdk/client-organizations';
import { type OrganizationsClient } from '@aws-sdk/client-organizations';

export async function activeAccountsUnder(org: OrganizationsClient, parentIds: string[]): Promise<string[]> {
  const accounts = new Set<string>();
  const queue = [...parentIds];
  const seen = new Set<string>();
  while (queue.length) {
    const parent = queue.shift()!;
    if (seen.has(parent)) continue;
    seen.add(parent);
    for await (const page of paginateListAccountsForParent({ client: org }, { ParentId: parent })) {
      for (const a of page.Accounts ?? []) {
        // State replaces the deprecated Status; accept either while both exist.
        if (a.Id && (a.State ?? a.Status) === 'ACTIVE') accounts.add(a.Id);
      }
    }
    for await (const page of paginateListOrganizationalUnitsForParent({ client: org }, { ParentId: parent })) {
      for (const ou of page.OrganizationalUnits ?? []) if (ou.Id) queue.push(ou.Id);
    }
  }
  return [...accounts].sort();
}
