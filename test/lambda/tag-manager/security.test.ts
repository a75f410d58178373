// Identity and ownership, through the real bundled handler: the agency comes only from the alias
// invoked, and a node is touched only when it is proven to belong to that agency.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PutCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  AGENCY_A,
  AGENCY_B,
  FUNCTION_ARN,
  PREFIX,
  aliasArn,
  ec2Id,
  miId,
  startHarness,
  type Harness,
} from './harness.ts';
import { agencyAliasName } from '../../../lambda/shared/names.ts';

let h: Harness;
let n = 100;
const CODE_A = 'CodeOfAgencyA-7f3e9a1b2c';
const CODE_B = 'CodeOfAgencyB-0d4c8e6f5a';

beforeAll(async () => {
  h = await startHarness();
  h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: CODE_A });
  h.plantActivation(AGENCY_B, { activationId: 'act-bbbb', code: CODE_B });
});
afterAll(async () => h?.close());
beforeEach(() => {
  h.ssm.resetCounters();
  h.logs.length = 0;
});

const syncEvent = (id: string, ec2: string, tags: Record<string, string> = { Name: 'hijacked' }) => ({
  op: 'sync',
  instances: [{ ec2InstanceId: ec2, managedInstanceId: id, tags }],
});
const securityLines = () => h.logs.map((l) => JSON.parse(l)).filter((r) => r.event === 'security');

/** A deregister request from `agency` for node `id`, as instance n. */
const deregisterAs = (agency: string, id: string) =>
  h.invokeAs(agency, { op: 'deregister', instances: [{ ec2InstanceId: ec2Id(n), managedInstanceId: id }] });

describe('identity comes from the alias invoked', () => {
  it('refuses an unqualified invocation, logs a security event and counts it', async () => {
    const res = await h.invoke(FUNCTION_ARN, { op: 'activation' });
    expect(res.error.code).toBe('Unauthorized');
    expect(res.error.message).toMatch(/unqualified/);
    expect(securityLines()).toHaveLength(1);
    expect(h.metrics('UnauthorizedCalls')).toBe(1);
    expect(h.ssm.totalCalls()).toBe(0);
  });

  it.each([
    ['a version qualifier', `${FUNCTION_ARN}:7`],
    ['$LATEST', `${FUNCTION_ARN}:$LATEST`],
    ['an alias that is not agency-<12 digits>', `${FUNCTION_ARN}:live`],
    ['an agency alias with 11 digits', `${FUNCTION_ARN}:agency-11111111111`],
    ['an agency alias with a suffix', `${FUNCTION_ARN}:agency-111111111111x`],
  ])('refuses an invocation through %s', async (_label, arn) => {
    const res = await h.invoke(arn, syncEvent(miId(1), ec2Id(1)));
    expect(res.error.code).toBe('Unauthorized');
    expect(h.ssm.totalCalls()).toBe(0);
    expect(await h.rows()).toHaveLength(0);
  });

  it('refuses an invocation whose context carries no ARN', async () => {
    const res = await h.invokeWithContext(syncEvent(miId(1), ec2Id(1)), { awsRequestId: 'r' });
    expect(res.error.code).toBe('Unauthorized');
    expect(h.ssm.totalCalls()).toBe(0);
  });

  it.each([
    ['agencyAccountId', { agencyAccountId: AGENCY_B }],
    ['alias', { alias: agencyAliasName(AGENCY_B) }],
    ['invokedFunctionArn', { invokedFunctionArn: aliasArn(AGENCY_B) }],
  ])('refuses a payload that claims an agency through %s', async (field, extra) => {
    const res = await h.invokeAs(AGENCY_A, { op: 'activation', ...extra });
    expect(res.error).toMatchObject({ code: 'InvalidRequest', field });
    expect(JSON.stringify(res)).not.toContain(CODE_B);
    expect(JSON.stringify(res)).not.toContain(CODE_A);
  });
});

