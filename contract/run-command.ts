// Run Command limits `ssm-hub run` keeps, each with the document that sets it. A file of its own:
// no Lambda imports it, so the bundles inside the templates do not change with it.

/**
 * SendCommand (SSM API reference, SendCommand): at most 5 Targets; InstanceIds at most 50; Comment at
 * most 100 characters. Tag targets: "You can specify a maximum of 5 keys, and 5 values for each key"
 * (Run Command user guide, "Run commands at scale"); the API reference's Target.Values allows 50
 * but says the maximum "might be lower" for some target types, so the lower number is kept.
 */
export const SEND_COMMAND_LIMITS = {
  targets: 5,
  valuesPerTagKey: 5,
  instanceIds: 50,
  commentLength: 100,
} as const;

/** ListCommandInvocations: MaxResults 1–50 (SSM API reference), the page `run` reads the nodes with. */
export const LIST_COMMAND_INVOCATIONS_MAX_RESULTS = 50;

/** MaxConcurrency and MaxErrors: 1-7 characters (SSM API reference, SendCommand, Length Constraints), beside their patterns in patterns.ts. */
export const RATE_CONTROL_MAX_LENGTH = 7;

/**
 * SendCommand TimeoutSeconds: "If this time is reached and the command hasn't already started
 * running, it won't run" (SSM API reference, SendCommand); its Valid Range there is 30 to 2,592,000
 * seconds (30 days). The SDK's model (installed) carries the sentence but not the range, which was
 * not re-read for this change. Here, beside the other SendCommand limits, as no Lambda imports this file.
 */
export const SEND_COMMAND_TIMEOUT_SECONDS = { min: 30, max: 2_592_000 } as const;

/**
 * What one node's command invocation came to, as SSM counts it:
 * - `failed` is what counts against MaxErrors and in the Command's ErrorCount ("the number of
 *   targets for which the status is Failed or Execution Timed Out", SSM API reference, Command);
 * - `undelivered`: Delivery Timed Out or Undeliverable, which "don't count against the parent
 *   command's MaxErrors limit" (SSM API reference, CommandInvocation StatusDetails);
 * - `terminated`: "The parent command exceeded its MaxErrors limit and subsequent command
 *   invocations were canceled by the system"; `cancelled`: "terminated before it was completed";
 * - `unfinished`: Pending, In Progress, Delayed (not a terminal state; the run stopped following).
 */
export type InvocationOutcome = 'success' | 'failed' | 'undelivered' | 'terminated' | 'cancelled' | 'unfinished';

export const INVOCATION_OUTCOMES: readonly InvocationOutcome[] = [
  'success',
  'failed',
  'undelivered',
  'terminated',
  'cancelled',
  'unfinished',
];

/**
 * Every StatusDetails value of a CommandInvocation (SSM API reference, CommandInvocation
 * StatusDetails: Pending, In Progress, Success, Delivery Timed Out, Execution Timed Out, Failed,
 * Cancelled, Undeliverable, Terminated, Delayed). The API answers them without spaces
 * (`DeliveryTimedOut`, `ExecutionTimedOut`), so they are compared without spaces or case.
 */
const OUTCOME_BY_DETAILS: Readonly<Record<string, InvocationOutcome>> = {
  pending: 'unfinished',
  inprogress: 'unfinished',
  delayed: 'unfinished',
  success: 'success',
  failed: 'failed',
  executiontimedout: 'failed',
  deliverytimedout: 'undelivered',
  undeliverable: 'undelivered',
  terminated: 'terminated',
  cancelled: 'cancelled',
  canceled: 'cancelled',
};

/**
 * Status (CommandInvocationStatus: Pending, InProgress, Delayed, Success, Cancelled, Cancelling,
 * TimedOut, Failed), read only when StatusDetails is missing or unknown. TimedOut cannot tell a
 * delivery timeout from an execution timeout, so it counts as failed, the stricter reading.
 */
const OUTCOME_BY_STATUS: Readonly<Record<string, InvocationOutcome>> = {
  pending: 'unfinished',
  inprogress: 'unfinished',
  delayed: 'unfinished',
  cancelling: 'unfinished',
  success: 'success',
  cancelled: 'cancelled',
  timedout: 'failed',
  failed: 'failed',
};

const key = (s: string | undefined) => (s ?? '').replace(/\s+/g, '').toLowerCase();

/** One invocation's outcome from its Status and StatusDetails; anything unrecognised counts as failed. Pure. */
export function invocationOutcome(status: string | undefined, statusDetails: string | undefined): InvocationOutcome {
  return (
    (Object.hasOwn(OUTCOME_BY_DETAILS, key(statusDetails)) ? OUTCOME_BY_DETAILS[key(statusDetails)] : undefined) ??
    (Object.hasOwn(OUTCOME_BY_STATUS, key(status)) ? OUTCOME_BY_STATUS[key(status)] : undefined) ??
    'failed'
  );
}
