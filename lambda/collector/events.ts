// Classifies the events the collector receives. Pure: no AWS calls, no environment.
import {
  ACCOUNT_ID_BODY,
  EC2_INSTANCE_ID_PATTERN,
  MANAGED_INSTANCE_ID_PATTERN,
  PARTITION_BODY,
  patternOf,
} from '../../contract/patterns.ts';
import { MANAGED_INSTANCE_ID_TAG } from '../shared/names.ts';
import { observedOfEvent, type Observed } from './observed.ts';

export type Tags = Record<string, string>;

/**
 * Tags are data: a tag set has no prototype, so `__proto__` or `constructor` is stored as a tag
 * (on a plain {} assigning `__proto__` would change the prototype and drop the tag). The hub's
 * tag-rules.ts has the same helper; the collector keeps its own to stay out of that module.
 */
const emptyTags = (): Tags => Object.create(null) as Tags;

export type CollectorEvent =
  /** A tag change on an instance that carries a valid managed node ID: sync it with these tags, observed then. */
  | { kind: 'tagChange'; ec2InstanceId: string; managedInstanceId: string; tags: Tags; observed: Observed }
  /** A tag change on an instance that is not (or not validly) registered: nothing to send. */
  | { kind: 'tagChangeUnmanaged'; ec2InstanceId: string; tags: Tags; reason: string }
  /** An instance was terminated: look up its managed node ID, then deregister it. */
  | { kind: 'terminated'; ec2InstanceId: string }
  /** The schedule fired: full reconcile plus activation refresh. */
  | { kind: 'reconcile' }
  | { kind: 'ignored'; reason: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The managed node ID carried by an instance's tags, or why there is none usable. */
export function managedIdFromTags(tags: Tags): { id: string } | { missing: true } | { invalid: string } {
  if (!Object.hasOwn(tags, MANAGED_INSTANCE_ID_TAG)) return { missing: true };
  const value = tags[MANAGED_INSTANCE_ID_TAG]!.trim();
  return MANAGED_INSTANCE_ID_PATTERN.test(value) ? { id: value } : { invalid: value };
}

/**
 * `tags` without the registration tags an instance has cleared. The agency instance role has no
 * ec2:DeleteTags (no IAM key ties it to the caller's own instance), so the registration scripts
 * clear `managedinstanceid` and the registration error tag by writing them with an empty value
 * (CreateTags). An empty one of these two is no tag: the instance is then handled exactly as one
 * without it (not registered, no error to report, the key not sent). Every other key, empty or not,
 * is data and stays.
 */
export function withoutClearedTags(tags: Tags, errorTag: string): Tags {
  const out = emptyTags();
  for (const [k, v] of Object.entries(tags))
    if (v !== '' || (k !== MANAGED_INSTANCE_ID_TAG && k !== errorTag)) out[k] = v;
  return out;
}

/** EC2's tag list ({Key, Value}[]) as a prototype-free record; entries without a key are dropped. */
export function tagListToRecord(
  list: ReadonlyArray<{ Key?: string | undefined; Value?: string | undefined }> | undefined,
): Tags {
  const tags = emptyTags();
  for (const t of list ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
  return tags;
}

const INSTANCE_ARN_PATTERN = /* @__PURE__ */ patternOf([
  '^arn:',
  PARTITION_BODY,
  ':ec2:[a-z0-9-]*:',
  ACCOUNT_ID_BODY,
  ':instance/(i-[0-9a-f]+)$',
]);

/** The instance ID at the end of an EC2 instance ARN (arn:aws:ec2:region:account:instance/i-…). */
export function instanceIdFromArn(arn: unknown): string | undefined {
  if (typeof arn !== 'string') return undefined;
  const m = INSTANCE_ARN_PATTERN.exec(arn);
  return m && EC2_INSTANCE_ID_PATTERN.test(m[1]!) ? m[1] : undefined;
}

function stringRecord(value: unknown): Tags | undefined {
  if (!isObj(value)) return undefined;
  const out = emptyTags();
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') return undefined;
    out[k] = v;
  }
  return out;
}

/** `errorTag`: the registration error tag's key, which a cleared (empty) value takes off like managedinstanceid. */
export function classifyEvent(event: unknown, errorTag: string): CollectorEvent {
  if (!isObj(event)) return { kind: 'ignored', reason: 'event is not an object' };
  const source = event['source'];
  const detailType = event['detail-type'];
  const detail = event['detail'];

  if (source === 'aws.events' && detailType === 'Scheduled Event') return { kind: 'reconcile' };

  if (source === 'aws.tag' && detailType === 'Tag Change on Resource') {
    if (!isObj(detail) || detail['service'] !== 'ec2' || detail['resource-type'] !== 'instance') {
      return { kind: 'ignored', reason: 'tag change is not on an EC2 instance' };
    }
    const resources = event['resources'];
    const ec2InstanceId = instanceIdFromArn(Array.isArray(resources) ? resources[0] : undefined);
    if (!ec2InstanceId) return { kind: 'ignored', reason: 'resources[0] is not an EC2 instance ARN' };
    const all = stringRecord(detail['tags']);
    if (!all) return { kind: 'ignored', reason: 'detail.tags is not an object of strings' };
    const tags = withoutClearedTags(all, errorTag);
    const managed = managedIdFromTags(tags);
    const observed = observedOfEvent(event['time'], detail['version']);
    if ('id' in managed) return { kind: 'tagChange', ec2InstanceId, managedInstanceId: managed.id, tags, observed };
    const reason =
      'missing' in managed
        ? `no ${MANAGED_INSTANCE_ID_TAG} tag`
        : `${MANAGED_INSTANCE_ID_TAG} tag is not a managed node ID`;
    return { kind: 'tagChangeUnmanaged', ec2InstanceId, tags, reason };
  }

  if (source === 'aws.ec2' && detailType === 'EC2 Instance State-change Notification') {
    if (!isObj(detail)) return { kind: 'ignored', reason: 'state change without detail' };
    const id = detail['instance-id'];
    if (typeof id !== 'string' || !EC2_INSTANCE_ID_PATTERN.test(id)) {
      return { kind: 'ignored', reason: 'detail.instance-id is not an EC2 instance ID' };
    }
    if (detail['state'] !== 'terminated')
      return { kind: 'ignored', reason: `state ${String(detail['state'])} needs no action` };
    return { kind: 'terminated', ec2InstanceId: id };
  }

  return { kind: 'ignored', reason: `unsupported event (source ${String(source)}, detail-type ${String(detailType)})` };
}
