// Executes documents/deregister-linux.sh in the same sandbox as the registration tests: the way
// back from the hub to the instance's own account.
import { describe, expect, it } from 'vitest';
import { builtScript, deadEndpoint, Sandbox, TEST_INSTANCE, useSandboxes } from './sandbox.ts';

const SCRIPT = builtScript('deregister-linux.sh');
const REGISTER = builtScript('register-linux.sh');
const OPT_OUT = 'central-it:registration-opt-out';
const { id: INSTANCE_ID, region: INSTANCE_REGION, hubRegion: HUB_REGION, managedNodeId: MI } = TEST_INSTANCE;

const { sandbox } = useSandboxes();

/** The worker's actions on the agent and the tags, in the order the stubs recorded them ("clear" = written empty). */
function actions(s: Sandbox): string[] {
  return s
    .read('calls.log')
    .split('\n')
    .map((line) => {
      if (/^systemctl (stop|start) /.test(line)) return line.split(' ').slice(0, 2).join(' ');
      if (line === 'amazon-ssm-agent -register -clear') return 'agent -register -clear';
      const tag = /^aws ec2 (create-tags|delete-tags) .*--tags Key=([^ ,\\]+)(\\,Value= )?/.exec(line);
      if (!tag) return '';
      // The log quotes with printf %q: a comma is written \, and an empty value ends at the space.
      return tag[3] ? `clear ${tag[2]}` : `${tag[1]} ${tag[2]}`;
    })
    .filter(Boolean);
}

