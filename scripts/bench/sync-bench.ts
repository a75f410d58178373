// Runs the real bundled tag manager against the SSM and Tagging API fakes and dynalite (through a counting proxy)
// and records, request by request, every AWS call it made. Requests run one at a time so each
// one's calls can be attributed exactly; the simulated clock later replays them in parallel.
import { SSMClient, AddTagsToResourceCommand } from '@aws-sdk/client-ssm';
import { loadBundledHandler, lambdaContext } from '../../testing/helpers/bundled.ts';
import { startDynalite } from '../../testing/helpers/dynalite.ts';
import { startSsmFake, type SsmFake } from '../../testing/fakes/ssm-fake.ts';
import { startTaggingFake, type TaggingFake } from '../../testing/fakes/tagging-fake.ts';
import { agencyAliasName, centralActivationParameterName, TAG_MANAGER_ENV } from '../../lambda/shared/names.ts';
import { provenanceKeys, tagRuleViolation } from '../../lambda/shared/tag-rules.ts';
import { mapPool } from '../../lambda/shared/pool.ts';
import { SSM_MAX_TAGS_PER_NODE } from '../../contract/limits.ts';
import { startCountingProxy, type CountingProxy } from './counting-proxy.ts';
import { POOL_SIZE } from './assumptions.ts';
import {
  buildFleet,
  changedIndexes,
  requestsByAgency,
  type CallCounts,
  type FleetSpec,
  type AgencyRequests,
} from './workload.ts';

export const SCENARIOS = ['a', 'b', 'drift', 'after-drift', 'c', 'd'] as const;
export type ScenarioId = (typeof SCENARIOS)[number];

export const SCENARIO_LABELS: Record<ScenarioId | 'blog', string> = {
  a: '(a) first full sync',
  b: '(b) steady state, no change',
  drift: '(b*) every drift check due, 1% of nodes changed directly in SSM',
  'after-drift': '(b**) steady state after the drift pass',
  c: '(c) 1% of instances changed one tag',
  d: '(d) as (c), 20% of SSM calls throttled',
  blog: "blog's approach, any run",
};

export const THROTTLE_RATIO_D = 0.2;
export const CHANGED_SHARE = 0.01;
/** Share of nodes whose tag is changed directly in SSM before the drift pass (b*). */
export const DRIFT_SHARE = 0.01;

export interface MeasuredRequest {
  agency: string;
  nodes: number;
  /** Calls that succeeded, per API (what the simulated clock replays). */
  counts: CallCounts;
  /** Every request the fakes received, throttled ones included. */
  attempts: CallCounts;
  throttled: CallCounts;
  statuses: Record<string, number>;
}

export interface ScenarioRun {
  id: ScenarioId | 'blog';
  requests: MeasuredRequest[];
  /** Real time the run took against the local fakes (not a prediction of AWS). */
  localMs: number;
  changedNodes: number;
  /** (b*) only: nodes changed directly in SSM before the run, and how many of them it repaired. */
  drift?: { planted: number; repaired: number };
}

const HUB_FN = 'arn:aws:lambda:us-east-1:999999999999:function:ssm-hub-tag-manager';
const PARAM_PREFIX = '/ssm-hub/agencies';
const PREFIX = 'central-it:';

const diff = (after: Record<string, number>, before: Record<string, number>): CallCounts => {
  const out: CallCounts = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
};
const minus = (a: CallCounts, b: CallCounts): CallCounts => {
  const out: CallCounts = {};
  for (const [k, v] of Object.entries(a)) if (v - (b[k] ?? 0) > 0) out[k] = v - (b[k] ?? 0);
  return out;
};

function plantActivation(ssm: SsmFake, agency: string, activationId: string): void {
  const record = {
    agencyAccountId: agency,
    current: {
      activationId,
      activationCode: 'bench-activation-code-not-secret',
      region: 'us-east-1',
      expiresAt: '2030-01-31T00:00:00.000Z',
      createdAt: '2030-01-01T00:00:00.000Z',
      registrationLimit: 1000,
    },
    previous: [],
    knownActivationIds: [activationId],
  };
  ssm.state.parameters.set(centralActivationParameterName(PARAM_PREFIX, agency), {
    type: 'SecureString',
    value: JSON.stringify(record),
    version: 1,
  });
}

