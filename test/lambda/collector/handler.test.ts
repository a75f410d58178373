// Drives the real bundled collector through the real SDK clients against loopback fakes of
// EC2 (DescribeInstances), Lambda (Invoke of the hub alias) and SSM Parameter Store.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { COLLECTOR_ENV } from '../../../lambda/shared/names.ts';
import { loadBundledHandler, type BundledHandler } from '../../../testing/helpers/bundled.ts';
import { Ec2Fake, type FakeInstance } from '../../../testing/fakes/ec2-fake.ts';
import { LambdaFake, MAX_SYNC_PAYLOAD_BYTES, type InvokeHandler } from '../../../testing/fakes/lambda-fake.ts';
import { SsmParametersFake } from '../../../testing/fakes/ssm-parameters-fake.ts';
import { MAX_INSTANCES_PER_REQUEST } from '../../../lambda/shared/contract.ts';
import { SNAPSHOT_OBSERVED_MARGIN_MS } from '../../../contract/limits.ts';
import { ACTIVATION_ID_PLACEHOLDER, HUB_CALL_RESERVE_MS } from '../../../contract/names.ts';
import { ACTIVATION_WRITES_RESERVE_MS } from '../../../contract/network.ts';
import { DOCUMENT_ACTIVATION_ID } from '../../../testing/helpers/document-activation-id.ts';

const AGENCY = '111122223333';
const HUB_ARN = `arn:aws:lambda:eu-west-1:999988887777:function:ssm-hub-tag-manager:agency-${AGENCY}`;
const PATH = '/central-hub/activation';
const ENV = {
  [COLLECTOR_ENV.hubFunctionArn]: HUB_ARN,
  [COLLECTOR_ENV.activationParameterPath]: PATH,
  [COLLECTOR_ENV.reservedTagPrefix]: 'central-it:',
  [COLLECTOR_ENV.metricNamespace]: 'SsmHub/ssm-hub',
};
const CODE = 'PLANTED-ACTIVATION-CODE-a1b2c3d4e5f6';
const CODE2 = 'PLANTED-ROTATED-CODE-f6e5d4c3b2a1';

const ec2Id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const miId = (n: number) => `mi-${(n + 0xabc).toString(16).padStart(17, '0')}`;
const managed = (n: number, extra: Partial<FakeInstance> = {}): FakeInstance => ({
  instanceId: ec2Id(n),
  tags: {
    Name: `web-${n}`,
    OS: 'Linux',
    managedinstanceid: miId(n),
    'aws:autoscaling:groupName': 'asg-1',
    Team: 'R&D <ops> "é"',
    Empty: '',
  },
  ...extra,
});

const ec2 = new Ec2Fake();
const hub = new LambdaFake();
const ssm = new SsmParametersFake();
let collector: BundledHandler;
let lines: string[] = [];
let activation = {
  activationId: 'act-1111',
  activationCode: CODE,
  region: 'eu-west-1',
  expiresAt: '2099-01-01T00:00:00.000Z',
};

/** Behaves like the tag manager: every instance applied, activation answered to this agency. */
const hubThatApplies: InvokeHandler = async (payload) => {
  const p = payload as { op: string; instances?: Array<{ ec2InstanceId: string; managedInstanceId: string }> };
  if (p.op === 'activation') return activation;
  return {
    results: (p.instances ?? []).map((i) => ({
      managedInstanceId: i.managedInstanceId,
      ec2InstanceId: i.ec2InstanceId,
      status: 'applied',
    })),
  };
};

