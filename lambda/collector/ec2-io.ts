// EC2 reads of the collector. The client is created on first use, so the environment
// (endpoint overrides in tests) is read after the handler module has loaded.
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { MANAGED_INSTANCE_ID_TAG } from '../shared/names.ts';
import { EC2_DESCRIBE_INSTANCES_MAX_RESULTS } from '../../contract/page-sizes.ts';
import { tagListToRecord, type Tags } from './events.ts';

let client: EC2Client | undefined;
const ec2 = (): EC2Client => (client ??= new EC2Client({ retryMode: 'adaptive', maxAttempts: 6 }));

export interface Ec2Instance {
  ec2InstanceId: string;
  state: string;
  tags: Tags;
}

const toInstance = (i: Instance): Ec2Instance => ({
  ec2InstanceId: i.InstanceId ?? '',
  state: i.State?.Name ?? 'unknown',
  tags: tagListToRecord(i.Tags),
});

/**
 * Pages through every instance that carries the managed node ID tag, one page at a time,
 * terminated ones included: EC2 lists them for a while, so a missed termination event is
 * caught by the next reconcile.
 */
export async function* managedInstancePages(): AsyncGenerator<Ec2Instance[]> {
  let NextToken: string | undefined;
  do {
    const page = await ec2().send(
      new DescribeInstancesCommand({
        Filters: [{ Name: 'tag-key', Values: [MANAGED_INSTANCE_ID_TAG] }],
        MaxResults: EC2_DESCRIBE_INSTANCES_MAX_RESULTS,
        NextToken,
      }),
    );
    yield (page.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map(toInstance));
    NextToken = page.NextToken || undefined;
  } while (NextToken);
}

/** One instance by ID (terminated instances stay visible for a while), or undefined if EC2 no longer knows it. */
export async function describeInstance(ec2InstanceId: string): Promise<Ec2Instance | undefined> {
  try {
    const out = await ec2().send(new DescribeInstancesCommand({ InstanceIds: [ec2InstanceId] }));
    const found = out.Reservations?.[0]?.Instances?.[0];
    return found ? toInstance(found) : undefined;
  } catch (err) {
    if ((err as { name?: string }).name === 'InvalidInstanceID.NotFound') return undefined;
    throw err;
  }
}
