import { afterEach, expect, it } from 'vitest';
import { cfnEvent, DAY, props, seedAgency, startHarness, storedRecord, type Harness } from './harness.ts';

const A = '222222222222';
let h: Harness;
afterEach(async () => h?.close());

it('an agency at its quota: lowering its limit fails, and so does the rollback (UPDATE_ROLLBACK_FAILED)', async () => {
  h = await startHarness({ AGENCY_NODE_QUOTA: '50' });
  const a = seedAgency(h.fake, A, { expiresInMs: 20 * DAY, limit: 200 });
  h.fake.registerNodes(a.current.ActivationId, 50);
  const pid = `agency-activation-${A}`;
  // Operator lowers RegistrationLimit 200 -> 100 (the remedy for a full quota), nothing else.
  const up = cfnEvent(h.cfn.url, 'Update', props(A, 100), {
    PhysicalResourceId: pid,
    OldResourceProperties: props(A, 200),
  });
  await h.invoke(up);
  const r1 = h.cfn.responses.find((r) => r.body.RequestId === up.RequestId)!.body;
  console.log('update:', r1.Status, r1.Reason);
  // CloudFormation rolls back: Update with the old properties as new.
  const rb = cfnEvent(h.cfn.url, 'Update', props(A, 200), {
    PhysicalResourceId: pid,
    OldResourceProperties: props(A, 100),
  });
  await h.invoke(rb);
  const r2 = h.cfn.responses.find((r) => r.body.RequestId === rb.RequestId)!.body;
  console.log('rollback:', r2.Status, r2.Reason);
  expect(r2.Status).toBe('SUCCESS');
});
