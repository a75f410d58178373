// `ssm-hub deploy`: creates or updates the central-manager stack through a change set. It shows
// the change set as a table (resource, action, replacement), asks for confirmation (--yes skips
// it; without a terminal --yes is required), executes it and follows the stack's events live.
// --dry-run compares from read-only calls and changes nothing.
import { DeleteChangeSetCommand, DeleteStackCommand, GetTemplateSummaryCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeStackEventsCommand,
  ExecuteChangeSetCommand,
  GetTemplateCommand,
} from '@aws-sdk/client-cloudformation';
import { type CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { callerAccount, makeClients, resolveRegion } from './aws.ts';
import { defaultContext, defineCommand, EXIT, flag, OperationError, progress, repeatable } from '../kit/index.ts';
import { errorText, requireConfirmable, runCommand, table, text, UsageError, type Context } from '../kit/index.ts';
import * as v from '../kit/validate.ts';
import { AWS_OPTIONS, GENERATED_DIR_OPTION, generatedDir, loadConfig, templateUrlOption } from './common.ts';
import { timeoutOption } from './common.ts';
import { checkParameter, parseAssignments, readManifest, readTemplate, templateBodyOrUrl } from './generated.ts';
import { announceTarget, previewStack, printStackPreviews } from './preview.ts';
import { changeSetRows, createChangeSet, describeStack, operationToken, stackToChange } from './stacks.ts';
import { type ChangeSetRef, type DeployInput } from './stacks.ts';
import { ALLOW_REPLACEMENT_FLAG, allowReplacementOption, isDestructive, retentionOf } from './change-risk.ts';
import { statefulRisks, type ChangeRow, type Retention } from './change-risk.ts';

export const spec = defineCommand({
  name: 'deploy',
  summary: 'Create or update the central-manager stack through a change set: show it, ask, execute, follow the events.',
  usage: ['--template-url https://…/central-manager.json [--param AlarmEmail=ops@example.org] [--yes] [options]'],
  options: [
    templateUrlOption(
      'published central-manager template (from `publish`); needed when the local build exceeds the TemplateBody limit',
    ),
    text('stack-name', {
      arg: 'NAME',
      help: 'central stack name',
      check: v.stackName,
      defaultText: '<namePrefix>-central-manager',
    }),
    repeatable('param', { arg: 'NAME=VALUE', help: 'a central-manager parameter, e.g. AlarmEmail=ops@example.org' }),
    flag('yes', 'execute without asking (required without a terminal)'),
    allowReplacementOption(
      "a stateful resource (table, key, log group, queue, or one the stack's template retains)",
      ', even with --yes',
    ),
    flag('dry-run', 'show the stack, parameter and resource changes from read-only calls; change nothing'),
    timeoutOption('stack'),
    GENERATED_DIR_OPTION,
    ...AWS_OPTIONS,
  ],
  notes: [
    'Without --template-url the local generated/templates/central-manager.json is sent as TemplateBody, which only works while it fits in 51,200 bytes.',
  ],
});

/** The local template when it is the one at the URL (same sha256 in the key), for a resource-level dry run. */
function localTwin(gen: string, url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const artifact = readManifest(gen).find((a) => a.path === 'templates/central-manager.json');
    return artifact && url.includes(`/${artifact.sha256}/`) ? readTemplate(gen, 'central-manager').body : undefined;
  } catch {
    return undefined;
  }
}

