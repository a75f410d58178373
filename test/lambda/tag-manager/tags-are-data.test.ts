// Tags are data, through the real bundled handler: keys named like Object.prototype members are
// tags like any other, applied and removed exactly as EC2 has them. Requests are built with
// JSON.parse, as Lambda builds the event from the wire, so a "__proto__" key is an own key.
import { beforeEach, describe, expect, it } from 'vitest';
import { AGENCY_A, ec2Id, harnessForFile } from './harness.ts';

const h = harnessForFile();
let n = 3000;

beforeEach(() => h.ssm.resetCounters());

/** A sync request as Lambda parses it from JSON text. */
const syncWire = (id: string, ec2: string, tags: Array<[string, string]>) =>
  JSON.parse(
    `{"op":"sync","instances":[{"ec2InstanceId":${JSON.stringify(ec2)},"managedInstanceId":${JSON.stringify(id)},` +
      `"tags":{${tags.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}}]}`,
  );

const PROTOTYPE_KEYS = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__', 'isPrototypeOf'];

describe('tag keys named like Object.prototype members', () => {
  it.each(PROTOTYPE_KEYS)('applies a %s tag, and removes it from SSM once it is removed in EC2', async (key) => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    const first = await h.invokeAs(
      AGENCY_A,
      syncWire(id, ec2Id(k), [
        ['Name', 'web'],
        [key, 'data'],
      ]),
    );
    expect(first.results[0]).toMatchObject({ status: 'applied' });
    expect(first.results[0].skippedTags).toBeUndefined();
    expect(h.ssm.state.nodes.get(id)!.tags.get(key)).toBe('data');

    const removed = await h.invokeAs(AGENCY_A, syncWire(id, ec2Id(k), [['Name', 'web']]));
    expect(removed.results[0].status).toBe('applied');
    expect(h.ssm.state.nodes.get(id)!.tags.has(key)).toBe(false);
    expect(h.ssm.state.nodes.get(id)!.tags.get('Name')).toBe('web');
    const row = (await h.rows()).find((r) => r.managedInstanceId === id);
    expect(row?.appliedTagKeys).toEqual(['Name']);
  });

  it.each(PROTOTYPE_KEYS)('changes the value of a %s tag and leaves it alone when unchanged', async (key) => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    await h.invokeAs(AGENCY_A, syncWire(id, ec2Id(k), [[key, 'one']]));
    const changed = await h.invokeAs(AGENCY_A, syncWire(id, ec2Id(k), [[key, 'two']]));
    expect(changed.results[0].status).toBe('applied');
    expect(h.ssm.state.nodes.get(id)!.tags.get(key)).toBe('two');
    h.ssm.resetCounters();
    const same = await h.invokeAs(AGENCY_A, syncWire(id, ec2Id(k), [[key, 'two']]));
    expect(same.results[0].status).toBe('unchanged');
    expect(h.ssm.totalCalls()).toBe(0);
  });

  it('reports a __proto__ tag SSM would refuse instead of dropping it silently', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    const res = await h.invokeAs(AGENCY_A, syncWire(id, ec2Id(k), [['__proto__', 'semi;colon']]));
    expect(res.results[0].skippedTags).toEqual([
      { key: '__proto__', reason: expect.stringMatching(/value has characters/) },
    ]);
  });

  it('refuses a __proto__ tag whose value is not a string, naming the field', async () => {
    const k = ++n;
    const id = h.registerNode(k, AGENCY_A, 'act-aaaa');
    const req = JSON.parse(
      `{"op":"sync","instances":[{"ec2InstanceId":"${ec2Id(k)}","managedInstanceId":"${id}","tags":{"__proto__":{"polluted":"yes"}}}]}`,
    );
    const res = await h.invokeAs(AGENCY_A, req);
    expect(res.results[0]).toMatchObject({ status: 'failed' });
    expect(res.results[0].reason).toMatch(/^invalid: instances\[0\]\.tags\.__proto__: tag values must be strings/);
    expect(h.ssm.writeCalls()).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
