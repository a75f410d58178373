// Following a run's commands until each is finished, and the closing report: one row per node,
// one line per command. A failure while following keeps the finished commands' results and says
// which command was sent and is still running, with its ID and how to follow it, and which groups
// were never sent, in text and --json.
import { ListCommandsCommand, paginateListCommandInvocations } from '@aws-sdk/client-ssm';
import type { Command, CommandInvocation } from '@aws-sdk/client-ssm';
import {
  INVOCATION_OUTCOMES,
  invocationOutcome,
  LIST_COMMAND_INVOCATIONS_MAX_RESULTS,
} from '../../contract/run-command.ts';
import type { InvocationOutcome } from '../../contract/run-command.ts';
import { EXIT, errorText, progress, table, type Context } from '../kit/index.ts';
import type { Clients } from './aws.ts';
import type { HubNode } from './fleet.ts';
import type { SendUncertainError } from './run-send.ts';
import type { RunBatch } from './run-targets.ts';

/** A Command's terminal Status values (SSM API reference, Command Status; Cancelling is not one). */
const TERMINAL = new Set(['Success', 'Cancelled', 'Failed', 'TimedOut']);

export interface NodeResult {
  node: string;
  ec2InstanceId: string;
  agency: string;
  /** The invocation's Status (CommandInvocationStatus). */
  status: string;
  /** Its StatusDetails (such as DeliveryTimedOut), which tells apart what Status groups together. */
  statusDetails?: string;
  /** What it came to for the stop rule and the counts (contract/run-command.ts). */
  outcome: InvocationOutcome;
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
    ...(i.StatusDetails !== undefined ? { statusDetails: i.StatusDetails } : {}),
    outcome: invocationOutcome(i.Status, i.StatusDetails),
    exitCode: (failing ?? plugins[0])?.ResponseCode,
    output: plugins
      .map((p) => p.Output ?? '')
      .filter((o) => o.trim() !== '')
      .join('\n'),
  };
}

/** Every node's invocation with its output (Details): read once, when the command has ended. */
async function invocations(clients: Clients, region: string, commandId: string) {
  const all: CommandInvocation[] = [];
  const paging = { client: clients.ssm(region), pageSize: LIST_COMMAND_INVOCATIONS_MAX_RESULTS };
  for await (const page of paginateListCommandInvocations(paging, { CommandId: commandId, Details: true }))
    all.push(...(page.CommandInvocations ?? []));
  return all;
}

/**
 * One progress line from the Command that ListCommands answers: its Status and the counts SSM keeps
 * (SSM API reference, Command: TargetCount; CompletedCount, "the number of targets for which the
 * command invocation reached a terminal state"; ErrorCount, "Failed or Execution Timed Out";
 * DeliveryTimedOutCount, "Delivery Timed Out"). Pure.
 */