/** Prints each new event of this operation (they carry its ClientRequestToken) as it appears, until the stack settles. */
async function followEvents(
  ctx: Context,
  cfn: CloudFormationClient,
  stackId: string,
  token: string,
  timeoutMs: number,
) {
  const seen = new Set<string>();
  const deadline = ctx.now().getTime() + timeoutMs;
  for (;;) {
    const status = (await describeStack(cfn, stackId))?.StackStatus ?? 'DELETE_COMPLETE';
    const out = await cfn.send(new DescribeStackEventsCommand({ StackName: stackId }));
    const fresh = (out.StackEvents ?? []).filter((e) => e.ClientRequestToken === token && !seen.has(e.EventId ?? ''));
    for (const e of fresh.reverse()) {
      seen.add(e.EventId ?? '');
      const reason = e.ResourceStatusReason ? `  ${e.ResourceStatusReason}` : '';
      progress(ctx, `${e.Timestamp?.toISOString() ?? ''}  ${e.LogicalResourceId}  ${e.ResourceStatus}${reason}`);
    }
    if (!status.endsWith('_IN_PROGRESS')) return status;
    if (ctx.now().getTime() > deadline) return `TIMED_OUT (last status ${status})`;
    await ctx.sleep(ctx.pollMs);
  }
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o) => {
    const { names } = loadConfig(ctx, o.config);
    if (!o['dry-run']) requireConfirmable(ctx, o.yes, 'deploy changes the central stack');
    const gen = generatedDir(ctx, o['generated-dir']);
    const url = o['template-url'];
    const template = templateBodyOrUrl(gen, 'central-manager', url);
    const local = url ? undefined : readTemplate(gen, 'central-manager').json;
    const assignments = parseAssignments('--param', o.param);
    if (local)
      for (const { name, value } of assignments) checkParameter('--param', 'central-manager', local, name, value);
    // fromEntries defines own keys: a name such as __proto__ stays a parameter name, not a prototype.
    const parameters: Record<string, string> = Object.fromEntries(assignments.map((a) => [a.name, a.value]));
    const stackName = o['stack-name'] ?? names.centralStackName;
    const region = await resolveRegion(ctx, o.region, o.profile);
    const clients = makeClients(ctx, o.profile);
    const cfn = clients.cloudformation(region);
    const caller = await callerAccount(clients, region);
    if (o['dry-run']) {
      announceTarget(ctx, caller, region, `dry run: deploy of ${stackName} (nothing is changed)`);
      const twin = localTwin(gen, url);
      const preview = await previewStack(cfn, stackName, twin ? { TemplateBody: twin } : template, parameters);
      if (o.json) ctx.stdout(`${JSON.stringify({ dryRun: true, account: caller, region, stack: preview }, null, 2)}\n`);
      else printStackPreviews(ctx, [preview]);
      return EXIT.ok;
    }
    announceTarget(ctx, caller, region, `deploying ${stackName}`);
    const declared = local ? Object.keys(local.Parameters ?? {}) : await declaredByUrl(cfn, url!, parameters);
    return deploy(
      ctx,
      cfn,
      {
        stackName,
        template,
        parameters,
        templateParameters: declared,
        capabilities: ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM'],
        description: 'ssm-hub deploy central-manager',
        timeoutMs: o['timeout-minutes'] * 60_000,
      },
      { yes: o.yes, json: o.json, allowReplacement: o['allow-replacement'] },
    );
  });
}

/**
 * The parameters the published template declares (GetTemplateSummary, API reference: "Parameters"
 * of the template at TemplateURL), so an update keeps only those with UsePreviousValue and a
 * --param it does not declare is refused before any change.
 */
async function declaredByUrl(cfn: CloudFormationClient, url: string, given: Record<string, string>) {
  const summary = await cfn.send(new GetTemplateSummaryCommand({ TemplateURL: url }));
  const declared = (summary.Parameters ?? []).flatMap((p) => (p.ParameterKey ? [p.ParameterKey] : []));
  for (const name of Object.keys(given))
    if (!declared.includes(name))
      throw new UsageError(`--param: the template at --template-url has no parameter ${name}`);
  return declared;
}

interface DeployFlags {
  yes: boolean;
  json: boolean;
  allowReplacement: boolean;
}

/**
 * A stack left in ROLLBACK_COMPLETE / ROLLBACK_FAILED by a failed creation must be deleted before
 * it can be created again: shown as the first step and done only once confirmed (false: declined).
 */
async function confirmRecreate(ctx: Context, cfn: CloudFormationClient, stackName: string, yes: boolean) {
  const status = (await describeStack(cfn, stackName))?.StackStatus;
  if (status !== 'ROLLBACK_COMPLETE' && status !== 'ROLLBACK_FAILED') return true;
  progress(
    ctx,
    `step 1 of 2: ${stackName} is ${status} (its creation failed): it is deleted first, then created again through a change set (step 2, shown and asked separately)`,
  );
  return yes || (await ctx.confirm!(`Delete the failed stack ${stackName} (${status})?`));
}

