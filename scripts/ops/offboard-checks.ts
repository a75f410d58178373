// What offboarding an agency does not undo, found before anything is deleted: its hub nodes (still
// under central control), the membership automation that would onboard it again, and agency
// StackSets this account cannot see.
import { type CallAs, type Stack } from '@aws-sdk/client-cloudformation';
import { paginateDescribeInstanceInformation, type SSMClient } from '@aws-sdk/client-ssm';
import { type FleetKeys } from './fleet.ts';
import { activeAccountsUnder } from './orgs.ts';
import { type Clients } from './aws.ts';

export interface NodeCount {
  total: number;
  online: number;
}

/**
 * The agency's hub nodes: DescribeInstanceInformation filtered on the ownership tag its activation
 * stamped (filter key tag:<key>; SSM API reference, InstanceInformationStringFilter), 50 a page.
 */
export async function agencyNodeCount(ssm: SSMClient, keys: FleetKeys, account: string): Promise<NodeCount> {
  const count = { total: 0, online: 0 };
  const input = { Filters: [{ Key: `tag:${keys.ownership}`, Values: [account] }] };
  for await (const page of paginateDescribeInstanceInformation({ client: ssm, pageSize: 50 }, input))
    for (const i of page?.InstanceInformationList ?? []) {
      count.total++;
      if (i.PingStatus === 'Online') count.online++;
    }
  return count;
}

/** What happens to an offboarded agency's nodes and how to give them back: pure. */
export function nodeWarning(account: string, c: NodeCount, deregisterDocument: string | undefined): string {
  const doc = deregisterDocument ?? '<DeregisterDocumentName output of the central stack>';
  return `agency ${account} has ${c.total} hub nodes (${c.online} Online): offboarding does not return them. They stay hub nodes under central control (run, patch scans and the install window still reach them by the ownership tag). To give them back, first run the deregistration document on them while the agency's collector stack (its instance profile) is still there (npx ssm-hub run --document ${doc} --agency ${account}), wait until the nodes it reached (run prints one row a node) show ConnectionLost, then deregister those (aws ssm deregister-managed-instance --instance-id mi-…); a node already offline was not reached and must stay registered until it is`;
}

const param = (s: Stack, key: string) => s.Parameters?.find((p) => p.ParameterKey === key)?.ParameterValue ?? '';
const split = (v: string) =>
  v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/**
 * Accounts the membership pass would onboard again: with MembershipMode=enabled it onboards every
 * ACTIVE account of AgencyOrganizationalUnits (child OUs included) and AgencyAccounts that has no
 * permissions stack (lambda/fleet-lifecycle/membership-rules.ts, membershipPlan "join").
 */
export async function membershipWouldReturn(
  clients: Clients,
  region: string,
  central: Stack | undefined,
  accounts: string[],
): Promise<string[]> {
  if (!central || param(central, 'MembershipMode') !== 'enabled') return [];
  const explicit = new Set(split(param(central, 'AgencyAccounts')));
  const ous = split(param(central, 'AgencyOrganizationalUnits'));
  const under = new Set(ous.length ? await activeAccountsUnder(clients.organizations(region), ous) : []);
  return accounts.filter((a) => explicit.has(a) || under.has(a));
}

export function membershipWarning(account: string, centralStackName: string): string {
  return `agency ${account} is still one of the membership OUs or accounts of ${centralStackName} and MembershipMode is enabled: the fleet lifecycle onboards it again at its next pass (hourly, or on an Organizations event). Move the account out of those OUs (or drop it from AgencyAccounts) first, or set MembershipMode=disabled on ${centralStackName}`;
}

export function stackSetNotSeen(stackSetName: string, callAs: CallAs): string {
  return `StackSet ${stackSetName} not found with --call-as ${callAs}: offboard cannot tell whether these agencies still have its stack instances. If the agency StackSets are managed from a delegated administrator account, pass --call-as DELEGATED_ADMIN there`;
}