const CONTEXT = { invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:ssm-hub-collector' };
const run = (event: unknown) => collector.handler(event, CONTEXT);
/** A fresh module: its own SDK clients, so an adaptive rate limiter slowed by throttling stays local to one test. */
async function freshRun(event: unknown) {
  const fresh = await loadBundledHandler('collector');
  (fresh['setLogSink'] as (s: (l: string) => void) => void)((l) => lines.push(l));
  return fresh.handler(event, CONTEXT);
}
const scheduled = { version: '0', source: 'aws.events', 'detail-type': 'Scheduled Event', resources: [], detail: {} };
const tagChange = (id: string, tags: Record<string, string>) => ({
  version: '0',
  source: 'aws.tag',
  'detail-type': 'Tag Change on Resource',
  account: AGENCY,
  region: 'us-east-1',
  resources: [`arn:aws:ec2:us-east-1:${AGENCY}:instance/${id}`],
  detail: { 'changed-tag-keys': ['OS'], service: 'ec2', 'resource-type': 'instance', version: 3, tags },
});
const stateChange = (id: string, state: string) => ({
  version: '0',
  source: 'aws.ec2',
  'detail-type': 'EC2 Instance State-change Notification',
  account: AGENCY,
  resources: [`arn:aws:ec2:us-east-1:${AGENCY}:instance/${id}`],
  detail: { 'instance-id': id, state },
});

const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
const metrics = () => parsed().filter((l) => l['_aws']);
const metric = (name: string) =>
  metrics().reduce((sum, m) => sum + (typeof m[name] === 'number' ? (m[name] as number) : 0), 0);
const logsAt = (level: string) => parsed().filter((l) => l['level'] === level);

beforeAll(async () => {
  vi.stubEnv('AWS_ENDPOINT_URL_EC2', await ec2.start());
  vi.stubEnv('AWS_ENDPOINT_URL_LAMBDA', await hub.start());
  vi.stubEnv('AWS_ENDPOINT_URL_SSM', await ssm.start());
  for (const [name, value] of Object.entries(ENV)) vi.stubEnv(name, value);
  collector = await loadBundledHandler('collector');
  (collector['setLogSink'] as (s: (l: string) => void) => void)((l) => lines.push(l));
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all([ec2.stop(), hub.stop(), ssm.stop()]);
});

beforeEach(() => {
  ec2.reset();
  hub.reset(hubThatApplies);
  ssm.reset();
  lines = [];
  activation = {
    activationId: 'act-1111',
    activationCode: CODE,
    region: 'eu-west-1',
    expiresAt: '2099-01-01T00:00:00.000Z',
  };
});

describe('scheduled reconcile', () => {
  it('sends all 2,500 registered instances read over three pages in exactly 25 requests within the limits', async () => {
    ec2.instances = [
      ...Array.from({ length: 2500 }, (_, n) => managed(n, { reservationId: `r-${Math.floor(n / 7)}` })),
      { instanceId: ec2Id(9001), tags: { Name: 'not registered' } },
      managed(9002, { state: 'terminated' }),
    ];
    const started = Date.now();
    const summary = (await run(scheduled)) as Record<string, unknown>;
    const ended = Date.now();

    expect(ec2.describeCount).toBe(3);
    for (const call of ec2.calls) {
      expect(call.maxResults).toBe(1000);
      // Registered instances, and those whose registration failed (reported to the hub).
      expect(call.filters).toContainEqual({
        name: 'tag-key',
        values: ['managedinstanceid', 'central-it:registration-error'],
      });
      // Terminated instances are listed too: the reconcile deregisters them (missed events).
      expect(call.filters.find((f) => f.name === 'instance-state-name')).toBeUndefined();
    }
    expect(hub.payloadsOf('deregister').flatMap((p) => p['instances'] as unknown[])).toEqual([
      { ec2InstanceId: ec2Id(9002), managedInstanceId: miId(9002) },
    ]);
    const syncs = hub.payloadsOf('sync');
    expect(syncs).toHaveLength(25);
    const sent = syncs.flatMap(
      (p) =>
        p['instances'] as Array<{ ec2InstanceId: string; managedInstanceId: string; tags: Record<string, string> }>,
    );
    expect(new Set(sent.map((i) => i.ec2InstanceId)).size).toBe(2500);
    expect(sent).toHaveLength(2500);
    expect(sent.find((i) => i.ec2InstanceId === ec2Id(1234))).toEqual({
      ec2InstanceId: ec2Id(1234),
      managedInstanceId: miId(1234),
      tags: managed(1234).tags,
      observedAt: expect.any(String),
    });
    // Each tag set is sent as observed when its page was requested, less the margin (ordering).
    for (const i of sent as Array<{ observedAt?: string }>) {
      const at = Date.parse(i.observedAt!);
      expect(at).toBeGreaterThanOrEqual(started - SNAPSHOT_OBSERVED_MARGIN_MS);
      expect(at).toBeLessThanOrEqual(ended - SNAPSHOT_OBSERVED_MARGIN_MS);
    }
    for (const c of hub.calls) {
      expect(c.bytes).toBeLessThanOrEqual(5_000_000);
      expect(c.functionName).toBe(HUB_ARN);
      expect(c.signingRegion).toBe('eu-west-1');
      expect(c.invocationType).toBe('RequestResponse');
    }
    for (const p of syncs) expect((p['instances'] as unknown[]).length).toBeLessThanOrEqual(MAX_INSTANCES_PER_REQUEST);
    expect(hub.payloadsOf('activation')).toHaveLength(1);
    // 2,500 live instances synced plus the terminated one deregistered.
    expect(summary).toMatchObject({
      event: 'reconcile',
      instancesSeen: 2501,
      sent: 2501,
      applied: 2501,
      hubRefusals: 0,
    });
    expect(metric('Applied')).toBe(2501);
    expect(metric('HubRefusals')).toBe(0);
    // No per-instance INFO lines for a healthy run: the log volume stays flat.
    expect(lines.length).toBeLessThan(10);
  });

  it('splits instances with large tags by bytes so no request reaches the 6 MB limit', async () => {
    const bigTags = (n: number) => {
      const tags: Record<string, string> = { managedinstanceid: miId(n) };
      for (let t = 0; t < 49; t++) tags[`k${t}-${'漢'.repeat(120)}`] = '語'.repeat(256);
      return tags;
    };
    ec2.instances = Array.from({ length: 200 }, (_, n) => ({ instanceId: ec2Id(n), tags: bigTags(n) }));
    // The premise: 100 of these (the count limit alone) would exceed the 5,000,000-byte budget.
    const hundred = ec2.instances
      .slice(0, 100)
      .map((i) => ({ ec2InstanceId: i.instanceId, managedInstanceId: miId(0), tags: i.tags }));
    expect(Buffer.byteLength(JSON.stringify({ op: 'sync', instances: hundred }))).toBeGreaterThan(5_000_000);

    await run(scheduled);

    const syncCalls = hub.calls.filter((c) => (c.payload as { op?: string }).op === 'sync');
    expect(syncCalls.every((c) => c.status === 200 && c.bytes <= 5_000_000 && c.bytes < MAX_SYNC_PAYLOAD_BYTES)).toBe(
      true,
    );
    const sizes = syncCalls.map((c) => (c.payload as { instances: unknown[] }).instances.length);
    expect(sizes.length).toBe(3);
    expect(Math.max(...sizes)).toBeLessThan(MAX_INSTANCES_PER_REQUEST);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(200);
  });

  it('still completes when the first two DescribeInstances calls are throttled', async () => {
    ec2.instances = Array.from({ length: 30 }, (_, n) => managed(n));
    ec2.throttleNext = 2;
    await freshRun(scheduled);
    expect(ec2.calls.map((c) => c.outcome)).toEqual(['throttled', 'throttled', 'ok']);
    expect(hub.payloadsOf('sync').flatMap((p) => p['instances'] as unknown[])).toHaveLength(30);
  });

  it('still refreshes the activation when DescribeInstances is denied, then fails the run', async () => {
    ec2.instances = [managed(1)];
    ec2.failWith = {
      status: 403,
      code: 'UnauthorizedOperation',
      message: 'You are not authorized to perform this operation.',
    };
    await expect(run(scheduled)).rejects.toThrow(/reconcile failed: UnauthorizedOperation/);
    expect(ec2.calls).toHaveLength(1); // not retryable
    expect(hub.payloadsOf('sync')).toHaveLength(0);
    expect(ssm.puts).toHaveLength(2);
  });

  it('retries a throttled hub invocation', async () => {
    ec2.instances = [managed(1)];
    hub.throttleNext = 1;
    await freshRun(scheduled);
    expect(hub.calls[0]!.status).toBe(429);
    expect(hub.payloadsOf('sync')).toHaveLength(1);
  });

  it('skips and reports instances whose managedinstanceid tag is not a managed node ID', async () => {
    ec2.instances = [managed(1), { instanceId: ec2Id(2), tags: { managedinstanceid: 'pending' } }, managed(3)];
    const summary = (await run(scheduled)) as Record<string, unknown>;
    const sent = hub.payloadsOf('sync').flatMap((p) => p['instances'] as Array<{ ec2InstanceId: string }>);
    expect(sent.map((i) => i.ec2InstanceId)).toEqual([ec2Id(1), ec2Id(3)]);
    expect(summary['invalidManagedInstanceIds']).toBe(1);
    expect(metric('InvalidManagedInstanceIds')).toBe(1);
    expect(logsAt('WARN').some((l) => l['ec2InstanceId'] === ec2Id(2))).toBe(true);
  });
});

describe('events', () => {
  it('sends one sync for a tag change on a registered instance without calling DescribeInstances', async () => {
    const tags = { Name: 'db-1', OS: 'Windows', managedinstanceid: miId(7), 'aws:cloudformation:stack-name': 'x' };
    await run(tagChange(ec2Id(7), tags));
    expect(ec2.calls).toHaveLength(0);
    expect(hub.calls).toHaveLength(1);
    expect(hub.calls[0]!.payload).toEqual({
      op: 'sync',
      instances: [{ ec2InstanceId: ec2Id(7), managedInstanceId: miId(7), tags }],
    });
    expect(hub.calls[0]!.signingRegion).toBe('eu-west-1');
    expect(hub.calls[0]!.qualifier).toBe(`agency-${AGENCY}`);
  });

  it('ignores a tag change on an instance that is not registered', async () => {
    await run(tagChange(ec2Id(8), { Name: 'x' }));
    expect(hub.calls).toHaveLength(0);
    expect(ec2.calls).toHaveLength(0);
  });

  it('reports a registration failure tag seen on an unregistered instance', async () => {
    await run(tagChange(ec2Id(8), { Name: 'x', 'central-it:registration-error': 'register failed: code expired' }));
    expect(hub.calls).toHaveLength(0);
    const warn = logsAt('WARN').find((l) => l['message'] === 'registration failed on instance');
    expect(warn).toMatchObject({ ec2InstanceId: ec2Id(8), error: 'register failed: code expired' });
  });

  it('deregisters a terminated instance with the managed node ID read from its tags', async () => {
    ec2.instances = [managed(5, { state: 'terminated' }), managed(6)];
    await run(stateChange(ec2Id(5), 'terminated'));
    expect(ec2.calls).toHaveLength(1);
    expect(ec2.calls[0]).toMatchObject({ instanceIds: [ec2Id(5)], outcome: 'ok' });
    expect(ec2.calls[0]!.maxResults).toBeUndefined();
    expect(hub.calls.map((c) => c.payload)).toEqual([
      { op: 'deregister', instances: [{ ec2InstanceId: ec2Id(5), managedInstanceId: miId(5) }] },
    ]);
  });

  it('does nothing for a terminated instance EC2 no longer knows', async () => {
    await expect(run(stateChange(ec2Id(77), 'terminated'))).resolves.toBeDefined();
    expect(ec2.calls[0]!.outcome).toBe('error');
    expect(hub.calls).toHaveLength(0);
  });

  it('ignores state changes other than terminated', async () => {
    ec2.instances = [managed(5, { state: 'stopped' })];
    await run(stateChange(ec2Id(5), 'stopped'));
    expect(ec2.calls).toHaveLength(0);
    expect(hub.calls).toHaveLength(0);
  });
});

describe('hub refusals', () => {
  it('counts an Unauthorized answer and fails the run after trying every batch', async () => {
    ec2.instances = Array.from({ length: 250 }, (_, n) => managed(n));
    hub.onInvoke = async (p) =>
      (p as { op: string }).op === 'activation'
        ? activation
        : { error: { code: 'Unauthorized', message: 'invoked without an agency alias' } };
    // Three sync batches, each refused; the registration-error report is then not sent.
    await expect(run(scheduled)).rejects.toThrow(
      /collector run failed \(3 problem\(s\)\): hub refused sync request: Unauthorized/,
    );
    expect(hub.payloadsOf('sync')).toHaveLength(3);
    expect(hub.calls.filter((c) => (c.payload as { op?: string }).op === 'report')).toHaveLength(0);
    expect(metric('HubRefusals')).toBe(3);
    expect(logsAt('ERROR').filter((l) => l['code'] === 'Unauthorized')).toHaveLength(3);
    // The activation was still refreshed in the same run.
    expect(ssm.puts).toHaveLength(2);
  });

  it('counts a crashed hub (FunctionError) and still sends the other batches', async () => {
    ec2.instances = Array.from({ length: 250 }, (_, n) => managed(n));
    let n = 0;
    hub.onInvoke = async (p, meta) => {
      if ((p as { op: string }).op === 'sync' && ++n === 2) throw new TypeError('boom');
      return hubThatApplies(p, meta);
    };
    await expect(run(scheduled)).rejects.toThrow(/hub failed on sync request/);
    expect(hub.payloadsOf('sync')).toHaveLength(3);
    expect(metric('HubRefusals')).toBe(1);
    expect(metric('Applied')).toBe(150);
    expect(logsAt('ERROR')[0]).toMatchObject({ errorType: 'TypeError', error: 'boom', batch: 2 });
  });

  it.each([
    ['terminated', { state: 'terminated' as const }, 'gone'],
    ['shutting down', { state: 'shutting-down' as const }, 'gone'],
    ['no longer listed by EC2', undefined, 'gone'],
    ['running', { state: 'running' as const }, 'refusal'],
    ['stopped', { state: 'stopped' as const }, 'refusal'],
  ])('counts a tag change the hub rejected as %s: %s', async (_state, now, expected) => {
    const tags = { Name: 'web-4', managedinstanceid: miId(4) };
    // By the time the sync reaches the hub, the termination's deregistration may have removed the node.
    ec2.instances = now ? [{ instanceId: ec2Id(4), tags, ...now }] : [];
    hub.onInvoke = async (p) => ({
      results: (p as { instances: Array<Record<string, string>> }).instances.map((i) => ({
        ...i,
        tags: undefined,
        status: 'rejected',
        reason: 'managed node is not registered to your agency',
      })),
    });
    const summary = (await run(tagChange(ec2Id(4), tags))) as Record<string, number>;
    const gone = expected === 'gone';
    expect(summary).toMatchObject({ gone: gone ? 1 : 0, rejected: gone ? 0 : 1, hubRefusals: gone ? 0 : 1 });
    expect(metric('HubRefusals')).toBe(gone ? 0 : 1);
    expect(logsAt('WARN').filter((l) => l['message'] === 'hub rejected instance')).toHaveLength(gone ? 0 : 1);
    // Asked with a filter: an instance EC2 no longer knows does not fail the call.
    expect(ec2.calls.at(-1)!.filters).toEqual([{ name: 'instance-id', values: [ec2Id(4)] }]);
  });

  it('counts rejections as refusals when EC2 cannot say whether the instances are gone', async () => {
    ec2.failWith = { status: 403, code: 'UnauthorizedOperation', message: 'You are not authorized.' };
    hub.onInvoke = async (p) => ({
      results: (p as { instances: Array<Record<string, string>> }).instances.map((i) => ({
        managedInstanceId: i['managedInstanceId'],
        status: 'rejected',
      })),
    });
    const summary = (await run(tagChange(ec2Id(4), { managedinstanceid: miId(4) }))) as Record<string, number>;
    expect(summary).toMatchObject({ gone: 0, rejected: 1, hubRefusals: 1 });
  });

  it('reports each rejected instance, counts it, and does not fail the run for it', async () => {
    ec2.instances = Array.from({ length: 10 }, (_, n) => managed(n));
    hub.onInvoke = async (p, meta) => {
      const answer = (await hubThatApplies(p, meta)) as { results?: Array<Record<string, unknown>> };
      answer.results?.forEach((r, i) => {
        if (i === 3 || i === 8) Object.assign(r, { status: 'rejected', reason: 'node belongs to another agency' });
        if (i === 5) Object.assign(r, { status: 'unchanged' });
      });
      return answer;
    };
    const summary = (await run(scheduled)) as Record<string, unknown>;
    expect(summary).toMatchObject({ applied: 7, unchanged: 1, rejected: 2, hubRefusals: 2 });
    const warns = logsAt('WARN').filter((l) => l['message'] === 'hub rejected instance');
    expect(warns.map((w) => w['managedInstanceId'])).toEqual([miId(3), miId(8)]);
    expect(warns[0]!['reason']).toBe('node belongs to another agency');
    expect(metric('HubRefusals')).toBe(2);
    expect(metric('Rejected')).toBe(2);
  });

  it('fails on an answer that breaks the contract and names the field', async () => {
    ec2.instances = [managed(1)];
    hub.onInvoke = async (p) =>
      (p as { op: string }).op === 'activation'
        ? activation
        : { results: [{ managedInstanceId: miId(1), status: 'done' }] };
    await expect(run(scheduled)).rejects.toThrow(/does not match the contract/);
    expect(logsAt('ERROR')[0]).toMatchObject({ field: 'results[0].status' });
  });

  it('counts the tags the hub did not copy to SSM in the run summary, per tag and per instance', async () => {
    ec2.instances = [managed(1), managed(2), managed(3)];
    hub.onInvoke = async (p, meta) => {
      const answer = (await hubThatApplies(p, meta)) as { results?: Array<Record<string, unknown>> };
      answer.results?.forEach((r, i) => {
        if (i === 0) r['skippedTags'] = [{ key: 'aws:autoscaling:groupName', reason: 'aws: prefix' }];
        if (i === 2)
          r['skippedTags'] = [
            { key: 'k48', reason: 'over the 50-tag limit' },
            { key: 'k49', reason: 'over the 50-tag limit' },
          ];
      });
      return answer;
    };
    const summary = (await run(scheduled)) as Record<string, unknown>;
    expect(summary).toMatchObject({ tagsSkipped: 3, instancesWithSkippedTags: 2 });
    const finished = logsAt('INFO').find((l) => l['message'] === 'collector run finished');
    expect(finished).toMatchObject({ tagsSkipped: 3, instancesWithSkippedTags: 2 });
  });

  it('reports results the hub left out', async () => {
    ec2.instances = [managed(1), managed(2)];
    hub.onInvoke = async (p) =>
      (p as { op: string }).op === 'activation'
        ? activation
        : { results: [{ managedInstanceId: miId(1), status: 'applied' }] };
    const summary = (await run(scheduled)) as Record<string, unknown>;
    expect(summary['missingResults']).toBe(1);
    expect(logsAt('WARN').find((l) => l['message'] === 'hub returned no result for some instances')).toMatchObject({
      managedInstanceIds: [miId(2)],
    });
  });
});

describe('activation refresh', () => {
  const names = { id: `${PATH}/id`, code: `${PATH}/code` };

  it('writes the activation as SecureString parameters once, then only when it changed', async () => {
    await run(scheduled);
    expect(ssm.puts.map((p) => ({ ...p, value: p.name === names.code ? '(code)' : p.value }))).toEqual([
      { name: names.code, type: 'SecureString', keyId: undefined, overwrite: true, value: '(code)' },
      { name: names.id, type: 'SecureString', keyId: undefined, overwrite: true, value: 'act-1111' },
    ]);
    expect(ssm.parameters.get(names.code)).toMatchObject({ value: CODE, type: 'SecureString', keyId: 'alias/aws/ssm' });
    expect(ssm.gets.every((g) => g.withDecryption)).toBe(true);

    ssm.puts = [];
    await run(scheduled);
    expect(ssm.puts).toHaveLength(0);
    expect(
      logsAt('INFO').some((l) => l['message'] === 'activation unchanged' && l['activationId'] === 'act-1111'),
    ).toBe(true);

    activation = { ...activation, activationCode: CODE2 };
    await run(scheduled);
    expect(ssm.puts.map((p) => p.name)).toEqual([names.code]);
    expect(ssm.parameters.get(names.code)!.value).toBe(CODE2);

    ssm.puts = [];
    activation = { ...activation, activationId: 'act-2222', activationCode: CODE };
    await run(scheduled);
    // Both changed: the ID is first replaced by the placeholder (see the next test).
    expect(ssm.puts.map((p) => p.name)).toEqual([names.id, names.code, names.id]);
    expect(ssm.parameters.get(names.id)!.value).toBe('act-2222');
  });

  it('replaces ID and code so that a run cut after any write never leaves a code with another activation ID', async () => {
    // Activation IDs as SSM issues them (UUIDs), which the registration documents accept.
    const OLD = { activationId: '0a1b2c3d-0000-4000-8000-000000000001', activationCode: CODE };
    const NEW = { activationId: '0a1b2c3d-0000-4000-8000-000000000002', activationCode: CODE2 };
    activation = { ...activation, ...OLD };
    await run(scheduled);
    ssm.puts = [];
    activation = { ...activation, ...NEW };
    await run(scheduled);
    // Replay the writes: after each one, the pair a document would read is the old one, the new
    // one, or has an ID the documents refuse before touching the agent.
    const pair = { id: OLD.activationId, code: OLD.activationCode };
    const seen = [{ ...pair }];
    for (const put of ssm.puts) {
      pair[put.name === names.id ? 'id' : 'code'] = put.value;
      seen.push({ ...pair });
    }
    expect(seen.at(-1)).toEqual({ id: NEW.activationId, code: NEW.activationCode });
    for (const p of seen) {
      const whole =
        (p.id === OLD.activationId && p.code === OLD.activationCode) ||
        (p.id === NEW.activationId && p.code === NEW.activationCode);
      expect(whole || !DOCUMENT_ACTIVATION_ID.test(p.id), JSON.stringify({ ...p, code: '…' })).toBe(true);
    }
    expect(seen.some((p) => p.id === ACTIVATION_ID_PLACEHOLDER)).toBe(true);
  });

  it('leaves the parameters as they are when too little time is left to write them all', async () => {
    await run(scheduled);
    ssm.puts = [];
    activation = { ...activation, activationId: 'act-3333', activationCode: CODE2 };
    // Time enough for the hub call; then the hub took nearly all of it.
    let answered = false;
    hub.onInvoke = async (p, meta) => {
      if ((p as { op: string }).op === 'activation') answered = true;
      return hubThatApplies(p, meta);
    };
    const context = {
      ...CONTEXT,
      getRemainingTimeInMillis: () => (answered ? ACTIVATION_WRITES_RESERVE_MS - 1 : 900_000),
    };
    const summary = (await collector.handler(scheduled, context)) as Record<string, number>;
    expect(ssm.puts).toHaveLength(0);
    expect(ssm.parameters.get(names.id)!.value).toBe('act-1111');
    expect(summary.activationRefreshSkipped).toBe(1);
    expect(logsAt('WARN').map((l) => l['message'])).toContain(
      'out of time: activation parameters left as they are until the next reconcile',
    );
  });

  it('never writes a log line or error containing the activation code', async () => {
    ec2.instances = [managed(1)];
    await run(scheduled);
    activation = { ...activation, activationCode: CODE2 };
    await run(scheduled);
    // An answer that breaks the contract while carrying the code: the error names the field only.
    const broken = { ...activation, activationCode: CODE, expiresAt: 'next month' };
    hub.onInvoke = async (p, meta) => ((p as { op: string }).op === 'activation' ? broken : hubThatApplies(p, meta));
    const err = await run(scheduled).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/activation answer does not match the contract/);
    expect(logsAt('ERROR').some((l) => l['field'] === 'expiresAt')).toBe(true);
    const all = lines.join('\n') + String(err?.message) + String(err?.stack);
    expect(lines.length).toBeGreaterThan(5);
    expect(all).not.toContain(CODE);
    expect(all).not.toContain(CODE2);
  });

  it('fails loudly when the hub refuses the activation request', async () => {
    hub.onInvoke = async (p, meta) =>
      (p as { op: string }).op === 'activation'
        ? { error: { code: 'NotFound', message: 'no activation for this agency' } }
        : hubThatApplies(p, meta);
    await expect(run(scheduled)).rejects.toThrow(/hub refused activation request: NotFound/);
    expect(ssm.puts).toHaveLength(0);
    expect(metric('HubRefusals')).toBe(1);
  });
});

