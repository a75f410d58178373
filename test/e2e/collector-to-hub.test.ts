// End to end: the real collector bundle (agency account) invokes its alias through a Lambda
// fake, which runs the real tag manager bundle (central account) with the invoked alias ARN as
// context.invokedFunctionArn, exactly as Lambda would. Both talk to SSM fakes and the tag
// manager to dynalite. This proves the contract, identity and ownership across the two sides.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { lambdaContext, type BundledHandler } from '../../testing/helpers/bundled.ts';
import type { FakeInstance } from '../../testing/fakes/ec2-fake.ts';
import { AgencyAccount } from '../../testing/helpers/agency-account.ts';
import { AGENCY_A, AGENCY_B, PREFIX, ec2Id, startHarness } from '../lambda/tag-manager/harness.ts';
import { type Harness } from '../lambda/tag-manager/harness.ts';
import { invokeHub, wiredCollector } from './wiring.ts';

const PATH = '/central-hub/activation';
const CODE_A = 'PLANTED-E2E-CODE-AAAA-1234';
const CODE_B = 'PLANTED-E2E-CODE-BBBB-5678';

let hub: Harness;
let collector: BundledHandler;
const agency = new AgencyAccount();
const { ec2, lambda, params: agencyParams } = agency;
let collectorLogs: string[] = [];
const scheduled = { version: '0', source: 'aws.events', 'detail-type': 'Scheduled Event', resources: [], detail: {} };

const tagsOf = (mi: string) => Object.fromEntries(hub.ssm.state.nodes.get(mi)!.tags as unknown as Map<string, string>);
const instance = (n: number, mi: string, tags: Record<string, string> = {}): FakeInstance => ({
  instanceId: ec2Id(n),
  tags: { Name: `web-${n}`, OS: 'Linux', managedinstanceid: mi, ...tags },
});

beforeAll(async () => {
  hub = await startHarness();
  collector = await wiredCollector(hub, agency, PATH);
  (collector.setLogSink as (s: (l: string) => void) => void)((l) => collectorLogs.push(l));
  hub.plantActivation(AGENCY_A, { activationId: 'act-a', code: CODE_A });
  hub.plantActivation(AGENCY_B, { activationId: 'act-b', code: CODE_B });
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all([hub.close(), agency.stop()]);
});

beforeEach(() => {
  collectorLogs = [];
  // Lambda runs the real tag manager with the ARN the collector invoked, alias included.
  lambda.reset(invokeHub(hub));
});

