// The agency-side collector: copies the EC2 tags of registered instances to the central tag
// manager (through this agency's own alias), deregisters terminated instances, and keeps the
// agency's current activation in SecureString parameters. Any refusal by the hub is counted
// (metric HubRefusals) and, for whole requests, makes the invocation fail so the Errors alarm fires.
import type { DeregisterInstance, RegistrationError, SyncInstance } from '../shared/contract.ts';
import { emitMetrics, log } from '../shared/log.ts';
import { COLLECTOR_ENVIRONMENT, type EnvironmentOf } from '../../contract/environment.ts';
import { readEnvironment } from '../shared/environment.ts';
import { ACTIVATION_WRITES_RESERVE_MS, HUB_CALL_END_MARGIN_MS } from '../../contract/network.ts';
import {
  ACTIVATION_ID_PLACEHOLDER,
  activationParameterNames,
  HUB_CALL_RESERVE_MS,
  MANAGED_INSTANCE_ID_TAG,
  MAX_REGISTRATION_ERRORS_PER_REPORT,
  REGISTRATION_ERROR_MAX_CHARS,
  PROVENANCE_TAG_SUFFIXES,
} from '../shared/names.ts';
import { readParameters, writeSecureParameter } from './activation-io.ts';
import { checkActivationAnswer, checkBatchAnswer, checkErrorAnswer } from './answers.ts';
import { batchInstances } from './batching.ts';
import { describeInstance, instanceStates, managedInstancePages } from './ec2-io.ts';
import { classifyEvent, managedIdFromTags, type Tags } from './events.ts';
import { invokeHub, type HubAnswer } from './hub-io.ts';
import { HandlerError } from '../shared/errors.ts';

export { setLogSink } from '../shared/log.ts';

/** Raised at the end of a run in which the hub refused whole requests or a step failed. */
export class CollectorRunError extends HandlerError {
  override readonly name = 'CollectorRunError';
}

/** The collector's settings (contract/environment.ts: COLLECTOR_ENVIRONMENT). */
type Env = EnvironmentOf<typeof COLLECTOR_ENVIRONMENT>;

const debugEnabled = (): boolean => ['DEBUG', 'TRACE'].includes(process.env['AWS_LAMBDA_LOG_LEVEL'] ?? '');
const debug = (message: string, fields?: Record<string, unknown>): void => {
  if (debugEnabled()) log('DEBUG', message, fields);
};

/** Counters and whole-request failures of one invocation. */
class Run {
  readonly counts = {
    sent: 0,
    applied: 0,
    unchanged: 0,
    rejected: 0,
    /** Rejected syncs of instances that had terminated meanwhile (see sortRejected). */
    gone: 0,
    failed: 0,
    missingResults: 0,
    invalidManagedInstanceIds: 0,
    oversize: 0,
    hubRefusals: 0,
    /** Tag sets the hub did not write because a newer one was already applied (out-of-order delivery). */
    superseded: 0,
    deferred: 0,
    duplicateClaims: 0,
    registrationErrors: 0,
    /** Tags the hub did not copy to SSM (`aws:` keys, over the 50-tag limit, ...): the run summary shows them. */
    tagsSkipped: 0,
    instancesWithSkippedTags: 0,
    /** 1 when the registration report was not sent: the run did not account for every node (see reconcile). */
    reportWithheld: 0,
    /** 1 when too little time was left to fetch the activation. */
    activationRefreshSkipped: 0,
  };
  readonly failures: string[] = [];
  constructor(
    readonly env: Env,
    /** Milliseconds left in this invocation (Infinity when the context does not say). */
    readonly remainingMs: () => number = () => Number.POSITIVE_INFINITY,
  ) {}

  /**
   * Calls the hub when a whole tag-manager call still fits in this invocation (HUB_CALL_RESERVE_MS),
   * else answers undefined without calling: what was not sent waits for the next run instead of
   * dying with the invocation. An unanswered call is abandoned shortly before the invocation would
   * be killed (HUB_CALL_END_MARGIN_MS), so the run still logs and reports what happened.
   */
  hubIfTime(request: unknown): Promise<HubAnswer> | undefined {
    const left = this.remainingMs();
    if (left < HUB_CALL_RESERVE_MS) return undefined;
    return invokeHub(this.env.hubFunctionArn, request, left - HUB_CALL_END_MARGIN_MS);
  }

