import { describe, expect, it } from 'vitest';
import {
  classifyEvent,
  instanceIdFromArn,
  managedIdFromTags,
  tagListToRecord,
} from '../../../lambda/collector/events.ts';

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
    });
  });

  it('marks a tag change on an instance without the managedinstanceid tag as unmanaged', () => {
    const ev = classifyEvent(tagEvent({}, { tags: { OS: 'Linux' } }));
    expect(ev).toMatchObject({ kind: 'tagChangeUnmanaged', ec2InstanceId: ID, reason: 'no managedinstanceid tag' });
  });

  it('marks a managedinstanceid tag that is not an mi- ID as unmanaged', () => {
    for (const bad of ['', 'i-0123456789abcdef0', 'mi-123', 'mi-0123456789ABCDEF0', 'mi-0123456789abcdef0x']) {
      const ev = classifyEvent(tagEvent({}, { tags: { managedinstanceid: bad } }));
      expect(ev, bad).toMatchObject({
        kind: 'tagChangeUnmanaged',
        reason: 'managedinstanceid tag is not a managed node ID',
      });
    }
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
