// Offboarding a leaver touches only what is the leaver's: the real membership pass and node code
// against the SSM fake (activation records, managed nodes with their activation stamps) and
// dynalite. Only the function's own CloudFormation/Organizations wrappers (membership-io.ts) are
// replaced: which accounts the OUs hold, which stacks exist, the marks, and a record of deletions.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DescribeInstanceInformationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startDynalite, type DynaliteHandle } from '../../testing/helpers/dynalite.ts';
import { startBatchGetThrottle, type BatchGetThrottle } from '../../testing/helpers/batch-get-throttle.ts';
import { startSsmActivationsFake, type SsmActivationsFake } from '../../testing/fakes/ssm-activations-fake.ts';
import { DAY, PREFIX, TAG_PREFIX, seedAgency } from '../lambda/activation-manager/harness.ts';
import { LIFECYCLE_ENVIRONMENT as L } from '../../contract/environment.ts';

const io = vi.hoisted(() => ({
  desired: new Set<string>(),
  onboarded: new Map<string, string>(),
  marks: new Map<string, Date>(),
  dryRunMarks: new Map<string, Date>(),
  written: [] as Map<string, Date>[],
  dryRunWritten: [] as Map<string, Date>[],
  deleted: [] as string[],
}));
vi.mock('../../lambda/fleet-lifecycle/membership-io.ts', () => ({
  accountsUnder: async () => ({ active: new Set(io.desired), inactive: new Set<string>() }),
  onboardedAgencies: async () => new Map(io.onboarded),
  readMarks: async (_t: string, dryRun?: boolean) => new Map(dryRun ? io.dryRunMarks : io.marks),
  writeMarks: async (_t: string, m: Map<string, Date>, dryRun?: boolean) =>
    void (dryRun ? io.dryRunWritten : io.written).push(new Map(m)),
  createAgencyStack: async () => undefined,
  deleteAgencyStack: async (_c: unknown, a: string) => void io.deleted.push(a),
}));

import { readConfig } from '../../lambda/fleet-lifecycle/config.ts';
import { runMembership } from '../../lambda/fleet-lifecycle/membership.ts';
import { leaverNodePlan } from '../../lambda/fleet-lifecycle/membership-rules.ts';
import { setLogSink } from '../../lambda/shared/log.ts';

const A = '222222222222';
const B = '333333333333';
const HUB = '999999999999';
const NOW = Date.now();
const STAMP = `${TAG_PREFIX}activation-agency`;
let ssm: SsmActivationsFake;
let db: DynaliteHandle;
let proxy: BatchGetThrottle;
let logs: Record<string, any>[] = [];
const doc = () => DynamoDBDocumentClient.from(db.client);
const put = (Item: Record<string, unknown>) => doc().send(new PutCommand({ TableName: db.tableName, Item }));
const rowOf = async (id: string) =>
  (await doc().send(new GetCommand({ TableName: db.tableName, Key: { managedInstanceId: id } }))).Item;
const metric = (name: string) => logs.filter((l) => l._aws && name in l).reduce((n, l) => n + l[name], 0);
const linesNaming = (id: string) => logs.filter((l) => l.managedInstanceId === id);
const deregisterCalls = (id: string) =>
  ssm.callsOf('DeregisterManagedInstance').filter((c) => c.input.InstanceId === id);
const pass = () => runMembership(readConfig(), HUB);