  /** A whole request refused or failed: counted, logged, and fatal at the end of the run. */
  refuse(message: string, fields: Record<string, unknown>): void {
    this.counts.hubRefusals++;
    this.failures.push(message);
    log('ERROR', message, fields);
  }
}

/** Sorts out the hub's answer: an error object, a FunctionError, or something off-contract are refusals. */
function payloadOrRefuse(run: Run, answer: HubAnswer, what: string, fields: Record<string, unknown>): unknown {
  if (answer.kind === 'functionError') {
    run.refuse(`hub failed on ${what}`, { ...fields, errorType: answer.errorType, error: answer.message });
    return undefined;
  }
  const refused = checkErrorAnswer(answer.body);
  if (refused.ok) {
    const { code, message, field } = refused.data.error;
    run.refuse(`hub refused ${what}: ${code}`, { ...fields, code, error: message.slice(0, 300), field });
    return undefined;
  }
  return answer.body;
}

async function send(run: Run, op: 'sync', instances: SyncInstance[]): Promise<void>;
async function send(run: Run, op: 'deregister', instances: DeregisterInstance[]): Promise<void>;
async function send(run: Run, op: 'sync' | 'deregister', all: Array<SyncInstance | DeregisterInstance>): Promise<void> {
  const { batches, oversize } = batchInstances<SyncInstance | DeregisterInstance>(op, all);
  for (const o of oversize) {
    run.counts.oversize++;
    log('WARN', 'instance tags too large for one hub request; not sent', {
      ec2InstanceId: o.ec2InstanceId,
      managedInstanceId: o.managedInstanceId,
    });
  }
  const rejectedSyncs: RejectedLine[] = [];
  // One request at a time: the hub's SSM write rate is shared by every agency.
  for (const [i, batch] of batches.entries()) {
    const fields = { op, batch: i + 1, batches: batches.length, instances: batch.length };
    const call = run.hubIfTime({ op, instances: batch });
    if (!call) {
      const left = batches.slice(i).reduce((n, b) => n + b.length, 0);
      run.counts.deferred += left;
      log('WARN', 'out of time: remaining instances deferred to the next reconcile', { ...fields, deferred: left });
      break;
    }
    run.counts.sent += batch.length;
    let answer: HubAnswer;
    try {
      answer = await call;
    } catch (err) {
      const e = err as Error;
      run.refuse(`hub invocation failed: ${e.name}`, { ...fields, error: String(e.message).slice(0, 300) });
      continue;
    }
    const body = payloadOrRefuse(run, answer, `${op} request`, fields);
    if (body === undefined) continue;
    const parsed = checkBatchAnswer(body);
    if (!parsed.ok) {
      run.refuse('hub answer does not match the contract', { ...fields, field: parsed.field });
      continue;
    }
    const answered = new Set<string>();
    for (const r of parsed.data.results) {
      answered.add(r.managedInstanceId);
      const line = {
        op,
        managedInstanceId: r.managedInstanceId,
        ec2InstanceId: r.ec2InstanceId,
        status: r.status,
        reason: r.reason,
      };
      switch (r.status) {
        case 'applied':
        case 'unchanged':
        case 'superseded':
          run.counts[r.status]++;
          break;
        case 'rejected':
          // A sync may reach the hub after the instance terminated and its node was deregistered:
          // told apart from a refusal below, once the whole request is answered.
          if (op === 'sync')
            rejectedSyncs.push({
              ...line,
              ec2InstanceId: batch.find((b) => b.managedInstanceId === r.managedInstanceId)?.ec2InstanceId,
            });
          else refused(run, line);
          break;
        case 'failed':
          run.counts.failed++;
          log('WARN', 'hub failed to apply instance', line);
          break;
      }
      if (r.skippedTags?.length) {
        run.counts.tagsSkipped += r.skippedTags.length;
        run.counts.instancesWithSkippedTags++;
        // Per node at debug only: aws: tags are skipped on every sync of every instance that has them.
        debug('tags not copied to SSM', { managedInstanceId: r.managedInstanceId, skippedTags: r.skippedTags });
      }
    }
    const missing = batch.filter((b) => !answered.has(b.managedInstanceId)).map((b) => b.managedInstanceId);
    if (missing.length > 0) {
      run.counts.missingResults += missing.length;
      log('WARN', 'hub returned no result for some instances', {
        op,
        count: missing.length,
        managedInstanceIds: missing.slice(0, 20),
      });
    }
  }
  if (rejectedSyncs.length > 0) await sortRejected(run, rejectedSyncs);
}

