// Following a run's commands until each is finished, and the closing report: one row per node,
// one line per command. A failure while following (after the commands were sent) says they were
// sent and are still running, with their IDs and how to follow them, in text and --json.
import { ListCommandsCommand, paginateListCommandInvocations, type CommandInvocation } from '@aws-sdk/client-ssm';
import { EXIT, errorText, progress, table, type Context } from '../kit/index.ts';
import type { Clients } from './aws.ts';
import type { HubNode } from './fleet.ts';
import type { SendUncertainError } from './run-send.ts';

const TERMINAL = new Set(['Success', 'Cancelled', 'Failed', 'TimedOut']);

export interface NodeResult {
  node: string;
  ec2InstanceId: string;
  agency: string;
  status: string;
  exitCode?: number;
  output: string;
}

export interface CommandResult {
  commandId: string;
  status: string;
  timedOut: boolean;
  results: NodeResult[];
}

/** First lines of a node's output, each cut short, for the closing table. */
export function outputPreview(output: string, lines = 2, width = 60): string {
  return output
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(0, lines)
    .map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l))
    .join(' ⏎ ');
}

export function nodeResult(i: CommandInvocation, byId: ReadonlyMap<string, HubNode>): NodeResult {
  const plugins = i.CommandPlugins ?? [];
  const failing = plugins.find((p) => (p.ResponseCode ?? 0) !== 0);
  const node = byId.get(i.InstanceId ?? '');
  return {
    node: i.InstanceId ?? '',
    ec2InstanceId: node?.ec2InstanceId ?? '',
    agency: node?.agency ?? '',
    status: i.Status ?? 'Unknown',
    exitCode: (failing ?? plugins[0])?.ResponseCode,
    output: plugins
      .map((p) => p.Output ?? '')
      .filter((o) => o.trim() !== '')
      .join('\n'),
  };
}

async function invocations(clients: Clients, region: string, commandId: string, details: boolean) {
  const all: CommandInvocation[] = [];
  const input = { CommandId: commandId, Details: details };
  for await (const page of paginateListCommandInvocations({ client: clients.ssm(region), pageSize: 50 }, input))
    all.push(...(page.CommandInvocations ?? []));
  return all;
}

/** Polls one command until it is finished or the deadline passes; prints each node's changes. */
export async function follow(
  ctx: Context,
  clients: Clients,
  region: string,
  commandId: string,
  deadline: number,
  byId: ReadonlyMap<string, HubNode>,
): Promise<CommandResult> {
  const seen = new Map<string, string>();
  for (;;) {
    const cmd = (await clients.ssm(region).send(new ListCommandsCommand({ CommandId: commandId }))).Commands?.[0];
    // Only the closing list needs the nodes' output (Details); the polls read statuses.
    const status = cmd?.Status ?? 'Unknown';
    const done = TERMINAL.has(status);
    const timedOut = !done && ctx.now().getTime() >= deadline;
    const list = await invocations(clients, region, commandId, done || timedOut);
    for (const i of list) {
      const s = i.StatusDetails ?? i.Status ?? 'Unknown';
      if (seen.get(i.InstanceId ?? '') !== s) progress(ctx, `[${i.InstanceId}] ${s}`);
      seen.set(i.InstanceId ?? '', s);
    }
    if (done || timedOut) {
      const results = list.map((i) => nodeResult(i, byId)).sort((a, b) => (a.node < b.node ? -1 : 1));
      return { commandId, status, timedOut, results };
    }
    await ctx.sleep(ctx.pollMs);
  }
}

const followHint = (region: string, id: string) =>
  `aws ssm list-command-invocations --region ${region} --command-id ${id} --details`;

export function reportRun(ctx: Context, region: string, commands: CommandResult[], json: boolean): number {
  const failed = commands.flatMap((c) => c.results).filter((x) => x.status !== 'Success').length;
  const nodes = commands.reduce((n, c) => n + c.results.length, 0);
  const ok = nodes > 0 && failed === 0 && !commands.some((c) => c.timedOut);
  if (json) {
    const doc = commands.map((c) => ({ ...c, failed: c.results.filter((x) => x.status !== 'Success').length }));
    ctx.stdout(`${JSON.stringify({ commands: doc, failed }, null, 2)}\n`);
    return ok ? EXIT.ok : EXIT.failed;
  }
  const rows = commands
    .flatMap((c) => c.results)
    .map((x) => [
      x.node,
      x.ec2InstanceId || '-',
      x.agency || '-',
      x.status,
      x.exitCode === undefined ? '-' : String(x.exitCode),
      outputPreview(x.output),
    ]);
  ctx.stdout(`${table(['node', 'EC2 instance', 'agency', 'status', 'exit', 'output'], rows)}\n\n`);
  for (const c of commands) {
    const bad = c.results.filter((x) => x.status !== 'Success').length;
    ctx.stdout(`command ${c.commandId}: ${c.status}; ${c.results.length - bad} succeeded, ${bad} failed\n`);
    if (c.timedOut) ctx.stdout(`still running: follow it with ${followHint(region, c.commandId)}\n`);
  }
  if (!nodes) ctx.stdout('no node matched the target\n');
  return ok ? EXIT.ok : EXIT.failed;
}

/**
 * The run stopped after sending (following failed, or a later command could not be sent): the
 * commands sent are still running in SSM. Says so, with their IDs and how to follow them. Exit 1.
 */
export function reportInterrupted(
  ctx: Context,
  region: string,
  sent: readonly string[],
  err: unknown,
  json: boolean,
): number {
  const error = errorText(err);
  const follow = sent.map((id) => followHint(region, id));
  // A command whose SendCommand got no clear answer may exist too: its comment and the check to run.
  const u = err as Partial<Pick<SendUncertainError, 'comment' | 'check'>>;
  const uncertain = u.comment && u.check ? { comment: u.comment, check: u.check } : undefined;
  if (json) {
    const doc = {
      commands: sent.map((commandId) => ({ commandId, status: 'StillRunning' })),
      stillRunning: sent.length > 0,
      ...(uncertain ? { mayHaveBeenSent: uncertain } : {}),
      error,
      follow,
    };
    ctx.stdout(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    for (const id of sent) ctx.stdout(`command ${id} was sent and is still running in SSM\n`);
    for (const f of follow) ctx.stdout(`follow it with ${f}\n`);
  }
  const state = sent.length ? `stopped after sending ${sent.join(', ')} (still running in SSM): ` : '';
  progress(ctx, `ssm-hub run: ${state}${error}`);
  return EXIT.failed;
}
