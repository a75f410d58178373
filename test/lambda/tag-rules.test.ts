// The pure tag rules: what may be copied from EC2 to SSM, the 50-tag budget, provenance tags,
// fingerprints and diffs.
import { describe, expect, it } from 'vitest';
import {
  countOtherReservedTags,
  diffAgainstApplied,
  agreesWithLastApplied,
  diffAgainstCurrent,
  echoName,
  isEmptyDiff,
  isReservedKey,
  planTags,
  PROVENANCE_TAG_COUNT,
  SKIP_REASONS,
  syncOwnedTags,
  syncWrittenKeys,
  tagFingerprint,
  tagRuleViolation,
} from '../../lambda/shared/tag-rules.ts';

const P = 'central-it:';
const NODE_ARN = 'arn:aws:ssm:eu-west-2:999999999999:managed-instance/mi-0123456789abcdef0';
const plan = (rawTags: Record<string, string>, otherReservedTagCount?: number) =>
  planTags({
    rawTags,
    prefix: P,
    agencyAccountId: '111111111111',
    ec2InstanceId: 'i-0123456789abcdef0',
    nodeArn: NODE_ARN,
    otherReservedTagCount,
  });

describe('tag rule violations', () => {
  it.each([
    ['aws:cloudformation:stack-name', 'x', SKIP_REASONS.awsPrefix],
    ['AWS:autoscaling:groupName', 'x', SKIP_REASONS.awsPrefix],
    ['Aws:Foo', 'x', SKIP_REASONS.awsPrefix],
    ['', 'x', SKIP_REASONS.keyLength],
    ['k'.repeat(129), 'x', SKIP_REASONS.keyLength],
    ['k', 'v'.repeat(257), SKIP_REASONS.valueLength],
    ['bad*key', 'x', SKIP_REASONS.keyChars],
    ['emoji🚀', 'x', SKIP_REASONS.keyChars],
    ['tab\tkey', 'x', SKIP_REASONS.keyChars],
    ['k', 'semi;colon', SKIP_REASONS.valueChars],
    ['k', 'rocket 🚀', SKIP_REASONS.valueChars],
    ['k', 'new\nline', SKIP_REASONS.valueChars],
    ['central-it:agency-account', '222222222222', SKIP_REASONS.reserved(P)],
    [
      'central-it:node-arn',
      'arn:aws:ssm:eu-west-2:999999999999:managed-instance/mi-0bbbbbbbbbbbbbbbb',
      SKIP_REASONS.reserved(P),
    ],
    ['CENTRAL-IT:Node-Arn', 'x', SKIP_REASONS.reserved(P)],
    ['Central-IT:anything', 'x', SKIP_REASONS.reserved(P)],
  ])('refuses key %j with value %j', (key, value, reason) => {
    expect(tagRuleViolation(key, value, P)).toBe(reason);
  });

  it.each([
    ['k'.repeat(128), 'v'.repeat(256)],
    ['Name', ''],
    ['Ünïcödé-Schlüssel', 'Größe'],
    ['名前', '値'],
    ['Département', 'Île-de-France'],
    ['with space', 'a b'],
    ['all_._:/=+-@chars', '_.:/=+-@'],
    ['managedinstanceid', 'mi-0123456789abcdef0'],
    ['awsish', 'aws:is fine in a value'],
    ['Ноутбук', '١٢٣'],
  ])('accepts key %j with value %j', (key, value) => {
    expect(tagRuleViolation(key, value, P)).toBeUndefined();
  });

  it('matches the reserved prefix case-insensitively and only at the start', () => {
    expect(isReservedKey('central-it:x', P)).toBe(true);
    expect(isReservedKey('CENTRAL-IT:x', P)).toBe(true);
    expect(isReservedKey('x-central-it:', P)).toBe(false);
  });
});