export function commandProgress(commandId: string, cmd: Command | undefined): string {
  if (!cmd) return `command ${commandId}: not listed yet`;
  const n = (x: number | undefined) => x ?? 0;
  const extra = [
    ...(n(cmd.ErrorCount) ? [`${cmd.ErrorCount} failed`] : []),
    ...(n(cmd.DeliveryTimedOutCount) ? [`${cmd.DeliveryTimedOutCount} delivery timed out`] : []),
  ];
  const counts = `${n(cmd.CompletedCount)} of ${n(cmd.TargetCount)} nodes finished`;
  return `command ${commandId}: ${cmd.Status ?? 'Unknown'}; ${counts}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

/**
 * Polls one command until it is finished or the deadline passes: one ListCommands call per poll
 * (its Status and counts, printed when they change), then the nodes' invocations, once.
 */
export async function follow(
  ctx: Context,
  clients: Clients,
  region: string,
  commandId: string,
  deadline: number,
  byId: ReadonlyMap<string, HubNode>,
): Promise<CommandResult> {
  let shown = '';
  for (;;) {
    const cmd = (await clients.ssm(region).send(new ListCommandsCommand({ CommandId: commandId }))).Commands?.[0];
    const status = cmd?.Status ?? 'Unknown';
    const done = TERMINAL.has(status);
    const timedOut = !done && ctx.now().getTime() >= deadline;
    const line = commandProgress(commandId, cmd);
    if (line !== shown) progress(ctx, line);
    shown = line;
    if (done || timedOut) {
      const list = await invocations(clients, region, commandId);
      const results = list.map((i) => nodeResult(i, byId)).sort((a, b) => (a.node < b.node ? -1 : 1));
      return { commandId, status, timedOut, results };
    }
    await ctx.sleep(ctx.pollMs);
  }
}

const followHint = (region: string, id: string) =>
  `aws ssm list-command-invocations --region ${region} --command-id ${id} --details`;

const targetText = (b: RunBatch): string =>
  b.kind === 'nodes'
    ? `InstanceIds ${b.instanceIds.join(', ')}`
    : b.targets.map((t) => `${t.Key}=${(t.Values ?? []).join(',')}`).join(' AND ');

/**
 * Whether a finished command's failures go beyond --max-errors: SSM stops a command "when the
 * command fails one more time beyond the value of MaxErrors" (SSM API reference, SendCommand
 * MaxErrors), so N allows N failed nodes and N% allows that share of the command's nodes, rounded
 * down (the Systems Manager user guide's example: 10% of 50 stops at the sixth error). Pure.
 */
export function beyondMaxErrors(maxErrors: string, failed: number, nodes: number): boolean {
  const allowed = maxErrors.endsWith('%')
    ? Math.floor((Number(maxErrors.slice(0, -1)) * nodes) / 100)
    : Number(maxErrors);
  return failed > allowed;
}

export type OutcomeCounts = Record<InvocationOutcome, number>;

/** How many of the nodes came to each outcome (contract/run-command.ts). Pure. */
export function outcomeCounts(results: ReadonlyArray<Pick<NodeResult, 'outcome'>>): OutcomeCounts {
  const counts = Object.fromEntries(INVOCATION_OUTCOMES.map((k) => [k, 0])) as OutcomeCounts;
  for (const r of results) counts[r.outcome] += 1;
  return counts;
}

/**
 * The nodes that count against --max-errors: Failed or Execution Timed Out, exactly what SSM's
 * Command.ErrorCount counts and MaxErrors stops on. A node SSM could not reach (Delivery Timed Out,
 * Undeliverable) is reported on its own and stops nothing, as in SSM.
 */
const failedOf = (c: CommandResult) => outcomeCounts(c.results).failed;

/** The counts as the report names them (--json). */
function countsJson(k: OutcomeCounts) {
  const { success, failed, undelivered, terminated, cancelled, unfinished } = k;
  return { succeeded: success, failed, undelivered, terminated, cancelled, unfinished };
}

const sumCounts = (cs: CommandResult[]) => outcomeCounts(cs.flatMap((c) => c.results));

/** The other outcomes than success and failure that a command had, such as "1 undelivered". Pure. */
export function otherOutcomes(k: OutcomeCounts): string[] {
  return (['undelivered', 'terminated', 'cancelled', 'unfinished'] as const)
    .filter((o) => k[o] > 0)
    .map((o) => `${k[o]} ${o}`);
}

/**
 * Why the groups after this finished command are not sent, or undefined to go on. Pure. Besides
 * --max-errors, a command someone cancelled (CancelCommand, the console) or that SSM cut short
 * (Terminated: its own MaxErrors was reached), or one with nodes not finished, stops the run: the
 * next agencies must not get a document whose run on these was stopped. A node SSM could not reach
 * stops nothing.
 */
export function stopAfter(c: CommandResult, maxErrors: string): string | undefined {
  if (c.timedOut) return `command ${c.commandId} had not finished by the timeout`;
  const k = outcomeCounts(c.results);
  if (/^Cancel/.test(c.status)) return `command ${c.commandId} was cancelled (${c.status})`;
  const cut = (['cancelled', 'terminated', 'unfinished'] as const).filter((o) => k[o] > 0);
  if (cut.length)
    return `command ${c.commandId} ended with ${cut.map((o) => `${k[o]} ${o}`).join(', ')} node${cut.reduce((n, o) => n + k[o], 0) === 1 ? '' : 's'}`;
  const failed = failedOf(c);
  if (beyondMaxErrors(maxErrors, failed, c.results.length))
    return `command ${c.commandId} ended with ${failed} failed node${failed === 1 ? '' : 's'}, beyond --max-errors ${maxErrors}`;
  return undefined;
}

/** What a run did: commands finished, sent but not finished, groups never sent, and why it stopped early. */
export interface RunOutcome {
  done: CommandResult[];
  /** Sent and still running in SSM (following stopped before they finished). */
  running: string[];
  /** Groups never sent (numbered from 1 among all the run's commands). */
  unsent: Array<{ command: number; batch: RunBatch }>;
  /** Why the run stopped before its last group (failures beyond --max-errors, a timeout, an error). */
  stopped?: string;
  error?: unknown;
  total: number;
}

function outcomeJson(region: string, o: RunOutcome) {
  const u = o.error as Partial<Pick<SendUncertainError, 'comment' | 'check'>> | undefined;
  const uncertain = u?.comment && u.check ? { comment: u.comment, check: u.check } : undefined;
  return {
    commands: [
      ...o.done.map((c) => ({ ...c, ...countsJson(outcomeCounts(c.results)) })),
      ...o.running.map((commandId) => ({ commandId, status: 'StillRunning' })),
    ],
    ...countsJson(sumCounts(o.done)),
    stillRunning: o.running.length > 0,
    notSent: o.unsent.map((u) => ({ command: u.command, of: o.total, ...u.batch })),
    ...(uncertain ? { mayHaveBeenSent: uncertain } : {}),
    ...(o.stopped ? { stopped: o.stopped } : {}),
    ...(o.error !== undefined ? { error: errorText(o.error) } : {}),
    follow: [...o.done.filter((c) => c.timedOut).map((c) => c.commandId), ...o.running].map((id) =>
      followHint(region, id),
    ),
  };
}

function outcomeText(ctx: Context, region: string, o: RunOutcome): void {
  const rows = o.done
    .flatMap((c) => c.results)
    .map((x) => [
      x.node,
      x.ec2InstanceId || '-',
      x.agency || '-',
      x.statusDetails ?? x.status,
      x.exitCode === undefined ? '-' : String(x.exitCode),
      outputPreview(x.output),
    ]);
  if (o.done.length) ctx.stdout(`${table(['node', 'EC2 instance', 'agency', 'status', 'exit', 'output'], rows)}\n\n`);
  for (const c of o.done) {
    const k = outcomeCounts(c.results);
    const other = otherOutcomes(k).map((x) => `, ${x}`);
    ctx.stdout(`command ${c.commandId}: ${c.status}; ${k.success} succeeded, ${k.failed} failed${other.join('')}\n`);
    if (k.undelivered)
      ctx.stdout(
        'undelivered: Delivery Timed Out or Undeliverable (the node was offline or unreachable); not counted against --max-errors, as in SSM\n',
      );
    if (c.timedOut) ctx.stdout(`still running: follow it with ${followHint(region, c.commandId)}\n`);
  }
  for (const id of o.running) {
    ctx.stdout(`command ${id} was sent and is still running in SSM\n`);
    ctx.stdout(`follow it with ${followHint(region, id)}\n`);
  }
  for (const u of o.unsent) ctx.stdout(`not sent: command ${u.command} of ${o.total}: ${targetText(u.batch)}\n`);
  if (o.done.length && !o.done.some((c) => c.results.length)) ctx.stdout('no node matched the target\n');
}

/**
 * The closing report, in text or --json: one row per node of each finished command, the commands
 * still running with how to follow them, and the groups never sent. Exit 0 only when every group
 * was sent and finished with every node succeeding.
 */
export function reportRun(ctx: Context, region: string, o: RunOutcome, json: boolean): number {
  const nodes = o.done.reduce((n, c) => n + c.results.length, 0);
  const clean = !o.running.length && !o.unsent.length && o.error === undefined && !o.stopped;
  const allSucceeded = (c: CommandResult) => c.results.every((x) => x.outcome === 'success');
  const ok = clean && nodes > 0 && o.done.every((c) => !c.timedOut && allSucceeded(c));
  if (json) ctx.stdout(`${JSON.stringify(outcomeJson(region, o), null, 2)}\n`);
  else outcomeText(ctx, region, o);
  const sent = [...o.done.map((c) => c.commandId), ...o.running];
  const running = o.running.length ? ` (still running in SSM: ${o.running.join(', ')})` : '';
  const state = sent.length ? `stopped after sending ${sent.join(', ')}${running}: ` : '';
  if (o.error !== undefined) progress(ctx, `ssm-hub run: ${state}${errorText(o.error)}`);
  else if (o.stopped)
    progress(
      ctx,
      `ssm-hub run: stopped: ${o.stopped}; ${o.unsent.length} command${o.unsent.length === 1 ? '' : 's'} not sent`,
    );
  return ok ? EXIT.ok : EXIT.failed;
}
