// A loopback fake of the Run Command calls `ssm-hub run` makes, for the real SDK clients (their
// retries and timeouts run for real): SSM SendCommand, ListCommands, ListCommandInvocations,
// DescribeInstanceInformation and ListTagsForResource, and the Tagging API's GetResources. Every
// SendCommand request creates a command when it arrives, whether or not its answer is delayed, as
// SSM does: SendCommand takes no idempotency token (SSM API reference, SendCommand), so a resent
// request is a new command.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  awsJsonRequestError,
  FakeApiError,
  listenLoopback,
  parseJsonBody,
  readBody,
  sendAwsJson,
  sendAwsJsonError,
  type Loopback,
} from './loopback.ts';

export interface RunFakeNode {
  id: string;
  /** The node's tags in SSM (the ownership tag among them). */
  tags: Record<string, string>;
}

export interface RunFakeCommand {
  CommandId: string;
  Comment?: string;
  RequestedDateTime: number;
  nodes: string[];
}

export interface RunCommandFake extends Loopback {
  /** Every command created, in order. */
  commands: RunFakeCommand[];
  /** SendCommand requests received (each one created a command). */
  sendRequests(): number;
}

type Body = Record<string, unknown>;
type Filter = { Key?: string; Values?: string[] };

/** Nodes a SendCommand reaches: InstanceIds, or every node matching all Targets (tag:K / tag-key). */
function reach(nodes: RunFakeNode[], body: Body): string[] {
  if (Array.isArray(body.InstanceIds))
    return (body.InstanceIds as string[]).filter((id) => nodes.some((n) => n.id === id));
  const targets = (body.Targets ?? []) as Filter[];
  return nodes.filter((n) => targets.every((t) => tagMatch(n, t))).map((n) => n.id);
}

function tagMatch(n: RunFakeNode, f: Filter): boolean {
  if (f.Key === 'tag-key') return (f.Values ?? []).some((k) => k in n.tags);
  if (f.Key?.startsWith('tag:')) return (f.Values ?? []).includes(n.tags[f.Key.slice(4)] ?? '\u0000');
  if (f.Key === 'InstanceIds') return (f.Values ?? []).includes(n.id);
  return false;
}

/**
 * `delayFirstSendMs`: the first SendCommand's answer comes this late (the command exists at once).
 */
export async function startRunCommandFake(
  nodes: RunFakeNode[],
  opts: { delayFirstSendMs?: number; now?: () => number } = {},
): Promise<RunCommandFake> {
  const commands: RunFakeCommand[] = [];
  const now = opts.now ?? Date.now;
  const ops: Record<string, (body: Body) => unknown> = {
    SendCommand(body) {
      const c = {
        CommandId: `c-${commands.length + 1}`,
        Comment: body.Comment as string | undefined,
        RequestedDateTime: now(),
        nodes: reach(nodes, body),
      };
      commands.push(c);
      return { Command: { CommandId: c.CommandId, Comment: c.Comment, Status: 'Pending' } };
    },
    // ListCommands: by CommandId, or filtered by InvokedAfter (SSM API reference, ListCommands,
    // CommandFilter). Commands here finish at once, every node with Success: the Command's counts
    // (SSM API reference, Command: TargetCount, CompletedCount, ErrorCount, DeliveryTimedOutCount).
    ListCommands(body) {
      const after = ((body.Filters ?? []) as Array<{ key: string; value: string }>).find(
        (f) => f.key === 'InvokedAfter',
      );
      const list = commands.filter(
        (c) =>
          (!body.CommandId || c.CommandId === body.CommandId) &&
          (!after || c.RequestedDateTime >= Date.parse(after.value)),
      );
      if (body.CommandId && !list.length) throw new FakeApiError('InvalidCommandId', 'no such command');
      return {
        Commands: list.map((c) => ({
          CommandId: c.CommandId,
          Comment: c.Comment,
          Status: 'Success',
          StatusDetails: 'Success',
          TargetCount: c.nodes.length,
          CompletedCount: c.nodes.length,
          ErrorCount: 0,
          DeliveryTimedOutCount: 0,
        })),
      };
    },
    // ListCommandInvocations: one entry per node; the plugins' output only with Details (SSM API
    // reference, ListCommandInvocations Details).
    ListCommandInvocations(body) {
      const c = commands.find((x) => x.CommandId === body.CommandId);
      if (!c) throw new FakeApiError('InvalidCommandId', 'no such command');
      const plugins = body.Details ? [{ Name: 'aws:runShellScript', ResponseCode: 0, Output: 'ok' }] : [];
      return {
        CommandInvocations: c.nodes.map((id) => ({
          CommandId: c.CommandId,
          InstanceId: id,
          Status: 'Success',
          StatusDetails: 'Success',
          CommandPlugins: plugins,
        })),
      };
    },
    // Every filter applies; an unknown InstanceIds value fails the call (API reference, Errors: InvalidInstanceId).
    // "Tag filters can't be combined with other filter types" (API reference, DescribeInstanceInformation
    // Filters): SSM answers ValidationException "Cannot mix tag or inventory filter with any other filter."
    DescribeInstanceInformation(body) {
      const filters = (body.Filters ?? []) as Filter[];
      const isTag = (f: Filter) => f.Key === 'tag-key' || !!f.Key?.startsWith('tag:');
      if (filters.some(isTag) && !filters.every(isTag))
        throw new FakeApiError('ValidationException', 'Cannot mix tag or inventory filter with any other filter.');
      for (const f of filters)
        if (f.Key === 'InstanceIds' && !(f.Values ?? []).every((id) => nodes.some((n) => n.id === id)))
          throw new FakeApiError('InvalidInstanceId', 'The following instance ID is not valid.');
      const hits = nodes.filter((n) => filters.every((f) => tagMatch(n, f)));
      return {
        InstanceInformationList: hits.map((n) => ({
          InstanceId: n.id,
          PingStatus: 'Online',
          ResourceType: 'ManagedInstance',
        })),
      };
    },
    // ListTagsForResource: the node's tags (SSM API reference, ListTagsForResource; InvalidResourceId for an unknown node).
    ListTagsForResource(body) {
      const n = nodes.find((x) => x.id === body.ResourceId);
      if (!n) throw new FakeApiError('InvalidResourceId', 'no such node');
      return { TagList: Object.entries(n.tags).map(([Key, Value]) => ({ Key, Value })) };
    },
    // The Tagging API index lags behind SSM (Tagging API reference, GetResources): it lists none here,
    // so the CLI reads each node's tags from SSM.
    GetResources: () => ({ ResourceTagMappingList: [], PaginationToken: '' }),
  };
  let sends = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = parseJsonBody(await readBody(req));
    const op = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    const signing = op === 'GetResources' ? 'tagging' : 'ssm';
    const bad = awsJsonRequestError(req, signing);
    try {
      if (bad) throw bad;
      const fn = ops[op];
      if (!fn) throw new FakeApiError('UnknownOperationException', op);
      const answer = fn(body);
      if (op === 'SendCommand' && ++sends === 1 && opts.delayFirstSendMs)
        await new Promise((r) => setTimeout(r, opts.delayFirstSendMs));
      if (!res.destroyed) sendAwsJson(res, 200, answer);
    } catch (err) {
      sendAwsJsonError(res, err);
    }
  };
  const loopback = await listenLoopback(handle);
  return { ...loopback, commands, sendRequests: () => sends };
}
