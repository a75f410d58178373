// The node-arn provenance tag through the real bundled handler: every synced node carries its own
// ARN (what the node role's policy compares with the caller's ssm:SourceInstanceARN), nodes synced
// before the tag existed get it once, and no agency can set or remove it.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SKIP_REASONS, emptyTags, tagFingerprint } from '../../../lambda/shared/tag-rules.ts';
import { AGENCY_A, PREFIX, ec2Id, makeDriftCheckDue, nodeArnOf, provenanceTags, startHarness } from './harness.ts';
import { type Harness } from './harness.ts';

const NODE_ARN_KEY = `${PREFIX}node-arn`;
let h: Harness;
let n = 5000;
/** The Tags of every AddTagsToResource request the fake received, in order. */
let added: Array<Record<string, string>> = [];

beforeAll(async () => {
  h = await startHarness({
    ssm: {
      // Not a fault: a window on what the handler sent (the fake applies the call as usual).
      fault: (op, body) => {
        if (op === 'AddTagsToResource') {
          const tags = emptyTags();
          for (const t of body.Tags as Array<{ Key: string; Value: string }>) tags[t.Key] = t.Value;
          added.push(tags);
        }
        return undefined;
      },
    },
  });
  h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: 'irrelevant-code' });
});
afterAll(async () => h?.close());
beforeEach(() => {
  h.ssm.resetCounters();
  h.tagging.resetCounters();
  added = [];
});

const sync = (id: string, ec2: string, tags: Record<string, string>) =>
  h.invokeAs(AGENCY_A, { op: 'sync', instances: [{ ec2InstanceId: ec2, managedInstanceId: id, tags }] });

/** Puts a synced node back as the previous release left it: no node-arn tag, and the row's fingerprint without it. */
async function asBeforeTheUpgrade(id: string, ec2: string, userTags: Record<string, string>): Promise<void> {
  h.ssm.state.nodes.get(id)!.tags.delete(NODE_ARN_KEY);
  const previous = tagFingerprint({
    ...userTags,
    [`${PREFIX}agency-account`]: AGENCY_A,
    [`${PREFIX}ec2-instance-id`]: ec2,
  });
  await DynamoDBDocumentClient.from(h.db.client).send(
    new UpdateCommand({
      TableName: h.db.tableName,
      Key: { managedInstanceId: id },
      UpdateExpression: 'SET fingerprint = :f',
      ExpressionAttributeValues: { ':f': previous },
    }),
  );
}

describe('the node-arn tag', () => {
  it("is written by a node's first sync with the node's own ARN, in the same call as the other tags", async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    const res = await sync(id, ec2Id(k), { Name: 'web' });
    expect(res.results[0].status).toBe('applied');
    expect(h.ssm.state.tagsOf(id)?.[NODE_ARN_KEY]).toBe(`arn:aws:ssm:us-east-1:999999999999:managed-instance/${id}`);
    expect(h.ssm.state.tagsOf(id)).toEqual({ Name: 'web', ...provenanceTags(AGENCY_A, ec2Id(k), id) });
    expect(h.ssm.calls.AddTagsToResource).toBe(1);
  });

  it('is added once to a node synced before it existed, on its next sync, and then costs nothing', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    await sync(id, ec2Id(k), { Name: 'web' });
    await asBeforeTheUpgrade(id, ec2Id(k), { Name: 'web' });
    h.ssm.resetCounters();
    added = [];

    const res = await sync(id, ec2Id(k), { Name: 'web' });
    expect(res.results[0].status).toBe('applied');
    expect(h.ssm.calls.AddTagsToResource).toBe(1);
    expect(added[0]?.[NODE_ARN_KEY]).toBe(nodeArnOf(id));
    expect(h.ssm.state.tagsOf(id)).toEqual({ Name: 'web', ...provenanceTags(AGENCY_A, ec2Id(k), id) });

    h.ssm.resetCounters();
    expect((await sync(id, ec2Id(k), { Name: 'web' })).results[0].status).toBe('unchanged');
    expect(h.ssm.totalCalls()).toBe(0);
  });

  it('is added alone by the drift pass to a node synced before it existed, and then costs nothing', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    await sync(id, ec2Id(k), { Name: 'web', Env: 'prod' });
    await asBeforeTheUpgrade(id, ec2Id(k), { Name: 'web', Env: 'prod' });
    await makeDriftCheckDue(h, id);
    h.ssm.resetCounters();
    h.tagging.resetCounters();
    added = [];

    const res = await sync(id, ec2Id(k), { Name: 'web', Env: 'prod' });
    expect(res.results[0].status).toBe('applied');
    // The bulk read agrees with the row (nothing else drifted), so no node-by-node read, one write.
    expect(h.tagging.calls.GetResources).toBe(1);
    expect(h.ssm.calls).toMatchObject({ ListTagsForResource: 0, RemoveTagsFromResource: 0, AddTagsToResource: 1 });
    expect(added).toEqual([{ [NODE_ARN_KEY]: nodeArnOf(id) }]);

    h.ssm.resetCounters();
    expect((await sync(id, ec2Id(k), { Name: 'web', Env: 'prod' })).results[0].status).toBe('unchanged');
    expect(h.ssm.totalCalls()).toBe(0);
  });

  it.each([
    ['its own spelling', NODE_ARN_KEY],
    ['another case', `${PREFIX.toUpperCase()}Node-Arn`],
  ])('cannot be set by an agency (an EC2 tag in %s is skipped as reserved)', async (_, key) => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    const victim = nodeArnOf('mi-0bbbbbbbbbbbbbbbb');
    const res = await sync(id, ec2Id(k), { Name: 'web', [key]: victim });
    expect(res.results[0].status).toBe('applied');
    expect(res.results[0].skippedTags).toEqual([{ key, reason: SKIP_REASONS.reserved(PREFIX) }]);
    expect(h.ssm.state.tagsOf(id)?.[NODE_ARN_KEY]).toBe(nodeArnOf(id));
    expect(Object.values(h.ssm.state.tagsOf(id)!)).not.toContain(victim);
  });

  it('is put back by the drift pass when it names another node (set by hand in SSM)', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    await sync(id, ec2Id(k), { Name: 'web' });
    h.ssm.state.nodes.get(id)!.tags.set(NODE_ARN_KEY, nodeArnOf('mi-0bbbbbbbbbbbbbbbb'));
    await makeDriftCheckDue(h, id);
    added = [];
    expect((await sync(id, ec2Id(k), { Name: 'web' })).results[0].status).toBe('applied');
    expect(added).toEqual([{ [NODE_ARN_KEY]: nodeArnOf(id) }]);
    expect(h.ssm.state.tagsOf(id)?.[NODE_ARN_KEY]).toBe(nodeArnOf(id));
  });

  it('cannot be removed by an agency: not by removing every EC2 tag, nor on a drift pass', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    await sync(id, ec2Id(k), { Name: 'web' });
    await sync(id, ec2Id(k), {});
    await makeDriftCheckDue(h, id);
    await sync(id, ec2Id(k), {});
    expect(h.ssm.state.tagsOf(id)).toEqual(provenanceTags(AGENCY_A, ec2Id(k), id));
    expect(h.ssm.calls.RemoveTagsFromResource).toBe(1);
  });
});
