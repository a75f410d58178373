// `ssm-hub run`: sends a Command document to an agency's nodes, or to a tag target inside the hub,
// follows it until every node has finished, and prints one row per node. Plan (targets checked,
// no AWS call), preview (the account and Region, the document, the targets and the hub nodes they
// reach; --dry-run stops here), confirmation (--yes without a terminal), then per group of agencies
// in turn: send (once), follow to its end; report.
import { defaultContext, defineCommand, EXIT, flag, integer, list, progress, repeatable } from '../kit/index.ts';
import { requireConfirmable, runCommand, text, textWithDefault, UsageError, type Context } from '../kit/index.ts';
import type { Values } from '../kit/index.ts';
import * as v from '../kit/validate.ts';
import { MAX_CONCURRENCY_PATTERN, MAX_ERRORS_PATTERN } from '../../contract/patterns.ts';
import { RATE_CONTROL_MAX_LENGTH, SEND_COMMAND_TIMEOUT_SECONDS } from '../../contract/run-command.ts';
import { DOCUMENT_NAME_OR_ARN_PATTERN } from '../../contract/patterns.ts';
import { callerAccount, makeClients, resolveRegion, type Clients } from './aws.ts';
import { AWS_OPTIONS, loadConfig, timeoutOption } from './common.ts';
import { fleetKeys, readHubNodes, type FleetKeys, type HubNode } from './fleet.ts';
import { parseTarget, planBatches, type RunBatch } from './run-targets.ts';
import { countNodes, printPreview, verifyNodeIds, type RunPreview } from './run-preview.ts';
import { follow, reportRun, stopAfter, type CommandResult, type RunOutcome } from './run-report.ts';
import { MAX_USER_COMMENT, newToken, SendUncertainError, sendOnce, tokenComment } from './run-send.ts';
import { announceTarget } from './preview.ts';
import { parseAssignments } from './generated.ts';

export { nodeResult, outputPreview, reportRun, type NodeResult } from './run-report.ts';

/** A rate control: SSM's pattern and its 7-character limit (SSM API reference, SendCommand). Pure. */
export const rateCheck = (pattern: string, example: string) => (flag: string, value: string) => {
  if (value.length > RATE_CONTROL_MAX_LENGTH)
    throw new UsageError(`--${flag}: "${value}" is too long (SSM takes at most ${RATE_CONTROL_MAX_LENGTH} characters)`);
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
    '--document NAME --agency 111111111111 [--parameter NAME=VALUE]… [--yes | --dry-run] [options]',
    '--document NAME --target tag:KEY=VALUE[,VALUE] [--agency …] [--yes | --dry-run] [options]',
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
      help: "send to these agencies' nodes (the ownership tag's values; one command per 5 agencies, sent in turn)",
      check: v.accountIds,
    }),
    repeatable('target', {
      arg: 'KEY=V1,V2',
      help: 'also require tag:KEY=values or tag-key=KEY (ANDed with ownership; at most 5 values), or give InstanceIds=mi-… alone',
    }),
    repeatable('parameter', { arg: 'NAME=VALUE', help: 'a document parameter (never a secret: commands keep them)' }),
    textWithDefault('max-concurrency', { arg: 'N|N%', help: 'nodes running at once (per command)', default: '50' }),
    textWithDefault('max-errors', {
      arg: 'N|N%',
      help: 'failed nodes a command allows (Failed or Execution Timed Out, as SSM counts them; per command; beyond it, SSM stops sending and later groups are not sent)',
      default: '0',
    }),
    integer('timeout-seconds', {
      help: "SendCommand's TimeoutSeconds: a node that has not started the command by then never runs it (SSM reports an offline node after this plus the document's execution timeout)",
      ...SEND_COMMAND_TIMEOUT_SECONDS,
      defaultText: "SSM's own",
    }),
    text('comment', { arg: 'TEXT', help: `comment stored with the command (at most ${MAX_USER_COMMENT} characters)` }),
    flag('yes', 'send without asking (required without a terminal)'),
    flag('dry-run', 'show the account, Region, document, targets and matching nodes; send nothing'),
    timeoutOption('command'),
    ...AWS_OPTIONS,
  ],
  notes: [
    'The first target is always the ownership tag the agency activations stamp, so a run reaches only hub nodes.',
    'Node IDs (InstanceIds) are sent alone, and only after SSM confirms each is a node of the agencies named.',
  ],
});

interface RunPlan {
  document: string;
  maxConcurrency: string;
  maxErrors: string;
  timeoutSeconds?: number;
  comment?: string;
  parameters: Map<string, string[]>;
  batches: RunBatch[];
}

type Options = Values<typeof spec.options>;

/** Everything checked before any AWS call. `__proto__` and `constructor` are ordinary parameter names. */
function plan(o: Options, keys: FleetKeys): RunPlan {
  if (!o.document) throw new UsageError('--document is required');
  const maxConcurrency = rateCheck(MAX_CONCURRENCY_PATTERN, '10 or 10%')('max-concurrency', o['max-concurrency']);
  const maxErrors = rateCheck(MAX_ERRORS_PATTERN, '0, 1 or 5%')('max-errors', o['max-errors']);
  if (o.comment && o.comment.length > MAX_USER_COMMENT)
    throw new UsageError(`--comment: at most ${MAX_USER_COMMENT} characters (SendCommand's 100, less the run's token)`);
  const parameters = new Map<string, string[]>();
  for (const p of parseAssignments('--parameter', o.parameter))
    parameters.set(p.name, [...(parameters.get(p.name) ?? []), p.value]);
  const batches = planBatches(keys, o.agency, o.target.map(parseTarget));
  const timeoutSeconds = o['timeout-seconds'];
  return { document: o.document, maxConcurrency, maxErrors, timeoutSeconds, comment: o.comment, parameters, batches };
}

