// Organizations look-ups: every ACTIVE account under some OUs (or the root), child OUs included.
import { paginateListAccountsForParent, paginateListOrganizationalUnitsForParent } from '@aws-sdk/client-organizations';
import { type OrganizationsClient } from '@aws-sdk/client-organizations';
import { activeAccountsUnder as walk } from '../../contract/organization.ts';

export async function activeAccountsUnder(org: OrganizationsClient, parentIds: string[]): Promise<string[]> {
  const accounts = await walk(parentIds, {
    async *accounts(parent) {
      for await (const page of paginateListAccountsForParent({ client: org }, { ParentId: parent }))
        yield page.Accounts ?? [];
    },
    async *childOus(parent) {
      for await (const page of paginateListOrganizationalUnitsForParent({ client: org }, { ParentId: parent }))
        yield (page.OrganizationalUnits ?? []).flatMap((ou) => (ou.Id ? [ou.Id] : []));
    },
  });
  return [...accounts].sort();
}
