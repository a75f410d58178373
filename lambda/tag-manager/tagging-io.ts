// Resource Groups Tagging API calls, and nothing else: the bulk tag read of the drift pass.
import { GetResourcesCommand, type ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { emptyTags, type Tags } from '../shared/tag-rules.ts';
import type { HubLocation } from './identity.ts';

/** GetResources takes at most 100 ARNs in ResourceARNList (and then no filters or paging). */
export const GET_RESOURCES_ARN_LIMIT = 100;

/** A managed node's ARN: arn:<partition>:ssm:<region>:<account>:managed-instance/mi-… */
export const managedNodeArn = (hub: HubLocation, managedInstanceId: string): string =>
  `arn:${hub.partition}:ssm:${hub.region}:${hub.account}:managed-instance/${managedInstanceId}`;

/**
 * The current tags of these nodes, 100 per call. Nodes the API does not return (unknown, never
 * tagged, or not yet indexed) are absent from the map: the caller reads those one by one.
 */
export async function bulkNodeTags(
  client: ResourceGroupsTaggingAPIClient,
  hub: HubLocation,
  ids: readonly string[],
): Promise<Map<string, Tags>> {
  const byArn = new Map(ids.map((id) => [managedNodeArn(hub, id), id]));
  const arns = [...byArn.keys()];
  const found = new Map<string, Tags>();
  for (let i = 0; i < arns.length; i += GET_RESOURCES_ARN_LIMIT) {
    const out = await client.send(
      new GetResourcesCommand({ ResourceARNList: arns.slice(i, i + GET_RESOURCES_ARN_LIMIT) }),
    );
    for (const mapping of out.ResourceTagMappingList ?? []) {
      const id = mapping.ResourceARN ? byArn.get(mapping.ResourceARN) : undefined;
      if (!id) continue;
      const tags = emptyTags();
      for (const t of mapping.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
      found.set(id, tags);
    }
  }
  return found;
}