type RejectedLine = { op: string; managedInstanceId: string; ec2InstanceId?: string; reason?: string };

/** A node the hub refused: counted as a refusal (HubRefusals, the collector's alarm). */
function refused(run: Run, line: RejectedLine): void {
  run.counts.rejected++;
  run.counts.hubRefusals++;
  log('WARN', 'hub rejected instance', line);
}

/**
 * Rejected syncs of instances EC2 now shows terminated, shutting down or no longer lists are
 * ordinary races (the termination's deregistration reached the hub first, and the hub answers an
 * unknown node as it answers another agency's): counted as gone, not as refusals. The hub still
 * records its side. When EC2 cannot be asked, every one stays a refusal.
 */
async function sortRejected(run: Run, lines: RejectedLine[]): Promise<void> {
  let states: Map<string, string> | undefined;
  try {
    states = await instanceStates(lines.flatMap((l) => (l.ec2InstanceId ? [l.ec2InstanceId] : [])));
  } catch (err) {
    log('WARN', 'could not read the state of rejected instances; counted as refusals', {
      error: String((err as Error).message).slice(0, 300),
    });
  }
  const GONE = new Set(['not listed', 'terminated', 'shutting-down']);
  for (const line of lines) {
    const state = states && line.ec2InstanceId ? (states.get(line.ec2InstanceId) ?? 'not listed') : undefined;
    if (state === undefined || !GONE.has(state)) refused(run, line);
    else {
      run.counts.gone++;
      log('INFO', 'instance gone before its sync reached the hub; not a refusal', { ...line, state });
    }
  }
}

/** An instance whose managedinstanceid tag holds something else than a node ID: reported, never sent. */
function invalidId(run: Run, ec2InstanceId: string, value: string): void {
  run.counts.invalidManagedInstanceIds++;
  log('WARN', `${MANAGED_INSTANCE_ID_TAG} tag is not a managed node ID; instance skipped`, {
    ec2InstanceId,
    value: value.slice(0, 64),
  });
}

const errorTagOf = (run: Run) => `${run.env.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.registrationError}`;

/**
 * Sends every registration error seen (an empty list clears the hub's record of this agency).
 * False when too little time was left to send it.
 */
async function report(run: Run, registrationErrors: RegistrationError[]): Promise<boolean> {
  // The Lambda runtime sets AWS_REGION: the hub keeps this Region's "reported at" apart.
  const call = run.hubIfTime({ op: 'report', registrationErrors, region: process.env['AWS_REGION'] });
  if (!call) return false;
  try {
    payloadOrRefuse(run, await call, 'report', { op: 'report' });
  } catch (err) {
    const e = err as Error;
    run.refuse(`hub invocation failed: ${e.name}`, { op: 'report', error: String(e.message).slice(0, 300) });
  }
  return true;
}

