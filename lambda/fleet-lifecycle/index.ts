// Fleet lifecycle (central account): the orphan sweep and agency membership by OU. EventBridge
// schedules invoke it with a constant input naming the task; Organizations events (where they
// reach this account) start a membership pass at once.
import { emitMetrics, log } from '../shared/log.ts';
import { HandlerError } from '../shared/errors.ts';
import { readConfig } from './config.ts';
import { runMembership } from './membership.ts';
import { runSweep } from './sweep.ts';

export { setLogSink } from '../shared/log.ts';

export class UnsupportedEventError extends HandlerError {
  override readonly name = 'UnsupportedEventError';
}

type Task = 'orphan-sweep' | 'membership';

/** Pure: the task an event asks for, or undefined. */
export function taskOf(event: unknown): Task | undefined {
  const e = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
  if (e.task === 'orphan-sweep' || e.task === 'membership') return e.task;
  if (e.source === 'aws.organizations') return 'membership';
  return undefined;
}

const accountOf = (arn: unknown): string => (typeof arn === 'string' ? (arn.split(':')[4] ?? '') : '');

export async function handler(event: unknown, context: { invokedFunctionArn?: string } = {}): Promise<unknown> {
  const cfg = readConfig();
  const task = taskOf(event);
  if (!task)
    throw new UnsupportedEventError(
      'unsupported event: expected {"task":"orphan-sweep"|"membership"} or an aws.organizations event',
    );
  const mode = task === 'orphan-sweep' ? cfg.sweepMode : cfg.membershipMode;
  if (mode === 'disabled') {
    log('INFO', `${task} is disabled; nothing done`, { task });
    emitMetrics(cfg.metricNamespace, { Service: 'FleetLifecycle' }, { DisabledRuns: { value: 1 } });
    return { task, disabled: true };
  }
  return task === 'orphan-sweep' ? runSweep(cfg) : runMembership(cfg, accountOf(context.invokedFunctionArn));
}
