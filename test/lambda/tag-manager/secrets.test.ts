// A planted activation code reaches only the agency that owns it, in the `activation` answer,
// and never any log line (EMF records included) or error message, on success or failure paths.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AGENCY_A, AGENCY_B, FUNCTION_ARN, ec2Id, miId, startHarness, type Harness } from './harness.ts';

const PLANTED = 'PLANTED-CODE-3f9c2a7e1d5b4c6a8e0f';
const PARAM_A = `/central-hub/agencies/${AGENCY_A}`;
let h: Harness;
const answers: unknown[] = [];

beforeAll(async () => {
  h = await startHarness({ ssm: { throttleRatio: 0.2, seed: 7 } });
  h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: PLANTED });
});
afterAll(async () => h?.close());

const call = async (arn: string, event: unknown) => {
  const res = await h.invoke(arn, event);
  answers.push(res);
  return res;
};
const arnOf = (agency: string) => `${FUNCTION_ARN}:agency-${agency}`;

it('keeps the planted activation code out of every log line and error message', async () => {
  // The owner gets it, and only in the answer.
  const own = await call(arnOf(AGENCY_A), { op: 'activation' });
  expect(own.activationCode).toBe(PLANTED);
  // Nobody else does.
  await call(arnOf(AGENCY_B), { op: 'activation' });
  await call(FUNCTION_ARN, { op: 'activation' });
  await call(`${FUNCTION_ARN}:3`, { op: 'activation' });
  await call(arnOf(AGENCY_A), { op: 'activation', activationCode: PLANTED });
  // Syncs that read the record for ownership proofs, including refused and failed nodes.
  h.registerNode(1, AGENCY_A, 'act-aaaa');
  h.registerNode(2, AGENCY_B, 'act-bbbb');
  await call(arnOf(AGENCY_A), {
    op: 'sync',
    instances: [
      { ec2InstanceId: ec2Id(1), managedInstanceId: miId(1), tags: { Name: PLANTED } },
      { ec2InstanceId: ec2Id(2), managedInstanceId: miId(2), tags: {} },
      { ec2InstanceId: ec2Id(3), managedInstanceId: miId(3), tags: {} },
    ],
  });
  // A record that no longer matches its schema, and one that is not JSON: both still hold the code.
  const param = h.ssm.state.parameters.get(PARAM_A)!;
  const good = param.value;
  param.value = good.replace('"region":"us-east-1"', '"region":""');
  const broken = await call(arnOf(AGENCY_A), { op: 'activation' });
  expect(broken.error.code).toBe('Internal');
  await call(arnOf(AGENCY_A), {
    op: 'sync',
    instances: [{ ec2InstanceId: ec2Id(4), managedInstanceId: miId(4), tags: {} }],
  });
  param.value = `{"activationCode":"${PLANTED}", oops`;
  expect((await call(arnOf(AGENCY_A), { op: 'activation' })).error.code).toBe('Internal');
  param.value = good;

  expect(h.logs.length).toBeGreaterThan(5);
  for (const line of h.logs) expect(line).not.toContain(PLANTED.slice(0, 12));
  const answersWithoutTheOwnersOne = answers.filter((a) => a !== own);
  for (const a of answersWithoutTheOwnersOne) expect(JSON.stringify(a)).not.toContain('PLANTED-CODE');
});
