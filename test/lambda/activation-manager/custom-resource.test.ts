// Drives the real bundled activation manager through the real SSM client against the SSM fake,
// as CloudFormation would for the agency-permissions stack's Custom::AgencyActivation.
import { describe, expect, it } from 'vitest';
import {
  cfnEvent,
  DAY,
  KMS_KEY,
  PREFIX,
  props,
  ROLE_NAME,
  seedAgency,
  harnessPerTest,
  startHarness,
  storedRecord,
  TAG_PREFIX,
  WRITE_OPS,
} from './harness.ts';
import { ACTIVATION_MANAGER_ENV as ENV } from '../../../lambda/shared/names.ts';

const A = '222222222222';
const B = '333333333333';
const AGENCY_PHYSICAL_ID = /^agency-activation-\d{12}$/;

const h = harnessPerTest();

/** The one response CloudFormation received for this request, with the echoed fields checked. */
function onlyResponse(event: ReturnType<typeof cfnEvent>) {
  const mine = h.cfn.responses.filter((r) => r.body.RequestId === event.RequestId);
  expect(mine).toHaveLength(1);
  const r = mine[0]!;
  expect(r.method).toBe('PUT');
  expect(r.headers['content-type']).toBe('');
  expect(Buffer.byteLength(r.raw)).toBeLessThanOrEqual(4096);
  expect(r.body.StackId).toBe(event.StackId);
  expect(r.body.LogicalResourceId).toBe(event.LogicalResourceId);
  expect(r.body.RequestId).toBe(event.RequestId);
  return r.body;
}

function allSecretsIn(): string[] {
  return [...h.fake.state.activations.values()].map((a) => a.ActivationCode);
}

function expectNoCodeLeaked() {
  for (const code of allSecretsIn()) {
    for (const line of h.logs) expect(line).not.toContain(code);
    for (const r of h.cfn.responses) expect(r.raw).not.toContain(code);
  }
}

