// Organizations look-ups: every ACTIVE account under some OUs (or the root), child OUs included.
import {
  ListAccountsForParentCommand,
  ListOrganizationalUnitsForParentCommand,
  type OrganizationsClient,
} from '@aws-sdk/client-organizations';

export async function activeAccountsUnder(org: OrganizationsClient, parentIds: string[]): Promise<string[]> {
  const accounts = new Set<string>();
  const queue = [...parentIds];
  const seen = new Set<string>();
  while (queue.length) {
    const parent = queue.shift()!;
    if (seen.has(parent)) continue;
    seen.add(parent);
    let token: string | undefined;
    do {
      const out = await org.send(new ListAccountsForParentCommand({ ParentId: parent, NextToken: token }));
      for (const a of out.Accounts ?? []) {
        // State replaces the deprecated Status; accept either while both exist.
        if (a.Id && (a.State ?? a.Status) === 'ACTIVE') accounts.add(a.Id);
      }
      token = out.NextToken;
    } while (token);
    do {
      const out = await org.send(new ListOrganizationalUnitsForParentCommand({ ParentId: parent, NextToken: token }));
      for (const ou of out.OrganizationalUnits ?? []) if (ou.Id) queue.push(ou.Id);
      token = out.NextToken;
    } while (token);
  }
  return [...accounts].sort();
}