describe('configuration', () => {
  it('refuses to run without a valid hub alias ARN and names the variable', async () => {
    const name = COLLECTOR_ENV.hubFunctionArn;
    try {
      vi.stubEnv(name, 'arn:aws:lambda:eu-west-1:999988887777:function:ssm-hub-tag-manager');
      await expect(run(scheduled)).rejects.toThrow(
        /HUB_FUNCTION_ARN is invalid: must be the ARN of the hub alias agency-<account ID>/,
      );
      vi.stubEnv(name, undefined);
      await expect(run(scheduled)).rejects.toThrow(/HUB_FUNCTION_ARN is not set/);
    } finally {
      vi.stubEnv(name, HUB_ARN);
    }
    expect(hub.calls).toHaveLength(0);
  });
});

describe('time budget', () => {
  it('refreshes the activation before the syncs, so a long reconcile cannot leave it out', async () => {
    ec2.instances = [managed(1)];
    // The one sync batch starts in time; the hub then takes most of what was left.
    let synced = false;
    hub.onInvoke = async (p, meta) => {
      if ((p as { op: string }).op === 'sync') synced = true;
      return hubThatApplies(p, meta);
    };
    const context = { ...CONTEXT, getRemainingTimeInMillis: () => (synced ? HUB_CALL_RESERVE_MS - 1 : 900_000) };
    const summary = (await collector.handler(scheduled, context)) as Record<string, number>;
    expect(hub.calls.map((c) => (c.payload as { op: string }).op)).toEqual(['activation', 'sync']);
    expect(summary).toMatchObject({ reportWithheld: 1, activationRefreshSkipped: 0, applied: 1 });
    expect(metric('ReportWithheld')).toBe(1);
    expect(
      logsAt('WARN').find(
        (l) => l['message'] === 'registration report not sent: this run did not account for every node',
      ),
    ).toMatchObject({ outOfTime: 1, deferred: 0, failedRequests: 0 });
  });

  it('starts neither the activation refresh nor the report with less than a whole hub call of time left, and counts the skipped refresh', async () => {
    ec2.instances = [managed(1)];
    const context = { ...CONTEXT, getRemainingTimeInMillis: () => HUB_CALL_RESERVE_MS - 1 };
    const summary = (await collector.handler(scheduled, context)) as Record<string, number>;
    expect(hub.calls).toHaveLength(0);
    expect(summary).toMatchObject({ reportWithheld: 1, activationRefreshSkipped: 1, deferred: 1 });
    expect(metric('ActivationRefreshSkipped')).toBe(1);
    expect(logsAt('WARN').map((l) => l['message'])).toContain(
      'out of time: activation refresh left to the next reconcile',
    );
  });

  it('starts a hub request only with a full tag-manager call of time left, and defers the rest without failing', async () => {
    ec2.instances = Array.from({ length: 450 }, (_, n) => managed(n));
    // 3 hub calls fit, then the invocation is short of time (HUB_CALL_RESERVE_MS is 320 s).
    const context = {
      ...CONTEXT,
      getRemainingTimeInMillis: () => (hub.payloadsOf('sync').length < 3 ? 600_000 : 300_000),
    };
    const summary = (await collector.handler(scheduled, context)) as Record<string, number>;
    expect(hub.payloadsOf('sync')).toHaveLength(3);
    expect(summary.sent).toBe(300);
    expect(summary.deferred).toBe(150);
    expect(
      logsAt('WARN').some(
        (l) =>
          l['message'] === 'out of time: remaining instances deferred to the next reconcile' && l['deferred'] === 150,
      ),
    ).toBe(true);
    expect(metric('Deferred')).toBe(150);
  });
});

