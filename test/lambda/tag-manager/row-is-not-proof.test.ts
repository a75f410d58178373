// A sync-table row is a cache of ownership, not proof: an operator edit, a bad restore or an import
// can write a row that names the wrong agency. Before the one irreversible call (deregister) the
// node's own tags are read and its activation stamp decides; in sync, every node about to be
// written (its drift check is due, or its tags changed) is read first, in bulk where the Tagging
// API answers, and the stamp decides too. The common path (an unchanged node whose drift check is
// not due) still makes no call at all.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { AGENCY_A, AGENCY_B, PREFIX, ec2Id, makeDriftCheckDue, startHarness, type Harness } from './harness.ts';
import { stampConfirmsRow } from '../../../lambda/tag-manager/ownership.ts';

let h: Harness;
let n = 9000;

beforeAll(async () => {
  h = await startHarness();
  h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: 'code-a' });
  h.plantActivation(AGENCY_B, { activationId: 'act-bbbb', code: 'code-b' });
});
afterAll(async () => h?.close());
beforeEach(() => {
  h.ssm.resetCounters();
  h.logs.length = 0;
});

const stampB = { [`${PREFIX}activation-agency`]: AGENCY_B };
const securityLines = () => h.logs.map((l) => JSON.parse(l)).filter((r) => r.event === 'security');

/** Writes a row that names `agency` as the node's owner, bound to `ec2` (as a wrong restore would). */
async function plantRow(id: string, agency: string, ec2: string) {
  await DynamoDBDocumentClient.from(h.db.client).send(
    new PutCommand({
      TableName: h.db.tableName,
      Item: { managedInstanceId: id, agencyAccountId: agency, ec2InstanceId: ec2 },
    }),
  );
}
const deregister = (agency: string, id: string, ec2: string) =>
  h.invokeAs(agency, { op: 'deregister', instances: [{ ec2InstanceId: ec2, managedInstanceId: id }] });
const sync = (agency: string, id: string, ec2: string, tags: Record<string, string>) =>
  h.invokeAs(agency, { op: 'sync', instances: [{ ec2InstanceId: ec2, managedInstanceId: id, tags }] });

describe('what the stamp says about a row (pure)', () => {
  it.each([
    { case: "the caller's stamp", tags: { [`${PREFIX}activation-agency`]: AGENCY_A }, want: 'confirmed' },
    { case: "another agency's stamp", tags: stampB, want: 'stamp-of-other-agency' },
    { case: 'no stamp', tags: { Name: 'x' }, want: 'unstamped' },
    { case: 'an empty stamp', tags: { [`${PREFIX}activation-agency`]: '' }, want: 'stamp-of-other-agency' },
  ] as Array<{ case: string; tags: Record<string, string>; want: string }>)('$case: $want', ({ tags, want }) => {
    expect(stampConfirmsRow(tags, PREFIX, AGENCY_A)).toBe(want);
  });
});

