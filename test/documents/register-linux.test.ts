// Executes documents/register-linux.sh in a sandbox: real bash and curl, a fake IMDSv2 on
// loopback, stubs for the AWS CLI, the agent, systemctl and systemd-run (which runs the worker
// synchronously with only the environment it was given, like a transient unit).
import { describe, expect, it } from 'vitest';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  builtScript,
  deadEndpoint,
  expectLeftToLiveWorker,
  expectNothingChanged,
  Sandbox,
  TEST_INSTANCE,
  useSandboxes,
} from './sandbox.ts';

const SCRIPT = builtScript('register-linux.sh');
const { id: INSTANCE_ID, region: INSTANCE_REGION, hubRegion: HUB_REGION, managedNodeId: MI } = TEST_INSTANCE;
const ACTIVATION_ID = '3f2b8c1e-5d4a-4e6f-9a7b-0c1d2e3f4a5b';
const ACTIVATION_CODE = 'Zq8SECRETcodeXy4Wv7T';

const { sandbox, imds } = useSandboxes((s) => {
  s.setParameter('/central-hub/activation/id', ACTIVATION_ID);
  s.setParameter('/central-hub/activation/code', ACTIVATION_CODE);
});

/** What an operator sees: the command output plus the worker's log file. */
function everythingPrinted(s: Sandbox, r: { stdout: string; stderr: string }): string {
  return [r.stdout, r.stderr, s.logText(), s.read('worker.out'), s.read('calls.log')].join('\n');
}

