import { describe, expect, it } from 'vitest';
import {
  classifyEvent as classifyWith,
  instanceIdFromArn,
  managedIdFromTags,
  tagListToRecord,
  withoutClearedTags,
} from '../../../lambda/collector/events.ts';

const ERROR_TAG = 'central-it:registration-error';
const classifyEvent = (event: unknown) => classifyWith(event, ERROR_TAG);
const ID = 'i-0123456789abcdef0';
const MI = 'mi-0123456789abcdef0';
const tagEvent = (over: Record<string, unknown> = {}, detail: Record<string, unknown> = {}) => ({
  source: 'aws.tag',
  'detail-type': 'Tag Change on Resource',
  resources: [`arn:aws:ec2:eu-west-1:111122223333:instance/${ID}`],
  detail: {
    service: 'ec2',
    'resource-type': 'instance',
    'changed-tag-keys': ['OS'],
    tags: { OS: 'Linux', managedinstanceid: MI },
    ...detail,
  },
  ...over,
});
const stateEvent = (state: unknown, id: unknown = ID) => ({
  source: 'aws.ec2',
  'detail-type': 'EC2 Instance State-change Notification',
  detail: { 'instance-id': id, state },
});

describe('classifyEvent', () => {
  it('turns a tag change on a registered instance into a sync with the full tag set', () => {
    expect(classifyEvent(tagEvent())).toEqual({
      kind: 'tagChange',
      ec2InstanceId: ID,
      managedInstanceId: MI,
      tags: { OS: 'Linux', managedinstanceid: MI },
      // The sample event has no `time`: nothing observed, so the hub applies it as before.
      observed: {},
    });
  });

  it('marks a tag change on an instance without the managedinstanceid tag as unmanaged', () => {
    const ev = classifyEvent(tagEvent({}, { tags: { OS: 'Linux' } }));
    expect(ev).toMatchObject({ kind: 'tagChangeUnmanaged', ec2InstanceId: ID, reason: 'no managedinstanceid tag' });
  });

  it('marks a managedinstanceid tag that is not an mi- ID as unmanaged', () => {
    for (const bad of [' ', 'i-0123456789abcdef0', 'mi-123', 'mi-0123456789ABCDEF0', 'mi-0123456789abcdef0x']) {
      const ev = classifyEvent(tagEvent({}, { tags: { managedinstanceid: bad } }));
      expect(ev, bad).toMatchObject({
        kind: 'tagChangeUnmanaged',
        reason: 'managedinstanceid tag is not a managed node ID',
      });
    }
  });

  it.each([
    ['managedinstanceid', { OS: 'Linux', managedinstanceid: '' }],
    ['error tag', { OS: 'Linux', [ERROR_TAG]: '' }],
    ['both', { OS: 'Linux', managedinstanceid: '', [ERROR_TAG]: '' }],
  ])('classifies a tag change with a cleared (empty) %s exactly as one without it', (_label, tags) => {
    const without = classifyEvent(tagEvent({}, { tags: { OS: 'Linux' } }));
    expect(without).toMatchObject({ kind: 'tagChangeUnmanaged', reason: 'no managedinstanceid tag' });
    expect(classifyEvent(tagEvent({}, { tags }))).toEqual(without);
  });

  it('sends a registered instance without its cleared error tag, and keeps every other empty tag', () => {
    const ev = classifyEvent(tagEvent({}, { tags: { managedinstanceid: MI, [ERROR_TAG]: '', Empty: '' } }));
    expect(ev).toEqual({
      kind: 'tagChange',
      ec2InstanceId: ID,
      managedInstanceId: MI,
      tags: { managedinstanceid: MI, Empty: '' },
      observed: {},
    });
  });

  it('ignores tag changes on other services or resource types', () => {
    expect(classifyEvent(tagEvent({}, { service: 's3' })).kind).toBe('ignored');
    expect(classifyEvent(tagEvent({}, { 'resource-type': 'volume' })).kind).toBe('ignored');
  });

  it('ignores a tag change whose resource is not an instance ARN or whose tags are not strings', () => {
    expect(classifyEvent(tagEvent({ resources: ['arn:aws:ec2:eu-west-1:111122223333:volume/vol-1'] }))).toMatchObject({
      kind: 'ignored',
      reason: 'resources[0] is not an EC2 instance ARN',
    });
    expect(classifyEvent(tagEvent({ resources: [] })).kind).toBe('ignored');
    expect(classifyEvent(tagEvent({}, { tags: { a: 1 } }))).toMatchObject({
      reason: 'detail.tags is not an object of strings',
    });
    expect(classifyEvent(tagEvent({}, { tags: null })).kind).toBe('ignored');
  });

  it('turns a terminated state change into a deregistration lookup and ignores other states', () => {
    expect(classifyEvent(stateEvent('terminated'))).toEqual({ kind: 'terminated', ec2InstanceId: ID });
    for (const s of ['running', 'stopped', 'shutting-down', 'stopping', 'pending'])
      expect(classifyEvent(stateEvent(s)).kind, s).toBe('ignored');
    expect(classifyEvent(stateEvent('terminated', 'not-an-id'))).toMatchObject({
      kind: 'ignored',
      reason: 'detail.instance-id is not an EC2 instance ID',
    });
  });

  it('recognises the schedule and ignores anything else', () => {
    expect(classifyEvent({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} })).toEqual({
      kind: 'reconcile',
    });
    expect(classifyEvent({ source: 'aws.events', 'detail-type': 'Something else' }).kind).toBe('ignored');
    expect(classifyEvent(null).kind).toBe('ignored');
    expect(classifyEvent('reconcile').kind).toBe('ignored');
    expect(classifyEvent([]).kind).toBe('ignored');
  });
});

