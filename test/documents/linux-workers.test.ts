// Issue 10, the Linux side: each numbered item driven through the real (built) scripts in the
// sandbox, whose stubs follow the real SSM Agent (stubs/amazon-ssm-agent, stubs/agent.mjs),
// systemd (stubs/systemctl, stubs/systemd-run) and a proxy-only network (stubs/aws).
// SSM_HUB_TEST_SCRIPTS=<folder with an older documents/> runs the same tests on older scripts.
import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtScript, deadEndpoint, Sandbox, TEST_INSTANCE, useSandboxes } from './sandbox.ts';

const REGISTER = builtScript('register-linux.sh');
const DEREGISTER = builtScript('deregister-linux.sh');
const { id: INSTANCE_ID, region: INSTANCE_REGION, hubRegion: HUB_REGION } = TEST_INSTANCE;
const OLD_MI = 'mi-00000000000000001';
const ERROR_TAG = 'central-it:registration-error';
const OPT_OUT = 'central-it:registration-opt-out';

// Cleaned up after all, not after each: some tests run concurrently.
const { sandbox } = useSandboxes((s) => {
  s.setParameter('/central-hub/activation/id', '3f2b8c1e-5d4a-4e6f-9a7b-0c1d2e3f4a5b');
  s.setParameter('/central-hub/activation/code', 'Zq8SECRETcodeXy4Wv7T');
}, 'all');

/** A sandbox whose agent config is `config`, after a registration run that ended with worker exit 0. */
const registeredWith = async (config: string): Promise<Sandbox> => {
  const s = sandbox();
  await s.runWithAgentConfig(REGISTER, config);
  expect(s.read('worker.rc').trim(), s.logText()).toBe('0');
  return s;
};

const registers = (s: Sandbox) =>
  s
    .read('agent-argv.log')
    .split('\n')
    .filter((l) => l.startsWith('-register -y')).length;

/** The fallback's end state: no hub node in the vault, no registration file, the agent running on EC2. */
function expectFellBack(s: Sandbox) {
  expect(s.read('worker.rc').trim()).toBe('1');
  expect(s.vaultNode()).toBe('');
  expect(s.registration()).toBeUndefined();
  expect(s.agentState()).toBe('running');
  expect(s.identity()).toBe(`EC2 ${INSTANCE_ID}`);
  expect(s.tags()['managedinstanceid']).toBeUndefined();
  expect(s.logText()).toContain('registration failed');
}

describe('1. "registered" is the identity the agent uses, never the registration file', () => {
  it('registers an instance whose agent was cleared by hand (-register -clear leaves the file behind)', async () => {
    const s = sandbox();
    // As a manual `amazon-ssm-agent -register -clear` and a restart leave it (core/agent_parser.go).
    s.writeRegistration(OLD_MI, HUB_REGION, 'EC2');
    s.writeVault('', '');
    s.markRegisteredInstance(INSTANCE_ID);
    s.setTag('managedinstanceid', OLD_MI);
    const r = await s.run(REGISTER);
    expect(r.stdout).not.toContain('already registered');
    expect(registers(s)).toBe(1);
    expect(s.identity()).toBe(`OnPrem ${s.mi}`);
    expect(s.tags()).toEqual({ managedinstanceid: s.mi });
  });

  it('registers when the vault holds the hub node but the agent runs on its EC2 identity', async () => {
    const s = sandbox();
    s.writeRegistration(OLD_MI, HUB_REGION, 'EC2');
    s.markRegisteredInstance(INSTANCE_ID);
    await s.run(REGISTER);
    expect(registers(s)).toBe(1);
    expect(s.identity()).toBe(`OnPrem ${s.mi}`);
  });

  it('the deregistration check sees a cleared vault as not registered and only opts out', async () => {
    const s = sandbox();
    s.writeRegistration(OLD_MI, HUB_REGION, 'EC2');
    s.writeVault('', '');
    const r = await s.run(DEREGISTER);
    expect(r.stdout).toContain('not registered with any hub; opted out');
    expect(s.read('agent-argv.log')).toBe('');
    expect(s.tags()).toEqual({ [OPT_OUT]: 'true' });
  });

  it('refuses an agent that writes no identity_config.json (before 3.1.501.0)', async () => {
    const s = sandbox();
    rmSync(join(s.agentStateDir, 'runtimeconfig'), { recursive: true });
    const r = await s.run(REGISTER);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('the SSM Agent is older than 3.1.501.0');
    expect(s.read('calls.log')).toBe('');
  });
});

