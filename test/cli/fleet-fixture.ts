// A small hub for the operations commands, served by aws-sdk-client-mock with the paging and the
// filters the real APIs apply: Tagging API GetResources (TagFilters, PaginationToken; SSM API and
// Tagging API references), DescribeInstanceInformation (tag-key and tag:KEY filters, NextToken),
// ListResourceComplianceSummaries (NextToken; every resource of the account, hub or not) and
// DescribeInstancePatchStates (InstanceIds, at most 50).
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeInstanceInformationCommand, DescribeInstancePatchStatesCommand } from '@aws-sdk/client-ssm';
import { ListComplianceSummariesCommand, ListResourceComplianceSummariesCommand } from '@aws-sdk/client-ssm';
import { ListTagsForResourceCommand, SSMClient, type ResourceComplianceSummaryItem } from '@aws-sdk/client-ssm';
import { GetResourcesCommand, ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';

export const A = '111111111111';
export const B = '222222222222';
export const OWN = 'central-it:activation-agency';
export const EC2 = 'central-it:ec2-instance-id';
export const NOW = new Date('2026-06-01T12:00:00Z');
const HOUR = 3_600_000;
export const mi = (n: number) => `mi-${n.toString(16).padStart(17, '0')}`;

export interface FixtureNode {
  id: string;
  region: string;
  agency?: string;
  ec2?: string;
  ping: string;
  /** Left out of the Tagging API index (it lags): read with ListTagsForResource. */
  unindexed?: boolean;
  patch?: 'COMPLIANT' | 'NON_COMPLIANT';
  association?: 'COMPLIANT' | 'NON_COMPLIANT';
  critical?: number;
  security?: number;
  scannedHoursAgo?: number;
}

export const FLEET: FixtureNode[] = [
  {
    id: mi(1),
    region: 'us-east-1',
    agency: A,
    ec2: 'i-0000000000000000a',
    ping: 'Online',
    patch: 'COMPLIANT',
    association: 'COMPLIANT',
    scannedHoursAgo: 3,
  },
  {
    id: mi(2),
    region: 'us-east-1',
    agency: A,
    ec2: 'i-0000000000000000b',
    ping: 'Online',
    patch: 'NON_COMPLIANT',
    association: 'NON_COMPLIANT',
    critical: 2,
    security: 3,
    scannedHoursAgo: 5,
  },
  { id: mi(3), region: 'us-east-1', agency: A, ec2: 'i-0000000000000000c', ping: 'Online' },
  {
    id: mi(4),
    region: 'us-east-1',
    agency: B,
    ec2: 'i-0000000000000000d',
    ping: 'Online',
    patch: 'COMPLIANT',
    scannedHoursAgo: 1,
  },
  {
    id: mi(5),
    region: 'us-east-1',
    agency: B,
    ec2: 'i-0000000000000000e',
    ping: 'ConnectionLost',
    unindexed: true,
    scannedHoursAgo: 24 * 9,
  },
  {
    id: mi(6),
    region: 'us-west-2',
    agency: B,
    ec2: 'i-0000000000000000f',
    ping: 'Online',
    patch: 'NON_COMPLIANT',
    critical: 1,
    scannedHoursAgo: 2,
  },
  // Central IT's own node in the hub account: no ownership tag, non-compliant; never counted.
  { id: mi(0xfff), region: 'us-east-1', ping: 'Online', patch: 'NON_COMPLIANT', critical: 9, scannedHoursAgo: 1 },
];

const region = async (getClient: () => unknown) => (getClient() as SSMClient).config.region();
const page = <T>(items: T[], token: string | undefined, size: number) => {
  const start = Number(token ?? 0);
  const next = start + size < items.length ? String(start + size) : undefined;
  return { items: items.slice(start, start + size), next };
};
const arn = (n: FixtureNode) => `arn:aws:ssm:${n.region}:999999999999:managed-instance/${n.id}`;
const tagsOf = (n: FixtureNode) => [
  ...(n.agency ? [{ Key: OWN, Value: n.agency }] : []),
  ...(n.ec2 ? [{ Key: EC2, Value: n.ec2 }] : []),
  { Key: 'Name', Value: `node-${n.id.slice(-3)}` },
];

function summaries(n: FixtureNode): ResourceComplianceSummaryItem[] {
  const item = (type: string, status: string): ResourceComplianceSummaryItem => ({
    ComplianceType: type,
    ResourceType: 'ManagedInstance',
    ResourceId: n.id,
    Status: status as 'COMPLIANT',
    ExecutionSummary: { ExecutionTime: new Date(NOW.getTime() - (n.scannedHoursAgo ?? 0) * HOUR) },
    NonCompliantSummary: { NonCompliantCount: n.critical ?? 0, SeveritySummary: { CriticalCount: n.critical ?? 0 } },
  });
  return [...(n.patch ? [item('Patch', n.patch)] : []), ...(n.association ? [item('Association', n.association)] : [])];
}

/** Installs the fixture on fresh mocks; returns them for call assertions. */
export function mockFleet(fleet: FixtureNode[] = FLEET) {
  const ssm = mockClient(SSMClient);
  const tagging = mockClient(ResourceGroupsTaggingAPIClient);
  tagging.on(GetResourcesCommand).callsFake(async (input, getClient) => {
    const r = await region(getClient);
    const f = input.TagFilters?.[0];
    const hits = fleet.filter(
      (n) => n.region === r && !n.unindexed && n.agency && f?.Key === OWN && (!f.Values || f.Values.includes(n.agency)),
    );
    const p = page(hits, input.PaginationToken, 2);
    return {
      ResourceTagMappingList: p.items.map((n) => ({ ResourceARN: arn(n), Tags: tagsOf(n) })),
      PaginationToken: p.next ?? '',
    };
  });
  ssm.on(DescribeInstanceInformationCommand).callsFake(async (input, getClient) => {
    const r = await region(getClient);
    // Every filter applies (SSM API reference, DescribeInstanceInformation Filters). An InstanceIds
    // filter naming a node SSM does not know fails the whole call with InvalidInstanceId (API
    // reference, Errors; AWS-FACTS.md).
    const filters: Array<{ Key?: string; Values?: string[] }> = input.Filters ?? [];
    // "Tag filters can't be combined with other filter types" (API reference, DescribeInstanceInformation
    // Filters); SSM answers ValidationException "Cannot mix tag or inventory filter with any other filter."
    const isTag = (f: { Key?: string }) => f.Key === 'tag-key' || f.Key!.startsWith('tag:');
    if (filters.some(isTag) && !filters.every(isTag))
      throw Object.assign(new Error('Cannot mix tag or inventory filter with any other filter.'), {
        name: 'ValidationException',
      });
    const known = (id: string) => fleet.some((n) => n.id === id && n.region === r);
    for (const f of filters)
      if (f.Key === 'InstanceIds' && !f.Values!.every(known))
        throw Object.assign(new Error('The following instance ID is not valid.'), { name: 'InvalidInstanceId' });
    const match = (n: FixtureNode, f: { Key?: string; Values?: string[] }) => {
      if (f.Key === 'tag-key') return f.Values!.includes(OWN) && n.agency !== undefined;
      if (f.Key === `tag:${OWN}`) return n.agency !== undefined && f.Values!.includes(n.agency);
      if (f.Key === 'InstanceIds') return f.Values!.includes(n.id);
      return true;
    };
    const hits = fleet.filter((n) => n.region === r && filters.every((f) => match(n, f)));
    const p = page(hits, input.NextToken, 2);
    return {
      InstanceInformationList: p.items.map((n) => ({
        InstanceId: n.id,
        PingStatus: n.ping as 'Online',
        ResourceType: 'ManagedInstance' as const,
        LastPingDateTime: NOW,
        PlatformType: 'Linux' as const,
      })),
      NextToken: p.next,
    };
  });
  ssm.on(ListTagsForResourceCommand).callsFake(async (input) => {
    const n = fleet.find((x) => x.id === input.ResourceId);
    if (!n) throw Object.assign(new Error('not found'), { name: 'InvalidResourceId' });
    return { TagList: tagsOf(n) };
  });
  ssm.on(ListResourceComplianceSummariesCommand).callsFake(async (input, getClient) => {
    const r = await region(getClient);
    const items = fleet.filter((n) => n.region === r).flatMap(summaries);
    const p = page(items, input.NextToken, 3);
    return { ResourceComplianceSummaryItems: p.items, NextToken: p.next };
  });
  // ListComplianceSummaries counts every resource of the account, hub or not; one type a page.
  ssm.on(ListComplianceSummariesCommand).callsFake(async (input, getClient) => {
    const r = await region(getClient);
    const items = fleet.filter((n) => n.region === r).flatMap(summaries);
    const types = ['Association', 'Patch'];
    const p = page(types, input.NextToken, 1);
    return {
      ComplianceSummaryItems: p.items.map((t) => ({
        ComplianceType: t,
        CompliantSummary: {
          CompliantCount: items.filter((i) => i.ComplianceType === t && i.Status === 'COMPLIANT').length,
        },
        NonCompliantSummary: {
          NonCompliantCount: items.filter((i) => i.ComplianceType === t && i.Status === 'NON_COMPLIANT').length,
        },
      })),
      NextToken: p.next,
    };
  });
  ssm.on(DescribeInstancePatchStatesCommand).callsFake(async (input) => {
    if ((input.InstanceIds ?? []).length > 50)
      throw Object.assign(new Error('too many'), { name: 'ValidationException' });
    const states = fleet
      .filter((n) => input.InstanceIds!.includes(n.id) && n.scannedHoursAgo !== undefined)
      .map((n) => ({
        InstanceId: n.id,
        PatchGroup: '',
        BaselineId: 'pb-0',
        Operation: 'Scan' as const,
        OperationStartTime: new Date(NOW.getTime() - n.scannedHoursAgo! * HOUR - 60_000),
        OperationEndTime: new Date(NOW.getTime() - n.scannedHoursAgo! * HOUR),
        CriticalNonCompliantCount: n.critical ?? 0,
        SecurityNonCompliantCount: n.security ?? 0,
        MissingCount: (n.critical ?? 0) + (n.security ?? 0),
      }));
    return { InstancePatchStates: states };
  });
  return { ssm, tagging, restore: () => (ssm.restore(), tagging.restore()) };
}
