// Agency membership follows the organization, end to end through the real bundles: the
// fleet-lifecycle function reads Organizations (fake, paging) and creates or deletes the agency
// permissions stack (CloudFormation fake), whose resources are the tag manager alias, its invoke
// permission (Lambda fake) and the activation custom resource (the real activation manager).
// Then the agency's real collector calls its alias, and the real tag manager answers it.
import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { loadBundledHandler, lambdaContext, type BundledHandler } from '../../testing/helpers/bundled.ts';
import { startDynalite, type DynaliteHandle } from '../../testing/helpers/dynalite.ts';
import { startSsmActivationsFake, type SsmActivationsFake } from '../../testing/fakes/ssm-activations-fake.ts';
import { SsmParametersFake } from '../../testing/fakes/ssm-parameters-fake.ts';
import { startSsmRouter } from '../../testing/helpers/ssm-router.ts';
import { Ec2Fake } from '../../testing/fakes/ec2-fake.ts';
import { LambdaFake } from '../../testing/fakes/lambda-fake.ts';
import { OrganizationsFake } from '../../testing/fakes/organizations-fake.ts';
import { CloudFormationFake } from '../../testing/fakes/cloudformation-fake.ts';
import { PROJECT_ROOT } from '../../contract/project.ts';
import { membershipPlan } from '../../lambda/fleet-lifecycle/membership-rules.ts';

const HUB = '999999999999';
const A = '222222222222';
const B = '333333333333';
const C = '444444444444';
const ROOT = 'r-ab12';
const OU = 'ou-ab12-agencies1';
const CHILD = 'ou-ab12-agencies2';
const ELSEWHERE = 'ou-ab12-sandboxes';
const TAG_MANAGER = `arn:aws:lambda:us-east-1:${HUB}:function:ssm-hub-tag-manager`;
const ACTIVATION_MANAGER = `arn:aws:lambda:us-east-1:${HUB}:function:ssm-hub-activation-manager`;
const LIFECYCLE = `arn:aws:lambda:us-east-1:${HUB}:function:ssm-hub-fleet-lifecycle`;
const AGENCY_PATH = '/central-hub/activation';
const scheduled = { version: '0', source: 'aws.events', 'detail-type': 'Scheduled Event', resources: [], detail: {} };

/** The agency-permissions template exactly as the built central-manager embeds it. */
const embeddedTemplate = (): string => {
  const t = JSON.parse(readFileSync(join(PROJECT_ROOT, 'generated', 'templates', 'central-manager.json'), 'utf8'));
  return t.Resources.FleetLifecycleFunction.Properties.Environment.Variables.AGENCY_TEMPLATE_BODY;
};

/** SSM calls for the agency's own parameters go to its fake; the rest to the central account's. */
const agencyParameterCall = (target: string, body: string): boolean => {
  const name = String((JSON.parse(body || '{}') as { Name?: unknown }).Name ?? '');
  return target.endsWith('.GetParameters') || (target.endsWith('.PutParameter') && name.startsWith(AGENCY_PATH));
};

let ssm: SsmActivationsFake;
let db: DynaliteHandle;
let router: { url: string; server: Server };
const agencyParams = new SsmParametersFake();
const ec2 = new Ec2Fake();
const lambda = new LambdaFake();
const orgs = new OrganizationsFake();
const permissions = new Map<string, string>();
let cfn: CloudFormationFake;
let tagManager: BundledHandler;
let activationManager: BundledHandler;
let lifecycle: BundledHandler;
let collector: BundledHandler;
let logs: string[] = [];

const membershipPass = () => lifecycle.handler({ task: 'membership' }, lambdaContext(LIFECYCLE));
const collectorOf = (agency: string) => {
  vi.stubEnv('HUB_FUNCTION_ARN', `${TAG_MANAGER}:agency-${agency}`);
  return collector.handler(scheduled, lambdaContext(`arn:aws:lambda:us-east-1:${agency}:function:ssm-hub-collector`));
};
const record = (agency: string) => ssm.state.parameters.get(`/central-hub/agencies/${agency}`);
const stackOf = (agency: string) => cfn.live(`ssm-hub-agency-${agency}`);

