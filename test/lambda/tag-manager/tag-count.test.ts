// An instance can carry at most 50 EC2 user tags (plus AWS's own aws: tags), so a request that
// sends more is not EC2's data: the instance is refused whole, naming the field and the rule. That
// bounds the answer, which echoes every skipped tag, well under Lambda's 6 MB response limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EC2_MAX_SYSTEM_TAGS_ASSUMED,
  EC2_MAX_USER_TAGS_PER_RESOURCE,
  LAMBDA_SYNC_PAYLOAD_MAX_BYTES,
} from '../../../contract/limits.ts';
import { MAX_INSTANCES_PER_REQUEST, tagCountViolation } from '../../../lambda/shared/contract.ts';
import { AGENCY_A, ec2Id, startHarness, type Harness } from './harness.ts';

const keys = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

describe('how many tags one instance may carry (pure)', () => {
  it.each([
    { case: '50 user tags and 50 aws: tags', keys: [...keys(50, 'k'), ...keys(50, 'aws:k')], ok: true },
    { case: 'no tags', keys: [], ok: true },
    { case: '51 user tags', keys: keys(51, 'k'), ok: false },
    { case: '51 aws: tags', keys: keys(51, 'aws:k'), ok: false },
    { case: '51 AWS: tags in upper case', keys: keys(51, 'AWS:k'), ok: false },
    { case: '50 user tags, one of them awsome', keys: [...keys(49, 'k'), 'awsome'], ok: true },
  ])('$case: allowed $ok', ({ keys: k, ok }) => {
    expect(tagCountViolation(k) === undefined).toBe(ok);
  });
});

describe('through the handler', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: 'code-a' });
  });
  afterAll(async () => h?.close());

  it('refuses an instance with 51 user tags, naming the field and the rule, and syncs the one beside it', async () => {
    const bad = h.registerNode(8001, AGENCY_A, 'act-aaaa');
    const good = h.registerNode(8002, AGENCY_A, 'act-aaaa');
    const res = await h.invokeAs(AGENCY_A, {
      op: 'sync',
      instances: [
        {
          ec2InstanceId: ec2Id(8001),
          managedInstanceId: bad,
          tags: Object.fromEntries(keys(51, 'k').map((k) => [k, 'v'])),
        },
        { ec2InstanceId: ec2Id(8002), managedInstanceId: good, tags: { Name: 'ok' } },
      ],
    });
    expect(res.results[0]).toEqual({
      managedInstanceId: bad,
      status: 'failed',
      reason: `invalid: instances[0].tags: must hold at most ${EC2_MAX_USER_TAGS_PER_RESOURCE} tags not starting with aws: (EC2's limit per instance); got 51`,
    });
    expect(res.results[1].status).toBe('applied');
    expect(h.ssm.state.tagsOf(bad)).toEqual({ 'central-it:activation-agency': AGENCY_A });
  });

  it('answers a 1.5 MB request of 120,000 aws: keys in a few hundred bytes (was over 7 MB)', async () => {
    const id = h.registerNode(8003, AGENCY_A, 'act-aaaa');
    const tags: Record<string, string> = {};
    for (let i = 0; i < 120_000; i++) tags[`aws:${i.toString(36)}`] = '';
    const res = await h.invokeAs(AGENCY_A, {
      op: 'sync',
      instances: [{ ec2InstanceId: ec2Id(8003), managedInstanceId: id, tags }],
    });
    expect(res.results[0]).toMatchObject({ status: 'failed', reason: expect.stringMatching(/aws:; got 120000$/) });
    expect(Buffer.byteLength(JSON.stringify(res))).toBeLessThan(1000);
  });

  it('keeps the largest answer the schema allows under 6 MB: 100 instances, each with every tag skipped', async () => {
    // Keys longer than SSM's 128 characters are skipped and echoed cut to 128 characters plus "…".
    const long = (i: number, prefix: string) => `${prefix}${String(i).padStart(3, '0')}${'x'.repeat(300)}`;
    const instances = Array.from({ length: MAX_INSTANCES_PER_REQUEST }, (_, i) => {
      const k = 8100 + i;
      const tags: Record<string, string> = {};
      for (let j = 0; j < EC2_MAX_USER_TAGS_PER_RESOURCE; j++) tags[long(j, 'user')] = 'v';
      for (let j = 0; j < EC2_MAX_SYSTEM_TAGS_ASSUMED; j++) tags[long(j, 'aws:')] = 'v';
      return { ec2InstanceId: ec2Id(k), managedInstanceId: h.registerNode(k, AGENCY_A, 'act-aaaa'), tags };
    });
    const res = await h.invokeAs(AGENCY_A, { op: 'sync', instances });
    const skipped = res.results.map((r: { skippedTags?: unknown[] }) => r.skippedTags?.length ?? 0);
    expect(skipped).toEqual(Array(MAX_INSTANCES_PER_REQUEST).fill(100));
    const bytes = Buffer.byteLength(JSON.stringify(res));
    expect(bytes).toBeLessThan(LAMBDA_SYNC_PAYLOAD_MAX_BYTES / 2);
  }, 60_000);
});