describe("agency A cannot touch agency B's nodes", () => {
  it("refuses to tag B's node proven by B's activation ID, with no SSM write and a security event", async () => {
    const id = h.registerNode(++n, AGENCY_B, 'act-bbbb', { tags: { Name: 'b-server' } });
    const res = await h.invokeAs(AGENCY_A, syncEvent(id, ec2Id(n)));
    expect(res.results).toEqual([
      { managedInstanceId: id, ec2InstanceId: ec2Id(n), status: 'rejected', reason: expect.any(String) },
    ]);
    expect(h.ssm.writeCalls()).toBe(0);
    expect(h.ssm.state.tagsOf(id)).toEqual({ [`${PREFIX}activation-agency`]: AGENCY_B, Name: 'b-server' });
    expect(securityLines().map((l) => l.managedInstanceId)).toEqual([id]);
    expect(h.metrics('RejectedNodes')).toBe(1);
    expect(await h.rows()).toHaveLength(0);
  });

  it("gives the same neutral answer for B's node and for a node that does not exist (no enumeration)", async () => {
    const owned = h.registerNode(++n, AGENCY_B, 'act-bbbb');
    const missing = miId(++n);
    const res = await h.invokeAs(AGENCY_A, {
      op: 'sync',
      instances: [
        { ec2InstanceId: ec2Id(1), managedInstanceId: owned, tags: {} },
        { ec2InstanceId: ec2Id(2), managedInstanceId: missing, tags: {} },
      ],
    });
    expect(res.results.map((r: { status: string }) => r.status)).toEqual(['rejected', 'rejected']);
    expect(res.results[0].reason).toBe(res.results[1].reason);
    expect(h.ssm.writeCalls()).toBe(0);
  });

  it("refuses B's node registered with an unknown activation but stamped for B, even when the payload names B", async () => {
    const id = h.registerNode(++n, AGENCY_B, 'act-unknown');
    const res = await h.invokeAs(
      AGENCY_A,
      syncEvent(id, ec2Id(n), { [`${PREFIX}activation-agency`]: AGENCY_A, Owner: AGENCY_B }),
    );
    expect(res.results[0].status).toBe('rejected');
    expect(h.ssm.writeCalls()).toBe(0);
    expect(h.ssm.state.tagsOf(id)).toEqual({ [`${PREFIX}activation-agency`]: AGENCY_B });
  });

  it("refuses a node whose sync-table row belongs to B even when A's activation ID and stamp would match", async () => {
    const id = h.registerNode(++n, AGENCY_A, 'act-aaaa');
    await DynamoDBDocumentClient.from(h.db.client).send(
      new PutCommand({
        TableName: h.db.tableName,
        Item: { managedInstanceId: id, agencyAccountId: AGENCY_B, ec2InstanceId: ec2Id(n) },
      }),
    );
    const res = await h.invokeAs(AGENCY_A, syncEvent(id, ec2Id(n)));
    expect(res.results[0].status).toBe('rejected');
    expect(h.ssm.totalCalls()).toBe(0);
    const row = (await h.rows()).find((r) => r.managedInstanceId === id);
    expect(row?.agencyAccountId).toBe(AGENCY_B);
  });

  it("refuses to deregister B's node and leaves it registered", async () => {
    const id = h.registerNode(++n, AGENCY_B, 'act-bbbb');
    const res = await deregisterAs(AGENCY_A, id);
    expect(res.results[0].status).toBe('rejected');
    expect(h.ssm.state.nodes.has(id)).toBe(true);
    expect(h.ssm.calls.DeregisterManagedInstance).toBe(0);
  });

  it("hands A its own activation and never B's", async () => {
    const a = await h.invokeAs(AGENCY_A, { op: 'activation' });
    expect(a).toEqual({
      activationId: 'act-aaaa',
      activationCode: CODE_A,
      region: 'us-east-1',
      expiresAt: '2030-01-31T00:00:00.000Z',
    });
    const b = await h.invokeAs(AGENCY_B, { op: 'activation' });
    expect(b.activationCode).toBe(CODE_B);
    expect(h.logs.join('\n')).not.toContain(CODE_A);
    expect(h.logs.join('\n')).not.toContain(CODE_B);
  });

  it('answers NotFound to an agency that has no activation yet', async () => {
    const res = await h.invokeAs('333333333333', { op: 'activation' });
    expect(res.error.code).toBe('NotFound');
  });

  it('refuses to hand out a record stored under the agency name but issued to another agency', async () => {
    h.plantActivation('444444444444', { activationId: 'act-x', code: CODE_B });
    const param = h.ssm.state.parameters.get('/central-hub/agencies/444444444444')!;
    param.value = param.value.replace('"agencyAccountId":"444444444444"', `"agencyAccountId":"${AGENCY_B}"`);
    const res = await h.invokeAs('444444444444', { op: 'activation' });
    expect(res.error.code).toBe('Internal');
    expect(JSON.stringify(res)).not.toContain(CODE_B);
  });
});