beforeAll(async () => {
  ssm = await startSsmActivationsFake();
  db = await startDynalite();
  router = await startSsmRouter(await agencyParams.start(), ssm.endpoint, agencyParameterCall);
  cfn = new CloudFormationFake({
    exports: {
      'ssm-hub-central-manager-TagManagerFunctionName': 'ssm-hub-tag-manager',
      'ssm-hub-central-manager-ActivationManagerFunctionArn': ACTIVATION_MANAGER,
    },
    async alias(action, name, fn) {
      const arn = `${TAG_MANAGER.replace(/ssm-hub-tag-manager$/, fn)}:${name}`;
      lambda.knownFunctions =
        action === 'create' ? [...lambda.knownFunctions!, arn] : lambda.knownFunctions!.filter((f) => f !== arn);
    },
    async permission(action, fn, principal) {
      if (action === 'create') permissions.set(fn, principal);
      else permissions.delete(fn);
    },
    async customResource(token, event) {
      expect(token).toBe(ACTIVATION_MANAGER);
      await activationManager.handler(
        event,
        lambdaContext(ACTIVATION_MANAGER, { getRemainingTimeInMillis: () => 300_000 }),
      );
    },
  });
  const env: Record<string, string> = {
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_SSM: router.url,
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    AWS_ENDPOINT_URL_EC2: await ec2.start(),
    AWS_ENDPOINT_URL_LAMBDA: await lambda.start(),
    AWS_ENDPOINT_URL_ORGANIZATIONS: await orgs.start(),
    AWS_ENDPOINT_URL_CLOUDFORMATION: await cfn.start(),
    SYNC_TABLE_NAME: db.tableName,
    ACTIVATION_PARAMETER_PREFIX: '/central-hub/agencies',
    RESERVED_TAG_PREFIX: 'central-it:',
    METRIC_NAMESPACE: 'SsmHub/test',
    RETRY_BASE_DELAY_MS: '2',
    ACTIVATION_KMS_KEY_ID: 'alias/central',
    MANAGED_NODE_ROLE_NAME: 'ssm-hub-managed-node',
    MEMBERSHIP_MODE: 'enabled',
    AGENCY_OUS: OU,
    GRACE_HOURS: '72',
    LEAVER_NODES: 'deregister',
    AGENCY_STACK_PREFIX: 'ssm-hub-agency-',
    CENTRAL_STACK_NAME: 'ssm-hub-central-manager',
    AGENCY_TEMPLATE_BODY: embeddedTemplate(),
    STACK_ROLE_ARN: `arn:aws:iam::${HUB}:role/ssm-hub-agency-stacks`,
    ACTIVATION_PARAMETER_PATH: AGENCY_PATH,
  };
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  lambda.reset(async (payload, meta) => tagManager.handler(payload, lambdaContext(meta.functionName)));
  lambda.knownFunctions = [];
  tagManager = await loadBundledHandler('tag-manager');
  activationManager = await loadBundledHandler('activation-manager');
  lifecycle = await loadBundledHandler('fleet-lifecycle');
  collector = await loadBundledHandler('collector');
  for (const m of [tagManager, activationManager, collector])
    (m.setLogSink as (s: (l: string) => void) => void)(() => undefined);
  (lifecycle.setLogSink as (s: (l: string) => void) => void)((l) => logs.push(l));
  // The organization: root → agencies OU (A, and a suspended C) → child OU (B); a sandbox OU apart.
  orgs.ous.set(ROOT, [OU, ELSEWHERE]);
  orgs.ous.set(OU, [CHILD]);
  orgs.accounts.set(OU, [{ id: A }, { id: C, status: 'SUSPENDED' }]);
  orgs.accounts.set(CHILD, [{ id: B }, { id: HUB }]);
  orgs.accounts.set(ELSEWHERE, []);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all([ssm.close(), db.close(), agencyParams.stop(), ec2.stop(), lambda.stop(), orgs.stop(), cfn.stop()]);
  await new Promise((r) => router.server.close(r));
});

