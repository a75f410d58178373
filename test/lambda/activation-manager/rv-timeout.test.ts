import { expect, it } from 'vitest';
import { cfnEvent, props, harnessPerTest, storedRecord, scheduledEvent } from './harness.ts';

const A = '222222222222';
const h = harnessPerTest();

it('a Create that times out while PutParameter is in flight leaves no record behind after its rollback', async () => {
  h.fake.setDelay('PutParameter', 1_500);
  const create = cfnEvent(h.cfn.url, 'Create', props(A));
  const started = Date.now();
  await h.invoke(create, { getRemainingTimeInMillis: () => 1_600 - (Date.now() - started) });
  const failed = h.cfn.responses.find((r) => r.body.RequestId === create.RequestId)!.body;
  console.log('create:', failed.Status, failed.PhysicalResourceId, failed.Reason);
  await new Promise((r) => setTimeout(r, 2_500)); // the request SSM received completes server-side
  h.fake.setDelay('PutParameter', 0);
  const rollback = cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: failed.PhysicalResourceId });
  await h.invoke(rollback);
  const rec = storedRecord(h.fake, A);
  console.log(
    'after rollback: record',
    rec?.current.activationId,
    'activation exists:',
    rec ? h.fake.state.activations.has(rec.current.activationId) : '-',
  );
  await h.invoke(scheduledEvent()).catch((e) => console.log('rotation error', String(e)));
  console.log(
    'after rotation: record current',
    storedRecord(h.fake, A)?.current.activationId,
    'activations:',
    h.fake.state.activations.size,
  );
  expect(rec).toBeUndefined();
});