/** The fakes and the counting proxy one benchmark run talks to. */
interface Rig {
  ssm: SsmFake;
  tagging: TaggingFake;
  proxy: CountingProxy;
}

/** Counts calls around one unit of work. */
async function measure(
  rig: Rig,
  work: () => Promise<Record<string, number>>,
  agency: string,
  nodes: number,
): Promise<MeasuredRequest> {
  const { ssm, tagging, proxy } = rig;
  const c0 = { ...ssm.calls };
  const t0 = { ...ssm.throttled };
  const d0 = { ...proxy.calls };
  const g0 = { ...tagging.calls };
  const statuses = await work();
  const attempts = { ...diff(ssm.calls, c0), ...diff(proxy.calls, d0), ...diff(tagging.calls, g0) };
  const throttled = diff(ssm.throttled, t0);
  return { agency, nodes, attempts, throttled, counts: minus(attempts, throttled), statuses };
}

type Send = (agency: string, req: AgencyRequests['requests'][number]) => Promise<Record<string, number>>;

/** One scenario: every agency's requests in turn, each measured, then a progress line. */
async function runScenario(
  rig: Rig,
  id: ScenarioId | 'blog',
  agencies: readonly AgencyRequests[],
  changedNodes: number,
  progress: (line: string) => void,
  total: number,
  send: Send,
): Promise<ScenarioRun> {
  const started = performance.now();
  const requests: MeasuredRequest[] = [];
  for (const { agency, requests: reqs } of agencies) {
    for (const req of reqs) {
      requests.push(await measure(rig, () => send(agency, req), agency, req.instances.length));
    }
  }
  const run = { id, requests, localMs: performance.now() - started, changedNodes };
  progress(`  sync N=${total}: ${SCENARIO_LABELS[id]} in ${Math.round(run.localMs)} ms (local fakes)`);
  return run;
}

/** The environment the bundled tag manager runs in during the benchmark. */
function benchEnvironment(rig: Rig, tableName: string): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'AKIDBENCHBENCHBENCH',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'bench-secret-not-real',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_ENDPOINT_URL_SSM: rig.ssm.endpoint,
    AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API: rig.tagging.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: rig.proxy.endpoint,
    [TAG_MANAGER_ENV.syncTableName]: tableName,
    [TAG_MANAGER_ENV.activationParameterPrefix]: PARAM_PREFIX,
    [TAG_MANAGER_ENV.reservedTagPrefix]: PREFIX,
    [TAG_MANAGER_ENV.metricNamespace]: 'SsmHub/bench',
    [TAG_MANAGER_ENV.ssmConcurrency]: String(POOL_SIZE),
    // Real retries run, with millisecond backoff so the run stays short; the simulated clock
    // applies the SDK's real backoff instead.
    [TAG_MANAGER_ENV.retryBaseDelayMs]: '2',
  };
}

export interface SyncBenchOptions {
  progress?: (line: string) => void;
  /** Skip the blog comparison (tests). */
  blog?: boolean;
}

