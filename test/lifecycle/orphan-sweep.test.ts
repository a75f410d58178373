// The orphan sweep, through the real fleet-lifecycle bundle: SSM (activation records, managed
// nodes) is the loopback fake, the sync table is dynalite. An orphan of each kind is swept, a
// healthy node never, nothing is swept for an agency whose collector has not reported since, and
// dry-run changes nothing.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { loadBundledHandler, type BundledHandler } from '../../testing/helpers/bundled.ts';
import { startDynalite, type DynaliteHandle } from '../../testing/helpers/dynalite.ts';
import { startBatchGetThrottle, type BatchGetThrottle } from '../../testing/helpers/batch-get-throttle.ts';
import { startSsmActivationsFake, type SsmActivationsFake } from '../../testing/fakes/ssm-activations-fake.ts';
import { DAY, PREFIX, seedAgency } from '../lambda/activation-manager/harness.ts';
import { LIFECYCLE_ENVIRONMENT as L } from '../../contract/environment.ts';
import { guardReportedAt, orphanReason } from '../../lambda/fleet-lifecycle/sweep-rules.ts';
import { backoffMs } from '../../lambda/fleet-lifecycle/nodes-io.ts';
import { BATCH_GET_RETRY } from '../../contract/limits.ts';

const A = '222222222222';
const B = '333333333333';
const HOUR = 3_600_000;
const NOW = Date.now();

let ssm: SsmActivationsFake;
let db: DynaliteHandle;
let throttle: BatchGetThrottle;
let fn: BundledHandler;
let logs: string[] = [];
const doc = () => DynamoDBDocumentClient.from(db.client);
const put = (Item: Record<string, unknown>) => doc().send(new PutCommand({ TableName: db.tableName, Item }));
const rowIds = async () =>
  ((await doc().send(new ScanCommand({ TableName: db.tableName }))).Items ?? []).map((i) => i.managedInstanceId);
const metric = (name: string) =>
  logs.map((l) => JSON.parse(l)).reduce((n, r) => n + (r._aws && typeof r[name] === 'number' ? r[name] : 0), 0);

const ids: Record<string, string> = {};

beforeAll(async () => {
  ssm = await startSsmActivationsFake();
  db = await startDynalite();
  throttle = await startBatchGetThrottle(db.endpoint);
  for (const [k, v] of Object.entries({
    AWS_ENDPOINT_URL_SSM: ssm.endpoint,
    // Through a proxy that can answer BatchGetItem as a throttled table does.
    AWS_ENDPOINT_URL_DYNAMODB: throttle.endpoint,
    [L.retryBaseDelayMs.name]: '1',
    [L.syncTableName.name]: db.tableName,
    [L.activationParameterPrefix.name]: PREFIX,
    [L.metricNamespace.name]: 'SsmHub/test',
    [L.agencyStackPrefix.name]: 'ssm-hub-agency-',
    [L.centralStackName.name]: 'ssm-hub-central-manager',
    [L.agencyTemplateBody.name]: '{}',
    [L.stackRoleArn.name]: 'arn:aws:iam::999999999999:role/agency-stacks',
  }))
    vi.stubEnv(k, v);
  fn = await loadBundledHandler('fleet-lifecycle');
  (fn.setLogSink as (s: (l: string) => void) => void)((l) => logs.push(l));
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await ssm.close();
  await db.close();
  await throttle.close();
});

beforeEach(async () => {
  logs = [];
  throttle.starve(0);
  throttle.failNext('DeleteItem', 0);
  ssm.nodes.nodes.clear();
  ssm.state.parameters.clear();
  const a = seedAgency(ssm, A, { expiresInMs: 20 * DAY }).current.ActivationId;
  const b = seedAgency(ssm, B, { expiresInMs: 20 * DAY }).current.ActivationId;
  const node = (name: string, activation: string, init: Parameters<SsmActivationsFake['registerNodes']>[2]) =>
    (ids[name] = ssm.registerNodes(activation, 1, init)[0]!);
  // Agency A, whose collector reported a minute ago.
  node('healthy', a, { RegistrationDate: new Date(NOW - 60 * DAY) });
  node('unclaimed', a, { RegistrationDate: new Date(NOW - 48 * HOUR) });
  node('young', a, { RegistrationDate: new Date(NOW - 2 * HOUR) });
  node('lost', a, {
    RegistrationDate: new Date(NOW - 90 * DAY),
    PingStatus: 'ConnectionLost',
    LastPingDateTime: new Date(NOW - 40 * DAY),
  });
  node('lostBriefly', a, {
    RegistrationDate: new Date(NOW - 90 * DAY),
    PingStatus: 'ConnectionLost',
    LastPingDateTime: new Date(NOW - 10 * DAY),
  });
  // Agency B: an unclaimed node, but B's collector last reported before it became overdue.
  node('unclaimedB', b, { RegistrationDate: new Date(NOW - 48 * HOUR) });
  for (const n of ['healthy', 'lost', 'lostBriefly'])
    await put({ managedInstanceId: ids[n], agencyAccountId: A, ec2InstanceId: `i-0000000000000000${n.length % 10}` });
  await put({ managedInstanceId: `regerr#${A}`, reportedBy: A, reportedAt: new Date(NOW - 60_000).toISOString() });
  await put({ managedInstanceId: `regerr#${B}`, reportedBy: B, reportedAt: new Date(NOW - 30 * HOUR).toISOString() });
});