beforeAll(async () => {
  ssm = await startSsmActivationsFake();
  db = await startDynalite();
  proxy = await startBatchGetThrottle(db.endpoint);
  for (const [k, v] of Object.entries({
    AWS_ENDPOINT_URL_SSM: ssm.endpoint,
    // Through a proxy that can fail a DynamoDB operation or throttle BatchGetItem.
    AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint,
    [L.syncTableName.name]: db.tableName,
    [L.activationParameterPrefix.name]: PREFIX,
    [L.reservedTagPrefix.name]: TAG_PREFIX,
    [L.retryBaseDelayMs.name]: '1',
    [L.metricNamespace.name]: 'SsmHub/test',
    [L.agencyStackPrefix.name]: 'ssm-hub-agency-',
    [L.centralStackName.name]: 'ssm-hub-central-manager',
    [L.agencyTemplateBody.name]: '{}',
    [L.stackRoleArn.name]: `arn:aws:iam::${HUB}:role/agency-stacks`,
    [L.membershipMode.name]: 'enabled',
    [L.agencyOus.name]: 'ou-ab12-agencies1',
    [L.agencyAccounts.name]: '',
    [L.graceHours.name]: '72',
    [L.leaverNodes.name]: 'deregister',
  }))
    vi.stubEnv(k, v);
  setLogSink((l) => logs.push(JSON.parse(l)));
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await ssm.close();
  await db.close();
  await proxy.close();
});

let actA: string;
let actB: string;
beforeEach(() => {
  logs = [];
  proxy.starve(0);
  proxy.failNext('DeleteItem', 0);
  io.deleted = [];
  io.written = [];
  io.dryRunWritten = [];
  io.dryRunMarks = new Map();
  ssm.nodes.nodes.clear();
  ssm.state.parameters.clear();
  // seedAgency stamps each agency's current activation with its account, as the activation manager does.
  actA = seedAgency(ssm, A, { expiresInMs: 20 * DAY }).current.ActivationId;
  actB = seedAgency(ssm, B, { expiresInMs: 20 * DAY }).current.ActivationId;
  // A stays in the OUs; B has been gone past its grace period.
  io.desired = new Set([A]);
  io.onboarded = new Map([
    [A, 'CREATE_COMPLETE'],
    [B, 'CREATE_COMPLETE'],
  ]);
  io.marks = new Map([[B, new Date(NOW - 100 * 3_600_000)]]);
});