describe('agency membership follows the OUs', () => {
  it("refuses an account's collector before it is onboarded", async () => {
    await expect(collectorOf(A)).rejects.toThrow(/hub invocation failed: ResourceNotFoundException/);
  });

  it('onboards every ACTIVE account of the OUs (child OUs and paging included) without any CLI call', async () => {
    logs = [];
    const summary = (await membershipPass()) as { plan: { join: string[] } };
    await cfn.settled();
    expect(summary.plan.join).toEqual([A, B]);
    for (const agency of [A, B]) {
      expect(stackOf(agency)?.status).toBe('CREATE_COMPLETE');
      expect(stackOf(agency)?.roleArn).toBe(`arn:aws:iam::${HUB}:role/ssm-hub-agency-stacks`);
      expect(
        permissions.get(`ssm-hub-tag-manager:agency-${agency}`) ?? permissions.get(`${TAG_MANAGER}:agency-${agency}`),
      ).toBe(agency);
      expect(record(agency)).toBeDefined();
    }
    expect(stackOf(C)).toBeUndefined(); // suspended
    expect(stackOf(HUB)).toBeUndefined(); // the hub's own account is no agency
    expect(orgs.calls.filter((c) => c.input.NextToken !== undefined).length).toBeGreaterThan(0);
    const metric = logs.map((l) => JSON.parse(l)).find((l) => l._aws && 'AgenciesJoined' in l);
    expect(metric.AgenciesJoined).toBe(2);
  });

  it("then its collector's next call succeeds and stores its activation", async () => {
    const summary = (await collectorOf(A)) as Record<string, number>;
    expect(summary.hubRefusals).toBe(0);
    const code = agencyParams.puts.find((p) => p.name === `${AGENCY_PATH}/code`);
    expect(code?.type).toBe('SecureString');
  });

  it('changes nothing on a second pass', async () => {
    const creates = cfn.calls.filter((c) => c.action === 'CreateStack').length;
    const summary = (await membershipPass()) as { plan: Record<string, string[]> };
    expect(summary.plan).toEqual({ join: [], mark: [], unmark: [], leave: [], retry: [], held: [] });
    expect(cfn.calls.filter((c) => c.action === 'CreateStack')).toHaveLength(creates);
  });

  it('offboards an account that left the OUs only after the grace period, deregistering its nodes', async () => {
    const activationId = JSON.parse(record(B)!.Value).current.activationId as string;
    const [node] = ssm.registerNodes(activationId, 1);
    const doc = DynamoDBDocumentClient.from(db.client);
    // Rows of B: its live node, and one whose node is already gone from SSM.
    const goneNode = 'mi-0000000000000dead';
    for (const id of [node!, goneNode])
      await doc.send(
        new PutCommand({
          TableName: db.tableName,
          Item: { managedInstanceId: id, agencyAccountId: B, ec2InstanceId: 'i-0123456789abcdef0' },
        }),
      );
    orgs.move(B, ELSEWHERE);

    // First pass: marked, nothing deleted.
    const first = (await membershipPass()) as { plan: { mark: string[]; leave: string[] } };
    expect(first.plan).toMatchObject({ mark: [B], leave: [] });
    await cfn.settled();
    expect(stackOf(B)?.status).toBe('CREATE_COMPLETE');

    // The grace period (72 h) passes: the mark is older than that.
    const key = { managedInstanceId: 'lifecycle#membership' };
    const marks = (await doc.send(new GetCommand({ TableName: db.tableName, Key: key }))).Item!;
    expect(Object.keys(marks.missingSince)).toEqual([B]);
    const old = new Date(Date.now() - 73 * 3_600_000).toISOString();
    await doc.send(new PutCommand({ TableName: db.tableName, Item: { ...key, missingSince: { [B]: old } } }));

    const second = (await membershipPass()) as { plan: { leave: string[] }; nodesDeregistered: number };
    await cfn.settled();
    expect(second.plan.leave).toEqual([B]);
    expect(second.nodesDeregistered).toBe(1);
    expect(ssm.nodes.nodes.has(node!)).toBe(false);
    for (const id of [node!, goneNode])
      expect(
        (await doc.send(new GetCommand({ TableName: db.tableName, Key: { managedInstanceId: id } }))).Item,
      ).toBeUndefined();
    expect(stackOf(B)).toBeUndefined();
    expect(record(B)).toBeUndefined();
    expect(ssm.state.activations.has(activationId)).toBe(false);
    await expect(collectorOf(B)).rejects.toThrow(/ResourceNotFoundException/);
    // A stays.
    expect(stackOf(A)?.status).toBe('CREATE_COMPLETE');
  });

  it('never offboards on an empty answer for the configured OUs', async () => {
    vi.stubEnv('AGENCY_OUS', ELSEWHERE);
    orgs.accounts.set(ELSEWHERE, []);
    await expect(membershipPass()).rejects.toThrow(/no ACTIVE account under/);
    vi.stubEnv('AGENCY_OUS', OU);
    expect(stackOf(A)?.status).toBe('CREATE_COMPLETE');
  });

  it('only reports in dry-run', async () => {
    vi.stubEnv('MEMBERSHIP_MODE', 'dry-run');
    orgs.move(B, OU);
    const creates = cfn.calls.filter((c) => c.action === 'CreateStack').length;
    const summary = (await membershipPass()) as { plan: { join: string[] }; dryRun: boolean };
    expect(summary).toMatchObject({ dryRun: true, plan: { join: [B] } });
    expect(cfn.calls.filter((c) => c.action === 'CreateStack')).toHaveLength(creates);
    vi.stubEnv('MEMBERSHIP_MODE', 'enabled');
  });

  it('keeps an agency whose account AWS suspended while it stays in the OUs, even with a mark past the grace period', async () => {
    const withC = (status?: 'SUSPENDED') =>
      orgs.accounts.set(OU, [
        ...orgs.accounts.get(OU)!.filter((a) => a.id !== C),
        { id: C, ...(status ? { status } : {}) },
      ]);
    withC();
    await membershipPass();
    await cfn.settled();
    expect(stackOf(C)?.status).toBe('CREATE_COMPLETE');
    // Organizations API reference, Account.State: SUSPENDED (also a closed account's post-closure state).
    withC('SUSPENDED');
    const doc = DynamoDBDocumentClient.from(db.client);
    const key = { managedInstanceId: 'lifecycle#membership' };
    const old = new Date(Date.now() - 100 * 3_600_000).toISOString();
    await doc.send(new PutCommand({ TableName: db.tableName, Item: { ...key, missingSince: { [C]: old } } }));
    logs = [];
    const summary = (await membershipPass()) as { plan: Record<string, string[]> };
    await cfn.settled();
    expect(summary.plan).toMatchObject({ held: [C], mark: [], leave: [], unmark: [C] });
    expect(stackOf(C)?.status).toBe('CREATE_COMPLETE');
    expect(record(C)).toBeDefined();
    expect(logs.some((l) => l.includes('not ACTIVE (suspended or closing)') && l.includes(C))).toBe(true);
  });
});

