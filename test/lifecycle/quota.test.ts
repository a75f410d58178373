// Tier awareness and the per-agency node quota, enforced by rotation: the real activation manager
// bundle against the SSM fake (activations, managed nodes and the activation-tier setting).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cfnEvent, DAY, metricsIn, props, scheduledEvent, seedAgency } from '../lambda/activation-manager/harness.ts';
import { startHarness, storedRecord, type Harness } from '../lambda/activation-manager/harness.ts';
import { agencyQuota, cappedRegistrationLimit } from '../../lambda/activation-manager/quota.ts';
import { advancedTierOn, REPLACED_ACTIVATION_GRACE_HOURS } from '../../contract/limits.ts';

const A = '222222222222';
const B = '333333333333';
const C = '444444444444';

const policy = { agencyNodeQuota: 0, quotaHeadroomPercent: 10, standardTierNodeLimit: 1000 };

describe('the quota rules', () => {
  it.each([
    { case: 'an even share of 900 among 3 agencies', p: policy, agencies: 3, advanced: false, expected: 300 },
    { case: 'one agency gets the whole 900', p: policy, agencies: 1, advanced: false, expected: 900 },
    {
      case: 'a configured quota wins',
      p: { ...policy, agencyNodeQuota: 50 },
      agencies: 3,
      advanced: false,
      expected: 50,
    },
    { case: 'no default quota on the advanced tier', p: policy, agencies: 3, advanced: true, expected: undefined },
    { case: 'at least one node each among very many', p: policy, agencies: 5000, advanced: false, expected: 1 },
  ])('$case', ({ p, agencies, advanced, expected }) => {
    expect(agencyQuota(p, agencies, advanced)).toBe(expected);
  });

  it.each([
    {
      case: 'room for all',
      wanted: 100,
      agencyNodes: 0,
      regionNodes: 0,
      quota: 300,
      advanced: false,
      out: { ok: true, registrationLimit: 100, capped: false },
    },
    {
      case: 'cut by the quota',
      wanted: 1000,
      agencyNodes: 250,
      regionNodes: 250,
      quota: 300,
      advanced: false,
      out: { ok: true, registrationLimit: 50, capped: true },
    },
    {
      case: 'cut by the standard tier',
      wanted: 1000,
      agencyNodes: 0,
      regionNodes: 995,
      quota: 5000,
      advanced: false,
      out: { ok: true, registrationLimit: 5, capped: true },
    },
    {
      case: 'not cut by the tier when advanced',
      wanted: 1000,
      agencyNodes: 0,
      regionNodes: 995,
      quota: undefined,
      advanced: true,
      out: { ok: true, registrationLimit: 1000, capped: false },
    },
    {
      case: 'refused at the quota',
      wanted: 1000,
      agencyNodes: 300,
      regionNodes: 300,
      quota: 300,
      advanced: false,
      out: { ok: false, reason: 'agency-quota' },
    },
    {
      case: 'cut by the registrations still open beside it',
      wanted: 1000,
      agencyOpen: 40,
      agencyNodes: 250,
      regionNodes: 250,
      quota: 300,
      advanced: false,
      out: { ok: true, registrationLimit: 10, capped: true },
    },
    {
      case: 'refused when those open registrations fill the quota',
      wanted: 1000,
      agencyOpen: 50,
      agencyNodes: 250,
      regionNodes: 250,
      quota: 300,
      advanced: false,
      out: { ok: false, reason: 'agency-quota' },
    },
    {
      case: 'refused at the tier limit',
      wanted: 1000,
      agencyNodes: 0,
      regionNodes: 1000,
      quota: undefined,
      advanced: false,
      out: { ok: false, reason: 'standard-tier' },
    },
  ])('registration limit: $case', ({ wanted, agencyNodes, regionNodes, quota, advanced, out, ...rest }) => {
    const agencyOpen = 'agencyOpen' in rest ? rest.agencyOpen : undefined;
    expect(cappedRegistrationLimit(wanted, { agencyNodes, agencyOpen, regionNodes, quota, advanced }, 1000)).toEqual(
      out,
    );
  });

  it.each([
    { value: 'standard', advanced: false },
    { value: 'advanced', advanced: true },
    { value: 'Advanced', advanced: true },
    { value: 'true', advanced: true },
    { value: 'false', advanced: false },
    { value: undefined, advanced: false },
  ])('activation-tier setting $value means advanced: $advanced', ({ value, advanced }) => {
    expect(advancedTierOn(value)).toBe(advanced);
  });
});

