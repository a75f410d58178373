// End to end, tag sets delivered out of order: the real collector bundle (agency account) and the
// real tag manager bundle (central account), wired as in collector-to-hub.test.ts. EventBridge does
// not keep events in order, and a long reconcile can send a snapshot read before a change that an
// event already synced: the node keeps the newer tags either way.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { lambdaContext, type BundledHandler } from '../../testing/helpers/bundled.ts';
import type { FakeInstance } from '../../testing/fakes/ec2-fake.ts';
import { AgencyAccount } from '../../testing/helpers/agency-account.ts';
import { AGENCY_A, ec2Id, startHarness, type Harness } from '../lambda/tag-manager/harness.ts';
import { invokeHub, wiredCollector } from './wiring.ts';

let hub: Harness;
let collector: BundledHandler;
const collectorLog: string[] = [];
/** The collector's own EMF metric `name`, summed over the lines it logged since `from`. */
const collectorMetric = (name: string, from = 0) =>
  collectorLog
    .slice(from)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l['_aws'] && typeof l[name] === 'number')
    .reduce((sum, l) => sum + (l[name] as number), 0);
const agency = new AgencyAccount();
const { ec2, lambda } = agency;
const scheduled = { version: '0', source: 'aws.events', 'detail-type': 'Scheduled Event', resources: [], detail: {} };
const ctx = () => lambdaContext(`arn:aws:lambda:us-east-1:${AGENCY_A}:function:ssm-hub-collector`);
const tagsOf = (mi: string) => hub.ssm.state.tagsOf(mi)!;
const instance = (n: number, mi: string, tags: Record<string, string> = {}): FakeInstance => ({
  instanceId: ec2Id(n),
  tags: { Name: `web-${n}`, managedinstanceid: mi, ...tags },
});
/** An EC2 "Tag Change on Resource" event as EventBridge delivers it: `time` in whole seconds. */
const tagChange = (n: number, mi: string, time: Date, version: number, team: string) => ({
  version: '0',
  id: `00000000-0000-4000-8000-${String(version).padStart(12, '0')}`,
  source: 'aws.tag',
  'detail-type': 'Tag Change on Resource',
  account: AGENCY_A,
  time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  region: 'us-east-1',
  resources: [`arn:aws:ec2:us-east-1:${AGENCY_A}:instance/${ec2Id(n)}`],
  detail: {
    'changed-tag-keys': ['Team'],
    service: 'ec2',
    'resource-type': 'instance',
    version,
    tags: { Name: `web-${n}`, managedinstanceid: mi, Team: team },
  },
});
const toHub = (payload: unknown, meta: { functionName: string; qualifier?: string }) => invokeHub(hub)(payload, meta);

beforeAll(async () => {
  hub = await startHarness();
  collector = await wiredCollector(hub, agency, '/central-hub/activation');
  (collector.setLogSink as (s: (l: string) => void) => void)((l) => collectorLog.push(l));
  hub.plantActivation(AGENCY_A, { activationId: 'act-a', code: 'PLANTED-ORDER-CODE' });
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all([hub.close(), agency.stop()]);
});
beforeEach(() => lambda.reset(toHub));

describe('tag changes delivered out of order', () => {
  // The reviewer's R1 (test/e2e/review-collector.test.ts in the review), with the `time` every
  // EventBridge event carries: the version-5 event is handled before the version-4 one.
  it.each([
    { case: 'the same second, ordered by version', v4At: 0, v5At: 0 },
    { case: 'a second apart', v4At: 0, v5At: 1_000 },
  ])('R1: v5 then v4 leaves v5 on the node ($case)', async ({ v4At, v5At }) => {
    const mi = hub.registerNode(80 + v5At / 1000, AGENCY_A, 'act-a');
    const n = 80 + v5At / 1000;
    ec2.instances = [instance(n, mi, { Team: 'v3' })];
    await collector.handler(scheduled, ctx());
    expect(tagsOf(mi)['Team']).toBe('v3');
    const t = new Date(Math.floor(Date.now() / 1000) * 1000);
    ec2.instances = [instance(n, mi, { Team: 'v5' })];

    const logged = collectorLog.length;
    const first = (await collector.handler(tagChange(n, mi, new Date(t.getTime() + v5At), 5, 'v5'), ctx())) as Record<
      string,
      number
    >;
    const second = (await collector.handler(tagChange(n, mi, new Date(t.getTime() + v4At), 4, 'v4'), ctx())) as Record<
      string,
      number
    >;

    expect(first).toMatchObject({ applied: 1, superseded: 0 });
    expect(second).toMatchObject({ applied: 0, superseded: 1, failed: 0, rejected: 0, hubRefusals: 0 });
    expect(tagsOf(mi)['Team']).toBe('v5');
    expect(collectorMetric('Superseded', logged)).toBe(1);
  });
});

describe('a reconcile and an event', () => {
  it('does not apply a reconcile snapshot read before a change that an event already synced', async () => {
    const n = 90;
    const mi = hub.registerNode(n, AGENCY_A, 'act-a');
    ec2.instances = [instance(n, mi, { Team: 'old' })];
    await collector.handler(scheduled, ctx());
    // The reconcile reads EC2 (Team=old). Before its sync reaches the hub, Team changes to new and
    // that change's event runs through another collector invocation and is applied.
    let raced = false;
    lambda.reset(async (payload, meta) => {
      if ((payload as { op: string }).op === 'sync' && !raced) {
        raced = true;
        ec2.instances = [instance(n, mi, { Team: 'new' })];
        const ev = (await collector.handler(tagChange(n, mi, new Date(), 7, 'new'), ctx())) as Record<string, number>;
        expect(ev).toMatchObject({ applied: 1 });
      }
      return toHub(payload, meta);
    });
    const superseded = hub.metrics('SupersededSyncs');

    const reconcile = (await collector.handler(scheduled, ctx())) as Record<string, number>;

    expect(raced).toBe(true);
    expect(reconcile).toMatchObject({ superseded: 1, applied: 0, failed: 0, hubRefusals: 0, reportWithheld: 0 });
    expect(hub.metrics('SupersededSyncs')).toBe(superseded + 1);
    expect(tagsOf(mi)['Team']).toBe('new');
  });

  it('applies a reconcile snapshot read after the last event', async () => {
    const n = 91;
    const mi = hub.registerNode(n, AGENCY_A, 'act-a');
    ec2.instances = [instance(n, mi, { Team: 'a' })];
    await collector.handler(tagChange(n, mi, new Date(Date.now() - 60_000), 1, 'a'), ctx());
    expect(tagsOf(mi)['Team']).toBe('a');
    // A later change whose event was lost (delivery is best effort): the next reconcile brings it.
    ec2.instances = [instance(n, mi, { Team: 'b' })];
    const reconcile = (await collector.handler(scheduled, ctx())) as Record<string, number>;
    expect(reconcile).toMatchObject({ applied: 1, superseded: 0 });
    expect(tagsOf(mi)['Team']).toBe('b');
  });
});