describe('a leaver whose nodes are kept', () => {
  it('offboards the agency but keeps its nodes, and lists them in the log', async () => {
    vi.stubEnv('LEAVER_NODES', 'keep');
    vi.stubEnv('GRACE_HOURS', '0');
    const activationId = JSON.parse(record(A)!.Value).current.activationId as string;
    const [node] = ssm.registerNodes(activationId, 1);
    orgs.move(A, ELSEWHERE);
    await membershipPass(); // marked
    await cfn.settled();
    logs = [];
    const summary = (await membershipPass()) as { plan: { leave: string[] }; nodesKept: number };
    await cfn.settled();
    expect(summary.plan.leave).toEqual([A]);
    expect(summary.nodesKept).toBe(1);
    expect(ssm.nodes.nodes.has(node!)).toBe(true);
    expect(stackOf(A)).toBeUndefined();
    const kept = logs
      .map((l) => JSON.parse(l))
      .find((l) => l.message === 'agency offboarded; its managed nodes are kept');
    expect(kept).toMatchObject({ agencyAccountId: A, nodes: 1, managedInstanceIds: [node] });
    vi.stubEnv('LEAVER_NODES', 'deregister');
    vi.stubEnv('GRACE_HOURS', '72');
  });
});

describe('a failed onboarding', () => {
  it('fails the next pass (the alarm), deletes the failed stack, and onboards once there is room', async () => {
    const D = '555555555555';
    orgs.accounts.set(OU, [...orgs.accounts.get(OU)!, { id: D }]);
    // The Region is full: the activation custom resource refuses, and the stack rolls back.
    const filler = ssm.seedActivation({ ExpirationDate: new Date(Date.now() + 86_400_000) });
    const fill = ssm.registerNodes(filler.ActivationId, 1000);
    await membershipPass().catch(() => undefined);
    await cfn.settled();
    expect(stackOf(D)?.status).toBe('ROLLBACK_COMPLETE');

    logs = [];
    await expect(membershipPass()).rejects.toThrow(new RegExp(`stack of agency ${D} is ROLLBACK_COMPLETE`));
    await cfn.settled();
    expect(stackOf(D)).toBeUndefined();
    const failures = logs.map((l) => JSON.parse(l)).find((l) => l._aws && 'MembershipFailures' in l);
    expect(failures.MembershipFailures).toBeGreaterThanOrEqual(1);

    for (const id of fill) ssm.nodes.nodes.delete(id);
    await membershipPass();
    await cfn.settled();
    expect(stackOf(D)?.status).toBe('CREATE_COMPLETE');
  });
});