describe("offboarding B never deregisters another agency's node", () => {
  it("deregisters B's own node (its activation, its stamp), counts and logs it with the reason", async () => {
    const [nodeOfB] = ssm.registerNodes(actB, 1);
    await put({ managedInstanceId: nodeOfB, agencyAccountId: B, ec2InstanceId: 'i-0bbbbbbbbbbbbbbb0' });
    const s = await pass();
    expect(ssm.nodes.nodes.has(nodeOfB!)).toBe(false);
    expect(await rowOf(nodeOfB!)).toBeUndefined();
    expect(s.nodesDeregistered).toBe(1);
    expect(metric('LeaverNodesDeregistered')).toBe(1);
    expect(linesNaming(nodeOfB!)).toEqual([expect.objectContaining({ reason: 'agency-left', agencyAccountId: B })]);
    expect(io.deleted).toEqual([B]);
  });

  it("leaves A's node alone when B's record wrongly lists A's activation (SSM: not stamped for B)", async () => {
    const [nodeOfA] = ssm.registerNodes(actA, 1, { RegistrationDate: new Date(NOW - 60 * DAY) });
    await put({ managedInstanceId: nodeOfA, agencyAccountId: A, ec2InstanceId: 'i-0aaaaaaaaaaaaaaa1' });
    const p = ssm.state.parameters.get(`${PREFIX}/${B}`)!;
    const rec = JSON.parse(p.Value);
    rec.knownActivationIds.push(actA); // a wrong record (restore or operator mistake)
    ssm.putDirect(`${PREFIX}/${B}`, JSON.stringify(rec));
    const s = await pass();
    expect(ssm.nodes.nodes.has(nodeOfA!)).toBe(true);
    expect(await rowOf(nodeOfA!)).toMatchObject({ agencyAccountId: A });
    expect(s.nodesDeregistered).toBe(0);
    expect(deregisterCalls(nodeOfA!)).toHaveLength(0);
  });

  it("leaves A's live node and the wrong row filing it under B alone, and says so", async () => {
    const [nodeOfA] = ssm.registerNodes(actA, 1, { RegistrationDate: new Date(NOW - 60 * DAY) });
    await put({ managedInstanceId: nodeOfA, agencyAccountId: B, ec2InstanceId: 'i-0aaaaaaaaaaaaaaa2' });
    const s = await pass();
    expect(ssm.nodes.nodes.has(nodeOfA!)).toBe(true);
    expect(deregisterCalls(nodeOfA!)).toHaveLength(0);
    // The row stays: it is what keeps A's own sweep from the node until the row is put right (sweep.ts).
    expect(await rowOf(nodeOfA!)).toMatchObject({ agencyAccountId: B });
    expect(s).toMatchObject({ nodesDeregistered: 0, rowsRemoved: 0, rowsKept: 1 });
    expect(metric('LeaverRowsKept')).toBe(1);
    expect(linesNaming(nodeOfA!)).toEqual([
      expect.objectContaining({ level: 'WARN', reason: 'row-only', rowRemoved: false }),
    ]);
  });

  it('removes a row of B whose node SSM no longer lists', async () => {
    const gone = 'mi-0123456789abcdef0';
    await put({ managedInstanceId: gone, agencyAccountId: B, ec2InstanceId: 'i-0bbbbbbbbbbbbbbb9' });
    const s = await pass();
    expect(await rowOf(gone)).toBeUndefined();
    // Earlier tests' rows stay in the table (their nodes are cleared): count only this one's effect.
    expect(s.nodesDeregistered).toBe(0);
    expect(s.rowsRemoved).toBeGreaterThanOrEqual(1);
    expect(linesNaming(gone)).toEqual([expect.objectContaining({ reason: 'row-only', rowRemoved: true })]);
  });

  it("leaves A's node with no row alone when B's record wrongly lists A's activation (only the stamp tells)", async () => {
    const [nodeOfA] = ssm.registerNodes(actA, 1, { RegistrationDate: new Date(NOW - 60 * DAY) });
    const p = ssm.state.parameters.get(`${PREFIX}/${B}`)!;
    const rec = JSON.parse(p.Value);
    rec.knownActivationIds.push(actA);
    ssm.putDirect(`${PREFIX}/${B}`, JSON.stringify(rec));
    const s = await pass();
    expect(ssm.nodes.nodes.has(nodeOfA!)).toBe(true);
    expect(deregisterCalls(nodeOfA!)).toHaveLength(0);
    expect(s.nodesDeregistered).toBe(0);
  });

  it("leaves B's stamped node alone when its row files it under A, and says so", async () => {
    const [contested] = ssm.registerNodes(actB, 1);
    await put({ managedInstanceId: contested, agencyAccountId: A, ec2InstanceId: 'i-0aaaaaaaaaaaaaaa3' });
    const s = await pass();
    expect(ssm.nodes.nodes.has(contested!)).toBe(true);
    expect(await rowOf(contested!)).toMatchObject({ agencyAccountId: A });
    expect(s).toMatchObject({ nodesDeregistered: 0, nodesLeftAlone: 1 });
    expect(metric('LeaverNodesLeftAlone')).toBe(1);
    expect(linesNaming(contested!)).toEqual([
      expect.objectContaining({ level: 'WARN', reason: 'row-of-another-agency', rowAgencyAccountId: A }),
    ]);
  });

  it("deregisters B's node reached through its row only when SSM confirms B's stamp, counted and logged", async () => {
    // Registered with an activation of B no longer in B's record (older than the IDs it keeps).
    const old = ssm.seedActivation({ ExpirationDate: new Date(NOW - DAY), Tags: [{ Key: STAMP, Value: B }] });
    const [oldNode] = ssm.registerNodes(old.ActivationId, 1, { RegistrationDate: new Date(NOW - 900 * DAY) });
    await put({ managedInstanceId: oldNode, agencyAccountId: B, ec2InstanceId: 'i-0bbbbbbbbbbbbbbb1' });
    const s = await pass();
    expect(ssm.nodes.nodes.has(oldNode!)).toBe(false);
    expect(s.nodesDeregistered).toBe(1);
    expect(metric('LeaverNodesDeregistered')).toBe(1);
    expect(linesNaming(oldNode!)).toEqual([expect.objectContaining({ reason: 'agency-left-row-and-stamp' })]);
  });

  it('keeps a live node reached through a row alone when SSM does not confirm the stamp, and its row', async () => {
    const unstamped = ssm.seedActivation({ ExpirationDate: new Date(NOW - DAY) });
    const [node] = ssm.registerNodes(unstamped.ActivationId, 1);
    await put({ managedInstanceId: node, agencyAccountId: B, ec2InstanceId: 'i-0bbbbbbbbbbbbbbb2' });
    const s = await pass();
    expect(ssm.nodes.nodes.has(node!)).toBe(true);
    expect(await rowOf(node!)).toMatchObject({ agencyAccountId: B });
    expect(s).toMatchObject({ nodesDeregistered: 0, rowsRemoved: 0, rowsKept: 1 });
  });
});