describe('rotation under the quota', () => {
  let h: Harness;
  afterEach(async () => {
    // setManagerEnv writes process.env directly: take the quota back out for the files after this one.
    delete process.env.AGENCY_NODE_QUOTA;
    await h.close();
  });
  const rotate = async () => (await h.invoke(scheduledEvent())) as { rotated: string[]; refusedForCapacity: unknown[] };
  const limitOf = (acct: string) => h.fake.state.activations.get(storedRecord(h.fake, acct)!.current.activationId)!;

  it('fills one agency up to its even share (300 of 900 among 3) and then refuses to rotate', async () => {
    h = await startHarness({ AGENCY_NODE_QUOTA: undefined });
    // A's activation is due (3 days left) and A already has 250 nodes; B and C are idle.
    const a = seedAgency(h.fake, A, { expiresInMs: 3 * DAY, createdAgoMs: 27 * DAY, limit: 1000 });
    seedAgency(h.fake, B, { expiresInMs: 20 * DAY, limit: 1000 });
    seedAgency(h.fake, C, { expiresInMs: 20 * DAY, limit: 1000 });
    h.fake.registerNodes(a.current.ActivationId, 250);

    expect((await rotate()).rotated).toEqual([A]);
    expect(limitOf(A).RegistrationLimit).toBe(50);
    expect(storedRecord(h.fake, A)!.requestedRegistrationLimit).toBe(1000);

    // 45 of 50 used (90%): a usage rotation is due, but the 5 registrations still open on the
    // current activation are all the share has left: refused, counted, and the current one stays.
    h.fake.registerNodes(limitOf(A).ActivationId, 45);
    const before = storedRecord(h.fake, A)!.current.activationId;
    const created = h.fake.callsOf('CreateActivation').length;
    const refused = await rotate();
    expect(refused.rotated).toEqual([]);
    expect(refused.refusedForCapacity).toEqual([{ agencyAccountId: A, reason: 'agency-quota' }]);

    // The share fills up on the current activation; at the quota the due rotation is refused again.
    h.fake.registerNodes(limitOf(A).ActivationId, 5);
    const summary = await rotate();
    expect(summary.rotated).toEqual([]);
    expect(summary.refusedForCapacity).toEqual([{ agencyAccountId: A, reason: 'agency-quota' }]);
    expect(h.fake.callsOf('CreateActivation')).toHaveLength(created);
    expect(storedRecord(h.fake, A)!.current.activationId).toBe(before);
    expect(metricsIn(h.logs).RotationsRefusedForCapacity).toBe(2);
    expect([...h.fake.nodes.nodes.values()].filter((n) => n.ActivationId !== undefined)).toHaveLength(300);
  });

  it('never creates an activation that would take the Region over the standard tier, unless advanced is on', async () => {
    h = await startHarness({ AGENCY_NODE_QUOTA: '5000' });
    seedAgency(h.fake, A, { expiresInMs: 3 * DAY, createdAgoMs: 27 * DAY, limit: 1000 });
    const b = seedAgency(h.fake, B, { expiresInMs: 20 * DAY, limit: 1000 });
    h.fake.registerNodes(b.current.ActivationId, 990);
    const first = await rotate();
    expect(limitOf(A).RegistrationLimit).toBe(10);
    // B is due too (990 of 1,000 used), but A's new 10 took the Region's last room in this run.
    expect(first.refusedForCapacity).toEqual([{ agencyAccountId: B, reason: 'standard-tier' }]);

    h.fake.nodes.activationTier = 'advanced';
    h.fake.state.activations.get(storedRecord(h.fake, A)!.current.activationId)!.ExpirationDate = new Date(
      Date.now() + DAY,
    );
    expect((await rotate()).rotated).toContain(A);
    // The wanted limit again: the quota (5,000) and the advanced tier leave room for it.
    expect(limitOf(A).RegistrationLimit).toBe(1000);
    expect(h.fake.callsOf('GetServiceSetting').length).toBeGreaterThanOrEqual(2);
  });
});

