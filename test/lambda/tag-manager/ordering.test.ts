// Tag sets delivered out of order: the hub never writes an older tag set over a newer one. Through
// the real bundled handler (SSM fake, dynalite), plus the table condition and a concurrent sync
// driven through the source against dynalite.
import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { AGENCY_A, aliasArn, ec2Id, harnessForFile } from './harness.ts';
import { putRow, type SyncRow } from '../../../lambda/tag-manager/table-io.ts';
import {
  notOlderCondition,
  observedAttributes,
  orderTagSet,
  type Observation,
} from '../../../lambda/tag-manager/ordering.ts';
import { syncInstances } from '../../../lambda/tag-manager/sync.ts';
import { readConfig } from '../../../lambda/tag-manager/config.ts';
import { ssmClient, tableClient, taggingClient } from '../../../lambda/tag-manager/clients.ts';
import { agencyFromArn } from '../../../lambda/tag-manager/identity.ts';
import type { OpContext } from '../../../lambda/tag-manager/context.ts';

const h = harnessForFile();
let n = 7000;
beforeEach(() => h.ssm.resetCounters());

const T = (s: number) => new Date(Date.UTC(2026, 11, 8, 0, 30, s)).toISOString().replace('.000Z', 'Z');
const entry = (k: number, id: string, team: string, observed: Record<string, unknown> = {}) => ({
  ec2InstanceId: ec2Id(k),
  managedInstanceId: id,
  tags: { Name: `web-${k}`, Team: team },
  ...observed,
});
const sync = async (...instances: unknown[]) =>
  ((await h.invokeAs(AGENCY_A, { op: 'sync', instances })) as { results: Array<Record<string, unknown>> }).results;
const rowOf = async (id: string) => (await h.rows()).find((r) => r.managedInstanceId === id)!;
const newNode = () => {
  const k = ++n;
  return { k, id: h.registerNode(k, AGENCY_A, 'act-aaaa') };
};

describe('through the tag manager', () => {
  it('answers an event older than the applied one superseded, writes nothing, and counts it apart from errors', async () => {
    const { k, id } = newNode();
    await sync(entry(k, id, 'v5', { observedAt: T(10), observedVersion: 5 }));
    const before = { superseded: h.metrics('SupersededSyncs'), failed: h.metrics('Failed') };
    const rejected = h.metrics('RejectedNodes');
    h.ssm.resetCounters();

    const [r] = await sync(entry(k, id, 'v4', { observedAt: T(9), observedVersion: 4 }));

    expect(r).toMatchObject({ managedInstanceId: id, status: 'superseded' });
    expect(h.ssm.state.tagsOf(id)!['Team']).toBe('v5');
    expect(h.ssm.writeCalls()).toBe(0);
    expect(h.metrics('SupersededSyncs')).toBe(before.superseded + 1);
    expect(h.metrics('Failed')).toBe(before.failed);
    expect(h.metrics('RejectedNodes')).toBe(rejected);
    expect(h.logs.some((l) => l.includes('"security"') && l.includes(id))).toBe(false);
    expect(await rowOf(id)).toMatchObject({ observedAt: '2026-12-08T00:30:10.000Z', observedVersion: 5 });
  });

  it('orders two events of the same second by their version', async () => {
    const { k, id } = newNode();
    await sync(entry(k, id, 'v5', { observedAt: T(10), observedVersion: 5 }));
    const [older] = await sync(entry(k, id, 'v4', { observedAt: T(10), observedVersion: 4 }));
    expect(older!.status).toBe('superseded');
    const [newer] = await sync(entry(k, id, 'v6', { observedAt: T(10), observedVersion: 6 }));
    expect(newer!.status).toBe('applied');
    expect(h.ssm.state.tagsOf(id)!['Team']).toBe('v6');
  });

  it('applies a newer tag set, and one of equal time without versions, as before', async () => {
    const { k, id } = newNode();
    await sync(entry(k, id, 'a', { observedAt: T(10) }));
    expect((await sync(entry(k, id, 'b', { observedAt: T(11) })))[0]!.status).toBe('applied');
    expect((await sync(entry(k, id, 'c', { observedAt: T(11) })))[0]!.status).toBe('applied');
    expect(h.ssm.state.tagsOf(id)!['Team']).toBe('c');
  });

  it('applies a sync without an observed time (an older collector) over a stored observation', async () => {
    const { k, id } = newNode();
    await sync(entry(k, id, 'v5', { observedAt: T(10), observedVersion: 5 }));
    const [r] = await sync(entry(k, id, 'old-collector'));
    expect(r!.status).toBe('applied');
    expect(h.ssm.state.tagsOf(id)!['Team']).toBe('old-collector');
  });

  it('moves the observation forward on an unchanged event, so a delayed older event cannot undo a change back', async () => {
    // EC2: Team=a (t10), Team=b (t11), Team=a (t12); the t12 event arrives before the t11 one.
    const { k, id } = newNode();
    await sync(entry(k, id, 'a', { observedAt: T(10), observedVersion: 1 }));
    h.ssm.resetCounters();
    const [same] = await sync(entry(k, id, 'a', { observedAt: T(12), observedVersion: 3 }));
    expect(same!.status).toBe('unchanged');
    expect(h.ssm.totalCalls()).toBe(0);
    expect(await rowOf(id)).toMatchObject({ observedAt: '2026-12-08T00:30:12.000Z', observedVersion: 3 });
    const [late] = await sync(entry(k, id, 'b', { observedAt: T(11), observedVersion: 2 }));
    expect(late!.status).toBe('superseded');
    expect(h.ssm.state.tagsOf(id)!['Team']).toBe('a');
  });

  it('writes nothing to the table for an unchanged reconcile (no version): the steady state stays free of writes', async () => {
    const { k, id } = newNode();
    await sync(entry(k, id, 'a', { observedAt: T(10) }));
    const writes = () => (h.db.calls['PutItem'] ?? 0) + (h.db.calls['UpdateItem'] ?? 0);
    const before = writes();
    const [r] = await sync(entry(k, id, 'a', { observedAt: T(40) }));
    expect(r!.status).toBe('unchanged');
    // The only write is the agency's request counter (admitRequest).
    expect(writes() - before).toBe(1);
  });

  it.each([
    { field: 'observedAt', value: 'yesterday', message: 'must be an ISO 8601 UTC date-time' },
    { field: 'observedVersion', value: -1, message: 'must not be negative' },
    { field: 'observedVersion', value: 1.5, message: 'must be an integer' },
  ])('refuses an entry whose $field is $value, naming the field and the rule', async ({ field, value, message }) => {
    const { k, id } = newNode();
    const [r] = await sync({ ...entry(k, id, 'x', { observedAt: T(10) }), [field]: value });
    expect(r).toMatchObject({ status: 'failed' });
    expect(r!.reason).toContain(`instances[0].${field}`);
    expect(r!.reason).toContain(message);
  });
});

