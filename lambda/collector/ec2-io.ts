// EC2 reads of the collector. The SDK client is loaded and created on first use: a tag-change
// run never needs EC2 and does not pay for loading its client at cold start, and the environment
// (endpoint overrides in tests) is read after the handler module has loaded.
import type { Instance } from '@aws-sdk/client-ec2';
import { lazySdk } from '../shared/lazy-sdk.ts';
import { nameTimeouts, timeoutOptions } from '../shared/timeouts.ts';
import { MANAGED_INSTANCE_ID_TAG } from '../shared/names.ts';
import { EC2_DESCRIBE_INSTANCES_MAX_RESULTS } from '../../contract/page-sizes.ts';
import { tagListToRecord, withoutClearedTags, type Tags } from './events.ts';
import { observedOfSnapshot, type Observed } from './observed.ts';

const ec2 = lazySdk(
  () => import('@aws-sdk/client-ec2'),
  (sdk) => nameTimeouts(new sdk.EC2Client({ retryMode: 'adaptive', maxAttempts: 6, ...timeoutOptions() }), 'EC2'),
);

export interface Ec2Instance {
  ec2InstanceId: string;
  state: string;
  tags: Tags;
  /** When these tags were read (a reconcile's page); see observedOfSnapshot. */
  observed?: Observed;
}

/** `errorTag`: see withoutClearedTags; a cleared registration tag is left out. */
const toInstance = (i: Instance, errorTag: string, observed?: Observed): Ec2Instance => ({
  ec2InstanceId: i.InstanceId ?? '',
  state: i.State?.Name ?? 'unknown',
  tags: withoutClearedTags(tagListToRecord(i.Tags), errorTag),
  observed,
});

/**
 * Pages through every instance that carries the managed node ID tag (or the registration error tag), one page at a time,
 * terminated ones included: EC2 lists them for a while, so a missed termination event is
 * caught by the next reconcile.
 */
export async function* managedInstancePages(errorTag: string): AsyncGenerator<Ec2Instance[]> {
  const { sdk, client } = await ec2();
  let NextToken: string | undefined;
  do {
    const observed = observedOfSnapshot(Date.now());
    const page = await client.send(
      new sdk.DescribeInstancesCommand({
        // Values are ORed: registered instances and those whose registration failed.
        Filters: [{ Name: 'tag-key', Values: [MANAGED_INSTANCE_ID_TAG, errorTag] }],
        MaxResults: EC2_DESCRIBE_INSTANCES_MAX_RESULTS,
        NextToken,
      }),
    );
    // The tag-key filter also matches a cleared (empty) tag: an instance left with neither tag
    // once those are taken off is one the filter would not have listed, and is not yielded.
    yield (page.Reservations ?? [])
      .flatMap((r) => (r.Instances ?? []).map((i) => toInstance(i, errorTag, observed)))
      .filter((i) => Object.hasOwn(i.tags, MANAGED_INSTANCE_ID_TAG) || Object.hasOwn(i.tags, errorTag));
    NextToken = page.NextToken || undefined;
  } while (NextToken);
}

/** Instance IDs one DescribeInstances filter names at most: keeps each request small. */
const IDS_PER_CALL = 100;

/**
 * The state of each of `ids` EC2 still lists. An ID EC2 no longer knows is simply absent: a filter
 * only narrows the answer, while an unknown ID in InstanceIds fails the whole call (DescribeInstances
 * API reference: "If you specify an instance ID that is not valid, an error is returned"; recently
 * terminated instances stay listed, usually for less than an hour).
 */
export async function instanceStates(ids: readonly string[]): Promise<Map<string, string>> {
  const { sdk, client } = await ec2();
  const states = new Map<string, string>();
  for (let i = 0; i < ids.length; i += IDS_PER_CALL) {
    let NextToken: string | undefined;
    do {
      const page = await client.send(
        new sdk.DescribeInstancesCommand({
          Filters: [{ Name: 'instance-id', Values: ids.slice(i, i + IDS_PER_CALL) }],
          MaxResults: EC2_DESCRIBE_INSTANCES_MAX_RESULTS,
          NextToken,
        }),
      );
      for (const r of page.Reservations ?? [])
        for (const x of r.Instances ?? []) if (x.InstanceId) states.set(x.InstanceId, x.State?.Name ?? 'unknown');
      NextToken = page.NextToken || undefined;
    } while (NextToken);
  }
  return states;
}

/** One instance by ID (terminated instances stay visible for a while), or undefined if EC2 no longer knows it. */
export async function describeInstance(ec2InstanceId: string, errorTag: string): Promise<Ec2Instance | undefined> {
  const { sdk, client } = await ec2();
  try {
    const out = await client.send(new sdk.DescribeInstancesCommand({ InstanceIds: [ec2InstanceId] }));
    const found = out.Reservations?.[0]?.Instances?.[0];
    return found ? toInstance(found, errorTag) : undefined;
  } catch (err) {
    if ((err as { name?: string }).name === 'InvalidInstanceID.NotFound') return undefined;
    throw err;
  }
}
