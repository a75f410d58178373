// `ssm-hub run`: sends a Command document to an agency's nodes, or to a tag target inside the hub,
// follows it until every node has finished, and prints one row per node. Plan (targets checked,
// no call that changes anything), send, follow, report.
import { ListCommandsCommand, paginateListCommandInvocations, SendCommandCommand } from '@aws-sdk/client-ssm';
import { type CommandInvocation, type Target } from '@aws-sdk/client-ssm';
import { makeClients, resolveRegion, type Clients } from './aws.ts';
import { defaultContext, defineCommand, EXIT, list, OperationError, progress, repeatable } from '../kit/index.ts';
import { runCommand, table, text, textWithDefault, UsageError, type Context } from '../kit/index.ts';
import * as v from '../kit/validate.ts';
import { MAX_CONCURRENCY_PATTERN, MAX_ERRORS_PATTERN } from '../../contract/patterns.ts';
import { AWS_OPTIONS, loadConfig, timeoutOption } from './common.ts';
import { fleetKeys, readHubNodes, type HubNode } from './fleet.ts';
import { parseTarget, runTargets } from './run-targets.ts';
import { parseAssignments } from './generated.ts';
import { DOCUMENT_NAME_OR_ARN_PATTERN } from '../../contract/patterns.ts';

const rateCheck = (pattern: string, example: string) => (flag: string, value: string) => {
  if (!new RegExp(pattern).test(value))
    throw new UsageError(`--${flag}: "${value}" must be a number of nodes or a percentage (such as ${example})`);
  return value;
};
const DOCUMENT_NAME = DOCUMENT_NAME_OR_ARN_PATTERN;

export const spec = defineCommand({
  name: 'run',
  summary:
    "Send a Command document to an agency's nodes, or to a tag target inside the hub; follow it live and end with one row per node. Exit 1 if any node failed.",
  usage: [
    '--document NAME --agency 111111111111 [--parameter NAME=VALUE]… [options]',
    '--document NAME --target tag:KEY=VALUE[,VALUE] [--agency …] [options]',
  ],
  options: [
    text('document', {
      arg: 'NAME',
      help: 'Command document name or ARN (such as AWS-RunShellScript)',
      check: (flag: string, value: string): string => {
        if (!DOCUMENT_NAME.test(value))
          throw new UsageError(`--${flag}: "${value}" is not a document name (3-128 letters, digits, _ . -) or ARN`);
        return value;
      },
    }),
    list('agency', {
      arg: 'ACCOUNT,…',
      help: "send to these agencies' nodes (the ownership tag's values)",
      check: v.accountIds,
    }),
    repeatable('target', {
      arg: 'KEY=V1,V2',
      help: 'also require tag:KEY=values, tag-key=KEY or InstanceIds=mi-… (hub nodes only); ANDed with ownership',
    }),
    repeatable('parameter', { arg: 'NAME=VALUE', help: 'a document parameter (never a secret: commands keep them)' }),
    textWithDefault('max-concurrency', { arg: 'N|N%', help: 'nodes running at once', default: '50' }),
    textWithDefault('max-errors', { arg: 'N|N%', help: 'failed nodes after which SSM stops sending', default: '0' }),
    text('comment', { arg: 'TEXT', help: 'comment stored with the command (at most 100 characters)' }),
    timeoutOption('command'),
    ...AWS_OPTIONS,
  ],
  notes: [
    'The first target is always the ownership tag the agency activations stamp, so a run reaches only hub nodes.',
  ],
});

const TERMINAL = new Set(['Success', 'Cancelled', 'Failed', 'TimedOut']);

