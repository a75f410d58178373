// The hub's nodes as the operations commands see them: every managed node that carries the
// ownership key (the tag each agency's activation stamps at registration), with its agency, EC2
// instance and connection state. compliance, run and report read the fleet only through here.
import { paginateDescribeInstanceInformation, ListTagsForResourceCommand } from '@aws-sdk/client-ssm';
import { type InstanceInformationStringFilter } from '@aws-sdk/client-ssm';
import { paginateGetResources } from '@aws-sdk/client-resource-groups-tagging-api';
import { provenanceKeys } from '../../lambda/shared/tag-rules.ts';
import type { Clients } from './aws.ts';
import { mapLimit } from '../kit/index.ts';

export interface HubNode {
  id: string;
  region: string;
  agency: string;
  ec2InstanceId?: string;
  /** Online, ConnectionLost or Inactive (DescribeInstanceInformation PingStatus). */
  pingStatus: string;
  lastPingAt?: string;
  platform?: string;
  name?: string;
}

export interface FleetKeys {
  ownership: string;
  ec2InstanceId: string;
}

export const fleetKeys = (reservedTagPrefix: string): FleetKeys => {
  const k = provenanceKeys(reservedTagPrefix);
  return { ownership: k.activationAgency, ec2InstanceId: k.ec2InstanceId };
};

const NODE_ARN = /:managed-instance\/(mi-[0-9a-f]{17})$/;
/** Values one filter may carry: Tagging API TagFilter 20, DescribeInstanceInformation filter 100. */
export const TAG_FILTER_MAX_VALUES = 20;
export const INSTANCE_FILTER_MAX_VALUES = 100;

/**
 * Tags of the hub's nodes in bulk: Tagging API GetResources, 100 a page, filtered on the ownership
 * key (and on the agencies' values when given). The index can lag behind SSM, so it is a lookup,
 * never the list of nodes.
 */
async function bulkTags(
  clients: Clients,
  region: string,
  keys: FleetKeys,
  agencies: readonly string[] | undefined,
): Promise<Map<string, Record<string, string>>> {
  const found = new Map<string, Record<string, string>>();
  const input = {
    ResourceTypeFilters: ['ssm:managed-instance'],
    // More agencies than one filter holds: read the key and keep the agencies' nodes afterwards.
    TagFilters: [
      {
        Key: keys.ownership,
        ...(agencies && agencies.length <= TAG_FILTER_MAX_VALUES ? { Values: [...agencies] } : {}),
      },
    ],
    ResourcesPerPage: 100,
  };
  for await (const page of paginateGetResources({ client: clients.tagging(region) }, input)) {
    for (const m of page.ResourceTagMappingList ?? []) {
      const id = NODE_ARN.exec(m.ResourceARN ?? '')?.[1];
      if (!id) continue;
      const tags: Record<string, string> = Object.create(null);
      for (const t of m.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
      found.set(id, tags);
    }
  }
  return found;
}

/** The ownership filter of DescribeInstanceInformation: the key, or the key with these agencies. */
export function ownershipFilter(
  keys: FleetKeys,
  agencies: readonly string[] | undefined,
): InstanceInformationStringFilter {
  return agencies && agencies.length <= INSTANCE_FILTER_MAX_VALUES
    ? { Key: `tag:${keys.ownership}`, Values: [...agencies] }
    : { Key: 'tag-key', Values: [keys.ownership] };
}

/** Every hub node in one Region (optionally only these agencies'), sorted by agency then node. */
export async function readHubNodes(
  clients: Clients,
  region: string,
  keys: FleetKeys,
  agencies?: readonly string[],
): Promise<HubNode[]> {
  const ssm = clients.ssm(region);
  const tags = await bulkTags(clients, region, keys, agencies);
  const nodes: HubNode[] = [];
  const input = { Filters: [ownershipFilter(keys, agencies)] };
  for await (const page of paginateDescribeInstanceInformation({ client: ssm, pageSize: 50 }, input)) {
    for (const i of page.InstanceInformationList ?? []) {
      if (!i.InstanceId) continue;
      nodes.push({
        id: i.InstanceId,
        region,
        agency: '',
        pingStatus: i.PingStatus ?? 'Unknown',
        lastPingAt: i.LastPingDateTime?.toISOString(),
        platform: i.PlatformType,
        name: i.ComputerName ?? i.Name,
      });
    }
  }
  // A node the bulk index has not seen yet is read one by one (ListTagsForResource).
  await mapLimit(
    nodes.filter((n) => !tags.has(n.id)),
    4,
    async (n) => {
      const t: Record<string, string> = Object.create(null);
      try {
        const out = await ssm.send(
          new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: n.id }),
        );
        for (const x of out.TagList ?? []) if (x.Key !== undefined) t[x.Key] = x.Value ?? '';
      } catch (err) {
        // Deregistered since DescribeInstanceInformation listed it (ListTagsForResource API
        // reference: InvalidResourceId): it is no longer a node, so it is left out (no ownership tag).
        if ((err as { name?: string }).name !== 'InvalidResourceId') throw err;
      }
      tags.set(n.id, t);
    },
  );
  for (const n of nodes) {
    const t = tags.get(n.id)!;
    n.agency = t[keys.ownership] ?? '';
    if (t[keys.ec2InstanceId]) n.ec2InstanceId = t[keys.ec2InstanceId];
  }
  return nodes
    .filter((n) => n.agency !== '' && (!agencies || agencies.includes(n.agency)))
    .sort((a, b) => (a.agency < b.agency ? -1 : a.agency > b.agency ? 1 : a.id < b.id ? -1 : 1));
}