describe('2. success is verified: the agent must run on the new OnPrem identity', () => {
  it.each([
    ['crash-loops on its new registration after a start that returned 0', 'agent-crashes-onprem'],
    ['keeps its EC2 identity (agent 3.2.183.0, aws/amazon-ssm-agent#484: no vault manifest entry)', 'agent-484'],
  ])('falls back when the agent %s', async (_label, flag) => {
    const s = sandbox();
    s.flag(flag);
    const r = await s.run(REGISTER);
    expect(r.code).toBe(0);
    expect(registers(s)).toBe(1);
    expectFellBack(s);
    expect(s.tags()[ERROR_TAG]).toMatch(/register: the agent did not run as mi-[0-9a-f]{17} within 5 s/);
    expect(s.read('agent-argv.log').trim().split('\n').at(-1)).toBe('-register -clear');
  });

  it.each([
    ['puts EC2 first', '{"Identity": {"ConsumptionOrder": ["EC2", "OnPrem"]}}', ['EC2', 'OnPrem']],
    ['names no OnPrem', '{"Identity": {"ConsumptionOrder": ["ECS", "CustomIdentity"]}}', ['ECS', 'CustomIdentity']],
    [
      'puts EC2 first in a later, differently cased key (Go decodes it last)',
      '{"Identity": {"ConsumptionOrder": ["OnPrem"]},\n "identity": {"consumptionorder": ["EC2"]}}',
      ['EC2'],
    ],
  ])('refuses, before registering, a config whose Identity.ConsumptionOrder %s', async (_label, config, order) => {
    const s = sandbox();
    s.writeAgentConfig(config);
    expect(s.decodedConfig().ConsumptionOrder).toEqual(order);
    await s.run(REGISTER);
    expect(s.read('worker.rc').trim()).toBe('1');
    expect(registers(s)).toBe(0);
    expect(s.read('calls.log')).not.toMatch(/^systemctl/m);
    expect(s.agentConfig()).toBe(config);
    expect(s.tags()[ERROR_TAG]).toContain('Identity.ConsumptionOrder has no OnPrem before EC2');
  });

  it.each([
    ['lists OnPrem first', '{"Identity": {"ConsumptionOrder": ["OnPrem", "EC2"]}}'],
    [
      'lists CustomIdentity and ECS before OnPrem',
      '{"Identity": {"ConsumptionOrder": ["CustomIdentity", "ECS", "OnPrem"]}}',
    ],
    ['names nothing the agent knows (it takes the default)', '{"Identity": {"ConsumptionOrder": ["Foo"]}}'],
  ])('registers when Identity.ConsumptionOrder %s', async (_label, config) => {
    const s = await registeredWith(config);
    expect(s.identity()).toBe(`OnPrem ${s.mi}`);
  });
});

describe('3. the ShareCreds edit never leaves the agent a config it cannot decode', () => {
  it.each([
    ['a multi-line {\\n}', '{\n}\n'],
    ['a multi-line empty "Profile": {}', '{\n  "Profile": {\n  },\n  "Mds": {\n    "CommandWorkersLimit": 5\n  }\n}\n'],
    ['a later "sharecreds": true', '{\n  "Profile": {"ShareCreds": false},\n  "profile": {"sharecreds": true}\n}\n'],
  ])('registers, with ShareCreds false as the agent decodes it, from %s', async (_label, config) => {
    const s = await registeredWith(config);
    expect(s.decodedConfig()).toMatchObject({ ShareCreds: false });
    expect(s.identity()).toBe(`OnPrem ${s.mi}`);
  });
});