describe('a leaver whose node deregisters but whose row cannot be removed', () => {
  it('counts and logs the node, keeps the stack, and finishes the offboarding next pass', async () => {
    const [nodeOfB] = ssm.registerNodes(actB, 1);
    await put({ managedInstanceId: nodeOfB, agencyAccountId: B, ec2InstanceId: 'i-0bbbbbbbbbbbbbbb4' });
    proxy.failNext('DeleteItem', 1);
    await expect(pass()).rejects.toThrow(/RowNotRemovedError/);
    expect(ssm.nodes.nodes.has(nodeOfB!)).toBe(false);
    expect(io.deleted).toEqual([]);
    expect(metric('LeaverNodesDeregistered')).toBe(1);
    expect(linesNaming(nodeOfB!)).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'node of an offboarded agency deregistered',
        rowRemoved: false,
      }),
      expect.objectContaining({ level: 'ERROR', reason: 'agency-left' }),
    ]);
    logs = [];
    await pass();
    expect(await rowOf(nodeOfB!)).toBeUndefined();
    expect(io.deleted).toEqual([B]);
  });

  it('does not offboard a leaver whose rows cannot all be read (throttled table)', async () => {
    // More keys than attempts: the proxy reads one key per BatchGetItem request.
    const nodes = ssm.registerNodes(actB, 10);
    for (const [i, id] of nodes.entries())
      await put({
        managedInstanceId: id,
        agencyAccountId: A,
        ec2InstanceId: `i-0aaaaaaaaaaaaaa${String(i).padStart(2, '0')}`,
      });
    proxy.starve(1_000);
    await expect(pass()).rejects.toThrow(/IncompleteReadError/);
    for (const id of nodes) expect(ssm.nodes.nodes.has(id)).toBe(true);
    expect(io.deleted).toEqual([]);
  });
});

describe('a leaver whose activation record cannot be read', () => {
  it('is not offboarded: its stack stays, an ERROR names it, a failure is counted, the next pass tries again', async () => {
    const [nodeOfB] = ssm.registerNodes(actB, 1, { RegistrationDate: new Date(NOW - 2 * DAY) });
    const good = ssm.state.parameters.get(`${PREFIX}/${B}`)!.Value;
    ssm.putDirect(`${PREFIX}/${B}`, '{not json');
    await expect(pass()).rejects.toThrow(/UnreadableRecordError/);
    expect(io.deleted).toEqual([]);
    expect(ssm.nodes.nodes.has(nodeOfB!)).toBe(true);
    expect(metric('MembershipFailures')).toBe(1);
    expect(metric('AgenciesOffboarded')).toBe(0);
    expect(logs.filter((l) => l.level === 'ERROR' && l.agencyAccountId === B)).toHaveLength(1);
    // The mark stays (nothing written that would drop it): the next pass, record fixed, offboards.
    expect(io.written.every((m) => m.has(B))).toBe(true);
    ssm.putDirect(`${PREFIX}/${B}`, good);
    const s = await pass();
    expect(io.deleted).toEqual([B]);
    expect(s.nodesDeregistered).toBe(1);
  });
});

