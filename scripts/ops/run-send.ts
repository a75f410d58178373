// Sending a command exactly once. SendCommand has no idempotency token, so a retried timeout would
// create a second command that runs on every node again: it goes out through the single-attempt
// SSM client. Throttling (a 400: not processed) is retried here with backoff. An ambiguous failure
// (timeout, network error, 5xx) may still have created the command, so the command carries a unique
// token in its Comment and is looked up by it (ListCommands, InvokedAfter); not found, the run stops
// and says how to check before running again.
import { randomBytes } from 'node:crypto';
import { paginateListCommands, SendCommandCommand, type SendCommandCommandInput } from '@aws-sdk/client-ssm';
import { OperationError, progress, type Context } from '../kit/index.ts';
import { SEND_COMMAND_LIMITS } from '../../contract/run-command.ts';
import { failureKind } from './aws-errors.ts';
import type { Clients } from './aws.ts';

/** Throttled SendCommand attempts before giving up (each waits 2, 4, … s first). */
export const SEND_THROTTLE_ATTEMPTS = 4;
/** Lookups of an ambiguous SendCommand by its comment, a poll apart (ListCommands is eventually consistent). */
export const LOOKUPS = 3;
const TOKEN_PREFIX = 'ssm-hub run ';
/** Characters the token suffix takes in the Comment: " [ssm-hub run 0123456789ab]". */
export const TOKEN_SUFFIX_LENGTH = ` [${TOKEN_PREFIX}${'0'.repeat(12)}]`.length;
/** What an operator may put in --comment: the rest of SendCommand's 100 characters hold the token. */
export const MAX_USER_COMMENT = SEND_COMMAND_LIMITS.commentLength - TOKEN_SUFFIX_LENGTH;

export const newToken = (): string => randomBytes(6).toString('hex');

/** The command's Comment: the operator's text (if any) and the run's unique token. */
export function tokenComment(token: string, comment: string | undefined): string {
  return comment ? `${comment} [${TOKEN_PREFIX}${token}]` : `${TOKEN_PREFIX}${token}`;
}

/**
 * What a failed SendCommand means: `throttled` (400 ThrottlingException: not processed, retry),
 * `ambiguous` (no answer, a network error or a 5xx: SSM may have created it), or `refused` (any
 * other answer, such as a 400 validation error or access denied: not created). Pure.
 */
export function sendFailure(err: unknown): 'throttled' | 'ambiguous' | 'refused' {
  const kind = failureKind(err);
  if (kind === 'throttled') return 'throttled';
  const e = err as { $fault?: string; $metadata?: { httpStatusCode?: number } };
  if (kind === 'unreachable' || e?.$fault === 'server' || (e?.$metadata?.httpStatusCode ?? 0) >= 500)
    return 'ambiguous';
  return 'refused';
}

/** The command may exist in SSM or not: the operator must check before running again. */
export class SendUncertainError extends OperationError {
  override readonly name: string = 'SendUncertainError';
  constructor(
    readonly comment: string,
    readonly since: string,
    readonly check: string,
    reason: string,
  ) {
    super(
      `SendCommand got no clear answer (${reason}) and no command with the comment "${comment}" was found: ` +
        `the command may still have reached SSM. Before running again, check: ${check}`,
    );
  }
}

/**
 * The lookup's InvokedAfter value: five minutes before `now`, in whole seconds, as the SSM API
 * reference's example writes it (ListCommands, CommandFilter: `2021-07-07T00:00:00Z`). Pure.
 */
export const invokedAfter = (now: Date): string =>
  new Date(Math.floor(now.getTime() / 1000) * 1000 - 5 * 60_000).toISOString().replace('.000Z', 'Z');

export const listCheck = (region: string, since: string, comment: string): string =>
  `aws ssm list-commands --region ${region} --filters key=InvokedAfter,value=${since} ` +
  `--query "Commands[?Comment=='${comment}'].[CommandId,Status]"`;

/** The ID of the command with this comment sent after `since`, if SSM lists one. */
async function findByComment(ctx: Context, clients: Clients, region: string, comment: string, since: string) {
  for (let i = 0; i < LOOKUPS; i++) {
    if (i) await ctx.sleep(ctx.pollMs);
    try {
      const input = { Filters: [{ key: 'InvokedAfter' as const, value: since }] };
      for await (const page of paginateListCommands({ client: clients.ssm(region), pageSize: 50 }, input)) {
        const hit = (page.Commands ?? []).find((c) => c.Comment === comment && c.CommandId);
        if (hit) return hit.CommandId!;
      }
    } catch (err) {
      progress(ctx, `looking for the command (${comment}) failed: ${(err as Error).message}`);
    }
  }
  return undefined;
}

/** Sends one command, never twice; returns its ID, or throws (SendUncertainError when it may exist). */
export async function sendOnce(
  ctx: Context,
  clients: Clients,
  region: string,
  input: SendCommandCommandInput & { Comment: string },
): Promise<string> {
  // A little before now: the lookup must not miss the command over clock skew (the token is unique).
  const since = invokedAfter(ctx.now());
  for (let attempt = 1; ; attempt++) {
    let id: string | undefined;
    try {
      id = (await clients.ssmSingleAttempt(region).send(new SendCommandCommand(input))).Command?.CommandId;
    } catch (err) {
      const kind = sendFailure(err);
      if (kind === 'throttled' && attempt < SEND_THROTTLE_ATTEMPTS) {
        progress(ctx, `SendCommand throttled (not processed): trying again in ${2 ** attempt} s`);
        await ctx.sleep(2 ** attempt * 1000);
        continue;
      }
      if (kind !== 'ambiguous') throw err;
      const reason = (err as Error).message;
      progress(
        ctx,
        `SendCommand got no clear answer (${reason}): looking for the command by its comment "${input.Comment}"`,
      );
      const found = await findByComment(ctx, clients, region, input.Comment, since);
      if (found) return found;
      throw new SendUncertainError(
        input.Comment,
        since,
        listCheck(region, since, input.Comment),
        (err as Error).message,
      );
    }
    if (!id) throw new OperationError('SendCommand returned no CommandId');
    return id;
  }
}