describe('4. one lock, taken atomically, and the state checked again under it', () => {
  it('20 concurrent runs make exactly one -register and end with the agent on exactly one identity', async () => {
    const s = sandbox();
    const runs = await Promise.all(Array.from({ length: 20 }, () => s.run(REGISTER, [], {}, { detach: true })));
    expect(runs.every((r) => r.code === 0)).toBe(true);
    await s.settle({ gone: true });
    expect(registers(s)).toBe(1);
    expect(s.agentState()).toBe('running');
    expect(s.identity()).toBe(`OnPrem ${s.mi}`);
    expect(s.vaultNode()).toBe(s.mi);
    expect(s.tags()).toEqual({ managedinstanceid: s.mi });
    expect(s.logText()).toMatch(
      /already registered as mi-[0-9a-f]{17} in eu-west-1; nothing to do|another worker is running/,
    );
  });

  it('checks again under the lock: a worker that finds the instance registered meanwhile changes nothing', async () => {
    const s = sandbox();
    // What a worker finds when another worker registered between its check and its lock.
    s.writeRegistration(OLD_MI, HUB_REGION);
    s.markRegisteredInstance(INSTANCE_ID);
    s.setTag('managedinstanceid', OLD_MI);
    const r = await s.run(REGISTER, ['--worker']);
    expect(r.code).toBe(0);
    expect(s.logText()).toContain(`already registered as ${OLD_MI} in ${HUB_REGION}; nothing to do`);
    expect(registers(s)).toBe(0);
    expect(s.read('calls.log')).not.toMatch(/^systemctl/m);
  });

  it('checks the opt-out again under the lock', async () => {
    const s = sandbox();
    s.setTag(OPT_OUT, 'true');
    const r = await s.run(REGISTER, ['--worker']);
    expect(r.code).toBe(0);
    expect(s.logText()).toContain('opted out of hub registration');
    expect(registers(s)).toBe(0);
  });

  it('never takes over a lock another worker has just taken (owner not written yet)', async () => {
    const s = sandbox();
    // Another worker holds the lock; the directory an earlier version made before its owner line
    // was written is there too, as it was in that window.
    const release = s.holdLock();
    mkdirSync(join(s.stateDir, 'worker.lock'), { recursive: true });
    try {
      await new Promise((res) => setTimeout(res, 200));
      await s.run(REGISTER);
      expect(s.logText()).toContain('another worker is running; leaving it to finish');
      expect(registers(s)).toBe(0);
    } finally {
      release();
    }
  });

  it('two deregistration runs at once clear the registration once', async () => {
    const s = sandbox();
    s.writeRegistration(OLD_MI, HUB_REGION);
    s.markRegisteredInstance(INSTANCE_ID);
    await Promise.all([s.run(DEREGISTER, [], {}, { detach: true }), s.run(DEREGISTER, [], {}, { detach: true })]);
    await s.settle({ gone: true });
    expect(s.read('agent-argv.log').trim()).toBe('-register -clear');
    expect(s.agentState()).toBe('running');
  });
});

describe('5. a rerun never overwrites a running worker', () => {
  it('a worker completes while a newer version of the script is scheduled beside it', async () => {
    const s = sandbox();
    // A newer script: the same text shifted by a line, as any edit would shift it.
    const newer = join(s.root, 'newer.sh');
    const lines = readFileSync(REGISTER, 'utf8').split('\n');
    writeFileSync(newer, [lines[0], `: '${'x'.repeat(200)}'`, ...lines.slice(1)].join('\n'), { mode: 0o755 });
    await s.run(REGISTER, [], { SSM_HUB_WORKER_DELAY: '2' }, { detach: true });
    await new Promise((res) => setTimeout(res, 500));
    await s.run(newer, [], {}, { detach: true });
    await s.settle({ gone: true });
    expect(s.logText()).toContain('registration complete');
    const units = s.unitResults();
    expect(units).toHaveLength(2);
    for (const u of units) {
      expect(u.rc, u.out).toBe('0');
      expect(u.out).not.toMatch(/syntax error|command not found/);
    }
    expect(registers(s)).toBe(1);
  });
});