describe('membership with no OUs and no accounts configured', () => {
  it('refuses the pass before any change, with an ERROR and a counted failure', async () => {
    vi.stubEnv(L.agencyOus.name, '');
    io.marks = new Map();
    await expect(pass()).rejects.toThrow(/AGENCY_OUS and AGENCY_ACCOUNTS are both empty/);
    vi.stubEnv(L.agencyOus.name, 'ou-ab12-agencies1');
    expect(io.written).toEqual([]);
    expect(io.deleted).toEqual([]);
    expect(metric('MembershipFailures')).toBe(1);
    expect(metric('AgenciesMarkedGone')).toBe(0);
    expect(logs.filter((l) => l.level === 'ERROR')).toHaveLength(1);
  });

  it.each([
    ['OUs holding only the hub', 'ou-ab12-agencies1', '', [HUB]],
    ['accounts naming only the hub', '', HUB, []],
  ])('refuses %s: leaving out its own account, nobody is an agency', async (_c, ous, accounts, members) => {
    vi.stubEnv(L.agencyOus.name, ous);
    vi.stubEnv(L.agencyAccounts.name, accounts);
    io.desired = new Set(members);
    try {
      await expect(pass()).rejects.toThrow(/other than the hub's 999999999999; nothing changed/);
    } finally {
      vi.stubEnv(L.agencyOus.name, 'ou-ab12-agencies1');
      vi.stubEnv(L.agencyAccounts.name, '');
    }
    expect(io.written).toEqual([]);
    expect(io.deleted).toEqual([]);
    expect(metric('MembershipFailures')).toBe(1);
  });

  it('refuses an empty OU answer even when AGENCY_ACCOUNTS lists accounts (the OU agencies would all be marked gone)', async () => {
    vi.stubEnv(L.agencyAccounts.name, '555555555555');
    io.desired = new Set();
    try {
      await expect(pass()).rejects.toThrow(/no ACTIVE account under ou-ab12-agencies1/);
    } finally {
      vi.stubEnv(L.agencyAccounts.name, '');
    }
    expect(io.written).toEqual([]);
    expect(io.deleted).toEqual([]);
  });

  it('runs with accounts only (no OUs)', async () => {
    vi.stubEnv(L.agencyOus.name, '');
    vi.stubEnv(L.agencyAccounts.name, A);
    const s = await pass();
    vi.stubEnv(L.agencyOus.name, 'ou-ab12-agencies1');
    vi.stubEnv(L.agencyAccounts.name, '');
    expect(s.plan).toMatchObject({ leave: [B], mark: [] });
  });
});

describe('membership dry-run', () => {
  const dryRun = async () => {
    vi.stubEnv(L.membershipMode.name, 'dry-run');
    try {
      return await pass();
    } finally {
      vi.stubEnv(L.membershipMode.name, 'enabled');
    }
  };

  it('logs and counts what it would do (join, offboard, deregister) and changes nothing', async () => {
    io.desired = new Set([A, '444444444444']);
    io.dryRunMarks = new Map([[B, new Date(NOW - 100 * 3_600_000)]]);
    const [nodeOfB] = ssm.registerNodes(actB, 1);
    await put({ managedInstanceId: nodeOfB, agencyAccountId: B, ec2InstanceId: 'i-0bbbbbbbbbbbbbbb3' });
    const s = await dryRun();
    expect(s).toMatchObject({ dryRun: true, plan: { join: ['444444444444'], leave: [B] }, nodesDeregistered: 1 });
    expect(metric('AgenciesJoined')).toBe(1);
    expect(metric('AgenciesOffboarded')).toBe(1);
    expect(metric('LeaverNodesDeregistered')).toBe(1);
    expect(linesNaming(nodeOfB!)).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/dry run: not done/), reason: 'agency-left' }),
    ]);
    expect(ssm.nodes.nodes.has(nodeOfB!)).toBe(true);
    expect(await rowOf(nodeOfB!)).toBeDefined();
    expect(deregisterCalls(nodeOfB!)).toHaveLength(0);
    expect(io.deleted).toEqual([]);
  });

  it('keeps its marks apart: it never writes the marks enabled mode acts on', async () => {
    io.marks = new Map();
    const s = await dryRun();
    expect(s.plan).toMatchObject({ mark: [B], leave: [] });
    expect(io.written).toEqual([]);
    expect(io.dryRunWritten).toEqual([new Map([[B, expect.any(Date)]])]);
  });

  it('stores dry-run marks in a row enabled mode does not read (the real sync table)', async () => {
    const real = await vi.importActual<typeof import('../../lambda/fleet-lifecycle/membership-io.ts')>(
      '../../lambda/fleet-lifecycle/membership-io.ts',
    );
    await real.writeMarks(db.tableName, new Map([[B, new Date(NOW - 100 * 3_600_000)]]), true);
    expect([...(await real.readMarks(db.tableName, true)).keys()]).toEqual([B]);
    expect(await real.readMarks(db.tableName, false)).toEqual(new Map());
  });
});