describe('the registration report (the hub\'s "collector reported" time, the orphan sweep\'s guard)', () => {
  const reports = () => hub.calls.filter((c) => (c.payload as { op?: string } | null)?.op === 'report');
  const withheld = () =>
    logsAt('WARN').filter(
      (l) => l['message'] === 'registration report not sent: this run did not account for every node',
    );

  it('is sent after a run whose sync requests were all answered, rejected instances included', async () => {
    ec2.instances = Array.from({ length: 150 }, (_, n) => managed(n));
    hub.onInvoke = async (p, meta) => {
      const body = (await hubThatApplies(p, meta)) as { results?: Array<Record<string, unknown>> };
      // The hub answers every instance; one of them is refused as another agency's node.
      if ((p as { op: string }).op === 'sync') body.results![0]!.status = 'rejected';
      return body;
    };
    const summary = (await run(scheduled)) as Record<string, number>;
    expect(reports()).toHaveLength(1);
    expect(summary.reportWithheld).toBe(0);
    expect(withheld()).toHaveLength(0);
  });

  it('is not sent when a sync request failed (the hub crashed on one batch), and the run fails', async () => {
    ec2.instances = Array.from({ length: 250 }, (_, n) => managed(n));
    let n = 0;
    hub.onInvoke = async (p, meta) => {
      if ((p as { op: string }).op === 'sync' && ++n === 2) throw new TypeError('boom');
      return hubThatApplies(p, meta);
    };
    await expect(run(scheduled)).rejects.toThrow(/hub failed on sync request/);
    expect(reports()).toHaveLength(0);
    expect(withheld()).toEqual([expect.objectContaining({ failedRequests: 1, deferred: 0, missingResults: 0 })]);
  });

  it('is not sent when every sync request failed', async () => {
    ec2.instances = [managed(1)];
    hub.onInvoke = async (p, meta) => {
      if ((p as { op: string }).op === 'sync') throw new Error('hub sync unavailable');
      return hubThatApplies(p, meta);
    };
    await expect(run(scheduled)).rejects.toThrow(/collector run failed/);
    expect(reports()).toHaveLength(0);
  });

  it('is not sent when sync batches were deferred for lack of time (the run itself succeeds)', async () => {
    ec2.instances = Array.from({ length: 450 }, (_, n) => managed(n));
    const context = {
      ...CONTEXT,
      getRemainingTimeInMillis: () => (hub.payloadsOf('sync').length < 3 ? 600_000 : 300_000),
    };
    const summary = (await collector.handler(scheduled, context)) as Record<string, number>;
    expect(summary.deferred).toBe(150);
    expect(summary.reportWithheld).toBe(1);
    expect(metric('ReportWithheld')).toBe(1);
    expect(reports()).toHaveLength(0);
    expect(withheld()).toEqual([expect.objectContaining({ deferred: 150 })]);
  });

  it('is not sent when the hub answered `failed` for an instance (e.g. deferred on its side)', async () => {
    ec2.instances = Array.from({ length: 3 }, (_, n) => managed(n));
    hub.onInvoke = async (p, meta) => {
      const body = (await hubThatApplies(p, meta)) as { results?: Array<Record<string, unknown>> };
      if ((p as { op: string }).op === 'sync')
        Object.assign(body.results![2]!, { status: 'failed', reason: 'deferred: the invocation ran out of time' });
      return body;
    };
    await run(scheduled);
    expect(reports()).toHaveLength(0);
    expect(withheld()).toEqual([expect.objectContaining({ failedInstances: 1, failedRequests: 0 })]);
  });

  it('is not sent when the hub left some instances out of its answer', async () => {
    ec2.instances = Array.from({ length: 3 }, (_, n) => managed(n));
    hub.onInvoke = async (p, meta) => {
      const body = (await hubThatApplies(p, meta)) as { results?: unknown[] };
      if ((p as { op: string }).op === 'sync') body.results = body.results!.slice(1);
      return body;
    };
    await run(scheduled);
    expect(reports()).toHaveLength(0);
    expect(withheld()).toEqual([expect.objectContaining({ missingResults: 1 })]);
  });
});