describe('the row write carries the ordering as a condition', () => {
  const ev = (s: number, version?: number): Observation =>
    version === undefined
      ? { at: new Date(Date.UTC(2026, 11, 8, 0, 30, s, 250)).toISOString() }
      : { at: T(s).replace('Z', '.000Z'), version };
  it.each([
    { case: 'older time', stored: ev(10, 5), incoming: ev(9, 9) },
    { case: 'newer time', stored: ev(10, 5), incoming: ev(11, 1) },
    { case: 'equal time, lower version', stored: ev(10, 5), incoming: ev(10, 4) },
    { case: 'equal time, same version', stored: ev(10, 5), incoming: ev(10, 5) },
    { case: 'equal time, higher version', stored: ev(10, 5), incoming: ev(10, 6) },
    { case: 'equal time, stored without version', stored: { at: ev(10, 1).at }, incoming: ev(10, 0) },
    { case: 'a snapshot older than the stored event', stored: ev(10, 5), incoming: ev(8) },
    { case: 'a snapshot newer than the stored event', stored: ev(10, 5), incoming: ev(10) },
    { case: 'an event older than the stored snapshot', stored: ev(10), incoming: ev(10, 3) },
    { case: 'a row without observation', stored: undefined, incoming: ev(10, 5) },
  ])('DynamoDB agrees with orderTagSet: $case', async ({ stored, incoming }) => {
    const { k, id } = newNode();
    const ddb = DynamoDBDocumentClient.from(h.db.client);
    const row: SyncRow = { managedInstanceId: id, agencyAccountId: AGENCY_A, ec2InstanceId: ec2Id(k) };
    await ddb.send(new PutCommand({ TableName: h.db.tableName, Item: { ...row, ...observedAttributes(stored) } }));
    const write = putRow(ddb, h.db.tableName, { ...row, ...observedAttributes(incoming) }, notOlderCondition(incoming));
    if (orderTagSet(stored, incoming) === 'apply') await expect(write).resolves.toBeUndefined();
    else await expect(write).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
  });
});