describe('orphan sweep', () => {
  it('deregisters one orphan of each kind with its reason, never a healthy node, and counts them', async () => {
    vi.stubEnv(L.sweepMode.name, 'enabled');
    const summary = (await fn.handler({ task: 'orphan-sweep' }, {})) as Record<string, any>;
    const left = [...ssm.nodes.nodes.keys()];
    expect(left).not.toContain(ids.unclaimed);
    expect(left).not.toContain(ids.lost);
    for (const keep of ['healthy', 'young', 'lostBriefly', 'unclaimedB']) expect(left).toContain(ids[keep]);
    expect(summary).toMatchObject({ orphans: { unclaimed: 1, 'connection-lost': 1 }, deregistered: 2 });
    expect(await rowIds()).not.toContain(ids.lost);
    const lines = logs.map((l) => JSON.parse(l)).filter((l) => /^orphan (deregistered|already gone)$/.test(l.message));
    expect(lines.map((l) => [l.managedInstanceId, l.reason]).sort()).toEqual(
      [
        [ids.unclaimed, 'unclaimed'],
        [ids.lost, 'connection-lost'],
      ].sort(),
    );
    expect(metric('OrphansDeregistered')).toBe(2);
    expect(metric('OrphansUnclaimed')).toBe(1);
    expect(metric('OrphansConnectionLost')).toBe(1);
  });

  it('changes nothing in dry-run, and still reports each orphan', async () => {
    vi.stubEnv(L.sweepMode.name, 'dry-run');
    const before = [...ssm.nodes.nodes.keys()].sort();
    const rowsBefore = (await rowIds()).sort();
    const deregistersBefore = ssm.callsOf('DeregisterManagedInstance').length;
    const summary = (await fn.handler({ task: 'orphan-sweep' }, {})) as Record<string, any>;
    expect([...ssm.nodes.nodes.keys()].sort()).toEqual(before);
    expect((await rowIds()).sort()).toEqual(rowsBefore);
    expect(ssm.callsOf('DeregisterManagedInstance')).toHaveLength(deregistersBefore);
    expect(summary).toMatchObject({ dryRun: true, orphans: { unclaimed: 1, 'connection-lost': 1 }, deregistered: 0 });
    expect(logs.filter((l) => l.includes('dry run: not deregistered'))).toHaveLength(2);
  });

  it('does nothing at all when disabled', async () => {
    vi.stubEnv(L.sweepMode.name, 'disabled');
    const before = ssm.calls.length;
    expect(await fn.handler({ task: 'orphan-sweep' }, {})).toEqual({ task: 'orphan-sweep', disabled: true });
    expect(ssm.calls.length).toBe(before);
  });
});