describe('what an agency may do with its own nodes', () => {
  it('tags a node proven only by the stamped activation tag (activation ID no longer in the record)', async () => {
    const id = h.registerNode(++n, AGENCY_A, 'act-retired');
    const res = await h.invokeAs(AGENCY_A, syncEvent(id, ec2Id(n), { Name: 'a-server' }));
    expect(res.results[0].status).toBe('applied');
    expect(h.ssm.state.tagsOf(id)?.Name).toBe('a-server');
  });

  it('refuses a node with neither a known activation ID nor the stamp', async () => {
    const id = h.registerNode(++n, AGENCY_A, 'act-retired', { stamp: false });
    const res = await h.invokeAs(AGENCY_A, syncEvent(id, ec2Id(n)));
    expect(res.results[0].status).toBe('rejected');
    expect(h.ssm.writeCalls()).toBe(0);
  });

  it('deregisters its own node and removes its row; a second deregister is a quiet no-op', async () => {
    const id = h.registerNode(++n, AGENCY_A, 'act-aaaa');
    await h.invokeAs(AGENCY_A, syncEvent(id, ec2Id(n), { Name: 'x' }));
    expect((await h.rows()).some((r) => r.managedInstanceId === id)).toBe(true);
    const res = await deregisterAs(AGENCY_A, id);
    expect(res.results[0]).toMatchObject({ status: 'applied', reason: 'deregistered' });
    expect(h.ssm.state.nodes.has(id)).toBe(false);
    expect((await h.rows()).some((r) => r.managedInstanceId === id)).toBe(false);
    const logsBefore = h.logs.length;
    const again = await deregisterAs(AGENCY_A, id);
    expect(again.results[0]).toMatchObject({ status: 'unchanged', reason: 'already deregistered' });
    expect(h.logs.slice(logsBefore).some((l) => l.includes('"event":"security"'))).toBe(false);
  });

  it("still refuses to deregister another agency's live node", async () => {
    const theirs = h.registerNode(++n, AGENCY_B, 'act-bbbb');
    const res = await deregisterAs(AGENCY_A, theirs);
    expect(res.results[0].status).toBe('rejected');
    expect(h.ssm.state.nodes.has(theirs)).toBe(true);
  });

  it('treats a node already gone from SSM but still in its table as deregistered', async () => {
    const id = h.registerNode(++n, AGENCY_A, 'act-aaaa');
    await h.invokeAs(AGENCY_A, syncEvent(id, ec2Id(n), { Name: 'x' }));
    h.ssm.state.nodes.delete(id);
    const res = await deregisterAs(AGENCY_A, id);
    expect(res.results[0]).toMatchObject({ status: 'applied', reason: 'already deregistered' });
    expect((await h.rows()).some((r) => r.managedInstanceId === id)).toBe(false);
  });

  it('rejects a deregister naming a node bound to another EC2 instance, with a security event, as the same sync is', async () => {
    const id = h.registerNode(++n, AGENCY_A, 'act-aaaa');
    await h.invokeAs(AGENCY_A, syncEvent(id, ec2Id(n), { Name: 'x' }));
    h.logs.length = 0;
    const res = await h.invokeAs(AGENCY_A, {
      op: 'deregister',
      instances: [{ ec2InstanceId: ec2Id(n + 5000), managedInstanceId: id }],
    });
    expect(res.results[0]).toMatchObject({
      status: 'rejected',
      reason: 'managed node is bound to another EC2 instance',
    });
    expect(h.ssm.state.nodes.has(id)).toBe(true);
    expect(h.ssm.calls.DeregisterManagedInstance).toBe(0);
    expect(securityLines()).toEqual([
      expect.objectContaining({ managedInstanceId: id, claimedBy: ec2Id(n + 5000), boundTo: ec2Id(n) }),
    ]);
    expect(h.metrics('RejectedNodes')).toBe(1);
    expect((await h.rows()).some((r) => r.managedInstanceId === id)).toBe(true);
  });
});