describe('6. the worker uses the agent proxy; IMDS never does', () => {
  it.each([
    ['a drop-in of the deb/rpm service', false, 'amazon-ssm-agent.service'],
    ['a drop-in of the snap service', true, 'snap.amazon-ssm-agent.amazon-ssm-agent.service'],
  ])('registers through a proxy set only in %s', async (_label, snap, service) => {
    const s = sandbox({ snap });
    const proxy = await deadEndpoint();
    s.writeDropIn(`[Service]\nEnvironment="https_proxy=${proxy}" "no_proxy=169.254.169.254"\n`, service);
    writeFileSync(join(s.stub, 'proxy-only'), proxy);
    const r = await s.run(REGISTER);
    expect(r.code, r.stdout).toBe(0);
    expect(s.read('worker.rc').trim(), s.logText()).toBe('0');
    expect(s.identity()).toBe(`OnPrem ${s.mi}`);
    expect(s.tags()).toEqual({ managedinstanceid: s.mi });
  });

  it('reads IMDS directly although Run Command passes a proxy that cannot reach it', async () => {
    const s = sandbox();
    const proxy = await deadEndpoint();
    writeFileSync(join(s.stub, 'proxy-only'), proxy);
    const r = await s.run(REGISTER, [], { http_proxy: proxy, https_proxy: proxy });
    expect(r.stdout).not.toContain('cannot reach the instance metadata service');
    expect(s.read('worker.rc').trim(), s.logText()).toBe('0');
    expect(s.tags()).toEqual({ managedinstanceid: s.mi });
  });

  it('deregisters through the proxy of the drop-in', async () => {
    const s = sandbox();
    const proxy = await deadEndpoint();
    s.writeDropIn(`[Service]\nEnvironment=HTTPS_PROXY=${proxy}\n`);
    writeFileSync(join(s.stub, 'proxy-only'), proxy);
    s.writeRegistration(OLD_MI, HUB_REGION);
    await s.run(DEREGISTER);
    expect(s.read('worker.rc').trim(), s.logText()).toBe('0');
    expect(s.tags()).toEqual({ [OPT_OUT]: 'true' });
  });
});

// Concurrent: each test has its own sandbox, and most of their time is spent waiting.
describe.concurrent('7. a killed worker never leaves the agent stopped', () => {
  const kill = async (s: Sandbox, step: string, signal: 'SIGTERM' | 'SIGKILL') => {
    await s.paused(step);
    const [unit] = s.activeUnits();
    const pid = s.unitPid(unit!);
    // SIGTERM as `systemctl stop <unit>` sends it, to every process of the unit; SIGKILL as the
    // OOM killer does, to the worker alone.
    process.kill(signal === 'SIGTERM' ? -pid : pid, signal);
    writeFileSync(join(s.stub, `resume-${step}`), '');
    await s.settle({ gone: true });
    await new Promise((res) => setTimeout(res, 300));
    await s.settle();
  };

  describe.each(['SIGTERM', 'SIGKILL'] as const)('%s', (signal) => {
    it.for(['stop', 'register', 'start', 'tag'])('register worker at step %s', async (step, { expect }) => {
      const s = sandbox();
      s.flag(`pause-${step}`);
      await s.run(REGISTER, [], {}, { detach: true });
      await kill(s, step, signal);
      expect(s.agentState()).toBe('running');
      // Running on one identity it can hold: the hub node it has in its vault, or its own.
      const id = s.identity() ?? `EC2 ${INSTANCE_ID}`;
      expect([`EC2 ${INSTANCE_ID}`, `OnPrem ${s.vaultNode()}`]).toContain(id);
      if (signal === 'SIGTERM') expect(s.logText()).toContain('stopped by SIGTERM');
    });

    it.for(['stop', 'clear', 'start'])('deregister worker at step %s', async (step, { expect }) => {
      const s = sandbox();
      s.writeRegistration(OLD_MI, HUB_REGION);
      s.flag(`pause-${step}`);
      await s.run(DEREGISTER, [], {}, { detach: true });
      await kill(s, step, signal);
      expect(s.agentState()).toBe('running');
    });
  });

  it.for([
    ['register', REGISTER],
    ['deregister', DEREGISTER],
  ] as const)(
    'the %s guard starts the agent when the worker could not, after the worker has ended',
    async ([, script], { expect }) => {
      const s = sandbox();
      s.writeRegistration(OLD_MI, HUB_REGION, 'EC2');
      // Both starts of the worker fail (after registering and in the fallback); the guard's works.
      writeFileSync(join(s.stub, 'systemctl-start-fails'), '2');
      await s.run(script);
      await s.settle({ gone: true });
      await s.settle();
      expect(s.read('worker.rc').trim()).toBe('1');
      expect(s.logText()).toContain(script === REGISTER ? 'could not restart the agent' : 'could not start the agent');
      expect(s.agentState()).toBe('running');
    },
  );
});

