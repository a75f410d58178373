// What a `run` is about to do, shown before anything is sent (and all that --dry-run does): the
// document, the parameter names (never their values: they may carry secrets), each command's
// targets, and per agency how many hub nodes match. Node IDs are checked live in SSM first.
import { ListTagsForResourceCommand, paginateDescribeInstanceInformation } from '@aws-sdk/client-ssm';
import { mapLimit, table, UsageError, type Context } from '../kit/index.ts';
import type { Clients } from './aws.ts';
import type { FleetKeys, HubNode } from './fleet.ts';
import type { RunBatch } from './run-targets.ts';

/** ListTagsForResource calls in flight while node IDs are checked. */
export const TAG_READS_IN_FLIGHT = 4;

/** The IDs SSM lists (DescribeInstanceInformation, InstanceIds filter alone); InvalidInstanceId is refused by name. */
async function liveIds(clients: Clients, region: string, ids: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  const input = { Filters: [{ Key: 'InstanceIds', Values: ids }] };
  try {
    for await (const page of paginateDescribeInstanceInformation({ client: clients.ssm(region), pageSize: 50 }, input))
      for (const i of page.InstanceInformationList ?? []) if (i.InstanceId) found.add(i.InstanceId);
  } catch (err) {
    if ((err as { name?: string }).name !== 'InvalidInstanceId') throw err;
    throw new UsageError(
      `--target InstanceIds: refused: SSM does not know at least one of ${ids.join(', ')} (DescribeInstanceInformation: InvalidInstanceId)`,
    );
  }
  return found;
}

/**
 * Refuses, by name, every node ID that SSM does not list as a node of the chosen agencies (or of any
 * hub agency without --agency), so the live tag decides, never the hub's own records. Two steps,
 * because tag filters cannot be combined with other filter types (SSM API reference,
 * DescribeInstanceInformation Filters: "Tag filters can't be combined with other filter types"):
 * DescribeInstanceInformation with the InstanceIds filter alone (the IDs exist; an unknown one fails
 * the call with InvalidInstanceId, API reference Errors), then ListTagsForResource (ResourceType
 * ManagedInstance) per listed ID, at most 50, a few at a time: the ownership tag must name one of
 * the chosen agencies, or exist when no agency is named.
 */
export async function verifyNodeIds(
  clients: Clients,
  region: string,
  keys: FleetKeys,
  batch: Extract<RunBatch, { kind: 'nodes' }>,
): Promise<void> {
  const ids = batch.instanceIds;
  const found = await liveIds(clients, region, ids);
  const owners = await mapLimit(ids, TAG_READS_IN_FLIGHT, async (id) => {
    if (!found.has(id)) return undefined;
    const input = { ResourceType: 'ManagedInstance' as const, ResourceId: id };
    const tags = (await clients.ssm(region).send(new ListTagsForResourceCommand(input))).TagList ?? [];
    return tags.find((t) => t.Key === keys.ownership)?.Value;
  });
  const owns = (owner: string | undefined) =>
    owner !== undefined && (batch.agencies ? batch.agencies.includes(owner) : true);
  const missing = ids.filter((_, i) => !owns(owners[i]));
  const whose = batch.agencies ? `agency ${batch.agencies.join(', ')}` : "the hub's agencies";
  if (missing.length)
    throw new UsageError(
      `--target InstanceIds: refused: ${missing.join(', ')} ${missing.length === 1 ? 'is not a node' : 'are not nodes'} of ${whose} in SSM (no ownership tag, or another agency's)`,
    );
}

export interface AgencyCount {
  agency: string;
  nodes: number;
  online: number;
}

export interface RunPreview {
  account: string;
  region: string;
  document: string;
  /** Names only: values may carry secrets. */
  parameterNames: string[];
  maxConcurrency: string;
  maxErrors: string;
  commands: RunBatch[];
  /** Hub nodes per agency that the commands reach (before any extra tag target narrows them). */
  agencies: AgencyCount[];
  nodes: number;
  /** Extra tag targets: SSM narrows the counted nodes further by these. */
  narrowedBy: string[];
}

/** Per agency, the hub nodes a run reaches; agencies named with no node are listed with 0. Pure. */
export function countNodes(batches: RunBatch[], nodes: readonly HubNode[]): AgencyCount[] {
  const ids = new Set(batches.flatMap((b) => (b.kind === 'nodes' ? b.instanceIds : [])));
  const reached = nodes.filter((n) => !ids.size || ids.has(n.id));
  const named = batches.flatMap((b) => b.agencies ?? []);
  const counts = new Map<string, AgencyCount>(named.map((a) => [a, { agency: a, nodes: 0, online: 0 }]));
  for (const n of reached) {
    const c = counts.get(n.agency) ?? { agency: n.agency, nodes: 0, online: 0 };
    c.nodes++;
    if (n.pingStatus === 'Online') c.online++;
    counts.set(n.agency, c);
  }
  return [...counts.values()].sort((a, b) => (a.agency < b.agency ? -1 : 1));
}

const targetText = (b: RunBatch): string =>
  b.kind === 'nodes'
    ? `InstanceIds ${b.instanceIds.join(', ')}`
    : b.targets.map((t) => `${t.Key}=${(t.Values ?? []).join(',')}`).join(' AND ');

/** The preview as text (stdout for --dry-run, stderr before a real run). */
export function previewText(p: RunPreview): string {
  const params = p.parameterNames.length ? `${p.parameterNames.join(', ')} (values not shown)` : 'none';
  const lines = [
    `document ${p.document}; parameters: ${params}; max concurrency ${p.maxConcurrency}, max errors ${p.maxErrors}`,
    ...p.commands.map((b, i) => `command ${i + 1} of ${p.commands.length}: ${targetText(b)}`),
    table(
      ['agency', 'nodes', 'online'],
      [
        ...p.agencies.map((a) => [a.agency, String(a.nodes), String(a.online)]),
        ['total', String(p.nodes), String(p.agencies.reduce((n, a) => n + a.online, 0))],
      ],
    ),
  ];
  if (p.narrowedBy.length) lines.push(`counted before ${p.narrowedBy.join(' AND ')} narrows them`);
  return `${lines.join('\n')}\n`;
}

export function printPreview(ctx: Context, p: RunPreview, dryRun: boolean, json: boolean): void {
  if (dryRun && json) ctx.stdout(`${JSON.stringify({ dryRun: true, ...p }, null, 2)}\n`);
  else if (dryRun) ctx.stdout(previewText(p));
  else ctx.stderr(previewText(p));
}