describe('finding the nodes stamped for a leaver', () => {
  it('reads the stamp apart from the activations: SSM refuses a tag filter beside another key', async () => {
    const client = new SSMClient({ endpoint: ssm.endpoint });
    const tag = { Key: `tag:${STAMP}`, Values: [B] };
    await expect(
      client.send(new DescribeInstanceInformationCommand({ Filters: [tag, { Key: 'ActivationIds', Values: [actB] }] })),
    ).rejects.toThrow(/can't be combined/);
    const [nodeOfB] = ssm.registerNodes(actB, 1);
    ssm.registerNodes(actA, 1);
    const out = await client.send(new DescribeInstanceInformationCommand({ Filters: [tag] }));
    expect(out.InstanceInformationList?.map((n) => n.InstanceId)).toEqual([nodeOfB]);
  });
});

describe('the leaver node plan', () => {
  const base = { account: B, confirmed: [], stamped: [], rows: new Map(), rowIds: [] };
  it.each([
    [
      'its activation and stamp: deregistered',
      { confirmed: ['mi-1'], stamped: ['mi-1'] },
      { deregister: [{ managedInstanceId: 'mi-1', reason: 'agency-left' }] },
    ],
    [
      'stamped, but the row names A: left alone',
      { confirmed: ['mi-1'], stamped: ['mi-1'], rows: new Map([['mi-1', { agencyAccountId: A }]]) },
      { otherAgency: [{ managedInstanceId: 'mi-1', rowAgency: A }] },
    ],
    [
      'a row of B and the stamp: deregistered',
      { stamped: ['mi-2'], rowIds: ['mi-2'] },
      { deregister: [{ managedInstanceId: 'mi-2', reason: 'agency-left-row-and-stamp' }] },
    ],
    ['a row of B, no stamp: only the row goes', { rowIds: ['mi-3'] }, { rowOnly: ['mi-3'] }],
    ['the stamp only: reported, kept', { stamped: ['mi-4'] }, { unknown: ['mi-4'] }],
  ])('%s', (_name, input, expected) => {
    expect(leaverNodePlan({ ...base, ...input })).toEqual({
      deregister: [],
      otherAgency: [],
      rowOnly: [],
      unknown: [],
      ...expected,
    });
  });
});