async function reconcile(run: Run): Promise<number> {
  const live: SyncInstance[] = [];
  const gone: DeregisterInstance[] = [];
  const failed: RegistrationError[] = [];
  const claims = new Map<string, string[]>();
  let seen = 0;
  for await (const page of managedInstancePages(errorTagOf(run))) {
    for (const i of page) {
      seen++;
      const error = i.tags[errorTagOf(run)];
      const up = i.state !== 'terminated' && i.state !== 'shutting-down';
      if (error !== undefined && up && failed.length < MAX_REGISTRATION_ERRORS_PER_REPORT)
        failed.push({ ec2InstanceId: i.ec2InstanceId, error: error.slice(0, REGISTRATION_ERROR_MAX_CHARS) });
      const id = managedIdFromTags(i.tags);
      if ('invalid' in id) invalidId(run, i.ec2InstanceId, id.invalid);
      if (!('id' in id)) continue;
      const node = { ec2InstanceId: i.ec2InstanceId, managedInstanceId: id.id };
      if (!up) gone.push(node);
      else {
        live.push({ ...node, tags: i.tags, ...i.observed });
        claims.set(id.id, [...(claims.get(id.id) ?? []), i.ec2InstanceId]);
      }
    }
  }
  // Two live instances naming one node: one of them was mislabelled (a clone of a registered
  // instance's image, or an instance that tagged itself with a neighbour's node ID). Send neither;
  // the hub keeps the node bound to the instance it first saw. One WARN per node names them all.
  for (const [managedInstanceId, ec2InstanceIds] of claims) {
    if (ec2InstanceIds.length < 2) continue;
    run.counts.duplicateClaims += ec2InstanceIds.length;
    log('WARN', 'managed node claimed by several instances; none of them sent', { managedInstanceId, ec2InstanceIds });
  }
  const claimed = live.filter((i) => claims.get(i.managedInstanceId)!.length === 1);
  const c = run.counts;
  const before = { failures: run.failures.length, deferred: c.deferred, missing: c.missingResults, failed: c.failed };
  await send(run, 'sync', claimed);
  // The hub takes the report as "this agency's collector has reported", and the orphan sweep acts
  // only on nodes that became overdue before it: so it is sent only after a run in which every
  // instance sent got an answer that is not `failed` (a node the hub failed on, e.g. deferred for
  // lack of time on its side, may have no row binding it yet), no request was refused or failed,
  // nothing was deferred here, no node was claimed by several live instances (neither was sent,
  // so the live node may have no row binding it: the sweep would take it for an orphan), and a
  // whole hub call still fits in the time left (the report is itself a hub call).
  const incomplete = {
    failedRequests: run.failures.length - before.failures,
    deferred: c.deferred - before.deferred,
    missingResults: c.missingResults - before.missing,
    failedInstances: c.failed - before.failed,
    duplicateClaims: c.duplicateClaims,
    outOfTime: 0,
  };
  if (gone.length) await send(run, 'deregister', gone);
  c.registrationErrors = failed.length;
  if (Object.values(incomplete).every((n) => n === 0) && !(await report(run, failed))) incomplete.outOfTime = 1;
  if (Object.values(incomplete).some((n) => n > 0)) {
    c.reportWithheld = 1;
    log('WARN', 'registration report not sent: this run did not account for every node', incomplete);
  }
  return seen;
}

const DAY_MS = 86_400_000;

/** Fetches the agency's current activation and rewrites only the parameters whose value changed. */
async function refreshActivation(run: Run): Promise<void> {
  const call = run.hubIfTime({ op: 'activation' });
  if (!call) {
    // The parameters keep the last activation fetched, valid for a day after the hub replaces it.
    run.counts.activationRefreshSkipped = 1;
    log('WARN', 'out of time: activation refresh left to the next reconcile');
    return;
  }
  let answer: HubAnswer;
  try {
    answer = await call;
  } catch (err) {
    run.refuse(`hub invocation failed: ${(err as Error).name}`, {
      op: 'activation',
      error: String((err as Error).message).slice(0, 300),
    });
    return;
  }
  const body = payloadOrRefuse(run, answer, 'activation request', { op: 'activation' });
  if (body === undefined) return;
  const parsed = checkActivationAnswer(body);
  if (!parsed.ok) {
    // Only the field path: the body holds the code.
    run.refuse('hub activation answer does not match the contract', { op: 'activation', field: parsed.field });
    return;
  }
  const a = parsed.data;
  const names = activationParameterNames(run.env.activationParameterPath);
  const wanted: Array<[string, string]> = [
    [names.code, a.activationCode],
    [names.id, a.activationId],
  ];
  const current = await readParameters([names.id, names.code]);
  const changed = wanted.filter(([name, value]) => current[name] !== value);
  const fields = {
    activationId: a.activationId,
    region: a.region,
    expiresAt: a.expiresAt,
    parametersWritten: changed.map(([n]) => n),
  };
  if (changed.length > 0 && run.remainingMs() < ACTIVATION_WRITES_RESERVE_MS) {
    run.counts.activationRefreshSkipped = 1;
    log('WARN', 'out of time: activation parameters left as they are until the next reconcile', fields);
    return;
  }
  // The documents read the ID and the code as one pair, and no SSM write covers both. One write
  // takes the pair from one whole state to the next (the first write ever: code, then ID, which a
  // reader cannot find before). When both change, the ID is first replaced by a placeholder that
  // is no activation ID: a run cut after any write leaves an ID the documents refuse before they
  // touch the agent, never a code with another activation's ID, and the next reconcile (which
  // compares both values) finishes the refresh. The hub keeps the old activation valid for a day.
  const writes =
    changed.length === 2 && current[names.id] !== undefined
      ? [[names.id, ACTIVATION_ID_PLACEHOLDER] as [string, string], ...changed]
      : changed;
  for (const [name, value] of writes) await writeSecureParameter(name, value);
  log('INFO', changed.length > 0 ? 'activation refreshed' : 'activation unchanged', fields);
  if (Date.parse(a.expiresAt) - Date.now() < DAY_MS)
    log('WARN', 'activation expires within a day; is rotation in the hub working?', fields);
}