describe('two syncs of one node at once', () => {
  /** A tag manager context over the real clients (source, against dynalite) with `ddb` for the table. */
  function contextFor(ddb: DynamoDBDocumentClient): OpContext {
    const config = readConfig();
    const identity = agencyFromArn(aliasArn(AGENCY_A));
    if (!identity.ok) throw new Error(identity.reason);
    return {
      config,
      agencyAccountId: AGENCY_A,
      ssm: ssmClient(config),
      tagging: taggingClient(config),
      hub: identity.hub,
      ddb,
      now: new Date(),
      requestId: 'race',
      remainingMs: () => Number.POSITIVE_INFINITY,
    };
  }

  /**
   * Runs a v4 sync of node `id` whose row write is held back until a v5 sync has run whole;
   * `between` runs after the v5 sync, before the v4 row write.
   */
  async function olderAgainstNewer(k: number, id: string, between: () => void = () => {}) {
    const real = tableClient(readConfig());
    let raced = false;
    const racing = {
      send: async (command: unknown) => {
        if (command instanceof PutCommand && !raced) {
          raced = true;
          const [newer] = await syncInstances(contextFor(real), [
            entry(k, id, 'v5', { observedAt: T(5), observedVersion: 5 }),
          ]);
          expect(newer!.status).toBe('applied');
          between();
        }
        return real.send(command as PutCommand);
      },
    } as unknown as DynamoDBDocumentClient;
    const [older] = await syncInstances(contextFor(racing), [
      entry(k, id, 'v4', { observedAt: T(4), observedVersion: 4 }),
    ]);
    expect(raced).toBe(true);
    return older!;
  }

  it('answers superseded when a newer sync stored its row between this one reading and writing it', async () => {
    const { k, id } = newNode();
    await sync(entry(k, id, 'v3', { observedAt: T(3), observedVersion: 3 }));

    const older = await olderAgainstNewer(k, id);

    expect(older).toMatchObject({ status: 'superseded' });
    expect(await rowOf(id)).toMatchObject({ observedAt: '2026-12-08T00:30:05.000Z', observedVersion: 5 });
    expect(h.ssm.state.tagsOf(id)!['Team']).toBe('v5');
  });

  it('has the next sync re-read SSM when the older SSM write may have landed after the newer one', async () => {
    const { k, id } = newNode();
    await sync(entry(k, id, 'v3', { observedAt: T(3), observedVersion: 3 }));
    // The two SSM writes were in flight at once and the older one landed last.
    const older = await olderAgainstNewer(k, id, () => h.ssm.state.nodes.get(id)!.tags.set('Team', 'v4'));
    expect(older).toMatchObject({ status: 'superseded' });
    expect(h.ssm.state.tagsOf(id)!['Team']).toBe('v4');

    // The next sync of the same tags (the hourly reconcile) reads SSM instead of trusting the row.
    h.ssm.resetCounters();
    const [next] = await sync(entry(k, id, 'v5', { observedAt: T(20) }));
    expect(next!.status).toBe('applied');
    expect(h.ssm.calls['ListTagsForResource'] ?? 0).toBe(1);
    expect(h.ssm.state.tagsOf(id)!['Team']).toBe('v5');
  });

  // A (t10), B (t11), A (t12): the t12 event finds its tag set unchanged and goes to move the
  // stored observation forward while the t11 sync writes B; its write then finds another tag set.
  it('applies a newer unchanged tag set after all when an older sync wrote another one meanwhile', async () => {
    const { k, id } = newNode();
    await sync(entry(k, id, 'a', { observedAt: T(10), observedVersion: 1 }));
    const real = tableClient(readConfig());
    let raced = false;
    const racing = {
      send: async (command: unknown) => {
        if (command instanceof UpdateCommand && !raced) {
          raced = true;
          const [older] = await syncInstances(contextFor(real), [
            entry(k, id, 'b', { observedAt: T(11), observedVersion: 2 }),
          ]);
          expect(older!.status).toBe('applied');
        }
        return real.send(command as UpdateCommand);
      },
    } as unknown as DynamoDBDocumentClient;

    const [newer] = await syncInstances(contextFor(racing), [
      entry(k, id, 'a', { observedAt: T(12), observedVersion: 3 }),
    ]);

    expect(raced).toBe(true);
    expect(newer).toMatchObject({ status: 'applied' });
    expect(h.ssm.state.tagsOf(id)!['Team']).toBe('a');
    expect(await rowOf(id)).toMatchObject({ observedAt: '2026-12-08T00:30:12.000Z', observedVersion: 3 });
  });
});
