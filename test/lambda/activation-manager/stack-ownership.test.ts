// One activation record per agency, owned by one stack: a second stack for the agency, a damaged
// record, a settings update with no room and a Create that timed out must never cost another
// stack (or agency) its activation. Began as the hostile review's tests (rv-dup, rv-salvage,
// rv-rollback, rv-timeout), each failing on the code before the fix.
// CloudFormation custom resource reference: every request carries StackId and RequestType; a
// Delete carries the PhysicalResourceId the resource answered and the ResourceProperties; a
// failed Update is rolled back with another Update whose properties are the old ones.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  cfnEvent,
  DAY,
  PREFIX,
  props,
  seedAgency,
  scheduledEvent,
  startHarness,
  storedRecord,
  STACK_ID,
  type Harness,
} from './harness.ts';

const A = '222222222222';
const B = '333333333333';
const OTHER_STACK =
  'arn:aws:cloudformation:us-east-1:111111111111:stack/ssm-hub-agency-dup/99999999-0000-1111-2222-333344445555';
let h: Harness;
afterEach(async () => h?.close());

const answer = (event: { RequestId: string }) =>
  h.cfn.responses.find((r) => r.body.RequestId === event.RequestId)!.body;
const fromStack = <T extends object>(event: T, stackId: string): T & { StackId: string } => ({
  ...event,
  StackId: stackId,
});
const logged = (level: string, text: string) =>
  h.logs
    .map((l) => JSON.parse(l) as { level: string; message: string })
    .filter((l) => l.level === level && l.message.includes(text));

async function createdBy(stackId: string, acct = A) {
  const create = fromStack(cfnEvent(h.cfn.url, 'Create', props(acct)), stackId);
  await h.invoke(create);
  return answer(create);
}