function registrationFailure(run: Run, ec2InstanceId: string, tags: Tags): void {
  const error = tags[errorTagOf(run)];
  if (error !== undefined)
    log('WARN', 'registration failed on instance', { ec2InstanceId, error: error.slice(0, 256) });
}

export async function handler(
  event: unknown,
  context?: { getRemainingTimeInMillis?: () => number },
): Promise<Record<string, unknown>> {
  const run = new Run(readEnvironment(COLLECTOR_ENVIRONMENT), () =>
    typeof context?.getRemainingTimeInMillis === 'function'
      ? context.getRemainingTimeInMillis()
      : Number.POSITIVE_INFINITY,
  );
  const ev = classifyEvent(event, errorTagOf(run));
  const summary: Record<string, unknown> = { event: ev.kind };
  switch (ev.kind) {
    case 'tagChange':
      await send(run, 'sync', [
        { ec2InstanceId: ev.ec2InstanceId, managedInstanceId: ev.managedInstanceId, tags: ev.tags, ...ev.observed },
      ]);
      break;
    case 'tagChangeUnmanaged': {
      const id = managedIdFromTags(ev.tags);
      if ('invalid' in id) invalidId(run, ev.ec2InstanceId, id.invalid);
      else
        debug('tag change on an unregistered instance ignored', { ec2InstanceId: ev.ec2InstanceId, reason: ev.reason });
      registrationFailure(run, ev.ec2InstanceId, ev.tags);
      break;
    }
    case 'terminated': {
      const instance = await describeInstance(ev.ec2InstanceId, errorTagOf(run));
      const id = instance ? managedIdFromTags(instance.tags) : undefined;
      if (id && 'id' in id)
        await send(run, 'deregister', [{ ec2InstanceId: ev.ec2InstanceId, managedInstanceId: id.id }]);
      else if (id && 'invalid' in id) invalidId(run, ev.ec2InstanceId, id.invalid);
      else
        debug('terminated instance had no managed node; nothing to deregister', {
          ec2InstanceId: ev.ec2InstanceId,
          described: !!instance,
        });
      break;
    }
    case 'reconcile':
      // Each half runs even if the other failed; either failure fails the run at the end. The
      // refresh (one short hub call) goes first: a long reconcile uses the run's time up to the
      // hub-call reserve, and would otherwise leave the refresh out of every run of a large agency.
      for (const [what, step] of [
        ['activation refresh', () => refreshActivation(run)],
        ['reconcile', async () => (summary['instancesSeen'] = await reconcile(run))],
      ] as const) {
        try {
          await step();
        } catch (err) {
          const e = err as Error;
          run.failures.push(`${what} failed: ${e.name}`);
          log('ERROR', `${what} failed`, { errorType: e.name, error: String(e.message).slice(0, 300) });
        }
      }
      break;
    case 'ignored':
      debug('event ignored', { reason: ev.reason });
      break;
  }
  const c = run.counts;
  if (ev.kind !== 'ignored' && ev.kind !== 'tagChangeUnmanaged') {
    emitMetrics(
      run.env.metricNamespace,
      {},
      {
        InstancesSent: { value: c.sent },
        Applied: { value: c.applied },
        Unchanged: { value: c.unchanged },
        Superseded: { value: c.superseded },
        Rejected: { value: c.rejected },
        Failed: { value: c.failed },
        InvalidManagedInstanceIds: { value: c.invalidManagedInstanceIds },
        HubRefusals: { value: c.hubRefusals },
        Deferred: { value: c.deferred },
        DuplicateClaims: { value: c.duplicateClaims },
        // 1 while the orphan sweep of this agency is paused (the hub's guard waits for a report).
        ReportWithheld: { value: c.reportWithheld },
        ActivationRefreshSkipped: { value: c.activationRefreshSkipped },
      },
    );
    log('INFO', 'collector run finished', { ...summary, ...c });
  } else if (c.invalidManagedInstanceIds > 0) {
    emitMetrics(run.env.metricNamespace, {}, { InvalidManagedInstanceIds: { value: c.invalidManagedInstanceIds } });
  }
  if (run.failures.length > 0) {
    throw new CollectorRunError(
      `collector run failed (${run.failures.length} problem(s)): ${[...new Set(run.failures)].slice(0, 3).join('; ')}`,
    );
  }
  return { ...summary, ...c };
}