/** Runs scenarios a, b, drift, c, d (and the blog's approach) on a fresh fleet. */
export async function runSyncBench(spec: FleetSpec, opts: SyncBenchOptions = {}): Promise<ScenarioRun[]> {
  const progress = opts.progress ?? (() => undefined);
  const ssm = await startSsmFake({ seed: 6 });
  const tagging = await startTaggingFake({ ssm: ssm.state, region: 'us-east-1', account: '999999999999' });
  const db = await startDynalite();
  const proxy = await startCountingProxy(db.endpoint);
  const rig: Rig = { ssm, tagging, proxy };
  const saved = { ...process.env };
  try {
    Object.assign(process.env, benchEnvironment(rig, db.tableName));
    delete process.env[TAG_MANAGER_ENV.driftCheckHours];
    const mod = await loadBundledHandler('tag-manager');
    (mod.setLogSink as (s: (line: string) => void) => void)(() => undefined);

    const fleet = buildFleet(spec);
    const stamp = provenanceKeys(PREFIX).activationAgency;
    for (const f of fleet)
      ssm.state.addNode(f.managedInstanceId, { activationId: f.activationId, tags: { [stamp]: f.agency } });
    for (const agency of new Set(fleet.map((f) => f.agency))) plantActivation(ssm, agency, `act-${agency}`);

    const invokeAll = (id: ScenarioId, changedNodes: number) =>
      runScenario(rig, id, requestsByAgency(fleet), changedNodes, progress, spec.nodes, async (agency, req) => {
        const answer = (await mod.handler(req, lambdaContext(`${HUB_FN}:${agencyAliasName(agency)}`))) as {
          results?: Array<{ status: string }>;
          error?: { message: string };
        };
        if (!answer.results)
          throw new Error(`tag manager refused a benchmark request: ${answer.error?.message ?? 'no results'}`);
        const statuses: Record<string, number> = {};
        for (const r of answer.results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        return statuses;
      });
    const changeTags = (indexes: number[], value: string) => {
      for (const i of indexes) fleet[i]!.tags = { ...fleet[i]!.tags, Owner: value };
      return indexes.length;
    };

    // A tag changed directly in SSM (behind the hub's back) on DRIFT_SHARE of the nodes.
    const DRIFTED_KEY = 'PatchGroup';
    const plantDrift = (indexes: number[]) => {
      for (const i of indexes) ssm.state.nodes.get(fleet[i]!.managedInstanceId)!.tags.set(DRIFTED_KEY, 'set-in-ssm');
      return indexes;
    };
    const repaired = (indexes: number[]) =>
      indexes.filter(
        (i) => ssm.state.nodes.get(fleet[i]!.managedInstanceId)!.tags.get(DRIFTED_KEY) === fleet[i]!.tags[DRIFTED_KEY],
      ).length;

    const runs: ScenarioRun[] = [];
    runs.push(await invokeAll('a', fleet.length));
    runs.push(await invokeAll('b', 0));
    const drifted = plantDrift(changedIndexes(fleet.length, DRIFT_SHARE, 11));
    process.env[TAG_MANAGER_ENV.driftCheckHours] = '0';
    const driftRun = await invokeAll('drift', 0);
    delete process.env[TAG_MANAGER_ENV.driftCheckHours];
    runs.push({ ...driftRun, drift: { planted: drifted.length, repaired: repaired(drifted) } });
    runs.push(await invokeAll('after-drift', 0));
    runs.push(await invokeAll('c', changeTags(changedIndexes(fleet.length, CHANGED_SHARE, 37), 'changed-in-c')));
    ssm.setThrottleRatio(THROTTLE_RATIO_D);
    runs.push(await invokeAll('d', changeTags(changedIndexes(fleet.length, CHANGED_SHARE, 73), 'changed-in-d')));
    ssm.setThrottleRatio(0);
    if (opts.blog !== false) runs.push(await runBlogApproach(rig, requestsByAgency(fleet), progress, spec.nodes));
    return runs;
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    await proxy.close();
    await db.close();
    await tagging.close();
    await ssm.close();
  }
}

/**
 * The original blog's approach, run through the same fakes and counters: no state, so every run
 * re-applies every tag of every instance, one AddTagsToResource per instance (same concurrency).
 */
async function runBlogApproach(
  rig: Rig,
  agencies: AgencyRequests[],
  progress: (l: string) => void,
  total: number,
): Promise<ScenarioRun> {
  const client = new SSMClient({ endpoint: rig.ssm.endpoint, region: 'us-east-1', maxAttempts: 8 });
  try {
    return await runScenario(rig, 'blog', agencies, total, progress, total, async (_agency, req) => {
      await mapPool(req.instances, POOL_SIZE, async (inst) => {
        // The blog copied what SSM accepts; aws: keys and invalid tags would fail the call.
        const tags = Object.entries(inst.tags)
          .filter(([k, v]) => tagRuleViolation(k, v, PREFIX) === undefined)
          .slice(0, SSM_MAX_TAGS_PER_NODE)
          .map(([Key, Value]) => ({ Key, Value }));
        await client.send(
          new AddTagsToResourceCommand({
            ResourceType: 'ManagedInstance',
            ResourceId: inst.managedInstanceId,
            Tags: tags,
          }),
        );
      });
      return { applied: req.instances.length };
    });
  } finally {
    client.destroy();
  }
}