// A node without its managedinstanceid tag is never claimed: the collector sends only tagged
// instances, the hub's orphan sweep deregisters the unclaimed node, and an agent running as that
// node no longer answers the agency's association. So an untagged registration is given up.
describe('8. a registration that cannot be tagged is cleared: the instance falls back, and a later run registers anew', () => {
  it('clears the untagged node, records why, and the next run (it reaches the instance again) registers and tags it', async () => {
    const s = sandbox();
    s.flag('fail-create-tag-managedinstanceid');
    await s.run(REGISTER);
    expect(s.logText()).toContain('tagging: try 5 failed');
    expectFellBack(s);
    expect(s.read('agent-argv.log').trim().split('\n').at(-1)).toBe('-register -clear');
    // The tag keeps only the characters a tag value may hold.
    expect(s.tags()[ERROR_TAG]).toMatch(
      /register: registered as mi-[0-9a-f]{17} but could not tag i-[0-9a-f]+ with managedinstanceid ec2:CreateTags registration cleared/,
    );
    expect(s.read('worker.out')).toMatch(/ERROR: registered as mi-[0-9a-f]{17} but could not tag/);
    expect(s.registeredInstance()).toBeUndefined();

    s.unflag('fail-create-tag-managedinstanceid');
    const r = await s.run(REGISTER);
    expect(r.stdout).not.toContain('already registered');
    expect(s.read('worker.rc').trim(), s.logText()).toBe('0');
    expect(registers(s)).toBe(2);
    const node = s.vaultNode()!;
    expect(s.identity()).toBe(`OnPrem ${node}`);
    expect(s.tags()).toEqual({ managedinstanceid: node, [ERROR_TAG]: '' });
  });

  it('falls back as well when no tag can be written at all, and says in its output that the error tag failed too', async () => {
    const s = sandbox();
    s.flag('fail-create-tags');
    await s.run(REGISTER);
    expectFellBack(s);
    expect(s.tags()).toEqual({});
    // The error tag was attempted (and refused), and the output says so.
    expect(s.callsStartingWith(`aws ec2 create-tags`).some((c) => c.includes(`Key=${ERROR_TAG}`))).toBe(true);
    expect(s.read('worker.out')).toContain(`could not write tag ${ERROR_TAG}`);
    expect(s.read('worker.out')).toMatch(/ERROR: registered as mi-[0-9a-f]{17} but could not tag/);
  });
});

describe('10. smaller items', () => {
  it.each(['false', 'no', ''])('registers when the opt-out tag is %j (only "true" opts out)', async (value) => {
    const s = sandbox();
    s.setTag(OPT_OUT, value);
    const r = await s.run(REGISTER);
    expect(r.stdout).not.toContain('opted out');
    expect(registers(s)).toBe(1);
  });

  it('gives each run its own systemd unit, even two in the same second', async () => {
    const s = sandbox();
    const env = { SSM_HUB_WORKER_DELAY: '1' };
    const [a, b] = await Promise.all([
      s.run(REGISTER, [], env, { detach: true }),
      s.run(REGISTER, [], env, { detach: true }),
    ]);
    await s.settle({ gone: true });
    const units = [a, b].map((r) => /scheduled as systemd unit (\S+);/.exec(r.stdout)?.[1]);
    expect(units.every(Boolean)).toBe(true);
    expect(new Set(units).size).toBe(2);
    expect(registers(s)).toBe(1);
  });
});

