// A registration whose managedinstanceid tag cannot be written is cleared (the instance falls back
// to its own account). When the tag never can be written (an SCP or a tag policy denying
// ec2:CreateTags), each hourly run would use one of the activation's registrations and leave a node
// for the hub's 24 h orphan sweep: the Linux check backs off, from the file the worker keeps in its
// state folder. Driven through the built script in the sandbox.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtScript, TEST_INSTANCE, useSandboxes, type Sandbox } from './sandbox.ts';

const REGISTER = builtScript('register-linux.sh');
const { id: INSTANCE_ID } = TEST_INSTANCE;
const HOUR = 3600;

const { sandbox } = useSandboxes((s) => {
  s.setParameter('/central-hub/activation/id', '3f2b8c1e-5d4a-4e6f-9a7b-0c1d2e3f4a5b');
  s.setParameter('/central-hub/activation/code', 'Zq8SECRETcodeXy4Wv7T');
});

const backoffFile = (s: Sandbox) => join(s.stateDir, 'tag-backoff');
const now = () => Math.floor(Date.now() / 1000);
const registers = (s: Sandbox) =>
  s
    .read('agent-argv.log')
    .split('\n')
    .filter((l) => l.startsWith('-register -y')).length;

/** The back-off file as the worker writes it: instance, failures in a row, epoch of the last. */
function writeBackoff(s: Sandbox, failures: number, secondsAgo: number, instance: string = INSTANCE_ID): number {
  const at = now() - secondsAgo;
  mkdirSync(s.stateDir, { recursive: true });
  writeFileSync(backoffFile(s), `${instance} ${failures} ${at}\n`);
  return at;
}
/** Moves the last failure `seconds` further into the past (the hours between two runs). */
function age(s: Sandbox, seconds: number): void {
  const [instance, failures, at] = readFileSync(backoffFile(s), 'utf8').trim().split(' ');
  writeFileSync(backoffFile(s), `${instance} ${failures} ${Number(at) - seconds}\n`);
}
const failures = (s: Sandbox) => readFileSync(backoffFile(s), 'utf8').split(' ')[1];

describe('a registration that cannot be tagged backs off: the activation is not used up by hourly retries', () => {
  it('retries at the next run after one failure, then waits 1, 3 hours... before registering again, saying until when', async () => {
    const s = sandbox();
    s.flag('fail-create-tag-managedinstanceid');
    await s.run(REGISTER);
    expect(s.read('worker.rc').trim()).toBe('1');
    expect(failures(s)).toBe('1');
    // One failure (a throttled CreateTags, say): the next run registers again.
    await s.run(REGISTER);
    expect(registers(s)).toBe(2);
    expect(failures(s)).toBe('2');
    // Two in a row: the run within the hour registers nothing and says why and until when.
    const calls = s.read('calls.log');
    const r = await s.run(REGISTER);
    expect(r.code).toBe(7);
    expect(r.stdout).toMatch(
      new RegExp(
        `not registering until \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ: the last 2 registrations could not tag ${INSTANCE_ID} with managedinstanceid \\(ec2:CreateTags; an SCP or tag policy\\?\\)`,
      ),
    );
    expect(r.stdout).toContain(`delete ${backoffFile(s)} to try now`);
    expect(r.stdout).toContain('nothing was changed');
    expect(registers(s)).toBe(2);
    // Not even the activation was read.
    expect(s.read('calls.log').slice(calls.length)).not.toMatch(/^aws ssm get-parameter/m);
    // An hour later: the third registration; then 3 hours to wait.
    age(s, HOUR);
    await s.run(REGISTER);
    expect(registers(s)).toBe(3);
    expect(failures(s)).toBe('3');
    age(s, 2 * HOUR);
    expect((await s.run(REGISTER)).code).toBe(7);
    age(s, HOUR);
    await s.run(REGISTER);
    expect(registers(s)).toBe(4);
  });

  // Hours after the k-th failure in a row during which the check does not register: 2^(k-1)-1, at
  // most 23, so the hourly runs register after 1, 2, 4, 8, 16, then every 24 hours.
  it.each([
    [2, 1],
    [3, 3],
    [4, 7],
    [5, 15],
    [6, 23],
    [40, 23],
  ])('after %i failures in a row it waits %i hours', async (k, hours) => {
    const s = sandbox();
    const at = writeBackoff(s, k, hours * HOUR - 120);
    const r = await s.run(REGISTER);
    expect(r.code, r.stdout).toBe(7);
    expect(r.stdout).toContain(`the last ${k} registrations could not tag`);
    const until = new Date((at + hours * HOUR) * 1000).toISOString().slice(0, 19);
    expect(r.stdout).toContain(`not registering until ${until}Z:`);
    expect(registers(s)).toBe(0);
  });

  it('the worker checks again under the lock: one started before a failure was counted registers nothing', async () => {
    const s = sandbox();
    writeBackoff(s, 2, 60);
    const r = await s.run(REGISTER, ['--worker']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('ERROR: not registering until');
    expect(registers(s)).toBe(0);
    expect(s.read('calls.log')).not.toMatch(/^systemctl stop/m);
    expect(s.tags()['central-it:registration-error']).toContain('register: not registering until');
  });

  it.each([
    ['one failure, just now', 1, 0, INSTANCE_ID],
    ['23 hours and a minute after the 9th failure', 9, 23 * HOUR + 60, INSTANCE_ID],
    ["another instance's back-off (this instance runs from a copied image)", 9, 0, 'i-0fedcba9876543210'],
  ] as const)('registers after %s, and a tagged registration ends the back-off', async (_, k, ago, instance) => {
    const s = sandbox();
    writeBackoff(s, k, ago, instance);
    const r = await s.run(REGISTER);
    expect(r.code, r.stdout).toBe(0);
    expect(s.read('worker.rc').trim(), s.logText()).toBe('0');
    expect(registers(s)).toBe(1);
    expect(s.tags()['managedinstanceid']).toBe(s.vaultNode());
    expect(existsSync(backoffFile(s))).toBe(false);
  });

  // Only a tag that cannot be written counts: a passing problem (a refused -register, an agent that
  // did not come up as the node) must not hold a healthy instance back for hours.
  it.each([
    ['-register refused', 'register-fails'],
    ['an agent that never runs as the node', 'agent-crashes-onprem'],
  ])('a failure other than the tag (%s) writes no back-off', async (_, flag) => {
    const s = sandbox();
    s.flag(flag);
    await s.run(REGISTER);
    expect(s.read('worker.rc').trim()).toBe('1');
    expect(existsSync(backoffFile(s))).toBe(false);
  });

  it('a back-off stamped in the future (the clock went back) does not block', async () => {
    const s = sandbox();
    writeBackoff(s, 6, -HOUR);
    const r = await s.run(REGISTER);
    expect(r.code, r.stdout).toBe(0);
    expect(registers(s)).toBe(1);
  });
});