describe("an agency's first activation (onboarding) under the quota", () => {
  let h: Harness;
  afterEach(async () => {
    // setManagerEnv writes process.env directly: take the quota back out for the files after this one.
    delete process.env.AGENCY_NODE_QUOTA;
    await h.close();
  });

  it('is cut to the even share, and the record remembers the limit asked for', async () => {
    h = await startHarness({ AGENCY_NODE_QUOTA: undefined });
    const event = cfnEvent(h.cfn.url, 'Create', props(A, '1000', '30'));
    await h.invoke(event);
    expect(h.cfn.responses.map((r) => r.body.Status)).toEqual(['SUCCESS']);
    expect([...h.fake.state.activations.values()].map((a) => a.RegistrationLimit)).toEqual([900]);
    expect(storedRecord(h.fake, A)).toMatchObject({
      requestedRegistrationLimit: 1000,
      current: { registrationLimit: 900 },
    });
  });

  it('fails, saying why, when the standard tier has no room left', async () => {
    h = await startHarness({ AGENCY_NODE_QUOTA: '5000' });
    const other = seedAgency(h.fake, B, { expiresInMs: 20 * DAY, limit: 1000 });
    h.fake.registerNodes(other.current.ActivationId, 1000);
    const event = cfnEvent(h.cfn.url, 'Create', props(A, '100', '30'));
    await h.invoke(event);
    const [answer] = h.cfn.responses.map((r) => r.body);
    expect(answer?.Status).toBe('FAILED');
    expect(answer?.Reason).toMatch(/standard tier has no room/);
    expect(h.fake.callsOf('CreateActivation')).toHaveLength(0);
  });
});

describe('the quota across a replaced activation that is still valid', () => {
  let h: Harness;
  afterEach(async () => {
    vi.useRealTimers();
    delete process.env.AGENCY_NODE_QUOTA;
    await h.close();
  });
  const open = (id: string) => {
    const a = h.fake.state.activations.get(id);
    return a ? a.RegistrationLimit - a.RegistrationsCount : 0;
  };
  const nodes = () => h.fake.nodes.nodes.size;

  it('a usage rotation leaves out the registrations still open on the activation it replaces', async () => {
    h = await startHarness({ AGENCY_NODE_QUOTA: '90' });
    const seeded = seedAgency(h.fake, A, { expiresInMs: 20 * DAY, limit: 50 });
    h.fake.registerNodes(seeded.current.ActivationId, 45); // 5 left: due
    expect(((await h.invoke(scheduledEvent())) as { rotated: string[] }).rotated).toEqual([A]);
    const fresh = storedRecord(h.fake, A)!.current.activationId;
    expect(h.fake.state.activations.get(fresh)!.RegistrationLimit).toBe(40);
    // Everything the agency can still register, on either activation, stays within its 90.
    expect(nodes() + open(seeded.current.ActivationId) + open(fresh)).toBe(90);
  });

  it('after an expiry rotation the old registrations stay open only for the grace period; then the quota holds', async () => {
    const t0 = Date.now();
    vi.useFakeTimers({ toFake: ['Date'], now: t0 });
    h = await startHarness({ AGENCY_NODE_QUOTA: '90' });
    const seeded = seedAgency(h.fake, A, { expiresInMs: 3 * DAY, createdAgoMs: 27 * DAY, limit: 90 });
    const old = seeded.current.ActivationId;
    h.fake.registerNodes(old, 10);
    await h.invoke(scheduledEvent());
    const fresh = storedRecord(h.fake, A)!.current.activationId;
    expect(h.fake.state.activations.get(fresh)!.RegistrationLimit).toBe(80);
    // Within the grace period: the quota can be exceeded by the old activation's open registrations.
    expect(nodes() + open(old) + open(fresh)).toBe(90 + open(old));

    vi.setSystemTime(t0 + REPLACED_ACTIVATION_GRACE_HOURS * 3_600_000);
    await h.invoke(scheduledEvent());
    expect(h.fake.state.activations.has(old)).toBe(false);
    expect(nodes() + open(fresh)).toBe(90);
  });
});