describe('a throttled sync table (BatchGetItem answers with UnprocessedKeys)', () => {
  const sweep = () => fn.handler({ task: 'orphan-sweep' }, {});
  const errors = () => logs.map((l) => JSON.parse(l)).filter((l) => l.level === 'ERROR');

  it('reads the unprocessed keys again and then sweeps exactly as with a healthy table', async () => {
    vi.stubEnv(L.sweepMode.name, 'enabled');
    throttle.starve(3);
    const before = db.calls.BatchGetItem ?? 0;
    const summary = (await sweep()) as Record<string, any>;
    expect(db.calls.BatchGetItem! - before).toBeGreaterThanOrEqual(4);
    expect(summary).toMatchObject({ orphans: { unclaimed: 1, 'connection-lost': 1 }, deregistered: 2, failures: [] });
    for (const keep of ['healthy', 'young', 'lostBriefly', 'unclaimedB'])
      expect(ssm.nodes.nodes.has(ids[keep]!)).toBe(true);
  });

  it("sweeps none of an agency's nodes when keys stay unprocessed, and counts, logs and fails the run", async () => {
    vi.stubEnv(L.sweepMode.name, 'enabled');
    const a = JSON.parse(ssm.state.parameters.get(`${PREFIX}/${A}`)!.Value).current.activationId as string;
    const claimed = ssm.registerNodes(a, 20, { RegistrationDate: new Date(NOW - 60 * DAY) });
    for (const [i, id] of claimed.entries())
      await put({
        managedInstanceId: id,
        agencyAccountId: A,
        ec2InstanceId: `i-0123456789abcd${String(i).padStart(3, '0')}`,
      });
    const nodesBefore = [...ssm.nodes.nodes.keys()].sort();
    throttle.starve(1_000);
    const before = db.calls.BatchGetItem ?? 0;
    await expect(sweep()).rejects.toThrow(/orphan sweep: 1 failure\(s\): 222222222222: IncompleteReadError/);
    // Nothing of A is swept, not even its real orphans: a missing row is never read as "no row".
    expect([...ssm.nodes.nodes.keys()].sort()).toEqual(nodesBefore);
    expect(
      ssm.callsOf('DeregisterManagedInstance').filter((c) => nodesBefore.includes(String(c.input.InstanceId))),
    ).toHaveLength(0);
    // Every attempt for A's keys, then one for B's single node (read whole: B is swept as usual).
    expect(db.calls.BatchGetItem! - before).toBe(BATCH_GET_RETRY.attempts + 1);
    expect(metric('SweepFailures')).toBe(1);
    expect(errors().find((l) => l.message === 'orphan sweep failed for an agency')).toMatchObject({
      agencyAccountId: A,
      error: 'IncompleteReadError',
    });
  });

  it.each([
    [1, 0, 0],
    [1, 0.999, 49],
    [2, 0.999, 99],
    [4, 0.5, 200],
    [7, 0.999, 1_998],
    [12, 0.999, 1_998],
  ])('waits random × min(2 s, 50 ms × 2^(n−1)) before retry %i (random %f: %i ms)', (n, r, ms) => {
    expect(backoffMs(n, BATCH_GET_RETRY.baseDelayMs, () => r)).toBe(Math.min(ms, BATCH_GET_RETRY.maxDelayMs));
  });
});

describe('a node whose sync-table row names another agency', () => {
  it("is never swept for the agency whose activation registered it (the row's agency wins)", async () => {
    vi.stubEnv(L.sweepMode.name, 'enabled');
    const a = JSON.parse(ssm.state.parameters.get(`${PREFIX}/${A}`)!.Value).current.activationId as string;
    // Lost for 40 days, registered with A's activation, but the sync table files it under B.
    const [filedUnderB] = ssm.registerNodes(a, 1, {
      RegistrationDate: new Date(NOW - 90 * DAY),
      PingStatus: 'ConnectionLost',
      LastPingDateTime: new Date(NOW - 40 * DAY),
    });
    await put({ managedInstanceId: filedUnderB, agencyAccountId: B, ec2InstanceId: 'i-0bbbbbbbbbbbbbbb1' });
    const summary = (await fn.handler({ task: 'orphan-sweep' }, {})) as Record<string, any>;
    expect(ssm.nodes.nodes.has(filedUnderB!)).toBe(true);
    expect(await rowIds()).toContain(filedUnderB);
    // The other orphans of A are still swept: only that node is left alone.
    expect(summary).toMatchObject({ orphans: { unclaimed: 1, 'connection-lost': 1 }, deregistered: 2 });
  });
});

describe('a deregistered orphan whose row cannot be removed', () => {
  it('is still counted and logged as deregistered; the row left behind is a counted failure', async () => {
    vi.stubEnv(L.sweepMode.name, 'enabled');
    throttle.failNext('DeleteItem', 2);
    await expect(fn.handler({ task: 'orphan-sweep' }, {})).rejects.toThrow(/2 failure\(s\).*RowNotRemovedError/);
    expect(ssm.nodes.nodes.has(ids.unclaimed!)).toBe(false);
    expect(ssm.nodes.nodes.has(ids.lost!)).toBe(false);
    expect(await rowIds()).toContain(ids.lost);
    const lines = logs.map((l) => JSON.parse(l));
    expect(
      lines
        .filter((l) => l.message === 'orphan deregistered')
        .map((l) => l.managedInstanceId)
        .sort(),
    ).toEqual([ids.unclaimed, ids.lost].sort());
    expect(lines.filter((l) => l.message === 'row of a deregistered orphan could not be removed')).toHaveLength(2);
    expect(metric('OrphansDeregistered')).toBe(2);
    expect(metric('SweepFailures')).toBe(2);
  });
});