describe('a second stack for the same agency', () => {
  it("is refused, naming the owning stack, and its rollback Delete leaves the first stack's record and activation", async () => {
    h = await startHarness();
    expect((await createdBy(STACK_ID)).Status).toBe('SUCCESS');
    const first = storedRecord(h.fake, A)!;
    expect(first.stackId).toBe(STACK_ID);
    h.stacks.seedStack(OTHER_STACK);

    const second = await createdBy(OTHER_STACK);
    expect(second.Status).toBe('FAILED');
    expect(second.Reason).toContain(`owned by stack ${STACK_ID} (CREATE_COMPLETE)`);
    const rollback = fromStack(
      cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: second.PhysicalResourceId }),
      OTHER_STACK,
    );
    await h.invoke(rollback);
    expect(answer(rollback).Status).toBe('SUCCESS');
    expect(storedRecord(h.fake, A)).toEqual(first);
    expect(h.fake.state.activations.has(first.current.activationId)).toBe(true);
  });

  it("answers SUCCESS to another stack's Delete of the agency's physical ID (an Update A to B's cleanup) and touches nothing", async () => {
    h = await startHarness();
    await createdBy(STACK_ID);
    const first = storedRecord(h.fake, A)!;
    h.fake.calls.length = 0;
    const cleanup = fromStack(
      cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: `agency-activation-${A}` }),
      OTHER_STACK,
    );
    await h.invoke(cleanup);
    expect(answer(cleanup).Status).toBe('SUCCESS');
    expect(h.fake.calls.map((c) => c.op)).toEqual(['GetParameter']);
    expect(storedRecord(h.fake, A)).toEqual(first);
    expect(logged('INFO', "not this stack's")).toHaveLength(1);
  });

  it.each([
    ['is deleted (DELETE_COMPLETE)', 'DELETE_COMPLETE'],
    ['is unknown to CloudFormation (deleted over 90 days ago)', undefined],
  ])('takes the record over when the owning stack %s, keeping its activation as previous', async (_, status) => {
    h = await startHarness();
    await createdBy(OTHER_STACK);
    const old = storedRecord(h.fake, A)!;
    if (status) h.stacks.seedStack(OTHER_STACK, status);
    expect((await createdBy(STACK_ID)).Status).toBe('SUCCESS');
    const now = storedRecord(h.fake, A)!;
    expect(now.stackId).toBe(STACK_ID);
    expect(now.previous.map((p) => p.activationId)).toContain(old.current.activationId);
    expect(logged('WARN', 'taking over')).toHaveLength(1);
  });

  it('refuses an Update from a stack that does not own the record while its owner lives, changing nothing', async () => {
    h = await startHarness();
    h.stacks.seedStack(OTHER_STACK);
    await createdBy(OTHER_STACK);
    const before = storedRecord(h.fake, A)!;
    const update = cfnEvent(h.cfn.url, 'Update', props(A, 50), {
      PhysicalResourceId: `agency-activation-${A}`,
      OldResourceProperties: props(A),
    });
    await h.invoke(update);
    expect(answer(update).Status).toBe('FAILED');
    expect(answer(update).Reason).toContain(`owned by stack ${OTHER_STACK}`);
    expect(storedRecord(h.fake, A)).toEqual(before);
  });

  it("refuses a Create over a record an older release stored (no StackId): its rollback leaves the live stack's activation", async () => {
    h = await startHarness();
    const seeded = seedAgency(h.fake, A, { expiresInMs: 20 * DAY });
    const before = storedRecord(h.fake, A)!;
    const second = await createdBy(OTHER_STACK);
    expect(second.Status).toBe('FAILED');
    expect(second.Reason).toContain('from an earlier release, naming no stack');
    expect(second.Reason).toContain("update the agency's existing stack");
    const rollback = fromStack(
      cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: second.PhysicalResourceId }),
      OTHER_STACK,
    );
    await h.invoke(rollback);
    expect(storedRecord(h.fake, A)).toEqual(before);
    expect(h.fake.state.activations.has(seeded.current.ActivationId)).toBe(true);
  });

  it('stamps the owning stack on an older record at its next Update (settings unchanged or not)', async () => {
    h = await startHarness();
    seedAgency(h.fake, A, { expiresInMs: 20 * DAY });
    const update = cfnEvent(h.cfn.url, 'Update', props(A), {
      PhysicalResourceId: `agency-activation-${A}`,
      OldResourceProperties: props(A),
    });
    await h.invoke(update);
    expect(answer(update).Status).toBe('SUCCESS');
    expect(storedRecord(h.fake, A)!.stackId).toBe(STACK_ID);
  });

  it("answers SUCCESS without writing to an Update from another stack whose settings the record already holds (a rollback can't fail)", async () => {
    h = await startHarness();
    h.stacks.seedStack(OTHER_STACK);
    await createdBy(OTHER_STACK);
    const before = storedRecord(h.fake, A)!;
    h.fake.calls.length = 0;
    const rollback = cfnEvent(h.cfn.url, 'Update', props(A), {
      PhysicalResourceId: `agency-activation-${A}`,
      OldResourceProperties: props(A, 50),
    });
    await h.invoke(rollback);
    expect(answer(rollback).Status).toBe('SUCCESS');
    expect(storedRecord(h.fake, A)).toEqual(before);
    expect(h.fake.calls.map((c) => c.op)).not.toContain('PutParameter');
  });

  it('an Update with unchanged settings recreates a record that was removed behind the stack', async () => {
    h = await startHarness();
    await createdBy(STACK_ID);
    h.fake.state.parameters.delete(`${PREFIX}/${A}`);
    const update = cfnEvent(h.cfn.url, 'Update', props(A), {
      PhysicalResourceId: `agency-activation-${A}`,
      OldResourceProperties: props(A),
    });
    await h.invoke(update);
    expect(answer(update).Status).toBe('SUCCESS');
    const rec = storedRecord(h.fake, A)!;
    expect(rec.stackId).toBe(STACK_ID);
    expect(h.fake.state.activations.has(rec.current.activationId)).toBe(true);
  });
});

describe('a damaged record on Delete', () => {
  it("deletes the activations it names that SSM shows as the agency's and never another agency's", async () => {
    h = await startHarness();
    const a = seedAgency(h.fake, A, { expiresInMs: 20 * DAY });
    const b = seedAgency(h.fake, B, { expiresInMs: 20 * DAY });
    // B's record stored under A's name (a restore into the wrong parameter), also naming A's activation.
    const wrong = {
      ...b.record,
      previous: [{ activationId: a.current.ActivationId, expiresAt: a.record.current.expiresAt }],
    };
    h.fake.state.parameters.set(`${PREFIX}/${A}`, {
      ...h.fake.state.parameters.get(`${PREFIX}/${B}`)!,
      Name: `${PREFIX}/${A}`,
      Value: JSON.stringify(wrong),
    });
    const del = cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: `agency-activation-${A}` });
    await h.invoke(del);
    expect(answer(del).Status).toBe('SUCCESS');
    expect(h.fake.state.activations.has(b.current.ActivationId)).toBe(true);
    expect(h.fake.state.activations.has(a.current.ActivationId)).toBe(false);
    expect(logged('WARN', "not this agency's")).toHaveLength(1);
  });
});