describe('planning the SSM tags of a node', () => {
  it('keeps legal tags, reports every dropped one with its reason, and adds the three provenance tags', () => {
    const p = plan({
      Name: 'web',
      'aws:cloudformation:stack-name': 's',
      'bad*': 'x',
      Env: 'prod',
      'central-it:agency-account': '222222222222',
    });
    expect(p.desired).toEqual({
      Env: 'prod',
      Name: 'web',
      'central-it:agency-account': '111111111111',
      'central-it:ec2-instance-id': 'i-0123456789abcdef0',
      'central-it:node-arn': NODE_ARN,
    });
    expect(p.userKeys).toEqual(['Env', 'Name']);
    expect(p.skipped).toEqual([
      { key: 'aws:cloudformation:stack-name', reason: SKIP_REASONS.awsPrefix },
      { key: 'bad*', reason: SKIP_REASONS.keyChars },
      { key: 'central-it:agency-account', reason: SKIP_REASONS.reserved(P) },
    ]);
  });

  it('an EC2 tag cannot override the provenance tags', () => {
    const other = 'arn:aws:ssm:eu-west-2:999999999999:managed-instance/mi-0bbbbbbbbbbbbbbbb';
    const p = plan({ 'central-it:ec2-instance-id': 'i-ffffffffffffffff0', 'central-it:node-arn': other });
    expect(p.desired['central-it:ec2-instance-id']).toBe('i-0123456789abcdef0');
    expect(p.desired['central-it:node-arn']).toBe(NODE_ARN);
    expect(p.skipped.map((s) => s.key)).toEqual(['central-it:ec2-instance-id', 'central-it:node-arn']);
  });

  it('counts every provenance key sync writes in the budget', () => {
    expect(syncWrittenKeys(P)).toEqual([
      'central-it:agency-account',
      'central-it:ec2-instance-id',
      'central-it:node-arn',
    ]);
    expect(PROVENANCE_TAG_COUNT).toBe(syncWrittenKeys(P).length);
  });

  it('keeps 46 user tags (50 minus the stamped tag and 3 provenance tags), chosen by code-unit order', () => {
    const raw: Record<string, string> = {};
    for (let i = 0; i < 60; i++) raw[`k${String(i).padStart(2, '0')}`] = `v${i}`;
    raw['Z-upper'] = 'sorts before lower case';
    const p = plan(raw);
    expect(Object.keys(p.desired)).toHaveLength(50 - 1);
    expect(p.userKeys).toHaveLength(46);
    expect(p.userKeys[0]).toBe('Z-upper');
    expect(p.userKeys.at(-1)).toBe('k44');
    const over = p.skipped.filter((s) => s.reason === SKIP_REASONS.overLimit).map((s) => s.key);
    expect(over).toEqual(Array.from({ length: 15 }, (_, i) => `k${45 + i}`));
  });

  it('shrinks the budget when central IT holds more reserved tags on the node', () => {
    const raw: Record<string, string> = {};
    for (let i = 0; i < 50; i++) raw[`t${String(i).padStart(2, '0')}`] = 'v';
    expect(plan(raw, 4).userKeys).toHaveLength(43);
    expect(plan(raw, 0).userKeys).toHaveLength(47);
    expect(plan(raw, 60).userKeys).toHaveLength(0);
  });

  it('illegal tags do not use up the budget', () => {
    const raw: Record<string, string> = { 'aws:a': '1', 'aws:b': '2' };
    for (let i = 0; i < 46; i++) raw[`t${String(i).padStart(2, '0')}`] = 'v';
    expect(plan(raw).userKeys).toHaveLength(46);
    expect(plan(raw).skipped.every((s) => s.reason === SKIP_REASONS.awsPrefix)).toBe(true);
  });

  it('is deterministic whatever the order the EC2 tags arrive in', () => {
    const entries = Array.from({ length: 70 }, (_, i) => [`key-${(i * 37) % 70}`, `v${i}`] as const);
    const a = plan(Object.fromEntries(entries));
    const b = plan(Object.fromEntries([...entries].reverse()));
    expect(a.desired).toEqual(b.desired);
    expect(a.userKeys).toEqual(b.userKeys);
    expect(a.skipped).toEqual(b.skipped);
    expect(a.fingerprint).toBe(b.fingerprint);
  });
});