function preview(region: string, account: string, p: RunPlan, nodes: HubNode[]): RunPreview {
  const agencies = countNodes(p.batches, nodes);
  const extra = p.batches[0]?.kind === 'tags' ? p.batches[0].targets.slice(1) : [];
  return {
    account,
    region,
    document: p.document,
    parameterNames: [...p.parameters.keys()],
    maxConcurrency: p.maxConcurrency,
    maxErrors: p.maxErrors,
    commands: p.batches,
    agencies,
    nodes: agencies.reduce((n, a) => n + a.nodes, 0),
    narrowedBy: extra.map((t) => `${t.Key}=${(t.Values ?? []).join(',')}`),
  };
}

/** Sends one group's command, once; returns its ID. */
async function sendBatch(ctx: Context, clients: Clients, region: string, p: RunPlan, b: RunBatch): Promise<string> {
  const where = b.kind === 'nodes' ? { InstanceIds: b.instanceIds } : { Targets: b.targets };
  const Comment = tokenComment(newToken(), p.comment);
  const id = await sendOnce(ctx, clients, region, {
    DocumentName: p.document,
    ...where,
    Parameters: Object.fromEntries(p.parameters),
    Comment,
    MaxConcurrency: p.maxConcurrency,
    MaxErrors: p.maxErrors,
    ...(p.timeoutSeconds !== undefined ? { TimeoutSeconds: p.timeoutSeconds } : {}),
  });
  progress(ctx, `command ${id} sent to ${JSON.stringify(b.kind === 'nodes' ? b.instanceIds : b.targets)}`);
  return id;
}

/**
 * Sends the groups one after another: each command is followed to its end before the next is sent,
 * so --max-concurrency and --max-errors hold for each group in turn, and a group that fails beyond
 * --max-errors (or does not finish in time) stops the rest, which are reported as not sent. A
 * failure keeps the finished commands' results in the report.
 */
async function sendAndFollow(ctx: Context, clients: Clients, region: string, p: RunPlan, o: Options, nodes: HubNode[]) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const deadline = ctx.now().getTime() + o['timeout-minutes'] * 60_000;
  const done: CommandResult[] = [];
  const total = p.batches.length;
  const after = (i: number) => p.batches.slice(i).map((batch, k) => ({ command: i + k + 1, batch }));
  const outcome = (extra: Partial<RunOutcome>): RunOutcome => ({ done, running: [], unsent: [], total, ...extra });
  for (const [i, b] of p.batches.entries()) {
    let id: string;
    try {
      id = await sendBatch(ctx, clients, region, p, b);
    } catch (err) {
      if (!done.length && !(err instanceof SendUncertainError)) throw err;
      // An unclear send may have created this group's command: it is not listed as unsent.
      const unsent = after(err instanceof SendUncertainError ? i + 1 : i);
      return reportRun(ctx, region, outcome({ unsent, error: err }), o.json);
    }
    try {
      done.push(await follow(ctx, clients, region, id, deadline, byId));
    } catch (err) {
      return reportRun(ctx, region, outcome({ running: [id], unsent: after(i + 1), error: err }), o.json);
    }
    const stopped = i + 1 < total ? stopAfter(done[done.length - 1]!, p.maxErrors) : undefined;
    if (stopped) return reportRun(ctx, region, outcome({ unsent: after(i + 1), stopped }), o.json);
  }
  return reportRun(ctx, region, outcome({}), o.json);
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o) => {
    const { config } = loadConfig(ctx, o.config);
    const keys = fleetKeys(config.reservedTagPrefix);
    const p = plan(o, keys); // bad input is refused before any AWS call
    const dryRun = o['dry-run'];
    if (!dryRun) requireConfirmable(ctx, o.yes, 'run sends a command to production nodes');
    const region = await resolveRegion(ctx, o.region, o.profile);
    const clients = makeClients(ctx, o.profile);
    const account = await callerAccount(clients, region);
    announceTarget(
      ctx,
      account,
      region,
      `${dryRun ? 'dry run: ' : ''}run ${p.document}${dryRun ? ' (nothing is sent)' : ''}`,
    );
    const nodes = await readHubNodes(clients, region, keys, o.agency);
    for (const b of p.batches) if (b.kind === 'nodes') await verifyNodeIds(clients, region, keys, b);
    const shown = preview(region, account, p, nodes);
    printPreview(ctx, shown, dryRun, o.json);
    if (dryRun) return EXIT.ok;
    if (!shown.nodes) {
      progress(ctx, 'no hub node matches: nothing sent');
      return EXIT.failed;
    }
    const question = `Send ${p.document} to these ${shown.nodes} nodes (${p.batches.length} command${p.batches.length === 1 ? '' : 's'})?`;
    if (!o.yes && !(await ctx.confirm!(question))) {
      progress(ctx, 'declined: nothing sent');
      return EXIT.ok;
    }
    return sendAndFollow(ctx, clients, region, p, o, nodes);
  });
}