describe('Create', () => {
  it('issues an activation for the agency, stores it encrypted and answers SUCCESS with no data', async () => {
    const event = cfnEvent(h.cfn.url, 'Create', props(A, 250, 14));
    const before = Date.now();
    await h.invoke(event);

    const body = onlyResponse(event);
    expect(body.Status).toBe('SUCCESS');
    expect(body.PhysicalResourceId).toBe(`agency-activation-${A}`);
    expect(body.NoEcho).toBe(true);
    expect(body.Data).toBeUndefined();

    const [activation, ...others] = h.fake.state.activations.values();
    expect(others).toHaveLength(0);
    expect(activation!.IamRole).toBe(ROLE_NAME);
    expect(activation!.RegistrationLimit).toBe(250);
    expect(activation!.DefaultInstanceName).toBe(`agency-${A}`);
    expect(activation!.Description).toContain(A);
    expect(activation!.Tags).toEqual([{ Key: `${TAG_PREFIX}activation-agency`, Value: A }]);
    const expiry = activation!.ExpirationDate.getTime();
    expect(expiry).toBeGreaterThanOrEqual(before + 14 * DAY - 2000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 14 * DAY);

    const param = h.fake.state.parameters.get(`${PREFIX}/${A}`)!;
    expect(param.Type).toBe('SecureString');
    expect(param.KeyId).toBe(KMS_KEY);
    expect(param.Tier).toBe('Standard');
    const record = storedRecord(h.fake, A)!;
    expect(record.current.activationId).toBe(activation!.ActivationId);
    expect(record.current.activationCode).toBe(activation!.ActivationCode);
    expect(record.current.region).toBe('us-east-1');
    expect(record.current.registrationLimit).toBe(250);
    expect(record.previous).toEqual([]);
    expect(record.knownActivationIds).toEqual([activation!.ActivationId]);

    // Neither the code nor even the activation ID goes back to CloudFormation.
    const raw = h.cfn.responses[0]!.raw;
    expect(raw).not.toContain(activation!.ActivationId);
    expectNoCodeLeaked();
  });

  it('accepts numbers passed as strings, as CloudFormation sends them, and caps expiry at 30 days', async () => {
    const event = cfnEvent(h.cfn.url, 'Create', props(A, '500', '30'));
    await h.invoke(event);
    expect(onlyResponse(event).Status).toBe('SUCCESS');
    const [activation] = h.fake.state.activations.values();
    expect(activation!.RegistrationLimit).toBe(500);
    // The fake refuses anything beyond 30 days, so reaching it proves the cap held.
    expect(activation!.ExpirationDate.getTime()).toBeLessThanOrEqual(Date.now() + 30 * DAY);
    expect(activation!.ExpirationDate.getTime()).toBeGreaterThan(Date.now() + 29.9 * DAY);
  });

  const badProperties: [string, Record<string, unknown>, RegExp][] = [
    ['a short account ID', props('12345'), /AgencyAccountId must be an AWS account ID of exactly 12 digits/],
    ['an account ID with letters', props('22222222222x'), /AgencyAccountId/],
    ['a missing account ID', { RegistrationLimit: 5, ExpiryDays: 5 }, /AgencyAccountId/],
    ['a numeric account ID', { AgencyAccountId: 222222222222, RegistrationLimit: 5, ExpiryDays: 5 }, /AgencyAccountId/],
    ['a registration limit of 0', props(A, 0), /RegistrationLimit must be an integer from 1 to 1000/],
    ['a registration limit of 1001', props(A, '1001'), /RegistrationLimit must be an integer from 1 to 1000/],
    ['a fractional registration limit', props(A, '1.5'), /RegistrationLimit/],
    ['a missing registration limit', { AgencyAccountId: A, ExpiryDays: 5 }, /RegistrationLimit is required/],
    ['an expiry of 0 days', props(A, 5, 0), /ExpiryDays must be an integer from 1 to 30/],
    ['an expiry of 31 days', props(A, 5, '31'), /ExpiryDays must be an integer from 1 to 30/],
    ['a non-numeric expiry', props(A, 5, 'month'), /ExpiryDays/],
    ['an unknown property', { ...props(A), RegistrationLimt: 5 }, /RegistrationLimt is not a property/],
  ];
  it.each(badProperties)(
    'refuses %s with FAILED naming the field, and calls SSM not at all',
    async (_name, properties, reason) => {
      const event = cfnEvent(h.cfn.url, 'Create', properties);
      await h.invoke(event);
      const body = onlyResponse(event);
      expect(body.Status).toBe('FAILED');
      expect(body.Reason).toMatch(reason);
      expect(body.Reason).not.toMatch(/\n\s+at /); // no stack trace
      expect(body.PhysicalResourceId).not.toMatch(AGENCY_PHYSICAL_ID);
      expect(h.fake.calls).toHaveLength(0);
    },
  );

  it('answers FAILED naming the AWS error when CreateActivation is refused, and stores nothing', async () => {
    h.fake.failNextCreateActivation({
      count: 1,
      type: 'AccessDeniedException',
      status: 400,
      message: 'not authorized to perform ssm:CreateActivation',
    });
    const event = cfnEvent(h.cfn.url, 'Create', props(A));
    await h.invoke(event);
    const body = onlyResponse(event);
    expect(body.Status).toBe('FAILED');
    expect(body.Reason).toContain('CreateActivation failed: AccessDeniedException: not authorized');
    expect(body.PhysicalResourceId).not.toMatch(AGENCY_PHYSICAL_ID);
    expect(h.fake.state.parameters.size).toBe(0);
  });

  it('deletes the new activation again when its record cannot be stored, so nothing is orphaned', async () => {
    await h.close();
    // Parameter Store refuses names under /aws: the PutParameter fails after CreateActivation.
    Object.assign(h, await startHarness({ [ENV.activationParameterPrefix]: '/aws-reserved/agencies' }));
    const event = cfnEvent(h.cfn.url, 'Create', props(A));
    await h.invoke(event);
    const body = onlyResponse(event);
    expect(body.Status).toBe('FAILED');
    expect(body.Reason).toContain('PutParameter failed: ValidationException');
    expect(h.fake.callsOf('CreateActivation')).toHaveLength(1);
    expect(h.fake.callsOf('DeleteActivation')).toHaveLength(1);
    expect(h.fake.state.activations.size).toBe(0);
    expectNoCodeLeaked();
  });

  it('answers FAILED naming the missing setting when the function is misconfigured', async () => {
    await h.close();
    Object.assign(h, await startHarness({ [ENV.managedNodeRoleName]: undefined }));
    const event = cfnEvent(h.cfn.url, 'Create', props(A));
    await h.invoke(event);
    const body = onlyResponse(event);
    expect(body.Status).toBe('FAILED');
    expect(body.Reason).toContain('MANAGED_NODE_ROLE_NAME is not set');
    expect(h.fake.calls).toHaveLength(0);
  });

  it('answers FAILED before the function times out when SSM is too slow, and cancels the work', async () => {
    h.fake.setDelay('CreateActivation', 5_000);
    const event = cfnEvent(h.cfn.url, 'Create', props(A));
    const started = Date.now();
    await h.invoke(event, { getRemainingTimeInMillis: () => 1_600 - (Date.now() - started) });
    const elapsed = Date.now() - started;
    const body = onlyResponse(event);
    expect(body.Status).toBe('FAILED');
    expect(body.Reason).toMatch(/timed out/);
    expect(body.PhysicalResourceId).not.toMatch(AGENCY_PHYSICAL_ID);
    expect(elapsed).toBeLessThan(1_600);
    expect(h.fake.state.parameters.size).toBe(0);
  });

  it('refuses a record an earlier release left (no owning stack), naming the parameter; once it is deleted, creates', async () => {
    // Such a record almost always belongs to a live stack (that release's Delete removed the
    // record), so it is never adopted by a Create; a record naming a deleted stack is taken over
    // (stack-ownership.test.ts).
    seedAgency(h.fake, A, { expiresInMs: 10 * DAY });
    const event = cfnEvent(h.cfn.url, 'Create', props(A));
    await h.invoke(event);
    expect(onlyResponse(event).Status).toBe('FAILED');
    expect(onlyResponse(event).Reason).toContain(`delete that parameter and retry`);
    expect(onlyResponse(event).Reason).toContain(`${PREFIX}/${A}`);
    h.fake.state.parameters.delete(`${PREFIX}/${A}`);
    const retry = cfnEvent(h.cfn.url, 'Create', props(A));
    await h.invoke(retry);
    expect(onlyResponse(retry).Status).toBe('SUCCESS');
  });
});