export interface NodeResult {
  node: string;
  ec2InstanceId: string;
  agency: string;
  status: string;
  exitCode?: number;
  output: string;
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

async function invocations(clients: Clients, region: string, commandId: string): Promise<CommandInvocation[]> {
  const all: CommandInvocation[] = [];
  const input = { CommandId: commandId, Details: true };
  for await (const page of paginateListCommandInvocations({ client: clients.ssm(region), pageSize: 50 }, input))
    all.push(...(page.CommandInvocations ?? []));
  return all;
}

/** Polls until the command is finished or the timeout passes; prints each node's changes. */
async function follow(ctx: Context, clients: Clients, region: string, commandId: string, timeoutMs: number) {
  const deadline = ctx.now().getTime() + timeoutMs;
  const seen = new Map<string, string>();
  for (;;) {
    const cmd = (await clients.ssm(region).send(new ListCommandsCommand({ CommandId: commandId }))).Commands?.[0];
    const list = await invocations(clients, region, commandId);
    for (const i of list) {
      const status = i.StatusDetails ?? i.Status ?? 'Unknown';
      if (seen.get(i.InstanceId ?? '') !== status) progress(ctx, `[${i.InstanceId}] ${status}`);
      seen.set(i.InstanceId ?? '', status);
    }
    const status = cmd?.Status ?? 'Unknown';
    if (TERMINAL.has(status)) return { status, list, timedOut: false };
    if (ctx.now().getTime() >= deadline) return { status, list, timedOut: true };
    await ctx.sleep(ctx.pollMs);
  }
}

export function reportRun(
  ctx: Context,
  r: { commandId: string; status: string; results: NodeResult[]; json: boolean; timedOut: boolean },
): number {
  const failed = r.results.filter((x) => x.status !== 'Success');
  const ok = !r.timedOut && r.results.length > 0 && failed.length === 0;
  if (r.json) {
    const { json: _j, ...doc } = r;
    ctx.stdout(`${JSON.stringify({ ...doc, failed: failed.length }, null, 2)}\n`);
    return ok ? EXIT.ok : EXIT.failed;
  }
  const rows = r.results.map((x) => [
    x.node,
    x.ec2InstanceId || '-',
    x.agency || '-',
    x.status,
    x.exitCode === undefined ? '-' : String(x.exitCode),
    outputPreview(x.output),
  ]);
  ctx.stdout(`${table(['node', 'EC2 instance', 'agency', 'status', 'exit', 'output'], rows)}\n\n`);
  ctx.stdout(
    `command ${r.commandId}: ${r.status}; ${r.results.length - failed.length} succeeded, ${failed.length} failed\n`,
  );
  if (!r.results.length) ctx.stdout('no node matched the target\n');
  if (r.timedOut)
    ctx.stdout(`still running: follow it with aws ssm list-command-invocations --command-id ${r.commandId}\n`);
  return ok ? EXIT.ok : EXIT.failed;
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o) => {
    if (!o.document) throw new UsageError('--document is required');
    const maxConcurrency = rateCheck(MAX_CONCURRENCY_PATTERN, '10 or 10%')('max-concurrency', o['max-concurrency']);
    const maxErrors = rateCheck(MAX_ERRORS_PATTERN, '0, 1 or 5%')('max-errors', o['max-errors']);
    if (o.comment && o.comment.length > 100) throw new UsageError('--comment: at most 100 characters');
    const parsed = o.target.map(parseTarget);
    const parameters: Record<string, string[]> = {};
    for (const p of parseAssignments('--parameter', o.parameter)) (parameters[p.name] ??= []).push(p.value);
    const { config } = loadConfig(ctx, o.config);
    const keys = fleetKeys(config.reservedTagPrefix);
    const region = await resolveRegion(ctx, o.region, o.profile);
    const clients = makeClients(ctx, o.profile);
    runTargets(keys, o.agency, parsed); // bad input is refused before any AWS call
    const nodes = await readHubNodes(clients, region, keys, o.agency);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const Targets: Target[] = runTargets(keys, o.agency, parsed, new Set(byId.keys()));
    const sent = await clients.ssm(region).send(
      new SendCommandCommand({
        DocumentName: o.document,
        Targets,
        Parameters: parameters,
        MaxConcurrency: maxConcurrency,
        MaxErrors: maxErrors,
        Comment: o.comment ?? 'ssm-hub run',
      }),
    );
    const commandId = sent.Command?.CommandId;
    if (!commandId) throw new OperationError('SendCommand returned no CommandId');
    progress(ctx, `command ${commandId} sent to ${JSON.stringify(Targets)}`);
    const done = await follow(ctx, clients, region, commandId, o['timeout-minutes'] * 60_000);
    const results = done.list.map((i) => nodeResult(i, byId)).sort((a, b) => (a.node < b.node ? -1 : 1));
    return reportRun(ctx, { commandId, status: done.status, results, json: o.json, timedOut: done.timedOut });
  });
}