describe('reconcile safety', () => {
  it('sends neither of two live instances that claim the same managed node, and syncs the rest', async () => {
    ec2.instances = [
      managed(1),
      { ...managed(2), tags: { ...managed(2).tags, managedinstanceid: miId(1) } },
      managed(3),
    ];
    const summary = (await run(scheduled)) as Record<string, number>;
    const sent = hub.payloadsOf('sync').flatMap((p) => p['instances'] as Array<{ ec2InstanceId: string }>);
    expect(sent.map((i) => i.ec2InstanceId)).toEqual([ec2Id(3)]);
    expect(summary.duplicateClaims).toBe(2);
    expect(metric('DuplicateClaims')).toBe(2);
    // One WARN names the node and every instance that claims it.
    expect(logsAt('WARN').filter((l) => l['managedInstanceId'] === miId(1))).toEqual([
      expect.objectContaining({
        message: 'managed node claimed by several instances; none of them sent',
        ec2InstanceIds: [ec2Id(1), ec2Id(2)],
      }),
    ]);
  });

  it('holds back the registration report while two live instances claim the same node', async () => {
    ec2.instances = [managed(1), { ...managed(2), tags: { ...managed(2).tags, managedinstanceid: miId(1) } }];
    const summary = (await run(scheduled)) as Record<string, number>;
    expect(summary.reportWithheld).toBe(1);
    expect(metric('ReportWithheld')).toBe(1);
    expect(hub.payloadsOf('report')).toHaveLength(0);
    expect(
      logsAt('WARN').find(
        (l) => l['message'] === 'registration report not sent: this run did not account for every node',
      ),
    ).toMatchObject({ duplicateClaims: 2, failedRequests: 0, deferred: 0 });
  });
});