describe('Update', () => {
  async function created(acct = A, limit = 100, days = 30) {
    const event = cfnEvent(h.cfn.url, 'Create', props(acct, limit, days));
    await h.invoke(event);
    expect(onlyResponse(event).Status).toBe('SUCCESS');
    h.fake.calls.length = 0;
    return storedRecord(h.fake, acct)!;
  }

  it('only reads the record when no setting changed (only the ServiceToken, say)', async () => {
    const before = await created();
    const event = cfnEvent(
      h.cfn.url,
      'Update',
      { ...props(A, '100', '30') },
      {
        PhysicalResourceId: `agency-activation-${A}`,
        OldResourceProperties: {
          ...props(A, 100, 30),
          ServiceToken: 'arn:aws:lambda:us-east-1:111111111111:function:old',
        },
      },
    );
    await h.invoke(event);
    const body = onlyResponse(event);
    expect(body.Status).toBe('SUCCESS');
    expect(body.PhysicalResourceId).toBe(`agency-activation-${A}`);
    expect(body.NoEcho).toBe(true);
    expect(h.fake.calls.map((c) => c.op)).toEqual(['GetParameter']);
    expect(storedRecord(h.fake, A)).toEqual(before);
  });

  it('rotates at once when the registration limit changes, keeping the old activation valid as previous', async () => {
    const before = await created(A, 100, 30);
    const event = cfnEvent(h.cfn.url, 'Update', props(A, 500, 30), {
      PhysicalResourceId: `agency-activation-${A}`,
      OldResourceProperties: props(A, '100', '30'),
    });
    await h.invoke(event);
    const body = onlyResponse(event);
    expect(body.Status).toBe('SUCCESS');
    expect(body.PhysicalResourceId).toBe(`agency-activation-${A}`);

    const after = storedRecord(h.fake, A)!;
    expect(after.current.activationId).not.toBe(before.current.activationId);
    expect(after.current.registrationLimit).toBe(500);
    expect(h.fake.state.activations.get(after.current.activationId)!.RegistrationLimit).toBe(500);
    expect(after.previous).toEqual([
      {
        activationId: before.current.activationId,
        expiresAt: before.current.expiresAt,
        replacedAt: after.current.createdAt,
      },
    ]);
    expect(after.knownActivationIds).toEqual([after.current.activationId, before.current.activationId]);
    expect(h.fake.state.activations.has(before.current.activationId)).toBe(true);
    expect(h.fake.callsOf('DeleteActivation', 'DeleteParameter')).toHaveLength(0);
    expectNoCodeLeaked();
  });

  it('rotates at once when the expiry changes', async () => {
    const before = await created(A, 100, 30);
    const event = cfnEvent(h.cfn.url, 'Update', props(A, 100, 7), {
      PhysicalResourceId: `agency-activation-${A}`,
      OldResourceProperties: props(A, 100, 30),
    });
    await h.invoke(event);
    expect(onlyResponse(event).Status).toBe('SUCCESS');
    const after = storedRecord(h.fake, A)!;
    expect(after.current.activationId).not.toBe(before.current.activationId);
    expect(Date.parse(after.current.expiresAt)).toBeLessThanOrEqual(Date.now() + 7 * DAY);
  });

  it("creates the new agency's activation under a new physical ID when the account changes; the Delete that follows removes only the old one", async () => {
    const old = await created(A);
    const update = cfnEvent(h.cfn.url, 'Update', props(B), {
      PhysicalResourceId: `agency-activation-${A}`,
      OldResourceProperties: props(A),
    });
    await h.invoke(update);
    const body = onlyResponse(update);
    expect(body.Status).toBe('SUCCESS');
    expect(body.PhysicalResourceId).toBe(`agency-activation-${B}`);
    const fresh = storedRecord(h.fake, B)!;
    expect(h.fake.state.activations.get(fresh.current.activationId)!.Tags).toEqual([
      { Key: `${TAG_PREFIX}activation-agency`, Value: B },
    ]);
    // Until CloudFormation's cleanup Delete, the old agency keeps its activation.
    expect(storedRecord(h.fake, A)).toEqual(old);

    const cleanup = cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: `agency-activation-${A}` });
    await h.invoke(cleanup);
    expect(onlyResponse(cleanup).Status).toBe('SUCCESS');
    expect(storedRecord(h.fake, A)).toBeUndefined();
    expect(h.fake.state.activations.has(old.current.activationId)).toBe(false);
    expect(storedRecord(h.fake, B)).toEqual(fresh);
    expect(h.fake.state.activations.has(fresh.current.activationId)).toBe(true);
  });

  it('answers FAILED with the unchanged physical ID when the new properties are invalid', async () => {
    await created();
    const event = cfnEvent(h.cfn.url, 'Update', props(A, 5000), {
      PhysicalResourceId: `agency-activation-${A}`,
      OldResourceProperties: props(A),
    });
    await h.invoke(event);
    const body = onlyResponse(event);
    expect(body.Status).toBe('FAILED');
    expect(body.Reason).toMatch(/RegistrationLimit/);
    expect(body.PhysicalResourceId).toBe(`agency-activation-${A}`);
    expect(h.fake.callsOf(...WRITE_OPS)).toHaveLength(0);
  });
});