describe('a settings Update when the agency has no room', () => {
  const pid = `agency-activation-${A}`;
  const update = (to: number, from: number) =>
    cfnEvent(h.cfn.url, 'Update', props(A, to), { PhysicalResourceId: pid, OldResourceProperties: props(A, from) });

  it('keeps the activation, stores the settings for the next rotation, and so does the rollback', async () => {
    h = await startHarness({ AGENCY_NODE_QUOTA: '50' });
    const a = seedAgency(h.fake, A, { expiresInMs: 20 * DAY, limit: 200 });
    h.fake.registerNodes(a.current.ActivationId, 50);
    const lower = update(100, 200);
    await h.invoke(lower);
    expect(answer(lower).Status).toBe('SUCCESS');
    let rec = storedRecord(h.fake, A)!;
    expect(rec.current.activationId).toBe(a.current.ActivationId);
    expect([rec.requestedRegistrationLimit, rec.requestedExpiryDays, rec.stackId]).toEqual([100, 30, STACK_ID]);
    expect(logged('WARN', 'apply at the next rotation with room')).toHaveLength(1);
    expect(h.fake.callsOf('CreateActivation')).toHaveLength(0);

    const rollback = update(200, 100);
    await h.invoke(rollback);
    expect(answer(rollback).Status).toBe('SUCCESS');
    rec = storedRecord(h.fake, A)!;
    expect(rec.current.activationId).toBe(a.current.ActivationId);
    expect(rec.requestedRegistrationLimit).toBe(200);
  });

  it('never fails an Update whose settings match the current activation, and clears a stored wish', async () => {
    h = await startHarness({ AGENCY_NODE_QUOTA: '50' });
    const a = seedAgency(h.fake, A, { expiresInMs: 30 * DAY - 60_000, limit: 200 });
    h.fake.registerNodes(a.current.ActivationId, 50);
    await h.invoke(update(100, 200));
    expect(storedRecord(h.fake, A)!.requestedRegistrationLimit).toBe(100);
    const back = update(200, 100);
    await h.invoke(back);
    expect(answer(back).Status).toBe('SUCCESS');
    const rec = storedRecord(h.fake, A)!;
    expect([rec.requestedRegistrationLimit, rec.requestedExpiryDays]).toEqual([undefined, undefined]);
    expect(h.fake.callsOf('CreateActivation')).toHaveLength(0);
  });

  it('the next rotation with room issues the activation with the stored settings and keeps the owning stack', async () => {
    h = await startHarness({ AGENCY_NODE_QUOTA: '50' });
    const a = seedAgency(h.fake, A, { expiresInMs: 2 * DAY, limit: 200 });
    h.fake.registerNodes(a.current.ActivationId, 50);
    await h.invoke(update(100, 200));
    expect(storedRecord(h.fake, A)!.current.activationId).toBe(a.current.ActivationId);
    vi.stubEnv('AGENCY_NODE_QUOTA', '500');
    await h.invoke(scheduledEvent());
    const rec = storedRecord(h.fake, A)!;
    expect(rec.current.activationId).not.toBe(a.current.ActivationId);
    expect(rec.current.registrationLimit).toBe(100);
    expect(Math.round((Date.parse(rec.current.expiresAt) - Date.parse(rec.current.createdAt)) / DAY)).toBe(30);
    expect([rec.requestedRegistrationLimit, rec.requestedExpiryDays, rec.stackId]).toEqual([
      undefined,
      undefined,
      STACK_ID,
    ]);
  });
});

describe('a Create that times out', () => {
  it('leaves no record and no activation once its rollback Delete has run, even when PutParameter landed late', async () => {
    h = await startHarness();
    h.fake.setDelay('PutParameter', 1_500);
    const create = cfnEvent(h.cfn.url, 'Create', props(A));
    const started = Date.now();
    await h.invoke(create, { getRemainingTimeInMillis: () => 1_600 - (Date.now() - started) });
    const failed = answer(create);
    expect(failed.Status).toBe('FAILED');
    await new Promise((r) => setTimeout(r, 2_500)); // the request SSM received completes server-side
    h.fake.setDelay('PutParameter', 0);
    expect(storedRecord(h.fake, A)?.stackId).toBe(STACK_ID); // the late write landed
    const rollback = cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: failed.PhysicalResourceId });
    await h.invoke(rollback);
    expect(answer(rollback).Status).toBe('SUCCESS');
    expect(storedRecord(h.fake, A)).toBeUndefined();
    await h.invoke(scheduledEvent());
    expect(h.fake.state.activations.size).toBe(0);
  });
});
