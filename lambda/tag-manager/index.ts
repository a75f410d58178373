// Central tag manager. Each agency invokes it through its own alias (agency-<account>); the alias
// is the caller's identity. It applies agencies' EC2 tags to their managed nodes, deregisters
// terminated ones, and hands each agency its own current activation.
import type {
  BatchResponse,
  ErrorResponse,
  ActivationResponse,
  InstanceResult,
  ReportResponse,
} from '../shared/contract.ts';
import { emitMetrics, log, securityEvent } from '../shared/log.ts';
import { currentActivation } from './activation.ts';
import { ssmClient, tableClient, taggingClient } from './clients.ts';
import { ConfigurationError, readConfig, type TagManagerConfig } from './config.ts';
import { isDeferred, type OpContext } from './context.ts';
import { deregisterInstances } from './deregister.ts';
import { agencyFromArn } from './identity.ts';
import { errorReason } from './ssm-io.ts';
import { syncInstances } from './sync.ts';
import { validateRequest, type Entry } from './validate.ts';
import { admitRequest } from './table-io.ts';
import { recordRegistrationErrors } from './report.ts';
import { recordRejections } from './rejections.ts';

// Tests capture log lines from the bundle through this.
export { setLogSink } from '../shared/log.ts';

export type TagManagerResponse = BatchResponse | ActivationResponse | ReportResponse | ErrorResponse;

interface LambdaContextLike {
  invokedFunctionArn?: string;
  awsRequestId?: string;
  getRemainingTimeInMillis?: () => number;
}

const DIMENSIONS = { Service: 'TagManager' };
const FALLBACK_NAMESPACE = 'SsmHub';

function countStatuses(results: readonly InstanceResult[]) {
  const n = { applied: 0, unchanged: 0, rejected: 0, failed: 0, superseded: 0 };
  for (const r of results) n[r.status]++;
  return n;
}

/** Runs the entries that passed validation and slots their results back in request order. */
async function runEntries<T>(
  entries: Entry<T>[],
  run: (values: T[]) => Promise<InstanceResult[]>,
): Promise<InstanceResult[]> {
  const valid = entries.filter((e): e is Extract<Entry<T>, { ok: true }> => e.ok);
  const done = valid.length > 0 ? await run(valid.map((e) => e.value)) : [];
  const byIndex = new Map(valid.map((e, i) => [e.index, done[i]!]));
  return entries.map((e) => (e.ok ? byIndex.get(e.index)! : e.result));
}

export async function handler(event: unknown, context: LambdaContextLike): Promise<TagManagerResponse> {
  const requestId = context?.awsRequestId ?? 'unknown';
  let config: TagManagerConfig;
  try {
    config = readConfig();
  } catch (err) {
    log('ERROR', 'tag manager configuration is invalid', {
      error: err instanceof ConfigurationError ? err.message : errorReason(err),
      requestId,
    });
    return { error: { code: 'Internal', message: `the tag manager is misconfigured (request ${requestId})` } };
  }

  const identity = agencyFromArn(context?.invokedFunctionArn);
  if (!identity.ok) {
    securityEvent('refused an invocation without an agency alias', {
      reason: identity.reason,
      invokedFunctionArn: typeof context?.invokedFunctionArn === 'string' ? context.invokedFunctionArn : undefined,
      requestId,
    });
    emitMetrics(config.metricNamespace || FALLBACK_NAMESPACE, DIMENSIONS, { UnauthorizedCalls: { value: 1 } });
    return {
      error: {
        code: 'Unauthorized',
        message: `${identity.reason}; each agency may invoke only its alias agency-<account ID>`,
      },
    };
  }
  const agencyAccountId = identity.agencyAccountId;

  const validation = validateRequest(event);
  if (!validation.ok) {
    log('WARN', 'refused a malformed request', { agencyAccountId, field: validation.error.error.field, requestId });
    emitMetrics(config.metricNamespace, DIMENSIONS, { InvalidRequests: { value: 1 } });
    return validation.error;
  }
  const request = validation.request;
  const remainingMs = () =>
    typeof context?.getRemainingTimeInMillis === 'function'
      ? context.getRemainingTimeInMillis()
      : Number.POSITIVE_INFINITY;
  const ctx: OpContext = {
    config,
    agencyAccountId,
    ssm: ssmClient(config),
    tagging: taggingClient(config),
    hub: identity.hub,
    ddb: tableClient(config),
    now: new Date(),
    requestId,
    remainingMs,
  };

  try {
    // One agency must not use up the hub's Lambda concurrency and SSM rate for everyone else.
    if (
      !(await admitRequest(ctx.ddb, config.syncTableName, agencyAccountId, config.agencyRequestsPerMinute, ctx.now))
    ) {
      log('WARN', 'agency over its request limit', {
        agencyAccountId,
        limitPerMinute: config.agencyRequestsPerMinute,
        requestId,
      });
      emitMetrics(config.metricNamespace, DIMENSIONS, { ThrottledRequests: { value: 1 } });
      return {
        error: {
          code: 'Throttled',
          message: `more than ${config.agencyRequestsPerMinute} requests this minute from this agency; retry later`,
        },
      };
    }
    if (request.op === 'activation') return await currentActivation(ctx);
    if (request.op === 'report') {
      const answer = await recordRegistrationErrors(ctx, request.registrationErrors, request.region);
      emitMetrics(config.metricNamespace, DIMENSIONS, { RegistrationErrors: { value: answer.recorded } });
      return answer;
    }
    const results =
      request.op === 'sync'
        ? await runEntries(request.entries, (values) => syncInstances(ctx, values))
        : await runEntries(request.entries, (values) => deregisterInstances(ctx, values));
    // Only when something was refused: the happy path makes no extra table call.
    await recordRejections(ctx, results);
    const n = countStatuses(results);
    // Deferred nodes are not failures: the next reconcile sends them again. Counting them apart
    // keeps the Failed alarm quiet during a large first sync.
    const deferred = results.filter((r) => r.status === 'failed' && isDeferred(r.reason)).length;
    emitMetrics(config.metricNamespace, DIMENSIONS, {
      Applied: { value: n.applied },
      Unchanged: { value: n.unchanged },
      RejectedNodes: { value: n.rejected },
      Failed: { value: n.failed - deferred },
      Deferred: { value: deferred },
      // Tag sets older than the one last applied (delivered out of order): not errors, nothing written.
      SupersededSyncs: { value: n.superseded },
    });
    log(n.failed > 0 || n.rejected > 0 ? 'WARN' : 'INFO', `${request.op} finished`, {
      agencyAccountId,
      op: request.op,
      ...n,
      requestId,
    });
    for (const r of results) {
      if (r.status === 'failed')
        log('WARN', 'node not synced', {
          agencyAccountId,
          managedInstanceId: r.managedInstanceId,
          reason: r.reason,
          requestId,
        });
    }
    return { results };
  } catch (err) {
    // Whole-request failures (e.g. the sync table unreachable). No stack trace goes back to the agency.
    log('ERROR', `${request.op} failed`, { agencyAccountId, error: errorReason(err), requestId });
    emitMetrics(config.metricNamespace, DIMENSIONS, { InternalErrors: { value: 1 } });
    return {
      error: { code: 'Internal', message: `the request could not be completed; retry later (request ${requestId})` },
    };
  }
}
