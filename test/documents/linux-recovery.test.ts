// What the Linux register worker leaves behind when it cannot finish: a worker killed after
// -register, and a backup of the agent config that fails. Driven through the built script in the
// sandbox (stubs written from the agent's source: stubs/amazon-ssm-agent, stubs/agent.mjs).
import { describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtScript, deadEndpoint, TEST_INSTANCE, useSandboxes, type Sandbox } from './sandbox.ts';

const REGISTER = builtScript('register-linux.sh');
const { id: INSTANCE_ID } = TEST_INSTANCE;
const ERROR_TAG = 'central-it:registration-error';

const { sandbox } = useSandboxes((s) => {
  s.setParameter('/central-hub/activation/id', '3f2b8c1e-5d4a-4e6f-9a7b-0c1d2e3f4a5b');
  s.setParameter('/central-hub/activation/code', 'Zq8SECRETcodeXy4Wv7T');
}, 'all');

/** SIGKILL to the worker alone (the OOM killer), while a stub is paused at `step`; then waits for the guard. */
async function killWorkerAt(s: Sandbox, step: string): Promise<void> {
  await s.paused(step);
  const [unit] = s.activeUnits();
  process.kill(s.unitPid(unit!), 'SIGKILL');
  writeFileSync(join(s.stub, `resume-${step}`), '');
  await s.settle({ gone: true });
  await new Promise((res) => setTimeout(res, 300));
  await s.settle();
}

// Concurrent: each test has its own sandbox and spends its time waiting.
describe.concurrent('a register worker killed after it changed the agent is undone by its guard', () => {
  it.for(['register', 'start', 'tag'])(
    'SIGKILL at step %s: the guard clears the registration, restores the config and restarts the agent on its own identity',
    async (step, { expect }) => {
      const s = sandbox();
      const config = '{"Agent": {"Region": ""}}';
      s.writeAgentConfig(config);
      s.flag(`pause-${step}`);
      await s.run(REGISTER, [], {}, { detach: true });
      await killWorkerAt(s, step);
      expect(s.agentState()).toBe('running');
      expect(s.identity()).toBe(`EC2 ${INSTANCE_ID}`);
      expect(s.vaultNode()).toBe('');
      expect(s.registration()).toBeUndefined();
      expect(s.agentConfig()).toBe(config);
      expect(s.tags()['managedinstanceid'] ?? '').toBe('');
      expect(s.tags()[ERROR_TAG]).toMatch(/register: the worker ended before the registration was complete$/);
      expect(s.logText()).toContain('clearing the on-prem registration');
    },
  );

  it('SIGKILL at step stop (before -register): the agent runs again on its own identity, with no registration made', async ({
    expect,
  }) => {
    const s = sandbox();
    s.flag('pause-stop');
    await s.run(REGISTER, [], {}, { detach: true });
    await killWorkerAt(s, 'stop');
    expect(s.agentState()).toBe('running');
    expect(s.identity()).toBe(`EC2 ${INSTANCE_ID}`);
    expect(s.read('agent-argv.log')).not.toMatch(/^-register -y/m);
  });

  it('a registration that completed is kept: the guard of a finished worker, left running, only starts the agent', async ({
    expect,
  }) => {
    const s = sandbox();
    s.flag('pause-tag');
    await s.run(REGISTER, [], {}, { detach: true });
    await s.paused('tag');
    // The agent crashes after it answered as the node, while the worker tags: the worker ends with
    // the agent down, so its exit trap leaves the guard running (common.sh wstart), and the guard
    // acts once the worker is gone (common.sh guard, register-linux.sh rescue).
    writeFileSync(join(s.stub, 'agent-state-amazon-ssm-agent.service'), 'failed\n');
    writeFileSync(join(s.stub, 'resume-tag'), '');
    await s.settle({ gone: true });
    await new Promise((res) => setTimeout(res, 300));
    await s.settle();
    expect(s.read('worker.rc').trim(), s.logText()).toBe('0');
    expect(s.logText()).toContain('registration complete');
    // Only the guard starts the crashed agent; it finds no pending mark and keeps the node.
    expect(s.agentState()).toBe('running');
    expect(s.identity()).toBe(`OnPrem ${s.mi}`);
    expect(s.vaultNode()).toBe(s.mi);
    expect(s.tags()).toEqual({ managedinstanceid: s.mi });
    expect(s.read('agent-argv.log')).not.toContain('-register -clear');
    expect(existsSync(join(s.stateDir, 'pending'))).toBe(false);
  });
});

// A second Run Command (another association run, a manual run) starts a worker while one holds the
// lock: the state files (pending, the config backup) and the agent belong to the lock holder.
describe.concurrent('a register worker that fails before it holds the lock leaves the running worker alone', () => {
  it.for([
    ['cannot reach the instance metadata', 'imds'],
    ['is given a bad hub Region', 'region'],
  ] as const)(
    "a second worker that %s keeps the first worker's pending mark, so the first worker's guard still undoes a kill",
    async ([, failure], { expect }) => {
      const s = sandbox();
      s.flag('pause-tag');
      await s.run(REGISTER, [], {}, { detach: true });
      await s.paused('tag');
      const pending = join(s.stateDir, 'pending');
      expect(existsSync(pending)).toBe(true);
      const env: Record<string, string> =
        failure === 'imds' ? { SSM_HUB_IMDS_ENDPOINT: await deadEndpoint() } : { SSM_HUB_REGION: 'not-a-region' };
      const [argv, calls] = [s.read('agent-argv.log'), s.read('calls.log')];
      const second = await s.run(REGISTER, ['--worker'], env, { detach: true });
      // Nothing but its report: no agent, service or AWS call.
      expect([s.read('agent-argv.log'), s.read('calls.log')]).toEqual([argv, calls]);
      expect(second.code).toBe(1);
      expect(second.stdout).toContain('registration failed');
      expect(existsSync(pending), 'the second worker removed the pending mark').toBe(true);
      // The first worker is then killed (the OOM killer) while tagging: its guard falls back.
      await killWorkerAt(s, 'tag');
      expect(s.identity()).toBe(`EC2 ${INSTANCE_ID}`);
      expect(s.vaultNode()).toBe('');
      expect(s.agentState()).toBe('running');
      expect(s.tags()[ERROR_TAG]).toMatch(/register: the worker ended before the registration was complete$/);
    },
  );
});

describe('the agent config backup', () => {
  const config = `{"Agent": {"Region": "", "Padding": "${'a'.repeat(2000)}"}}`;

  it('a backup that fails half-written (disk full) stops the worker before the agent is touched, the config intact', async () => {
    const s = sandbox();
    s.writeAgentConfig(config);
    s.cpFailsHalfWritten(/amazon-ssm-agent\.json\.bak/);
    await s.run(REGISTER);
    expect(s.read('worker.rc').trim()).toBe('1');
    expect(s.agentConfig()).toBe(config);
    expect(s.read('agent-argv.log')).toBe('');
    expect(s.read('calls.log')).not.toMatch(/^systemctl/m);
    expect(s.identity()).toBe(`EC2 ${INSTANCE_ID}`);
    expect(s.tags()[ERROR_TAG]).toContain('register: cannot back up the agent config');
  });

  it('a failure after a good backup restores the config from it', async () => {
    const s = sandbox();
    s.writeAgentConfig(config);
    s.flag('register-fails');
    await s.run(REGISTER);
    expect(s.read('worker.rc').trim()).toBe('1');
    expect(s.agentConfig()).toBe(config);
    expect(s.logText()).toContain('restored');
  });
});