describe('deregister reads the node before the irreversible call', () => {
  it("refuses to deregister B's node (B's stamp and activation) when a wrong row names A, and logs it", async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_B, 'act-bbbb');
    await plantRow(id, AGENCY_A, ec2Id(k));
    const res = await deregister(AGENCY_A, id, ec2Id(k));
    expect(res.results[0]).toMatchObject({
      status: 'rejected',
      reason: 'managed node is not registered to your agency',
    });
    expect(h.ssm.state.nodes.has(id)).toBe(true);
    expect(h.ssm.calls.DeregisterManagedInstance).toBe(0);
    expect(securityLines()).toEqual([
      expect.objectContaining({
        managedInstanceId: id,
        cause: 'stamp-of-other-agency',
        op: 'deregister',
        rowContradicted: true,
      }),
    ]);
    expect(h.metrics('RejectedNodes')).toBe(1);
  });

  it("deregisters the agency's own stamped node after one tag read", async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    await plantRow(id, AGENCY_A, ec2Id(k));
    const res = await deregister(AGENCY_A, id, ec2Id(k));
    expect(res.results[0]).toMatchObject({ status: 'applied', reason: 'deregistered' });
    expect(h.ssm.state.nodes.has(id)).toBe(false);
    expect(h.ssm.calls).toMatchObject({ ListTagsForResource: 1, DeregisterManagedInstance: 1 });
    expect((await h.rows()).some((r) => r.managedInstanceId === id)).toBe(false);
  });

  it("deregisters an unstamped node only when its ActivationId is one of the agency's activations", async () => {
    const own = ++n;
    const ownId = h.registerNode(own, AGENCY_A, 'act-aaaa', { stamp: false });
    await plantRow(ownId, AGENCY_A, ec2Id(own));
    expect((await deregister(AGENCY_A, ownId, ec2Id(own))).results[0].status).toBe('applied');
    expect(h.ssm.state.nodes.has(ownId)).toBe(false);

    h.logs.length = 0;
    const other = ++n;
    const otherId = h.registerNode(other, AGENCY_B, 'act-bbbb', { stamp: false });
    await plantRow(otherId, AGENCY_A, ec2Id(other));
    h.ssm.resetCounters();
    const res = await deregister(AGENCY_A, otherId, ec2Id(other));
    expect(res.results[0].status).toBe('rejected');
    // The tag read, then the first sync's proof: the activation record and a describe.
    expect(h.ssm.calls).toMatchObject({
      ListTagsForResource: 1,
      GetParameter: 1,
      DescribeInstanceInformation: 1,
      DeregisterManagedInstance: 0,
    });
    expect(h.ssm.state.nodes.has(otherId)).toBe(true);
    expect(securityLines()).toEqual([expect.objectContaining({ managedInstanceId: otherId, cause: 'no-proof' })]);
  });

  it('answers "already deregistered" for a node with a row that SSM no longer knows, and deletes the row', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    await plantRow(id, AGENCY_A, ec2Id(k));
    h.ssm.state.nodes.delete(id);
    const res = await deregister(AGENCY_A, id, ec2Id(k));
    expect(res.results[0]).toMatchObject({ status: 'applied', reason: 'already deregistered' });
    expect(h.ssm.calls.DeregisterManagedInstance).toBe(0);
    expect((await h.rows()).some((r) => r.managedInstanceId === id)).toBe(false);
  });
});

describe('sync reads a node before writing it, and refuses another stamp', () => {
  it("does not tag B's node when a wrong row names A and its drift check is due", async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_B, 'act-bbbb');
    await plantRow(id, AGENCY_A, ec2Id(k));
    await makeDriftCheckDue(h, id);
    const res = await sync(AGENCY_A, id, ec2Id(k), { Name: 'hijacked' });
    expect(res.results[0]).toMatchObject({
      status: 'rejected',
      reason: 'managed node is not registered to your agency',
    });
    expect(h.ssm.state.tagsOf(id)).toEqual(stampB);
    expect(h.ssm.writeCalls()).toBe(0);
    expect(securityLines()).toEqual([
      expect.objectContaining({ managedInstanceId: id, cause: 'stamp-of-other-agency', op: 'sync' }),
    ]);
  });

  it.each([
    { case: 'in bulk (Tagging API)', bulkMisses: false, listTags: 0 },
    { case: 'node by node when the bulk answer leaves it out', bulkMisses: true, listTags: 1 },
  ])(
    "does not tag B's node when a wrong row names A and the tags sent changed: the node is read $case before any write",
    async ({ bulkMisses, listTags }) => {
      const k = ++n;
      const id = h.registerNode(k, AGENCY_B, 'act-bbbb');
      // A row as a sync of A would leave it, with a recent drift check: only the change makes it read.
      await DynamoDBDocumentClient.from(h.db.client).send(
        new PutCommand({
          TableName: h.db.tableName,
          Item: {
            managedInstanceId: id,
            agencyAccountId: AGENCY_A,
            ec2InstanceId: ec2Id(k),
            lastDriftCheckAt: new Date().toISOString(),
          },
        }),
      );
      if (bulkMisses) h.tagging.stale.set(id, null);
      const res = await sync(AGENCY_A, id, ec2Id(k), { Name: 'hijacked' });
      expect(res.results[0].status).toBe('rejected');
      expect(h.ssm.state.tagsOf(id)).toEqual(stampB);
      expect(h.ssm.writeCalls()).toBe(0);
      expect(h.ssm.calls.ListTagsForResource).toBe(listTags);
    },
  );

  it("still makes no SSM or Tagging API call for an unchanged node of the agency's own whose drift check is not due", async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    expect((await sync(AGENCY_A, id, ec2Id(k), { Name: 'a' })).results[0].status).toBe('applied');
    h.ssm.resetCounters();
    h.tagging.resetCounters();
    expect((await sync(AGENCY_A, id, ec2Id(k), { Name: 'a' })).results[0].status).toBe('unchanged');
    expect(h.ssm.totalCalls()).toBe(0);
    expect(h.tagging.calls.GetResources ?? 0).toBe(0);
  });
});