describe('fingerprints', () => {
  it('is sha256 hex, independent of key order, and changes with any key or value', () => {
    const f = tagFingerprint({ a: '1', b: '2' });
    expect(f).toMatch(/^[0-9a-f]{64}$/);
    expect(tagFingerprint({ b: '2', a: '1' })).toBe(f);
    expect(tagFingerprint({ a: '1', b: '3' })).not.toBe(f);
    expect(tagFingerprint({ a: '1', c: '2' })).not.toBe(f);
    expect(tagFingerprint({ a: '1' })).not.toBe(f);
  });

  it('cannot be confused by separators inside keys or values', () => {
    expect(tagFingerprint({ 'a=b': 'c' })).not.toBe(tagFingerprint({ a: 'b=c' }));
  });

  it('changes when the EC2 instance behind the node changes', () => {
    const a = planTags({
      rawTags: { x: '1' },
      prefix: P,
      agencyAccountId: '111111111111',
      ec2InstanceId: 'i-0123456789abcdef0',
      nodeArn: NODE_ARN,
    });
    const b = planTags({
      rawTags: { x: '1' },
      prefix: P,
      agencyAccountId: '111111111111',
      ec2InstanceId: 'i-0123456789abcdef1',
      nodeArn: NODE_ARN,
    });
    expect(a.fingerprint).not.toBe(b.fingerprint);
  });
});

describe('diffs', () => {
  it('against the keys applied last time: sends every desired tag and removes keys gone from EC2, never reserved ones', () => {
    const p = plan({ Name: 'web', Env: 'prod' });
    const d = diffAgainstApplied(p, ['Name', 'Owner', 'central-it:custom', 'Team'], P);
    expect(d.toAdd).toEqual(p.desired);
    expect(d.toRemove).toEqual(['Owner', 'Team']);
  });

  it('against current SSM tags: sends only differences and removes unwanted non-reserved keys', () => {
    const p = plan({ Name: 'web', Env: 'prod' });
    const current = {
      Name: 'web',
      Env: 'dev',
      Stray: 'x',
      'central-it:activation-agency': '111111111111',
      'central-it:patch-group': 'ring-1',
      'central-it:agency-account': '111111111111',
    };
    const d = diffAgainstCurrent(p, current, P);
    expect(d.toAdd).toEqual({
      Env: 'prod',
      'central-it:ec2-instance-id': 'i-0123456789abcdef0',
      'central-it:node-arn': NODE_ARN,
    });
    expect(d.toRemove).toEqual(['Stray']);
    expect(isEmptyDiff(d)).toBe(false);
  });

  it('is empty when SSM already holds exactly the desired tags', () => {
    const p = plan({ Name: 'web' });
    const d = diffAgainstCurrent(p, { ...p.desired, 'central-it:activation-agency': '111111111111' }, P);
    expect(isEmptyDiff(d)).toBe(true);
  });

  it('adds only the node-arn tag to a node synced before it existed (an upgrade writes it once)', () => {
    const p = plan({ Name: 'web' });
    const before = { ...p.desired, 'central-it:activation-agency': '111111111111' };
    delete (before as Record<string, string>)['central-it:node-arn'];
    const d = diffAgainstCurrent(p, before, P);
    expect(d).toEqual({ toAdd: { 'central-it:node-arn': NODE_ARN }, toRemove: [] });
  });

  it('counts reserved tags sync does not own, excluding its own provenance tags', () => {
    expect(
      countOtherReservedTags(
        {
          'central-it:activation-agency': 'a',
          'central-it:agency-account': 'a',
          'central-it:ec2-instance-id': 'i',
          'central-it:node-arn': NODE_ARN,
          'central-it:x': '1',
          Name: 'n',
        },
        P,
      ),
    ).toBe(2);
  });
});