describe('the membership plan', () => {
  const now = new Date('2026-06-30T00:00:00Z');
  const ago = (h: number) => new Date(now.getTime() - h * 3_600_000);
  it.each([
    { case: 'a new account joins', desired: [A], onboarded: {}, marks: {}, out: { join: [A] } },
    { case: 'a leaver is marked', desired: [], onboarded: { [A]: 'CREATE_COMPLETE' }, marks: {}, out: { mark: [A] } },
    {
      case: 'a leaver inside its grace period waits',
      desired: [],
      onboarded: { [A]: 'CREATE_COMPLETE' },
      marks: { [A]: ago(71) },
      out: {},
    },
    {
      case: 'a leaver past its grace period leaves',
      desired: [],
      onboarded: { [A]: 'CREATE_COMPLETE' },
      marks: { [A]: ago(72) },
      out: { leave: [A] },
    },
    {
      case: 'an account moved back is unmarked',
      desired: [A],
      onboarded: { [A]: 'CREATE_COMPLETE' },
      marks: { [A]: ago(100) },
      out: { unmark: [A] },
    },
    {
      case: 'a failed stack is retried',
      desired: [A],
      onboarded: { [A]: 'ROLLBACK_COMPLETE' },
      marks: {},
      out: { retry: [A] },
    },
    {
      case: 'an offboarded leaver is unmarked once its stack is gone',
      desired: [],
      onboarded: {},
      marks: { [A]: ago(100) },
      out: { unmark: [A] },
    },
    {
      case: 'a leaver whose stack delete failed is offboarded again',
      desired: [],
      onboarded: { [A]: 'DELETE_FAILED' },
      marks: { [A]: ago(100) },
      out: { leave: [A] },
    },
    {
      case: 'an onboarded account still in the OUs but suspended is kept, not marked',
      desired: [],
      held: [A],
      onboarded: { [A]: 'CREATE_COMPLETE' },
      marks: {},
      out: { held: [A] },
    },
    {
      case: 'a suspended account marked earlier is kept and unmarked, whatever the mark says',
      desired: [],
      held: [A],
      onboarded: { [A]: 'CREATE_COMPLETE' },
      marks: { [A]: ago(100) },
      out: { held: [A], unmark: [A] },
    },
    {
      case: 'a suspended account never onboarded is not onboarded',
      desired: [],
      held: [A],
      onboarded: {},
      marks: {},
      out: {},
    },
    {
      case: 'a stack in progress is left alone',
      desired: [],
      onboarded: { [A]: 'CREATE_IN_PROGRESS' },
      marks: {},
      out: {},
    },
  ])('$case', ({ desired, onboarded, marks, out, ...rest }) => {
    const held = 'held' in rest ? (rest.held as string[]) : [];
    const plan = membershipPlan(
      {
        desired: new Set(desired),
        held: new Set(held),
        onboarded: new Map(Object.entries(onboarded)),
        missingSince: new Map(Object.entries(marks)),
      },
      now,
      72,
    );
    expect(plan).toEqual({ join: [], mark: [], unmark: [], leave: [], retry: [], held: [], ...out });
  });
});