// Issue 11: the instance role has no ec2:DeleteTags (no IAM key ties it to the caller's own
// instance), and the aws stub refuses delete-tags as EC2 answers such a call. Every clear is a
// create-tags of the key with an empty value, and an empty tag counts as no tag.
describe('11. no script deletes a tag: clearing writes the key with an empty value', () => {
  const clears = (s: Sandbox) =>
    s
      .read('calls.log')
      .split('\n')
      .flatMap((l) => /^aws ec2 create-tags .*--tags Key=([^ \\]+)\\,Value= #/.exec(l)?.[1] ?? []);

  it.each([
    {
      case: 'a registration that falls back clears the stale managedinstanceid',
      script: REGISTER,
      setup: (s: Sandbox) => {
        s.flag('agent-crashes-onprem');
        s.setTag('managedinstanceid', OLD_MI);
      },
      rc: '1',
      cleared: ['managedinstanceid'],
    },
    {
      case: 'a registration that succeeds clears the old error tag',
      script: REGISTER,
      setup: (s: Sandbox) => s.setTag(ERROR_TAG, 'old failure'),
      rc: '0',
      cleared: [ERROR_TAG],
    },
    {
      case: 'a deregistration clears managedinstanceid and the error tag',
      script: DEREGISTER,
      setup: (s: Sandbox) => {
        s.writeRegistration(OLD_MI, HUB_REGION);
        s.setTag('managedinstanceid', OLD_MI);
        s.setTag(ERROR_TAG, 'old failure');
      },
      rc: '0',
      cleared: ['managedinstanceid', ERROR_TAG],
    },
  ])('$case', async ({ script, setup, rc, cleared }) => {
    const s = sandbox();
    setup(s);
    await s.run(script);
    expect(s.read('worker.rc').trim(), s.logText()).toBe(rc);
    expect(clears(s)).toEqual(cleared);
    for (const key of cleared) expect(s.tags()[key], key).toBe('');
    expect(s.read('calls.log')).not.toContain('delete-tags');
    expect(s.logText()).not.toMatch(/could not (remove|clear) tag/);
  });

  it('the deregistration check of an unregistered instance clears a stale managedinstanceid', async () => {
    const s = sandbox();
    s.setTag('managedinstanceid', OLD_MI);
    const r = await s.run(DEREGISTER);
    expect(r.code, r.stdout).toBe(0);
    expect(clears(s)).toEqual(['managedinstanceid']);
    expect(s.tags()).toEqual({ [OPT_OUT]: 'true', managedinstanceid: '' });
  });

  it('writes nothing for a tag that is absent or already empty', async () => {
    const s = sandbox();
    s.setTag(ERROR_TAG, '');
    s.writeRegistration(OLD_MI, HUB_REGION);
    await s.run(DEREGISTER);
    expect(s.read('worker.rc').trim(), s.logText()).toBe('0');
    // managedinstanceid was never there, the error tag was already cleared.
    expect(clears(s)).toEqual([]);
    expect(s.tags()).toEqual({ [OPT_OUT]: 'true', [ERROR_TAG]: '' });
  });

  it('treats a cleared managedinstanceid of a registered instance as missing and restores it', async () => {
    const s = sandbox();
    s.writeRegistration(OLD_MI, HUB_REGION);
    s.markRegisteredInstance(INSTANCE_ID);
    s.setTag('managedinstanceid', '');
    const r = await s.run(REGISTER);
    expect(r.stdout).toContain(`already registered as ${OLD_MI} in ${HUB_REGION}; tag restored`);
    expect(registers(s)).toBe(0);
    expect(s.tags()).toEqual({ managedinstanceid: OLD_MI });
  });
});
