// End to end (the real collector and tag manager bundles, as in collector-to-hub.test.ts): a
// live instance and a clone of its image both carry the same managed node ID. The collector sends
// neither, so no row binds the node; it must then hold back the registration report, or the
// fleet lifecycle's orphan sweep (which acts once the agency has reported after a node became
// overdue) would deregister the live original. A file of its own: no earlier report of the agency.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { guardReportedAt, orphanReason } from '../../lambda/fleet-lifecycle/sweep-rules.ts';
import { lambdaContext, type BundledHandler } from '../../testing/helpers/bundled.ts';
import type { FakeInstance } from '../../testing/fakes/ec2-fake.ts';
import { AgencyAccount } from '../../testing/helpers/agency-account.ts';
import { AGENCY_A, ec2Id, startHarness, type Harness } from '../lambda/tag-manager/harness.ts';
import { invokeHub, wiredCollector } from './wiring.ts';

let hub: Harness;
let collector: BundledHandler;
const agency = new AgencyAccount();
const { ec2, lambda } = agency;
let logs: Array<Record<string, unknown>> = [];
const scheduled = { version: '0', source: 'aws.events', 'detail-type': 'Scheduled Event', resources: [], detail: {} };
const reconcile = async () =>
  (await collector.handler(
    scheduled,
    lambdaContext(`arn:aws:lambda:us-east-1:${AGENCY_A}:function:ssm-hub-collector`),
  )) as Record<string, number>;
const instance = (n: number, mi: string): FakeInstance => ({
  instanceId: ec2Id(n),
  tags: { Name: 'web', Team: 'payroll', managedinstanceid: mi },
});
const HOUR_MS = 3_600_000;
const WINDOWS = { unclaimedHours: 24, connectionLostDays: 30 };

/** What the hub's sweep would decide for `mi`, one second after now, had it registered 25 h ago. */
async function sweepVerdict(mi: string) {
  const items = await hub.allItems();
  const reportedAt = guardReportedAt(items.find((r) => String(r['managedInstanceId']).startsWith('regerr#')));
  const row = items.find((r) => r['managedInstanceId'] === mi);
  const now = new Date(Date.now() + 1000);
  const node = { managedInstanceId: mi, pingStatus: 'Online', registeredAt: new Date(now.getTime() - 25 * HOUR_MS) };
  return { reportedAt, row, reason: orphanReason(node, row as never, reportedAt, now, WINDOWS) };
}

beforeAll(async () => {
  hub = await startHarness();
  collector = await wiredCollector(hub, agency, '/central-hub/activation');
  (collector.setLogSink as (s: (l: string) => void) => void)((l) => logs.push(JSON.parse(l)));
  hub.plantActivation(AGENCY_A, { activationId: 'act-a', code: 'PLANTED-DUPLICATE-CLAIMS-CODE' });
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all([hub.close(), agency.stop()]);
});
beforeEach(() => {
  logs = [];
  lambda.reset(invokeHub(hub));
});

describe('two live instances claiming one managed node', () => {
  it('hold back the report, so the orphan sweep never takes the live original for an unclaimed node', async () => {
    const mi = hub.registerNode(64, AGENCY_A, 'act-a');
    // The original's tag-change event was missed; a clone of its image carries the same node ID.
    ec2.instances = [instance(64, mi), instance(65, mi)];
    const summary = await reconcile();

    expect(summary).toMatchObject({ duplicateClaims: 2, reportWithheld: 1, sent: 0 });
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'WARN',
        message: 'managed node claimed by several instances; none of them sent',
        managedInstanceId: mi,
        ec2InstanceIds: [ec2Id(64), ec2Id(65)],
      }),
    );
    expect(logs).toContainEqual(expect.objectContaining({ ReportWithheld: 1, DuplicateClaims: 2 }));
    const held = await sweepVerdict(mi);
    expect(held.row).toBeUndefined();
    expect(held.reportedAt).toBeUndefined();
    expect(held.reason).toBeUndefined();

    // The clone is terminated: the next run binds the node to the original and reports again.
    ec2.instances = [instance(64, mi), { ...instance(65, mi), state: 'terminated' }];
    expect(await reconcile()).toMatchObject({ duplicateClaims: 0, reportWithheld: 0 });
    const after = await sweepVerdict(mi);
    expect(after.reportedAt).toBeInstanceOf(Date);
    expect(after.row).toMatchObject({ ec2InstanceId: ec2Id(64) });
    expect(after.reason).toBeUndefined();
  });
});