describe('register-linux.sh', () => {
  it('registers through a detached worker with the exact agent arguments and tags the mi- ID from the registration file', async () => {
    const s = sandbox();
    const r = await s.run(SCRIPT);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/scheduled as systemd unit ssm-hub-register-\d+-\d+-\d+/);

    // The worker ran as a transient unit that outlives the agent restart.
    expect(s.read('calls.log')).toMatch(/^systemd-run --unit ssm-hub-register-\S+ --collect --quiet .*--worker$/m);
    expect(s.read('worker.rc').trim()).toBe('0');

    expect(s.read('agent-argv.log').trim().split('\n')).toEqual([
      `-register -y -code ${ACTIVATION_CODE} -id ${ACTIVATION_ID} -region ${HUB_REGION}`,
    ]);
    const systemctl = s.callsStartingWith('systemctl');
    expect(systemctl).toEqual(['systemctl stop amazon-ssm-agent.service', 'systemctl start amazon-ssm-agent.service']);
    expect(s.agentState()).toBe('running');

    expect(s.tags()).toEqual({ managedinstanceid: s.mi });
    expect(s.logText()).toMatch(
      new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ \\[worker\\] the agent runs as ${s.mi}$`, 'm'),
    );
    expect(s.identity()).toBe(`OnPrem ${s.mi}`);
    expect(s.logText()).toContain('registration complete');
  });

  it('reads the activation as SecureStrings in the instance Region, acting as the instance role', async () => {
    const s = sandbox();
    await s.run(SCRIPT);
    const reads = s
      .read('calls.log')
      .split('\n')
      .filter((l) => l.startsWith('aws ssm get-parameter'));
    expect(reads).toContain(
      `aws ssm get-parameter --name /central-hub/activation/code --with-decryption --region ${INSTANCE_REGION} --query Parameter.Value --output text #creds=/dev/null`,
    );
    expect(reads.every((l) => l.endsWith('#creds=/dev/null'))).toBe(true);
    // The IMDSv2 token was used, never an IMDSv1 GET without one.
    expect(imds().requests).toContain('PUT /latest/api/token');
  });

  it('uses the snap agent and its service on Ubuntu', async () => {
    const s = sandbox({ snap: true });
    const r = await s.run(SCRIPT);
    expect(r.code, r.stdout).toBe(0);
    expect(s.read('worker.rc').trim()).toBe('0');
    expect(s.read('calls.log')).toContain('systemctl stop snap.amazon-ssm-agent.amazon-ssm-agent.service');
    expect(s.read('agent-argv.log')).toContain(`-register -y -code ${ACTIVATION_CODE}`);
    expect(s.tags()).toEqual({ managedinstanceid: s.mi });
  });

  it("retries systemd-run without --collect on Amazon Linux 2's older systemd", async () => {
    const s = sandbox();
    s.flag('systemd-219');
    const r = await s.run(SCRIPT);
    expect(r.code).toBe(0);
    const runs = s
      .read('calls.log')
      .split('\n')
      .filter((l) => l.startsWith('systemd-run'));
    expect(runs).toHaveLength(2);
    expect(runs[1]).not.toContain('--collect');
    expect(s.read('worker.rc').trim()).toBe('0');
    expect(s.tags()).toEqual({ managedinstanceid: s.mi });
  });

  it('falls back to setsid when systemd-run is absent and still completes the registration', async () => {
    const s = sandbox({ without: ['systemd-run'] });
    const r = await s.run(SCRIPT);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/scheduled as background process \d+/);
    // The detached worker finishes on its own; wait for its last log line.
    const deadline = Date.now() + 15_000;
    while (!/registration (complete|failed)/.test(s.logText()) && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(s.logText()).toContain('registration complete');
    expect(s.tags()).toEqual({ managedinstanceid: s.mi });
  });

  it('does nothing and says "already registered" when registered with the hub Region and tagged with that mi- ID', async () => {
    const s = sandbox();
    s.writeRegistration(MI, HUB_REGION);
    s.setTag('managedinstanceid', MI);
    const r = await s.run(SCRIPT);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`already registered as ${MI} in ${HUB_REGION}`);
    expect(s.read('agent-argv.log')).toBe('');
    expect(s.read('calls.log')).not.toMatch(/systemd-run|systemctl|create-tags|get-parameter/);
  });

  it('registers again when the registration names another Region', async () => {
    const s = sandbox();
    s.writeRegistration('mi-00000000000000001', 'us-east-1');
    s.setTag('managedinstanceid', 'mi-00000000000000001');
    const r = await s.run(SCRIPT);
    expect(r.code).toBe(0);
    expect(s.read('agent-argv.log')).toContain(`-region ${HUB_REGION}`);
    expect(s.tags()).toEqual({ managedinstanceid: s.mi });
  });

  it('registers again when the registration file was registered by another instance (launched from a copied image)', async () => {
    const s = sandbox();
    s.writeRegistration('mi-00000000000000001', HUB_REGION);
    s.markRegisteredInstance('i-0aaaaaaaaaaaaaaa1');
    const r = await s.run(SCRIPT);
    expect(r.code).toBe(0);
    expect(s.read('agent-argv.log')).toContain('-register -y');
    expect(s.tags()).toEqual({ managedinstanceid: s.mi });
    expect(s.registeredInstance()).toBe(INSTANCE_ID);
  });

  it.each([
    ['missing', undefined, undefined],
    ['cleared (an empty value, as the scripts clear it)', '', undefined],
    ['names another node', 'mi-00000000000000002', undefined],
    ['missing (registered by this instance)', undefined, INSTANCE_ID],
  ])('only restores the tag, without registering a second node, when the tag is %s', async (_label, tag, marker) => {
    const s = sandbox();
    s.writeRegistration(MI, HUB_REGION);
    if (tag !== undefined) s.setTag('managedinstanceid', tag);
    if (marker) s.markRegisteredInstance(marker);
    const r = await s.run(SCRIPT);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`already registered as ${MI} in ${HUB_REGION}; tag restored`);
    expect(s.tags()).toEqual({ managedinstanceid: MI });
    expect(s.read('agent-argv.log')).toBe('');
    expect(s.read('calls.log')).not.toMatch(/systemd-run|systemctl|get-parameter/);
    expect(s.registration()).toContain(MI);
  });

  it('fails clearly, registering nothing, when a lost tag cannot be restored', async () => {
    const s = sandbox();
    s.writeRegistration(MI, HUB_REGION);
    s.flag('fail-create-tags');
    const r = await s.run(SCRIPT);
    expect(r.code).toBe(5);
    expect(r.stdout).toContain(
      `cannot tag ${INSTANCE_ID} with managedinstanceid=${MI} (ec2:CreateTags); nothing was changed`,
    );
    expect(s.read('agent-argv.log')).toBe('');
  });

  it('records which instance it registered, so a copy of the image is told apart', async () => {
    const s = sandbox();
    await s.run(SCRIPT);
    expect(s.read('worker.rc').trim()).toBe('0');
    expect(s.registeredInstance()).toBe(INSTANCE_ID);
  });

  it('exits 0 with "opted out" and changes nothing when the instance carries the opt-out tag', async () => {
    for (const registered of [false, true]) {
      const s = sandbox();
      s.setTag('central-it:registration-opt-out', 'true');
      if (registered) s.writeRegistration(MI, HUB_REGION); // even a lost tag is left alone
      const r = await s.run(SCRIPT);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('opted out of hub registration: tag central-it:registration-opt-out is true');
      expect(s.read('agent-argv.log')).toBe('');
      expect(s.read('calls.log')).not.toMatch(/get-parameter|systemd-run|systemctl|create-tags|delete-tags/);
      expect(s.tags()).toEqual({ 'central-it:registration-opt-out': 'true' });
    }
  });

  it('fails clearly and changes nothing when it cannot read the tags to check the opt-out', async () => {
    const s = sandbox();
    s.flag('fail-describe-tags');
    const r = await s.run(SCRIPT);
    expect(r.code).toBe(5);
    expect(r.stdout).toContain(`cannot read the tags of ${INSTANCE_ID} (ec2:DescribeTags); nothing was changed`);
    expect(s.read('calls.log')).not.toMatch(/get-parameter|systemd-run|create-tags/);
  });

  describe('turns off the agent credential sharing before registering (Profile.ShareCreds)', () => {
    // The start of the package's amazon-ssm-agent.json.template (github aws/amazon-ssm-agent).
    const TEMPLATE = [
      '{',
      '    "Profile":{',
      '        "ShareCreds" : true,',
      '        "ShareProfile" : "",',
      '        "ForceUpdateCreds" : false,',
      '        "KeyAutoRotateDays": 0',
      '    },',
      '    "Mds": {',
      '        "CommandWorkersLimit" : 5,',
      '        "StopTimeoutMillis" : 20000',
      '    }',
      '}',
      '',
    ].join('\n');
    /** What the worker leaves: the text before the last "}" kept byte for byte, a last member added. */
    const edited = (text: string) => `${text.trimEnd().slice(0, -1)},"Profile":{"ShareCreds":false}}\n`;

    it('keeps the config byte for byte and adds a last Profile member the agent decodes as ShareCreds false', async () => {
      const s = sandbox();
      s.writeAgentConfig(TEMPLATE);
      await s.run(SCRIPT);
      expect(s.read('worker.rc').trim(), s.read('worker.out')).toBe('0');
      expect(s.agentConfig()).toBe(edited(TEMPLATE));
      expect(s.read('config-at-register')).toBe(edited(TEMPLATE));
      expect(s.decodedConfig()).toEqual({ ShareCreds: false, ConsumptionOrder: ['OnPrem', 'EC2', 'CustomIdentity'] });
      expect(s.logText()).toContain(`set Profile.ShareCreds to false in ${s.agentConfigDir}/amazon-ssm-agent.json`);
    });

    it('creates the config from the template in the same directory when there is none', async () => {
      const s = sandbox({ snap: true });
      s.writeAgentConfig(TEMPLATE, true);
      await s.run(SCRIPT);
      expect(s.read('worker.rc').trim()).toBe('0');
      expect(s.agentConfig()).toBe(edited(TEMPLATE));
      expect(s.agentConfig(true)).toBe(TEMPLATE);
    });

    it('writes a minimal config when there is neither a config nor a template', async () => {
      const s = sandbox();
      await s.run(SCRIPT);
      expect(s.read('worker.rc').trim()).toBe('0');
      expect(JSON.parse(s.agentConfig()!)).toEqual({ Profile: { ShareCreds: false } });
    });

    it.each([
      [
        'a Profile without ShareCreds',
        '{\n  "Profile": {\n    "ShareProfile": "ops"\n  },\n  "Agent": {"Region": "eu-west-1"}\n}\n',
      ],
      ['an empty Profile', '{"Profile": {}, "Mds": {"CommandWorkersLimit": 5}}'],
      ['a multi-line empty Profile', '{\n  "Profile": {\n  }\n}\n'],
      ['no Profile', '{\n  "Agent": {\n    "Region": "eu-west-1"\n  }\n}\n'],
      ['an empty object', '{}'],
      ['a multi-line empty object', '{\n}\n'],
      ['ShareCreds already false', '{"Profile":{"ShareCreds":false}}'],
      [
        'a later "sharecreds": true (Go matches names case-insensitively)',
        '{"Profile":{"ShareCreds":true},\n "profile": {"sharecreds": true}}',
      ],
      ['the edit of an earlier run', '{"Agent":{},"Profile":{"ShareCreds":false}}\n'],
    ])('leaves a config the agent decodes, with ShareCreds false, for a config with %s', async (_label, config) => {
      const s = sandbox();
      await s.runWithAgentConfig(SCRIPT, config);
      expect(s.read('worker.rc').trim(), s.read('worker.out')).toBe('0');
      expect(s.decodedConfig()).toMatchObject({ ShareCreds: false });
      expect(s.decodedConfig().error).toBeUndefined();
      // Valid JSON for any reader, and the original text is still there before the edit.
      expect(() => JSON.parse(s.agentConfig()!) as unknown).not.toThrow();
      expect(s.agentConfig()!.startsWith(config.trimEnd().slice(0, -1))).toBe(true);
      expect(s.identity()).toBe(`OnPrem ${s.mi}`);
    });

    it('registers with python3 on PATH when the config is valid JSON', async () => {
      const s = sandbox({ python: true });
      s.writeAgentConfig(TEMPLATE);
      await s.run(SCRIPT);
      expect(s.read('worker.rc').trim(), s.logText()).toBe('0');
      expect(s.agentConfig()).toBe(edited(TEMPLATE));
    });

    it('refuses, before touching the agent, a config python3 cannot parse', async () => {
      const s = sandbox({ python: true });
      const broken = '{"Profile": {"ShareCreds": true,},}';
      s.writeAgentConfig(broken);
      await s.run(SCRIPT);
      expect(s.read('worker.rc').trim()).toBe('1');
      expect(s.logText()).toContain(`the agent config ${s.agentConfigDir}/amazon-ssm-agent.json is not valid JSON`);
      expect(s.read('calls.log')).not.toMatch(/^systemctl|^amazon-ssm-agent/m);
      expect(s.agentConfig()).toBe(broken);
    });

    it('puts the original config back when registering fails', async () => {
      const s = sandbox();
      s.writeAgentConfig(TEMPLATE);
      s.flag('register-fails');
      await s.run(SCRIPT);
      expect(s.read('worker.rc').trim()).toBe('1');
      expect(s.read('config-at-register')).toBe(''); // the stub failed before it looked
      expect(s.agentConfig()).toBe(TEMPLATE);
      expect(s.logText()).toContain(`restored ${s.agentConfigDir}/amazon-ssm-agent.json`);
    });

    it('removes the config it created when the agent does not come up on the new node', async () => {
      const s = sandbox();
      s.writeAgentConfig(TEMPLATE, true);
      s.flag('agent-crashes-onprem');
      await s.run(SCRIPT);
      expect(s.read('worker.rc').trim()).toBe('1');
      expect(s.read('config-at-register')).toContain('"Profile":{"ShareCreds":false}}');
      expect(s.agentConfig()).toBeUndefined();
      expect(s.agentConfig(true)).toBe(TEMPLATE);
    });
  });

  it('fails with a clear error naming the AWS CLI when it is missing, and changes nothing', async () => {
    const s = sandbox({ without: ['aws'] });
    s.writeRegistration('mi-00000000000000001', 'us-east-1');
    const r = await s.run(SCRIPT);
    expectNothingChanged(s, r);
    expect(r.stdout).toContain('the AWS CLI (aws) is not installed');
    expect(s.registration()).toContain('mi-00000000000000001');
  });

  it.each([
    [
      'missing',
      (s: Sandbox) => rmSync(join(s.stub, 'params', '%central-hub%activation%code')),
      /cannot read activation parameter \/central-hub\/activation\/code: An error occurred \(ParameterNotFound\)/,
    ],
    [
      'empty',
      (s: Sandbox) => s.setParameter('/central-hub/activation/code', ''),
      /activation parameter \/central-hub\/activation\/code is empty/,
    ],
  ])('fails clearly and changes nothing when the activation code parameter is %s', async (_label, arrange, message) => {
    const s = sandbox();
    arrange(s);
    const r = await s.run(SCRIPT);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(message);
    expect(r.stdout).toContain('nothing was changed');
    expect(s.read('agent-argv.log')).toBe('');
    expect(s.read('calls.log')).not.toMatch(/systemd-run|systemctl|create-tags/);
  });

  it('fails clearly when the activation ID parameter is missing', async () => {
    const s = sandbox();
    rmSync(join(s.stub, 'params', '%central-hub%activation%id'));
    const r = await s.run(SCRIPT);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain('cannot read activation parameter /central-hub/activation/id');
    expect(s.read('agent-argv.log')).toBe('');
  });

  it('clears the registration, restarts the agent and records an error tag when registering fails', async () => {
    const s = sandbox();
    s.setTag('managedinstanceid', 'mi-00000000000000001');
    s.flag('register-fails');
    const r = await s.run(SCRIPT);
    expect(r.code).toBe(0); // the check itself succeeded: the worker failed later
    expect(s.read('worker.rc').trim()).toBe('1');

    const argv = s.read('agent-argv.log').trim().split('\n');
    expect(argv[0]).toMatch(/^-register -y -code /);
    expect(argv.at(-1)).toBe('-register -clear');
    expect(s.registration()).toBeUndefined();
    const systemctl = s.callsStartingWith('systemctl');
    expect(systemctl.at(-1)).toBe('systemctl start amazon-ssm-agent.service');
    expect(s.agentState()).toBe('running');

    const tags = s.tags();
    // The stale mi- tag is cleared by writing it empty: the instance role cannot delete tags.
    expect(Object.keys(tags).sort()).toEqual(['central-it:registration-error', 'managedinstanceid']);
    expect(tags['managedinstanceid']).toBe('');
    expect(s.read('calls.log')).toMatch(/^aws ec2 create-tags .*--tags Key=managedinstanceid\\,Value= #/m);
    expect(s.read('calls.log')).not.toContain('delete-tags');
    const reason = tags['central-it:registration-error']!;
    expect(reason).toContain('amazon-ssm-agent -register failed');
    expect(reason.length).toBeLessThanOrEqual(256);
    expect(reason).toMatch(/^[A-Za-z0-9 _.:/+@-]*$/);
    expect(s.logText()).toContain('registration failed');
  });

  it('clears a previous error tag after a successful registration by writing it empty', async () => {
    const s = sandbox();
    s.setTag('central-it:registration-error', 'old failure');
    await s.run(SCRIPT);
    expect(s.read('worker.rc').trim(), s.logText()).toBe('0');
    expect(s.tags()).toEqual({ managedinstanceid: s.mi, 'central-it:registration-error': '' });
    expect(s.read('calls.log')).not.toContain('delete-tags');
  });

  it.each([
    ['never had an error tag', undefined],
    ['has an error tag cleared before (empty)', ''],
  ])('writes no error tag after a successful registration on an instance that %s', async (_label, error) => {
    const s = sandbox();
    if (error !== undefined) s.setTag('central-it:registration-error', error);
    await s.run(SCRIPT);
    expect(s.read('worker.rc').trim(), s.logText()).toBe('0');
    expect(s.read('calls.log')).not.toMatch(/create-tags .*Key=central-it:registration-error/);
    expect(s.tags()).toEqual({
      managedinstanceid: s.mi,
      ...(error === undefined ? {} : { 'central-it:registration-error': '' }),
    });
  });

  it('fails clearly and changes nothing when the instance metadata service is unreachable', async () => {
    const s = sandbox({ imdsEndpoint: await deadEndpoint() });
    const r = await s.run(SCRIPT);
    expectNothingChanged(s, r);
    expect(r.stdout).toContain('cannot reach the instance metadata service (IMDSv2)');
  });

  it('refuses a hub Region that is not a Region name', async () => {
    const s = sandbox({ hubRegion: "eu-west-1'; reboot; '" });
    const r = await s.run(SCRIPT);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('(document parameter HubRegion) must be a Region name');
    expect(s.read('calls.log')).toBe('');
  });

  it('never prints or logs the activation code, in success or in failure', async () => {
    for (const flag of [undefined, 'register-fails']) {
      const s = sandbox();
      if (flag) s.flag(flag);
      const r = await s.run(SCRIPT);
      const printed = everythingPrinted(s, r);
      expect(printed).toContain(ACTIVATION_ID); // the log is not simply empty
      expect(printed).not.toContain(ACTIVATION_CODE);
      // The only place the code went is the agent's own argv.
      expect(s.read('agent-argv.log')).toContain(ACTIVATION_CODE);
    }
  });

  describe('worker lock', () => {
    it('holds an flock on worker.lck, with its own PID as owner, while it drives the agent', async () => {
      const s = sandbox();
      await s.run(SCRIPT);
      expect(s.read('worker.rc').trim()).toBe('0');
      const [seen] = s.read('lock-at-agent').trim().split('\n');
      const [, pid, callers] = /^owner=(\d+) register \S+ callers=(\S+)$/.exec(seen!) ?? [];
      // The agent runs in a subshell of the worker (o=$(...)): the owner is its parent, the worker itself.
      expect(callers!.split(',')[1]).toBe(pid);
      // The kernel released the lock with the worker: the next run takes it at once.
      await s.run(SCRIPT);
      expect(s.logText()).not.toContain('another worker is running');
    });

    it('is never stale: a worker killed with SIGKILL leaves nothing that blocks the next run', async () => {
      const s = sandbox();
      s.flag('pause-stop');
      await s.run(SCRIPT, [], {}, { detach: true });
      await s.paused('stop');
      const [unit] = s.activeUnits();
      process.kill(s.unitPid(unit!), 'SIGKILL');
      await s.settle({ gone: true });
      await s.run(SCRIPT);
      expect(s.read('worker.rc').trim()).toBe('0');
      expect(s.logText()).toContain('registration complete');
      expect(s.identity()).toBe(`OnPrem ${s.mi}`);
    });

    it('leaves a live worker alone: exits 0 saying another worker is running, and changes nothing', async () => {
      const s = sandbox();
      await s.whileLockHeld(async () => {
        expectLeftToLiveWorker(s, await s.run(SCRIPT));
        expect(s.read('calls.log')).not.toMatch(/systemctl|create-tags|delete-tags/);
        expect(s.tags()).toEqual({});
        // Nor does it leave its own copy of the script behind.
        expect(readdirSync(s.stateDir).filter((f) => f.startsWith('ssm-hub-'))).toEqual([]);
      });
    });
  });
});