describe('deregister-linux.sh', () => {
  it('clears the registration in a detached worker, restarts the agent and clears the tags (written empty)', async () => {
    const s = sandbox();
    s.writeRegistration(MI, HUB_REGION);
    s.setTag('managedinstanceid', MI);
    s.setTag('central-it:registration-error', 'old');
    s.setTag('Name', 'web-1');
    const r = await s.run(SCRIPT);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`deregistration of ${MI} scheduled as systemd unit ssm-hub-deregister-\\d+-\\d+-\\d+`),
    );
    expect(s.read('worker.rc').trim()).toBe('0');
    expect(s.read('agent-argv.log').trim()).toBe('-register -clear');
    expect(s.registration()).toBeUndefined();
    const systemctl = s
      .read('calls.log')
      .split('\n')
      .filter((l) => l.startsWith('systemctl'));
    expect(systemctl).toEqual(['systemctl stop amazon-ssm-agent.service', 'systemctl start amazon-ssm-agent.service']);
    expect(s.agentState()).toBe('running');
    expect(s.tags()).toEqual({
      Name: 'web-1',
      [OPT_OUT]: 'true',
      managedinstanceid: '',
      'central-it:registration-error': '',
    });
    expect(s.read('calls.log')).not.toContain('delete-tags');
    expect(s.logText()).toContain(`opted out of hub registration: tag ${OPT_OUT}=true`);
    expect(s.logText()).toContain(
      "deregistration complete; the instance is managed by its own account's Systems Manager again",
    );
  });

  it('writes the opt-out tag first, before it stops the agent or clears the registration', async () => {
    const s = sandbox();
    s.writeRegistration(MI, HUB_REGION);
    s.setTag('managedinstanceid', MI);
    await s.run(SCRIPT);
    expect(s.read('worker.rc').trim()).toBe('0');
    expect(actions(s)).toEqual([
      `create-tags ${OPT_OUT}`,
      'systemctl stop',
      'agent -register -clear',
      'systemctl start',
      // The error tag is not there: nothing is written for it.
      'clear managedinstanceid',
    ]);
  });

  it('stops with an error, leaving the registration and the agent untouched, when the opt-out tag cannot be written', async () => {
    const s = sandbox();
    s.writeRegistration(MI, HUB_REGION);
    s.setTag('managedinstanceid', MI);
    s.flag(`fail-create-tag-${OPT_OUT}`);
    const r = await s.run(SCRIPT);
    expect(r.code).toBe(0); // the check only scheduled the worker
    expect(s.read('worker.rc').trim()).toBe('1');
    expect(s.logText()).toContain(
      `ERROR: could not tag ${INSTANCE_ID} with ${OPT_OUT}=true (ec2:CreateTags); the registration and the agent were left unchanged`,
    );
    expect(s.logText()).toContain('deregistration failed');
    expect(s.logText()).not.toContain('stopping the agent');
    // Nothing else happened: the agent was neither stopped nor started, the registration is intact.
    expect(s.read('calls.log')).not.toMatch(/^systemctl /m);
    expect(s.agentState()).toBe('untouched');
    expect(s.read('agent-argv.log')).toBe('');
    expect(s.registration()).toContain(MI);
    // Only the error tag was added, so the failure is visible from the account.
    expect(actions(s)).toEqual([`create-tags ${OPT_OUT}`, 'create-tags central-it:registration-error']);
    const { 'central-it:registration-error': error, ...rest } = s.tags();
    expect(rest).toEqual({ managedinstanceid: MI });
    expect(error).toMatch(
      /deregister: could not tag i-0123456789abcdef0 with central-it:registration-opt-out true ec2:CreateTags the registration and the agent were left unchanged$/,
    );
  });

  it('leaves alone a registration to another Region', async () => {
    const s = sandbox();
    s.writeRegistration(MI, 'us-east-1');
    s.setTag('managedinstanceid', MI);
    const r = await s.run(SCRIPT);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `registered as ${MI} with Region 'us-east-1', not the hub Region ${HUB_REGION}; left alone`,
    );
    expect(s.read('agent-argv.log')).toBe('');
    expect(s.tags()).toEqual({ managedinstanceid: MI });
  });

  it('only clears a stale tag and opts out when the agent is not registered', async () => {
    const s = sandbox();
    s.setTag('managedinstanceid', MI);
    const r = await s.run(SCRIPT);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`not registered with any hub; opted out of hub registration (tag ${OPT_OUT}=true)`);
    expect(s.read('agent-argv.log')).toBe('');
    expect(s.read('calls.log')).not.toMatch(/systemctl|systemd-run|delete-tags/);
    expect(s.tags()).toEqual({ [OPT_OUT]: 'true', managedinstanceid: '' });
  });

  it('keeps the way back: the next registration run after a deregistration opts out and registers nothing', async () => {
    const s = sandbox();
    s.setParameter('/central-hub/activation/id', '3f2b8c1e-5d4a-4e6f-9a7b-0c1d2e3f4a5b');
    s.setParameter('/central-hub/activation/code', 'Zq8SECRETcodeXy4Wv7T');
    expect((await s.run(REGISTER)).code).toBe(0);
    expect(s.read('worker.rc').trim()).toBe('0');
    expect(s.tags()).toEqual({ managedinstanceid: s.mi });

    expect((await s.run(SCRIPT)).code).toBe(0);
    expect(s.read('worker.rc').trim()).toBe('0');
    expect(s.registration()).toBeUndefined();
    expect(s.registeredInstance()).toBeUndefined();

    const again = await s.run(REGISTER);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('opted out of hub registration');
    expect(s.registration()).toBeUndefined();
    expect(s.read('agent-argv.log').trim().split('\n')).toEqual([
      expect.stringMatching(/^-register -y /),
      '-register -clear',
    ]);
    expect(s.tags()).toEqual({ [OPT_OUT]: 'true', managedinstanceid: '' });
  });

  it('changes nothing when CreateTags is denied altogether, not even an error tag', async () => {
    const s = sandbox();
    s.writeRegistration(MI, HUB_REGION);
    s.setTag('managedinstanceid', MI);
    s.flag('fail-create-tags');
    await s.run(SCRIPT);
    expect(s.read('worker.rc').trim()).toBe('1');
    expect(s.logText()).toContain(`could not tag ${INSTANCE_ID} with ${OPT_OUT}=true (ec2:CreateTags)`);
    expect(s.logText()).toContain('could not write tag central-it:registration-error');
    expect(s.agentState()).toBe('untouched');
    expect(s.registration()).toContain(MI);
    expect(s.tags()).toEqual({ managedinstanceid: MI });
  });

  it('restarts the agent and records an error tag when clearing fails to start the agent', async () => {
    const s = sandbox();
    s.writeRegistration(MI, HUB_REGION);
    s.flag('systemctl-start-fails');
    await s.run(SCRIPT);
    await s.settle({ gone: true });
    expect(s.read('worker.rc').trim()).toBe('1');
    expect(s.tags()['central-it:registration-error']).toMatch(/deregister: could not start the SSM Agent$/);
    // The opt-out written first stays: the registration is already cleared.
    expect(s.tags()[OPT_OUT]).toBe('true');
    expect(s.registration()).toBeUndefined();
    // fail() tried once more to start the agent it had stopped, and the guard once after it.
    expect(actions(s).filter((a) => a.startsWith('systemctl'))).toEqual([
      'systemctl stop',
      'systemctl start',
      'systemctl start',
      'systemctl start',
    ]);
    expect(s.logText()).toContain('deregistration failed');
  });

  it('fails clearly, changing nothing, without the AWS CLI or the metadata service', async () => {
    const noAws = sandbox({ without: ['aws'] });
    noAws.writeRegistration(MI, HUB_REGION);
    const r1 = await noAws.run(SCRIPT);
    expect(r1.code).not.toBe(0);
    expect(r1.stdout).toContain('the AWS CLI (aws) is not installed');
    expect(noAws.registration()).toContain(MI);

    const noImds = sandbox({ imdsEndpoint: await deadEndpoint() });
    noImds.writeRegistration(MI, HUB_REGION);
    const r2 = await noImds.run(SCRIPT);
    expect(r2.code).not.toBe(0);
    expect(r2.stdout).toContain('cannot reach the instance metadata service (IMDSv2)');
    expect(noImds.read('agent-argv.log')).toBe('');
  });

  describe('worker lock', () => {
    it('holds the flock on worker.lck, shared with the register worker, with its own PID as owner', async () => {
      const s = sandbox();
      s.writeRegistration(MI, HUB_REGION);
      await s.run(SCRIPT);
      expect(s.read('worker.rc').trim()).toBe('0');
      const [, pid, callers] = /^owner=(\d+) deregister \S+ callers=(\S+)$/.exec(s.read('lock-at-agent').trim()) ?? [];
      // The worker runs the agent directly: the owner is the agent's parent.
      expect(callers!.split(',')[0]).toBe(pid);
    });

    // The document has already reported success: a request dropped here would leave the instance
    // on the hub while the operator goes on to deregister its node.
    it('waits for a register worker holding the lock, then deregisters', async () => {
      const s = sandbox();
      s.writeRegistration(MI, HUB_REGION);
      s.setTag('managedinstanceid', MI);
      const release = s.holdLock();
      try {
        await new Promise((res) => setTimeout(res, 200));
        const r = await s.run(SCRIPT, [], {}, { detach: true });
        expect(r.code).toBe(0);
        await s.logged('another worker is running; waiting up to 480 s for it');
        expect(s.read('agent-argv.log')).toBe('');
      } finally {
        release();
      }
      await s.settle({ gone: true });
      expect(s.read('worker.rc').trim(), s.logText()).toBe('0');
      expect(s.vaultNode()).toBe('');
      expect(s.registration()).toBeUndefined();
      expect(s.tags()).toEqual({ [OPT_OUT]: 'true', managedinstanceid: '' });
      expect(s.logText()).toContain('deregistration complete');
    });

    it('gives up after SSM_HUB_LOCK_WAIT seconds, changing nothing, with the failure in its error tag', async () => {
      const s = sandbox();
      s.writeRegistration(MI, HUB_REGION);
      s.setTag('managedinstanceid', MI);
      await s.whileLockHeld(async () => {
        await s.run(SCRIPT, [], { SSM_HUB_LOCK_WAIT: '1' });
        expect(s.read('worker.rc').trim()).toBe('1');
        expect(s.read('agent-argv.log')).toBe('');
        expect(s.vaultNode()).toBe(MI);
        expect(s.tags()['central-it:registration-error']).toContain(
          // The tag keeps only the characters a tag value may hold.
          'deregister: another worker held the lock for 1 s nothing was changed: run the deregistration document again',
        );
        expect(s.read('worker.out')).toContain('ERROR: another worker held the lock for 1 s');
      });
    });
  });
});