describe('Delete', () => {
  it('deletes the current and previous activations and the stored record; a previous one already gone is fine', async () => {
    const seeded = seedAgency(h.fake, A, {
      expiresInMs: 20 * DAY,
      previous: [{ expiresInMs: 5 * DAY }, { expiresInMs: 2 * DAY }],
    });
    h.fake.state.activations.delete(seeded.previous[1]!.ActivationId); // removed out of band
    const other = seedAgency(h.fake, B, { expiresInMs: 20 * DAY });

    const event = cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: `agency-activation-${A}` });
    await h.invoke(event);
    const body = onlyResponse(event);
    expect(body.Status).toBe('SUCCESS');
    expect(body.PhysicalResourceId).toBe(`agency-activation-${A}`);
    expect(
      h.fake
        .callsOf('DeleteActivation')
        .map((c) => c.input.ActivationId)
        .sort(),
    ).toEqual([seeded.current.ActivationId, ...seeded.previous.map((p) => p.ActivationId)].sort());
    expect(h.fake.state.activations.has(seeded.current.ActivationId)).toBe(false);
    expect(h.fake.state.activations.has(seeded.previous[0]!.ActivationId)).toBe(false);
    expect(storedRecord(h.fake, A)).toBeUndefined();
    // Another agency is untouched, and no managed node is deregistered.
    expect(storedRecord(h.fake, B)).toEqual(other.record);
    expect(
      h.fake.calls
        .map((c) => c.op)
        .every((op) => ['GetParameter', 'DeleteActivation', 'DeleteParameter', 'DescribeActivations'].includes(op)),
    ).toBe(true);
    expectNoCodeLeaked();
  });

  it('also deletes an activation of the agency that the record does not name (stored by a racing rotation)', async () => {
    seedAgency(h.fake, A, { expiresInMs: 20 * DAY });
    const stray = h.fake.seedActivation({
      ExpirationDate: new Date(Date.now() + 30 * DAY),
      DefaultInstanceName: `agency-${A}`,
    });
    const otherAgency = h.fake.seedActivation({
      ExpirationDate: new Date(Date.now() + 30 * DAY),
      DefaultInstanceName: `agency-${B}`,
    });
    const event = cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: `agency-activation-${A}` });
    await h.invoke(event);
    expect(onlyResponse(event).Status).toBe('SUCCESS');
    expect(h.fake.state.activations.has(stray.ActivationId)).toBe(false);
    expect(h.fake.state.activations.has(otherAgency.ActivationId)).toBe(true);
  });

  it('succeeds when the record is already gone', async () => {
    const event = cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: `agency-activation-${A}` });
    await h.invoke(event);
    expect(onlyResponse(event).Status).toBe('SUCCESS');
    expect(h.fake.callsOf('DeleteActivation')).toHaveLength(0);
  });

  it('after a failed Create, succeeds with the placeholder physical ID and touches nothing (it only reads the record, not its own)', async () => {
    seedAgency(h.fake, A, { expiresInMs: 20 * DAY }); // an agency record that must survive
    const create = cfnEvent(h.cfn.url, 'Create', props(A, 0));
    await h.invoke(create);
    const failed = onlyResponse(create);
    expect(failed.Status).toBe('FAILED');

    h.fake.calls.length = 0;
    const rollback = cfnEvent(h.cfn.url, 'Delete', props(A, 0), { PhysicalResourceId: failed.PhysicalResourceId });
    await h.invoke(rollback);
    const body = onlyResponse(rollback);
    expect(body.Status).toBe('SUCCESS');
    expect(body.PhysicalResourceId).toBe(failed.PhysicalResourceId);
    expect(h.fake.calls.map((c) => c.op)).toEqual(['GetParameter']);
    expect(storedRecord(h.fake, A)).toBeDefined();
  });

  it('answers FAILED (and still answers) when SSM refuses the deletion', async () => {
    seedAgency(h.fake, A, { expiresInMs: 20 * DAY });
    h.fake.failNext('DeleteActivation', {
      count: 1,
      type: 'AccessDeniedException',
      message: 'not authorized to perform ssm:DeleteActivation',
    });
    const event = cfnEvent(h.cfn.url, 'Delete', props(A), { PhysicalResourceId: `agency-activation-${A}` });
    await h.invoke(event);
    const body = onlyResponse(event);
    expect(body.Status).toBe('FAILED');
    expect(body.Reason).toContain('DeleteActivation failed: AccessDeniedException');
    expect(body.PhysicalResourceId).toBe(`agency-activation-${A}`);
    // The record stays, so a retried stack delete can finish the job.
    expect(storedRecord(h.fake, A)).toBeDefined();
  });
});