describe('helpers', () => {
  it('reads the managed node ID from tags', () => {
    expect(managedIdFromTags({ managedinstanceid: MI })).toEqual({ id: MI });
    expect(managedIdFromTags({ managedinstanceid: ` ${MI}\n` })).toEqual({ id: MI });
    expect(managedIdFromTags({ ManagedInstanceId: MI })).toEqual({ missing: true });
    expect(managedIdFromTags({ managedinstanceid: 'x' })).toEqual({ invalid: 'x' });
  });

  it.each<{ case: string; tags: Record<string, string>; out: Record<string, string> }>([
    { case: 'an empty managedinstanceid', tags: { managedinstanceid: '', Name: 'x' }, out: { Name: 'x' } },
    { case: 'an empty error tag', tags: { [ERROR_TAG]: '', Name: 'x' }, out: { Name: 'x' } },
    {
      case: 'set registration tags, and other empty keys',
      tags: { managedinstanceid: MI, [ERROR_TAG]: 'failed', Name: '', 'central-it:registration-opt-out': '' },
      out: { managedinstanceid: MI, [ERROR_TAG]: 'failed', Name: '', 'central-it:registration-opt-out': '' },
    },
    {
      case: 'an empty key named like another prefix',
      tags: { 'other:registration-error': '' },
      out: { 'other:registration-error': '' },
    },
  ])('withoutClearedTags takes off only cleared registration tags: $case', ({ tags, out }) => {
    const result = withoutClearedTags(tags, ERROR_TAG);
    expect(result).toEqual(out);
    expect(Object.getPrototypeOf(result)).toBeNull();
  });

  it('withoutClearedTags keeps __proto__ as an own key', () => {
    const tags = tagListToRecord([
      { Key: '__proto__', Value: '' },
      { Key: 'managedinstanceid', Value: '' },
    ]);
    expect(Object.keys(withoutClearedTags(tags, ERROR_TAG))).toEqual(['__proto__']);
  });

  it('converts an EC2 tag list, keeping empty values and dropping keyless entries', () => {
    expect(tagListToRecord([{ Key: 'a', Value: '1' }, { Key: 'b' }, { Value: 'orphan' }])).toEqual({ a: '1', b: '' });
    expect(tagListToRecord(undefined)).toEqual({});
  });

  it('extracts instance IDs from ARNs in every partition', () => {
    expect(instanceIdFromArn(`arn:aws-us-gov:ec2:us-gov-west-1:111122223333:instance/${ID}`)).toBe(ID);
    expect(instanceIdFromArn(`arn:aws:ec2:eu-west-1:111122223333:instance/i-12345678`)).toBe('i-12345678');
    expect(instanceIdFromArn(`arn:aws:ec2:eu-west-1:111122223333:instance/i-123`)).toBeUndefined();
    expect(instanceIdFromArn(42)).toBeUndefined();
  });
});

describe('tags are data on the collector side', () => {
  const KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

  it.each(KEYS)('keeps a %s tag from an EC2 tag list as an own key', (key) => {
    const tags = tagListToRecord([
      { Key: key, Value: 'data' },
      { Key: 'Name', Value: 'web' },
    ]);
    expect(Object.keys(tags).sort()).toEqual([key, 'Name'].sort());
    expect(Object.hasOwn(tags, key) && tags[key]).toBe('data');
    // It reaches the hub: the request body is JSON.
    expect(JSON.parse(JSON.stringify({ tags })).tags[key]).toBe('data');
  });

  it.each(KEYS)('keeps a %s tag from a tag-change event as an own key', (key) => {
    // Lambda parses the event from JSON text, so "__proto__" arrives as an own key.
    const event = JSON.parse(
      JSON.stringify(tagEvent()).replace('"OS":"Linux"', `${JSON.stringify(key)}:"data","OS":"Linux"`),
    );
    const c = classifyEvent(event);
    expect(c.kind).toBe('tagChange');
    const tags = (c as { tags: Record<string, string> }).tags;
    expect(Object.hasOwn(tags, key) && tags[key]).toBe('data');
    expect(Object.keys(tags)).toContain(key);
  });

  it('does not take a managed node ID from an inherited property', () => {
    expect(managedIdFromTags(tagListToRecord([{ Key: 'Name', Value: 'x' }]))).toEqual({ missing: true });
  });
});
