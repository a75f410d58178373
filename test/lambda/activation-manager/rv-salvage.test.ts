import { expect, it } from 'vitest';
import { cfnEvent, DAY, PREFIX, props, seedAgency, harnessPerTest } from './harness.ts';

const A = '222222222222';
const B = '333333333333';
const h = harnessPerTest();

it("deleting agency A's stack must not delete agency B's activation when A's parameter wrongly holds B's record", async () => {
  const b = seedAgency(h.fake, B, { expiresInMs: 20 * DAY });
  // A wrong record: B's record stored under A's name (e.g. a restore into the wrong parameter).
  const wrong = { ...h.fake.state.parameters.get(`${PREFIX}/${B}`)!, Name: `${PREFIX}/${A}` };
  h.fake.state.parameters.set(wrong.Name, wrong);
  const del = cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: `agency-activation-${A}` });
  await h.invoke(del);
  console.log(
    'delete A:',
    h.cfn.responses.at(-1)!.body.Status,
    '| B activation alive:',
    h.fake.state.activations.has(b.current.ActivationId),
  );
  expect(h.fake.state.activations.has(b.current.ActivationId)).toBe(true);
});