describe("a misfiled activation record (one agency's record stored under another's name)", () => {
  const AGENCY_D = '555555555555';
  /** Stores B's record under D's parameter name, as an operator or restore mistake would. */
  const misfileBsRecordUnderD = (edit: (record: string) => string = (r) => r) => {
    const b = h.ssm.state.parameters.get(`/central-hub/agencies/${AGENCY_B}`)!;
    h.ssm.state.parameters.set(`/central-hub/agencies/${AGENCY_D}`, { ...b, value: edit(b.value) });
  };
  afterAll(() => h.ssm.state.parameters.delete(`/central-hub/agencies/${AGENCY_D}`));

  it("does not let D take over B's never-synced node through B's record filed under D", async () => {
    misfileBsRecordUnderD();
    const id = h.registerNode(++n, AGENCY_B, 'act-bbbb', { tags: { Name: 'b-server' } });
    const res = await h.invokeAs(AGENCY_D, syncEvent(id, ec2Id(n), { Name: 'd-now' }));
    expect(res.results[0]).toMatchObject({
      status: 'rejected',
      reason: 'managed node is not registered to your agency',
    });
    expect(h.ssm.writeCalls()).toBe(0);
    expect(h.ssm.state.tagsOf(id)).toEqual({ [`${PREFIX}activation-agency`]: AGENCY_B, Name: 'b-server' });
    expect(await h.rows()).not.toContainEqual(expect.objectContaining({ managedInstanceId: id }));
    expect(securityLines().map((l) => l.message)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/activation record names another agency/),
        expect.stringMatching(/refused a managed node/),
      ]),
    );
    // B still owns its node, and D cannot deregister it.
    expect((await h.invokeAs(AGENCY_B, syncEvent(id, ec2Id(n), { Name: 'b-server' }))).results[0].status).toBe(
      'applied',
    );
    const dereg = await deregisterAs(AGENCY_D, id);
    expect(dereg.results[0].status).toBe('rejected');
    expect(h.ssm.state.nodes.has(id)).toBe(true);
  });

  it("refuses B's node even when the misfiled record was edited to name D: the stamp names B", async () => {
    misfileBsRecordUnderD((r) => r.replace(`"agencyAccountId":"${AGENCY_B}"`, `"agencyAccountId":"${AGENCY_D}"`));
    const id = h.registerNode(++n, AGENCY_B, 'act-bbbb');
    const res = await h.invokeAs(AGENCY_D, syncEvent(id, ec2Id(n)));
    expect(res.results[0].status).toBe('rejected');
    expect(h.ssm.writeCalls()).toBe(0);
    expect(securityLines()).toEqual([
      expect.objectContaining({ managedInstanceId: id, cause: 'stamp-of-other-agency' }),
    ]);
  });
});

describe('nodes SSM does not know (DescribeInstanceInformation answers InvalidInstanceId)', () => {
  it("rejects a sync of an unknown node alone in its request, as it rejects another agency's node", async () => {
    const missing = miId(++n);
    const res = await h.invokeAs(AGENCY_A, syncEvent(missing, ec2Id(n)));
    expect(res.results[0]).toMatchObject({
      status: 'rejected',
      reason: 'managed node is not registered to your agency',
    });
    expect(h.ssm.writeCalls()).toBe(0);
  });

  it('answers "already deregistered" to a repeated deregister of a node neither SSM nor the table knows', async () => {
    const gone = miId(++n);
    for (let i = 0; i < 2; i++) {
      const res = await deregisterAs(AGENCY_A, gone);
      expect(res.results[0]).toMatchObject({ status: 'unchanged', reason: 'already deregistered' });
    }
    expect(securityLines()).toHaveLength(0);
  });

  it('applies 50 new nodes of the agency sent with one unknown node as the 51st', async () => {
    const own = Array.from({ length: 50 }, () => {
      const k = ++n;
      return {
        ec2InstanceId: ec2Id(k),
        managedInstanceId: h.registerNode(k, AGENCY_A, 'act-aaaa'),
        tags: { Name: `n${k}` },
      };
    });
    const unknown = { ec2InstanceId: ec2Id(++n), managedInstanceId: miId(n), tags: { Name: 'ghost' } };
    const res = await h.invokeAs(AGENCY_A, { op: 'sync', instances: [...own, unknown] });
    const statuses = res.results.map((r: { status: string }) => r.status);
    expect(statuses.slice(0, 50)).toEqual(Array(50).fill('applied'));
    expect(statuses[50]).toBe('rejected');
    expect(h.ssm.calls.AddTagsToResource).toBe(50);
  });

  it('finds the known nodes of a batch of 50 with one unknown among them in a bounded number of describes', async () => {
    const nodes = Array.from({ length: 50 }, (_, i) => {
      const k = ++n;
      const id = i === 17 ? miId(k) : h.registerNode(k, AGENCY_A, 'act-aaaa');
      return { ec2InstanceId: ec2Id(k), managedInstanceId: id, tags: { Name: `n${k}` } };
    });
    const res = await h.invokeAs(AGENCY_A, { op: 'sync', instances: nodes });
    const statuses = res.results.map((r: { status: string }) => r.status);
    expect(statuses.filter((s: string) => s === 'applied')).toHaveLength(49);
    expect(statuses[17]).toBe('rejected');
    // Halving until the unknown ID stands alone: 1 + 2 per level, 6 levels for 50 IDs.
    expect(h.ssm.calls.DescribeInstanceInformation).toBeLessThanOrEqual(13);
  });
});
