// The fleet the sync benchmark runs: N nodes spread evenly over A agencies, each instance with a
// realistic tag set, batched into requests exactly as the collector batches them. Plus the
// conversion of measured per-request call counts into the simulated clock's workload. Pure.
import type { SyncInstance } from '../../lambda/shared/contract.ts';
import { batchInstances } from '../../lambda/collector/batching.ts';
import { EC2_DESCRIBE_INSTANCES_MAX_RESULTS } from '../../contract/page-sizes.ts';
import type { SimAgency, SimRequest } from './model.ts';

export interface FleetSpec {
  nodes: number;
  agencies: number;
}

export interface FleetInstance extends SyncInstance {
  agency: string;
  activationId: string;
}

export const agencyId = (a: number): string => String(100_000_000_000 + a);
export const activationOf = (agency: string): string => `act-${agency}`;
export const hex17 = (n: number): string => n.toString(16).padStart(17, '0');

/** Ten tags, as a typical landing-zone instance has: two are aws: tags SSM refuses (skipped). */
export function instanceTags(i: number): Record<string, string> {
  return {
    Name: `app-${i}`,
    Environment: ['prod', 'test', 'dev'][i % 3]!,
    OS: i % 4 === 0 ? 'Windows' : 'Linux',
    PatchGroup: `pg-${i % 7}`,
    CostCenter: `cc-${1000 + (i % 50)}`,
    Owner: `team-${i % 20}@example.gov`,
    Application: `svc-${i % 30}`,
    Backup: i % 2 ? 'daily' : 'weekly',
    'aws:cloudformation:stack-name': `stack-${i % 10}`,
    'aws:autoscaling:groupName': `asg-${i % 10}`,
  };
}

export function buildFleet(spec: FleetSpec): FleetInstance[] {
  if (spec.nodes % spec.agencies !== 0) throw new Error('nodes must divide evenly over agencies');
  const per = spec.nodes / spec.agencies;
  const out: FleetInstance[] = [];
  for (let a = 0; a < spec.agencies; a++) {
    const agency = agencyId(a);
    for (let k = 0; k < per; k++) {
      const i = a * per + k;
      out.push({
        agency,
        activationId: activationOf(agency),
        ec2InstanceId: `i-${hex17(i + 1)}`,
        managedInstanceId: `mi-${hex17(i + 1)}`,
        tags: instanceTags(i),
      });
    }
  }
  return out;
}

/** Instances whose one tag changes in a scenario: `share` of them, spread evenly (every 1/share-th). */
export function changedIndexes(total: number, share: number, offset: number): number[] {
  const step = Math.round(1 / share);
  const out: number[] = [];
  for (let i = offset % step; i < total; i += step) out.push(i);
  return out;
}

export interface AgencyRequests {
  agency: string;
  requests: Array<{ op: 'sync'; instances: SyncInstance[] }>;
}

/** Groups by agency and batches each agency's instances with the collector's own batching. */
export function requestsByAgency(fleet: readonly FleetInstance[]): AgencyRequests[] {
  const groups = new Map<string, SyncInstance[]>();
  for (const f of fleet) {
    const list = groups.get(f.agency) ?? [];
    list.push({ ec2InstanceId: f.ec2InstanceId, managedInstanceId: f.managedInstanceId, tags: f.tags });
    groups.set(f.agency, list);
  }
  return [...groups].map(([agency, instances]) => {
    const { batches, oversize } = batchInstances('sync', instances);
    if (oversize.length) throw new Error('benchmark fleet has an oversize instance');
    return { agency, requests: batches.map((b) => ({ op: 'sync' as const, instances: b })) };
  });
}

/** DescribeInstances pages the collector reads: 1,000 instances per page, at least one. */
export const EC2_PAGE_SIZE = EC2_DESCRIBE_INSTANCES_MAX_RESULTS;
export const describePages = (instances: number): number => Math.max(1, Math.ceil(instances / EC2_PAGE_SIZE));

/** APIs the tag manager calls once per request before the per-node work. */
export const HEAD_APIS = ['BatchGetItem', 'GetParameter', 'DescribeInstanceInformation', 'GetResources'] as const;
/** Per-node APIs, in the order the handler makes them for one node. */
export const NODE_APIS = [
  'ListTagsForResource',
  'RemoveTagsFromResource',
  'AddTagsToResource',
  'DeregisterManagedInstance',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
] as const;

/** Successful calls (throttled attempts excluded) of one measured request, per API. */
export type CallCounts = Record<string, number>;

/**
 * Turns one request's measured call counts into the simulated clock's request: head calls in
 * order, per-node calls spread evenly over the request's nodes (node i gets the i-th share).
 */
export function toSimRequest(counts: CallCounts, nodeCount: number): SimRequest {
  const known = new Set<string>([...HEAD_APIS, ...NODE_APIS]);
  const unknown = Object.keys(counts).filter((k) => (counts[k] ?? 0) > 0 && !known.has(k));
  if (unknown.length) throw new Error(`toSimRequest: no place for API(s) ${unknown.join(', ')}`);
  const head: string[] = [];
  for (const api of HEAD_APIS) for (let i = 0; i < (counts[api] ?? 0); i++) head.push(api);
  const nodes: string[][] = Array.from({ length: nodeCount }, () => []);
  for (const api of NODE_APIS) {
    const c = counts[api] ?? 0;
    for (let i = 0; i < c; i++) nodes[i % nodeCount]!.push(api);
  }
  return { head, nodes };
}

/** One simulated agency: its collector's EC2 pages, then its measured requests. */
export function toSimAgency(instances: number, requests: Array<{ counts: CallCounts; nodes: number }>): SimAgency {
  return {
    collectorCalls: Array.from({ length: describePages(instances) }, () => 'DescribeInstances'),
    requests: requests.map((r) => toSimRequest(r.counts, r.nodes)),
  };
}

/** Adds call counts. */
export function addCounts(into: CallCounts, more: CallCounts, times = 1): CallCounts {
  for (const [k, v] of Object.entries(more)) into[k] = (into[k] ?? 0) + v * times;
  return into;
}
