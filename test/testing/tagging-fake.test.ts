// The Tagging API fake answers as the API reference says, through the real SDK client: what the
// tag manager's drift pass relies on is checked here, once, against the fake's own claims.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GetResourcesCommand,
  ResourceGroupsTaggingAPIClient,
  paginateGetResources,
} from '@aws-sdk/client-resource-groups-tagging-api';
import { startSsmFake, type SsmFake } from '../../testing/fakes/ssm-fake.ts';
import { startTaggingFake, type TaggingFake } from '../../testing/fakes/tagging-fake.ts';

let ssm: SsmFake;
let tagging: TaggingFake;
let client: ResourceGroupsTaggingAPIClient;
const id = (n: number) => `mi-${n.toString(16).padStart(17, '0')}`;
const OWNER = 'central-it:activation-agency';

beforeAll(async () => {
  ssm = await startSsmFake();
  tagging = await startTaggingFake({ ssm: ssm.state });
  client = new ResourceGroupsTaggingAPIClient({ endpoint: tagging.endpoint, region: 'us-east-1', maxAttempts: 1 });
  for (let n = 1; n <= 250; n++) ssm.state.addNode(id(n), { tags: { [OWNER]: n <= 230 ? 'A' : 'B', Name: `n${n}` } });
  ssm.state.addNode(id(999), {}); // never tagged
});
afterAll(async () => {
  client?.destroy();
  await tagging?.close();
  await ssm?.close();
});

const invalid = { name: 'InvalidParameterException' };

describe('GetResources by ResourceARNList', () => {
  it('answers the tags of the nodes it knows and silently leaves out unknown and never-tagged ones', async () => {
    const out = await client.send(
      new GetResourcesCommand({
        ResourceARNList: [tagging.arnOf(id(1)), tagging.arnOf(id(5000)), tagging.arnOf(id(999))],
      }),
    );
    expect(out.ResourceTagMappingList).toEqual([
      {
        ResourceARN: `arn:aws:ssm:us-east-1:999999999999:managed-instance/${id(1)}`,
        Tags: [
          { Key: OWNER, Value: 'A' },
          { Key: 'Name', Value: 'n1' },
        ],
      },
    ]);
  });

  it.each([
    ['TagFilters', { TagFilters: [{ Key: OWNER }] }],
    ['ResourceTypeFilters', { ResourceTypeFilters: ['ssm:managed-instance'] }],
    ['ResourcesPerPage', { ResourcesPerPage: 10 }],
    ['PaginationToken', { PaginationToken: 'x' }],
  ])('refuses ResourceARNList combined with %s', async (_label, extra) => {
    await expect(
      client.send(new GetResourcesCommand({ ResourceARNList: [tagging.arnOf(id(1))], ...extra })),
    ).rejects.toMatchObject(invalid);
  });

  it('refuses more than 100 ARNs', async () => {
    const arns = Array.from({ length: 101 }, (_, i) => tagging.arnOf(id(i + 1)));
    await expect(client.send(new GetResourcesCommand({ ResourceARNList: arns }))).rejects.toMatchObject(invalid);
  });
});

describe('GetResources by filters', () => {
  it('pages 100 at a time through the nodes carrying the ownership tag value', async () => {
    const pages: number[] = [];
    for await (const page of paginateGetResources(
      { client },
      {
        ResourceTypeFilters: ['ssm:managed-instance'],
        TagFilters: [{ Key: OWNER, Values: ['A'] }],
        ResourcesPerPage: 100,
      },
    ))
      pages.push(page.ResourceTagMappingList?.length ?? 0);
    expect(pages).toEqual([100, 100, 30]);
  });

  it('matches a key with any value when the filter names no value, and a resource type by service alone', async () => {
    const out = await client.send(
      new GetResourcesCommand({ ResourceTypeFilters: ['ssm'], TagFilters: [{ Key: OWNER }] }),
    );
    expect(out.ResourceTagMappingList).toHaveLength(100);
    expect(out.PaginationToken).not.toBe('');
  });

  it('returns nothing for another resource type', async () => {
    const out = await client.send(new GetResourcesCommand({ ResourceTypeFilters: ['ec2:instance'] }));
    expect(out.ResourceTagMappingList).toEqual([]);
    expect(out.PaginationToken).toBe('');
  });

  it.each([
    ['ResourcesPerPage of 101', { ResourcesPerPage: 101 }],
    ['ResourcesPerPage of 0', { ResourcesPerPage: 0 }],
    ['51 tag filters', { TagFilters: Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}` })) }],
    [
      '21 values in one filter',
      { TagFilters: [{ Key: OWNER, Values: Array.from({ length: 21 }, (_, i) => `v${i}`) }] },
    ],
    ['a malformed PaginationToken', { PaginationToken: 'not-a-token' }],
  ])('refuses %s', async (_label, input) => {
    await expect(client.send(new GetResourcesCommand(input))).rejects.toMatchObject(invalid);
  });

  it('lists a node that had tags and has none now with an empty tag set, never a node never tagged', async () => {
    ssm.state.addNode(id(1000), { tags: { Name: 'x' } });
    ssm.state.nodes.get(id(1000))!.tags.clear();
    const out = await client.send(
      new GetResourcesCommand({ ResourceARNList: [tagging.arnOf(id(1000)), tagging.arnOf(id(999))] }),
    );
    expect(out.ResourceTagMappingList).toEqual([{ ResourceARN: tagging.arnOf(id(1000)), Tags: [] }]);
  });
});

describe('stale answers', () => {
  it('answers the planted stale view of a node instead of its current tags', async () => {
    tagging.stale.set(id(2), { [OWNER]: 'A', Name: 'old' });
    const out = await client.send(new GetResourcesCommand({ ResourceARNList: [tagging.arnOf(id(2))] }));
    expect(out.ResourceTagMappingList?.[0]?.Tags).toContainEqual({ Key: 'Name', Value: 'old' });
    tagging.stale.delete(id(2));
  });
});