describe('an agency with collectors in several Regions', () => {
  it("is swept only once every Region's collector has reported since the node became overdue", async () => {
    vi.stubEnv(L.sweepMode.name, 'enabled');
    // A's us-east-1 collector reported a minute ago; its eu-west-1 one last reported 30 h ago.
    const fresh = new Date(NOW - 60_000).toISOString();
    await put({
      managedInstanceId: `regerr#${A}`,
      reportedBy: A,
      reportedAt: fresh,
      'reportedAt#us-east-1': fresh,
      'reportedAt#eu-west-1': new Date(NOW - 30 * HOUR).toISOString(),
    });
    const summary = (await fn.handler({ task: 'orphan-sweep' }, {})) as Record<string, any>;
    // The node unclaimed for 48 h became overdue 24 h ago: after eu-west-1's last report.
    expect(ssm.nodes.nodes.has(ids.unclaimed!)).toBe(true);
    // ConnectionLost for 40 days: overdue 10 days ago, before every Region's report.
    expect(ssm.nodes.nodes.has(ids.lost!)).toBe(false);
    expect(summary).toMatchObject({ orphans: { unclaimed: 0, 'connection-lost': 1 }, deregistered: 1 });
  });

  const t = (h: number) => new Date(NOW - h * HOUR).toISOString();
  it.each([
    ['an older row: reportedAt only', { reportedAt: t(1) }, t(1)],
    ['the oldest Region', { reportedAt: t(1), 'reportedAt#us-east-1': t(1), 'reportedAt#eu-west-1': t(30) }, t(30)],
    [
      'reportedAt older than every Region (an older collector somewhere)',
      { reportedAt: t(5), 'reportedAt#us-east-1': t(1) },
      t(5),
    ],
    ['a value that is not a time', { reportedAt: t(1), 'reportedAt#eu-west-1': 'soon' }, undefined],
    ['no row', undefined, undefined],
    ['a row without any time', { reportedBy: A }, undefined],
  ])('guard time: %s', (_name, row, expected) => {
    expect(guardReportedAt(row as Record<string, unknown> | undefined)?.toISOString()).toBe(expected);
  });
});

describe('the orphan rule', () => {
  const now = new Date('2026-06-30T00:00:00Z');
  const h = (n: number) => new Date(now.getTime() - n * HOUR);
  const w = { unclaimedHours: 24, connectionLostDays: 30 };
  it.each([
    {
      case: 'unclaimed for 25 h, collector reported since',
      node: { registeredAt: h(25) },
      row: undefined,
      reported: h(0),
      out: 'unclaimed',
    },
    { case: 'unclaimed for 23 h', node: { registeredAt: h(23) }, row: undefined, reported: h(0), out: undefined },
    {
      case: 'unclaimed, but the collector last reported before it was due',
      node: { registeredAt: h(25) },
      row: undefined,
      reported: h(2),
      out: undefined,
    },
    {
      case: 'unclaimed, collector never reported',
      node: { registeredAt: h(100) },
      row: undefined,
      reported: undefined,
      out: undefined,
    },
    {
      case: 'claimed and online',
      node: { registeredAt: h(100), pingStatus: 'Online' },
      row: { ec2InstanceId: 'i-1' },
      reported: h(0),
      out: undefined,
    },
    {
      case: 'ConnectionLost 31 days',
      node: { registeredAt: h(2000), pingStatus: 'ConnectionLost', lastPingAt: h(31 * 24) },
      row: { ec2InstanceId: 'i-1' },
      reported: h(0),
      out: 'connection-lost',
    },
    {
      case: 'ConnectionLost 29 days',
      node: { registeredAt: h(2000), pingStatus: 'ConnectionLost', lastPingAt: h(29 * 24) },
      row: { ec2InstanceId: 'i-1' },
      reported: h(0),
      out: undefined,
    },
  ])('$case: $out', ({ node, row, reported, out }) => {
    expect(orphanReason({ managedInstanceId: 'mi-1', ...node }, row, reported, now, w)).toBe(out);
  });
});