describe('collector → alias → tag manager', () => {
  it("copies the agency's EC2 tags to the nodes it registered, then costs no SSM call while nothing changes", async () => {
    const mi1 = hub.registerNode(1, AGENCY_A, 'act-a');
    const mi2 = hub.registerNode(2, AGENCY_A, 'act-a');
    ec2.instances = [
      instance(1, mi1, { Team: 'payroll' }),
      instance(2, mi2, { 'aws:cloudformation:stack-name': 'app' }),
    ];

    await collector.handler(
      scheduled,
      lambdaContext(`arn:aws:lambda:us-east-1:${AGENCY_A}:function:ssm-hub-collector`),
    );
    const tags1 = tagsOf(mi1);
    expect(tags1).toMatchObject({
      Name: 'web-1',
      OS: 'Linux',
      Team: 'payroll',
      [`${PREFIX}agency-account`]: AGENCY_A,
      [`${PREFIX}ec2-instance-id`]: ec2Id(1),
    });
    // The node's own ARN, which the node role's report deny compares with the caller.
    expect(tags1[`${PREFIX}node-arn`]).toMatch(new RegExp(`^arn:aws:ssm:[a-z0-9-]+:\\d{12}:managed-instance/${mi1}$`));
    expect(Object.keys(tagsOf(mi2))).not.toContain('aws:cloudformation:stack-name');

    hub.ssm.resetCounters();
    await collector.handler(
      scheduled,
      lambdaContext(`arn:aws:lambda:us-east-1:${AGENCY_A}:function:ssm-hub-collector`),
    );
    expect(hub.ssm.writeCalls()).toBe(0);
  });

  it("refuses an agency instance that claims another agency's node, and leaves that node untouched", async () => {
    const victim = hub.registerNode(30, AGENCY_B, 'act-b', { tags: { Owner: 'agency-b' } });
    const before = tagsOf(victim);
    expect(before).toMatchObject({ Owner: 'agency-b' });
    ec2.instances = [instance(31, victim, { Owner: 'attacker' })];

    await collector.handler(
      scheduled,
      lambdaContext(`arn:aws:lambda:us-east-1:${AGENCY_A}:function:ssm-hub-collector`),
    );
    expect(tagsOf(victim)).toEqual(before);
    const refused = collectorLogs.map((l) => JSON.parse(l)).filter((l) => l._aws && typeof l.HubRefusals === 'number');
    expect(refused.reduce((n, l) => n + l.HubRefusals, 0)).toBeGreaterThanOrEqual(1);
    expect(hub.metrics('RejectedNodes')).toBeGreaterThanOrEqual(1);
  });

  it("hands the agency its own activation and stores it as SecureString, never another agency's", async () => {
    ec2.instances = [];
    await collector.handler(
      scheduled,
      lambdaContext(`arn:aws:lambda:us-east-1:${AGENCY_A}:function:ssm-hub-collector`),
    );
    const code = agencyParams.puts.find((p) => p.name === `${PATH}/code`)!;
    expect(code).toMatchObject({ type: 'SecureString', value: CODE_A });
    expect(JSON.stringify(agencyParams.puts)).not.toContain(CODE_B);
    for (const line of [...collectorLogs, ...hub.logs]) expect(line).not.toContain(CODE_A);
  });

  it('deregisters a terminated instance whose termination event was missed, then stays quiet while EC2 still lists it', async () => {
    const mi = hub.registerNode(40, AGENCY_A, 'act-a');
    ec2.instances = [instance(40, mi)];
    const ctx = lambdaContext(`arn:aws:lambda:us-east-1:${AGENCY_A}:function:ssm-hub-collector`);
    await collector.handler(scheduled, ctx);
    ec2.instances = [{ ...instance(40, mi), state: 'terminated' }];
    await collector.handler(scheduled, ctx);
    expect(hub.ssm.state.nodes.has(mi)).toBe(false);
    expect((await hub.rows()).some((r) => r.managedInstanceId === mi)).toBe(false);

    const rejectedBefore = hub.metrics('RejectedNodes');
    collectorLogs = [];
    const summary = (await collector.handler(scheduled, ctx)) as Record<string, number>;
    expect(summary).toMatchObject({ unchanged: 1, rejected: 0, hubRefusals: 0 });
    expect(hub.metrics('RejectedNodes')).toBe(rejectedBefore);
  });

  it('counts a tag change that reaches the hub after its instance was terminated and deregistered as gone, not refused', async () => {
    const mi = hub.registerNode(61, AGENCY_A, 'act-a');
    ec2.instances = [instance(61, mi, { Team: 'a' })];
    const ctx = lambdaContext(`arn:aws:lambda:us-east-1:${AGENCY_A}:function:ssm-hub-collector`);
    await collector.handler(scheduled, ctx);
    // Someone retags, then terminates; EventBridge delivers the termination first.
    ec2.instances = [{ ...instance(61, mi, { Team: 'decommission' }), state: 'terminated' }];
    await collector.handler(
      {
        source: 'aws.ec2',
        'detail-type': 'EC2 Instance State-change Notification',
        resources: [`arn:aws:ec2:us-east-1:${AGENCY_A}:instance/${ec2Id(61)}`],
        detail: { 'instance-id': ec2Id(61), state: 'terminated' },
      },
      ctx,
    );
    expect(hub.ssm.state.nodes.has(mi)).toBe(false);
    collectorLogs = [];
    const rejectedBefore = hub.metrics('RejectedNodes');
    const summary = (await collector.handler(
      {
        source: 'aws.tag',
        'detail-type': 'Tag Change on Resource',
        resources: [`arn:aws:ec2:us-east-1:${AGENCY_A}:instance/${ec2Id(61)}`],
        detail: {
          'changed-tag-keys': ['Team'],
          service: 'ec2',
          'resource-type': 'instance',
          tags: instance(61, mi, { Team: 'decommission' }).tags,
        },
      },
      ctx,
    )) as Record<string, number>;
    expect(summary).toMatchObject({ gone: 1, rejected: 0, hubRefusals: 0 });
    const metrics = collectorLogs.map((l) => JSON.parse(l)).filter((l) => l._aws);
    expect(metrics.reduce((n, l) => n + (l.HubRefusals ?? 0), 0)).toBe(0);
    // The hub's own answer and count are unchanged: it cannot tell this race from a refusal.
    expect(hub.metrics('RejectedNodes')).toBe(rejectedBefore + 1);
  });
});
