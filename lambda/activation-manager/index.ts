// Central activation manager. One function, two callers:
//  - CloudFormation, for the Custom::AgencyActivation resource of each agency-permissions stack;
//  - EventBridge Scheduler/rules, for the periodic rotation ("Scheduled Event").
import type { CfnEventBase } from '../shared/cfn-response.ts';
import { handleCustomResource, type LambdaContextLike } from './custom-resource.ts';
import { runRotation, type RotationSummary } from './rotation.ts';
import { HandlerError } from '../shared/errors.ts';

function isCustomResourceEvent(event: unknown): event is CfnEventBase {
  const e = event as Partial<CfnEventBase> | null;
  return typeof e === 'object' && e !== null && typeof e.RequestType === 'string' && typeof e.ResponseURL === 'string';
}

function isScheduledEvent(event: unknown): boolean {
  const e = event as { source?: unknown; 'detail-type'?: unknown } | null;
  return typeof e === 'object' && e !== null && e.source === 'aws.events' && e['detail-type'] === 'Scheduled Event';
}

export class UnsupportedEventError extends HandlerError {
  override readonly name = 'UnsupportedEventError';
}

export async function handler(event: unknown, context: LambdaContextLike = {}): Promise<RotationSummary | void> {
  if (isCustomResourceEvent(event)) return handleCustomResource(event, context);
  if (isScheduledEvent(event))
    return runRotation(() => context.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY);
  throw new UnsupportedEventError(
    'unsupported event: expected a CloudFormation custom-resource request (RequestType, ResponseURL) or a scheduled rotation event (source aws.events, detail-type Scheduled Event)',
  );
}

/** Tests capture this bundle's log lines through it (the bundle has its own copy of log.ts). */
export { setLogSink } from '../shared/log.ts';