// Issue 11: the registration scripts clear managedinstanceid and the error tag by writing them
// empty (the instance role has no ec2:DeleteTags). EC2 keeps such a tag, lists it under the
// tag-key filter and puts it in tag-change events; the collector must act exactly as it does when
// the tag is gone. Each case runs once with the tags removed and once with them cleared.
describe('a cleared (empty) registration tag is no tag', () => {
  const ERR = 'central-it:registration-error';
  const without = (tags: Record<string, string>, ...keys: string[]) =>
    Object.fromEntries(Object.entries(tags).filter(([k]) => !keys.includes(k)));
  /** The instance `n` with `keys` cleared (value '') or removed. */
  const fleet = (how: 'removed' | 'cleared'): FakeInstance[] => {
    const set = (n: number, tags: Record<string, string>, keys: string[], state?: FakeInstance['state']) => ({
      instanceId: ec2Id(n),
      ...(state ? { state } : {}),
      tags: how === 'removed' ? without(tags, ...keys) : { ...tags, ...Object.fromEntries(keys.map((k) => [k, ''])) },
    });
    return [
      managed(1),
      // Registration failed, or the instance went back to its own account: no node any more.
      set(2, managed(2).tags!, ['managedinstanceid']),
      // Registered after an earlier failure: the error tag was cleared.
      set(3, managed(3).tags!, [ERR]),
      // Failed now: an error to report, and the old node ID cleared.
      set(4, { ...managed(4).tags!, [ERR]: 'register: amazon-ssm-agent -register failed' }, ['managedinstanceid']),
      // Deregistered, then terminated: nothing to deregister.
      set(5, managed(5).tags!, ['managedinstanceid', ERR], 'terminated'),
      managed(6, { state: 'terminated' }),
    ];
  };
  // The observed time differs between the two runs; the rest must not.
  const outcome = () => ({
    payloads: hub.calls.map((c) =>
      JSON.parse(JSON.stringify(c.payload).replace(/"observedAt":"[^"]*"/g, '"observedAt":"…"')),
    ),
    warnings: logsAt('WARN').map((l) => l['message']),
    invalid: metric('InvalidManagedInstanceIds'),
  });

  it('reconciles a fleet with cleared tags exactly as the same fleet with the tags removed', async () => {
    ec2.instances = fleet('removed');
    const removedSummary = await run(scheduled);
    const removed = outcome();
    ec2.reset();
    hub.reset(hubThatApplies);
    lines = [];
    ec2.instances = fleet('cleared');
    const clearedSummary = await run(scheduled);
    expect(outcome()).toEqual(removed);
    expect(clearedSummary).toEqual(removedSummary);

    expect(removed.invalid).toBe(0);
    const sent = hub.payloadsOf('sync').flatMap((p) => p['instances'] as Array<Record<string, unknown>>);
    expect(sent).toEqual([
      { ec2InstanceId: ec2Id(1), managedInstanceId: miId(1), tags: managed(1).tags, observedAt: expect.any(String) },
      { ec2InstanceId: ec2Id(3), managedInstanceId: miId(3), tags: managed(3).tags, observedAt: expect.any(String) },
    ]);
    expect(hub.payloadsOf('deregister').flatMap((p) => p['instances'] as unknown[])).toEqual([
      { ec2InstanceId: ec2Id(6), managedInstanceId: miId(6) },
    ]);
    expect(hub.payloadsOf('report')).toEqual([
      {
        op: 'report',
        registrationErrors: [{ ec2InstanceId: ec2Id(4), error: 'register: amazon-ssm-agent -register failed' }],
        // The collector's Region (the Lambda runtime's AWS_REGION; vitest.config.ts sets us-east-1).
        region: 'us-east-1',
      },
    ]);
  });

  it.each([
    ['managedinstanceid of an unregistered instance', { Name: 'x' }, ['managedinstanceid']],
    ['error tag of a registered instance', { Name: 'x', managedinstanceid: miId(9) }, [ERR]],
    ['managedinstanceid and error tag', { Name: 'x' }, ['managedinstanceid', ERR]],
  ])('handles a tag-change event with a cleared %s as one without it', async (_label, tags, keys) => {
    await run(tagChange(ec2Id(9), tags));
    const removed = outcome();
    hub.reset(hubThatApplies);
    lines = [];
    await run(tagChange(ec2Id(9), { ...tags, ...Object.fromEntries(keys.map((k) => [k, ''])) }));
    expect(outcome()).toEqual(removed);
    expect(removed.warnings).toEqual([]);
  });

  it('does not deregister, or warn about, a terminated instance whose managedinstanceid was cleared', async () => {
    ec2.instances = [{ instanceId: ec2Id(5), state: 'terminated', tags: { Name: 'x', managedinstanceid: '' } }];
    await run(stateChange(ec2Id(5), 'terminated'));
    expect(ec2.calls).toHaveLength(1);
    expect(hub.calls).toHaveLength(0);
    expect(logsAt('WARN')).toEqual([]);
  });
});
