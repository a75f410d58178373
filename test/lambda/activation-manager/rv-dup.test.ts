import { expect, it } from 'vitest';
import { cfnEvent, props, harnessPerTest, storedRecord } from './harness.ts';

const A = '222222222222';
const h = harnessPerTest();

it("a second stack for the same agency (rolled back or deleted) must not destroy the first stack's activation", async () => {
  // Stack 1 for agency A.
  const c1 = cfnEvent(h.cfn.url, 'Create', props(A));
  await h.invoke(c1);
  const first = storedRecord(h.fake, A)!;
  expect(first).toBeDefined();

  // Stack 2 (a duplicate, e.g. another stack name) for the same agency: Create is accepted.
  const c2 = {
    ...cfnEvent(h.cfn.url, 'Create', props(A)),
    StackId: 'arn:aws:cloudformation:us-east-1:111111111111:stack/dup/9999',
  };
  await h.invoke(c2);
  const r2 = h.cfn.responses.find((r) => r.body.RequestId === c2.RequestId)!.body;
  console.log('second Create:', r2.Status, r2.PhysicalResourceId);

  // Its rollback/delete Delete carries the same physical ID as stack 1's resource.
  const d2 = {
    ...cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: r2.PhysicalResourceId }),
    StackId: c2.StackId,
  };
  await h.invoke(d2);
  console.log(
    'after stack 2 delete: record',
    storedRecord(h.fake, A),
    'stack-1 activation alive:',
    h.fake.state.activations.has(first.current.activationId),
  );
  expect(storedRecord(h.fake, A)).toBeDefined();
  expect(h.fake.state.activations.has(first.current.activationId)).toBe(true);
});