async function deploy(ctx: Context, cfn: CloudFormationClient, input: DeployInput, flags: DeployFlags) {
  const { stackName } = input;
  const { json } = flags;
  const log = (line: string) => progress(ctx, `${stackName}: ${line}`);
  if (!(await confirmRecreate(ctx, cfn, stackName, flags.yes)))
    return report(ctx, json, { stackName, result: 'declined', changes: [] });
  const target = await stackToChange(ctx, cfn, input, log);
  if ('outcome' in target) throw new OperationError(`${stackName}: ${target.outcome.detail}`);
  const ref = await createChangeSet(ctx, cfn, input, target.stack, log);
  if ('outcome' in ref) {
    if (ref.outcome.result === 'failed') throw new OperationError(`${stackName}: ${ref.outcome.detail}`);
    return report(ctx, json, { stackName, result: 'up-to-date', changes: [] });
  }
  const changes = await changeSetRows(cfn, ref.changeSetId, stackName);
  const retention = await deployedRetention(cfn, ref, changes);
  if (!showChangeSet(ctx, stackName, ref, { changes, retention }, flags.allowReplacement)) {
    report(ctx, json, { stackName, result: 'refused', changes });
    return EXIT.failed;
  }
  if (!flags.yes && !(await ctx.confirm!(`Execute this change set on ${stackName}?`))) {
    await cfn.send(new DeleteChangeSetCommand({ ChangeSetName: ref.changeSetId, StackName: stackName }));
    // A CREATE change set leaves an empty REVIEW_IN_PROGRESS stack; remove it with the change set.
    if (ref.type === 'CREATE') await cfn.send(new DeleteStackCommand({ StackName: ref.stackId }));
    return report(ctx, json, { stackName, result: 'declined', changes });
  }
  const token = operationToken();
  await cfn.send(
    new ExecuteChangeSetCommand({ ChangeSetName: ref.changeSetId, StackName: stackName, ClientRequestToken: token }),
  );
  const status = await followEvents(ctx, cfn, ref.stackId, token, input.timeoutMs).catch((err: unknown) => {
    throw new OperationError(
      `${stackName}: the change set was executed, but following the stack failed (${errorText(err)}); the stack may still be changing: check with aws cloudformation describe-stacks --stack-name ${stackName}`,
    );
  });
  const ok = status === 'CREATE_COMPLETE' || status === 'UPDATE_COMPLETE';
  report(ctx, json, {
    stackName,
    result: ok ? (ref.type === 'CREATE' ? 'created' : 'updated') : 'failed',
    status,
    changes,
  });
  return ok ? EXIT.ok : EXIT.failed;
}

/** The deployed template's retention policies, read (GetTemplate, Original stage) only when an update destroys something. */
async function deployedRetention(cfn: CloudFormationClient, ref: ChangeSetRef, changes: ChangeRow[]) {
  if (ref.type !== 'UPDATE' || !changes.some(isDestructive)) return new Map() as Retention;
  const out = await cfn.send(new GetTemplateCommand({ StackName: ref.stackId, TemplateStage: 'Original' }));
  return retentionOf(out.TemplateBody);
}

/**
 * Prints the change set, with every replacement or removal of a resource that holds state called
 * out above the table; false when such a change is refused (no --allow-replacement, even with --yes).
 */
function showChangeSet(
  ctx: Context,
  stackName: string,
  ref: ChangeSetRef,
  { changes, retention }: { changes: ChangeRow[]; retention: Retention },
  allow: boolean,
) {
  const risks = statefulRisks(changes, retention);
  const callout = risks.map((r) => `WARNING: ${r.resource} (${r.type}) is ${r.effect}\n`).join('');
  const rows = changes.map((c) => [c.resource, c.type, c.action, c.replacement]);
  const head = table(['resource', 'type', 'action', 'replacement'], rows);
  progress(ctx, `${callout}${ref.type} change set for ${stackName}:\n${head}`);
  if (!risks.length || allow) return true;
  progress(
    ctx,
    `${stackName}: not executed: the change set replaces or removes ${risks.map((r) => r.resource).join(', ')}; ` +
      `run again with --${ALLOW_REPLACEMENT_FLAG} to execute such a change. The change set is left for inspection: ` +
      `aws cloudformation describe-change-set --stack-name ${stackName} --change-set-name ${ref.changeSetId} ` +
      `(remove it with aws cloudformation delete-change-set and the same arguments)`,
  );
  return false;
}

function report(
  ctx: Context,
  json: boolean,
  r: { stackName: string; result: string; status?: string; changes: unknown[] },
) {
  if (json) ctx.stdout(`${JSON.stringify(r, null, 2)}\n`);
  else ctx.stdout(`${r.stackName}: ${r.result}${r.status ? ` (${r.status})` : ''}\n`);
  return EXIT.ok;
}