describe('secrets', () => {
  it('never lets a planted activation code into a log line, a response or an error reason', async () => {
    const PLANTED = 'PLANTEDc0deXYZ987654';
    seedAgency(h.fake, A, { expiresInMs: 20 * DAY, code: PLANTED });
    // An error message that (unlike real AWS ones) carries the code: the redaction must catch it.
    h.fake.failNextCreateActivation({
      count: 1,
      type: 'ValidationException',
      status: 400,
      message: `bad request near ${PLANTED}`,
    });
    const update = cfnEvent(h.cfn.url, 'Update', props(A, 200), {
      PhysicalResourceId: `agency-activation-${A}`,
      OldResourceProperties: props(A, 100),
    });
    await h.invoke(update);
    const failed = onlyResponse(update);
    expect(failed.Status).toBe('FAILED');
    expect(failed.Reason).toContain('[redacted]');

    const retry = cfnEvent(h.cfn.url, 'Update', props(A, 200), {
      PhysicalResourceId: `agency-activation-${A}`,
      OldResourceProperties: props(A, 100),
    });
    await h.invoke(retry);
    expect(onlyResponse(retry).Status).toBe('SUCCESS');
    const del = cfnEvent(h.cfn.url, 'Delete', props(A, 200), { PhysicalResourceId: `agency-activation-${A}` });
    await h.invoke(del);
    expect(onlyResponse(del).Status).toBe('SUCCESS');

    expect(h.logs.length).toBeGreaterThan(5);
    const everything = [...h.logs, ...h.cfn.responses.map((r) => r.raw)].join('\n');
    expect(everything).not.toContain(PLANTED);
    expectNoCodeLeaked();
  });
});

it('refuses an event that is neither a custom-resource request nor a scheduled rotation', async () => {
  await expect(h.invoke({ op: 'activation' })).rejects.toThrow(/unsupported event/);
  expect(h.fake.calls).toHaveLength(0);
});