describe('tags are data: keys named like Object.prototype members', () => {
  // Built from JSON text, as the tag manager receives them: "__proto__" is an own key there.
  const fromJson = (pairs: Record<string, string>) => JSON.parse(JSON.stringify(pairs)) as Record<string, string>;
  const withKey = (key: string, value: string) =>
    JSON.parse(`{"Name":"web",${JSON.stringify(key)}:${JSON.stringify(value)}}`) as Record<string, string>;
  const KEYS = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__', '__defineGetter__'];

  it.each(KEYS)('plans a %s tag like any other tag', (key) => {
    const p = plan(withKey(key, 'data'));
    expect(p.userKeys).toEqual([key, 'Name'].sort());
    expect(Object.keys(p.desired)).toContain(key);
    expect(p.desired[key]).toBe('data');
    expect(p.skipped).toEqual([]);
  });

  it.each(KEYS)('removes a %s tag applied last time and now gone from EC2', (key) => {
    const d = diffAgainstApplied(plan(fromJson({ Name: 'web' })), ['Name', key], P);
    expect(d.toRemove).toEqual([key]);
  });

  it.each(KEYS)('removes a %s tag found in SSM that EC2 does not have', (key) => {
    const current = withKey(key, 'stale');
    const d = diffAgainstCurrent(plan(fromJson({ Name: 'web' })), current, P);
    expect(d.toRemove).toEqual([key]);
    expect(Object.keys(d.toAdd).sort()).toEqual([
      'central-it:agency-account',
      'central-it:ec2-instance-id',
      'central-it:node-arn',
    ]);
  });

  it.each(KEYS)('adds a %s tag missing from SSM, and sends it on as an own key', (key) => {
    const d = diffAgainstCurrent(plan(withKey(key, 'data')), fromJson({ Name: 'web' }), P);
    expect(Object.entries(d.toAdd)).toContainEqual([key, 'data']);
    expect(Object.entries(diffAgainstApplied(plan(withKey(key, 'data')), [], P).toAdd)).toContainEqual([key, 'data']);
  });

  it('fingerprints a __proto__ tag (it changes the fingerprint)', () => {
    expect(plan(withKey('__proto__', 'x')).fingerprint).not.toBe(plan(fromJson({ Name: 'web' })).fingerprint);
  });
});

describe('echoed names are capped', () => {
  it.each([
    ['a short key', 'Name', 'Name'],
    ['a key of exactly 128 characters', 'k'.repeat(128), 'k'.repeat(128)],
    ['a key of 129 characters', 'k'.repeat(129), `${'k'.repeat(128)}…`],
    ['a 200 KB key', 'k'.repeat(200_000), `${'k'.repeat(128)}…`],
  ])('echoes %s as at most 128 characters and an ellipsis', (_label, key, echoed) => {
    expect(echoName(key)).toBe(echoed);
    expect(plan({ [key]: 'bad;value' }).skipped[0]!.key).toBe(echoed);
  });
});

describe('whether a bulk answer agrees with what was last applied', () => {
  const p = plan({ Name: 'web', Env: 'prod' });
  const stamp = { 'central-it:activation-agency': '111111111111' };
  it.each([
    ['exactly what was applied, plus the stamp', { ...p.desired, ...stamp }, p.fingerprint, true],
    [
      'what was applied plus central IT reserved tags',
      { ...p.desired, 'central-it:patch': 'ring-1' },
      p.fingerprint,
      true,
    ],
    ['a value changed in SSM', { ...p.desired, Env: 'dev' }, p.fingerprint, false],
    ['a tag added in SSM', { ...p.desired, Stray: 'x' }, p.fingerprint, false],
    ['a tag removed in SSM', { Name: 'web', 'central-it:agency-account': '111111111111' }, p.fingerprint, false],
    ['a provenance tag changed in SSM', { ...p.desired, 'central-it:ec2-instance-id': 'i-1' }, p.fingerprint, false],
    ['the node-arn tag changed in SSM', { ...p.desired, 'central-it:node-arn': 'arn:x' }, p.fingerprint, false],
    ['nothing applied yet and only the stamp on the node', stamp, undefined, true],
    ['nothing applied yet and a user tag on the node', { ...stamp, Stray: 'x' }, undefined, false],
  ])('%s: %s', (_label, current, fingerprint, agrees) => {
    expect(agreesWithLastApplied(current, fingerprint, P)).toBe(agrees);
  });

  it('keeps the non-reserved keys and the three provenance tags, nothing else reserved', () => {
    expect(
      Object.keys(syncOwnedTags({ ...p.desired, ...stamp, 'central-it:patch': 'x', constructor: 'c' }, P)).sort(),
    ).toEqual([
      'Env',
      'Name',
      'central-it:agency-account',
      'central-it:ec2-instance-id',
      'central-it:node-arn',
      'constructor',
    ]);
  });
});
