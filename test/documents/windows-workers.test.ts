// Issue 10 on Windows: the register and deregister workers against the real SSM Agent's
// behaviour, checked on the syntax tree of the scripts as they ship (PowerShell cannot run here).
// Agent behaviour each check relies on, in github aws/amazon-ssm-agent:
// - core/agent_parser.go clearRegistration: -register -clear empties the vault, keeps the file;
// - agent/appconfig/constants_windows.go: InstanceData, runtimeconfig under %ProgramData%\Amazon\SSM;
// - agent/managedInstances/vault/fsvault/fsvault.go + registration/instance_info.go: the vault key
//   RegistrationKey holds the OnPrem registration (instanceID, region, privateKey);
// - common/runtimeconfig/identity_runtimeconfig.go: identity_config.json, the identity in use.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ancestor,
  before,
  conditionOf,
  guardingIf,
  loadScript,
  tryPart,
  type Call,
  type Script,
} from './windows-ast.ts';

const REGISTER = 'register-windows.ps1';
const DEREGISTER = 'deregister-windows.ps1';
const WORKERS = [
  [REGISTER, 'Invoke-Registration'],
  [DEREGISTER, 'Invoke-Deregistration'],
] as const;
const scripts = new Map<string, Script>();
const s = (f: string) => scripts.get(f)!;

beforeAll(async () => {
  for (const f of [REGISTER, DEREGISTER]) scripts.set(f, await loadScript(f));
});

const inFn = (f: string, fn: string, name?: string): Call[] => s(f).calls(s(f).fn(fn), name);
function call(f: string, fn: string, name: string, ...elements: string[]): Call {
  const c = inFn(f, fn, name).find((x) => elements.every((e) => x.elements.includes(e)));
  expect(c, `${fn}: ${name} ${elements.join(' ')}`).toBeDefined();
  return c!;
}

describe('Windows workers (issue 10)', () => {
  it('1. register-windows.ps1 decides "registered" from the vault and identity_config.json, never from the registration file', () => {
    const text = s(REGISTER).text;
    expect(text).toContain('$Vault = "$AgentStateDir\\Vault\\Store\\RegistrationKey"');
    expect(text).toContain('$IdentityConfig = "$SsmData\\runtimeconfig\\identity_config.json"');
    expect(text).toContain('$SsmData = Get-Setting \'SSM_DATA_DIR\' "$env:ProgramData\\Amazon\\SSM"');
    // The vault must hold a hub registration, and the running agent must use that very node.
    expect(inFn(REGISTER, 'Read-OnPremNode', 'Read-Json')[0]!.elements).toEqual(['$Vault']);
    expect(inFn(REGISTER, 'Get-HubNode', 'Read-Json')[0]!.elements).toEqual(['$IdentityConfig']);
    const hub = guardingIf(s(REGISTER).fn('Get-HubNode').descendantsOfType('flow_control_statement')[0]!)!;
    expect(conditionOf(hub).replace(/\s+/g, ' ')).toBe(
      "$node.Id -and $node.Region -eq $HubRegion -and (Get-Field $used 'IdentityType') -eq 'OnPrem' -and (Get-Field $used 'InstanceId') -eq $node.Id",
    );
    expect(s(REGISTER).fn('Read-OnPremNode').text).toContain("-not (Get-Field $v 'privateKey')");
    // The check and the worker ask Get-OwnHubNode; nothing reads the registration file.
    for (const fn of ['Invoke-Check', 'Invoke-Registration'])
      expect(inFn(REGISTER, fn, 'Get-OwnHubNode')).toHaveLength(1);
    expect(inFn(REGISTER, 'Get-OwnHubNode', 'Get-HubNode')).toHaveLength(1);
    for (const f of [REGISTER, DEREGISTER]) {
      const readers = s(f)
        .calls(s(f).root)
        .filter((c) => /^(Get-Content|Read-Json)$/i.test(c.name) && c.elements.includes('$RegistrationFile'));
      expect(readers, f).toEqual([]);
    }
    // The way back also reads the vault: a registration file left by -register -clear is not a node.
    expect(inFn(DEREGISTER, 'Invoke-Check', 'Read-OnPremNode')).toHaveLength(1);
  });

  it('2. register-windows.ps1 waits (bounded) until the agent runs as the new node, and fails over otherwise', () => {
    const start = call(REGISTER, 'Invoke-Registration', 'Set-AgentState', "'Running'").node;
    const wait = call(REGISTER, 'Invoke-Registration', 'Wait-HubIdentity', '$mi').node;
    expect(before(start, wait)).toBe(true);
    // The new node's ID comes from the vault the register call wrote.
    expect(s(REGISTER).fn('Invoke-Registration').text).toContain('$mi = (Read-OnPremNode).Id');
    const failures = inFn(REGISTER, 'Invoke-Registration', 'Invoke-Failure');
    const waitFailure = failures.find(
      (c) => guardingIf(c.node) && conditionOf(guardingIf(c.node)!).includes('Wait-HubIdentity'),
    );
    expect(conditionOf(guardingIf(waitFailure!.node)!)).toBe('-not (Wait-HubIdentity $mi)');
    expect(waitFailure!.elements[0]).toMatch(/^"the agent did not run as \$mi within \$IdentityWait s/);
    // Fail-over (clear and restart) still applies then: the node is kept only after the wait.
    const keep = s(REGISTER)
      .fn('Invoke-Registration')
      .descendantsOfType('assignment_expression')
      .find((n) => n?.text === '$script:AgentTouched = $false')!;
    expect(before(wait, keep)).toBe(true);
    // Bounded: a deadline from SSM_HUB_IDENTITY_WAIT (at most 999 s), polled every 5 s, and the
    // service must be Running as well as the identity be the node.
    const body = s(REGISTER).fn('Wait-HubIdentity');
    expect(body.text).toContain('$deadline = (Get-Date).AddSeconds([int] $IdentityWait)');
    expect(body.descendantsOfType('do_statement')[0]!.text).toMatch(/\} while \(\(Get-Date\) -lt \$deadline\)$/);
    expect(inFn(REGISTER, 'Wait-HubIdentity', 'Get-HubNode')).toHaveLength(1);
    expect(inFn(REGISTER, 'Wait-HubIdentity', 'Start-Sleep')[0]!.elements).toEqual(['-Seconds', '5']);
    expect(body.text).toContain("(Get-Service -Name $AgentService).Status -eq 'Running'");
    expect(s(REGISTER).fn('Test-Inputs').text).toContain("if ($IdentityWait -notmatch '^\\d{1,3}$')");
  });

  it('3. register-windows.ps1 edits the agent config as parsed JSON, any key case, before the agent is stopped', () => {
    const f = REGISTER;
    const config = call(f, 'Invoke-Registration', 'New-AgentConfig').node;
    expect(before(config, call(f, 'Invoke-Registration', 'Set-AgentState', "'Stopped'").node)).toBe(true);
    expect(before(config, call(f, 'Invoke-Registration', 'Register-Guard').node)).toBe(true);
    // A config that cannot be parsed stops the worker there, with nothing changed.
    const stop = inFn(f, 'New-AgentConfig', 'Stop-WithError');
    expect(tryPart(stop[0]!.node)).toBe('catch');
    expect(stop.map((c) => c.elements[0])).toEqual(['6', '6', '6']);
    // Every case of ShareCreds goes (the property collection matches case-insensitively), one is
    // added, and the text is ConvertTo-Json's, read back before it is used.
    const fn = s(f).fn('New-AgentConfig');
    expect(
      s(f)
        .methods(fn, 'Remove')
        .map((n) => n.text),
    ).toEqual(["$json.Profile.PSObject.Properties.Remove('ShareCreds')"]);
    expect(inFn(f, 'New-AgentConfig', 'ConvertTo-Json')[0]!.elements).toEqual(['-Depth', '100']);
    expect(fn.text).toContain('if ((($text | ConvertFrom-Json).Profile.ShareCreds) -ne $false)');
    expect(s(f).fn('Write-AgentConfig').text).toContain('Move-Item -LiteralPath "$Conf.new" -Destination $Conf -Force');
    // No sed-like text edit of the config anywhere.
    expect(s(f).text).not.toMatch(/-replace\s+'[^']*ShareCreds/i);
  });

  it('3. register-windows.ps1 refuses a config whose Identity.ConsumptionOrder would not use the registration, before registering', () => {
    const f = REGISTER;
    expect(inFn(f, 'New-AgentConfig', 'Test-ConsumptionOrder')[0]!.elements).toEqual(['$json']);
    const rule = s(f).fn('Test-ConsumptionOrder').text;
    // The agent's own option list and its case-sensitive match (agent/appconfig/appconfig_parser.go).
    expect(rule).toContain("'OnPrem', 'ECS', 'EC2', 'CustomIdentity' -ccontains $_");
    expect(rule).toContain("Select-Object -First 1) -cne 'OnPrem'");
    expect(inFn(f, 'Test-ConsumptionOrder', 'Stop-WithError')[0]!.elements[1]).toContain('Identity.ConsumptionOrder');
  });

  it.each([REGISTER, DEREGISTER])(
    '4. %s takes its lock with one exclusive open that writes the owner, and never takes a lock over',
    (f) => {
      const lock = s(f).fn('Enter-Lock');
      const open = s(f).methods(lock, 'Open');
      expect(open.map((n) => n.text)).toEqual([
        `[IO.File]::Open("$StateDir\\worker.lck", 'OpenOrCreate', 'ReadWrite', 'Read')`,
      ]);
      expect(tryPart(open[0]!)).toBe('try');
      // The owner goes through that same handle; another open for writing fails while it is held.
      expect(
        s(f)
          .methods(lock, 'Write')
          .map((n) => n.text),
      ).toEqual(['$script:Lock.Write($owner, 0, $owner.Length)']);
      expect(lock.text).toContain('$owner = [Text.Encoding]::UTF8.GetBytes("$PID $Job $(Get-Date -Format o)")');
      // No stale-lock takeover: nothing in the lock removes or creates anything else.
      expect(
        s(f)
          .calls(lock)
          .map((c) => c.name),
      ).toEqual(['Get-Date']);
      // Held around the work, released in finally.
      const worker = s(f).fn('Invoke-Worker');
      const enter = s(f).calls(worker, 'Enter-Lock')[0]!.node;
      const work = s(f).calls(worker, '$Work')[0]!.node;
      expect(before(enter, work)).toBe(true);
      expect(tryPart(work)).toBe('try');
      expect(tryPart(s(f).methods(worker, 'Dispose')[0]!)).toBe('finally');
    },
  );

  it.each([
    [REGISTER, 'Invoke-Registration', ['Test-OptedOut', 'Get-OwnHubNode'], 'Read-Activation'],
    [DEREGISTER, 'Invoke-Deregistration', ['Read-OnPremNode'], 'Set-Tag'],
  ] as const)('4. %s checks the state again once it holds the lock', (f, fn, checks, firstChange) => {
    const lock = inFn(f, 'Invoke-Worker', 'Enter-Lock')[0]!.node;
    expect(before(lock, inFn(f, 'Invoke-Worker', '$Work')[0]!.node)).toBe(true);
    expect(s(f).text).toMatch(new RegExp(`Invoke-Worker \\{ ${fn} \\}`));
    for (const c of checks) {
      expect(before(call(f, fn, c).node, call(f, fn, firstChange).node), c).toBe(true);
      expect(before(call(f, fn, c).node, call(f, fn, 'Set-AgentState', "'Stopped'").node), c).toBe(true);
    }
  });

  it.each([REGISTER, DEREGISTER])('5. %s writes each worker to a new path and renames it into place', (f) => {
    const fn = s(f).fn('Start-Worker');
    expect(fn.text).toContain("[guid]::NewGuid().ToString('N').Substring(0, 8)");
    expect(fn.text).toContain('$worker = "$StateDir\\$task.ps1"');
    const write = s(f).calls(fn, 'Set-Content')[0]!;
    expect(write.elements.slice(0, 2)).toEqual(['-LiteralPath', '"$worker.tmp"']);
    const move = s(f).calls(fn, 'Move-Item')[0]!;
    expect(move.elements).toEqual(['-LiteralPath', '"$worker.tmp"', '-Destination', '$worker', '-Force']);
    expect(before(write.node, move.node)).toBe(true);
    expect(before(move.node, s(f).calls(fn, 'Register-ScheduledTask')[0]!.node)).toBe(true);
    // A finished worker removes its own file; finished tasks are removed by the next check.
    expect(s(f).calls(s(f).fn('Invoke-Worker'), 'Remove-Item')[0]!.elements[1]).toBe('$PSCommandPath');
    const unregister = s(f).calls(fn, 'Unregister-ScheduledTask')[0]!;
    expect(conditionOf(guardingIf(unregister.node)!)).toBe("$t.State -ne 'Running'");
  });

  it.each([REGISTER, DEREGISTER])(
    '6. %s takes the proxy from the agent service registry Environment value and the environment, and sends IMDS around it',
    (f) => {
      const proxy = s(f).fn('Use-Proxy');
      expect(s(f).calls(proxy, 'Get-ItemProperty')[0]!.elements).toEqual([
        '-LiteralPath',
        '"HKLM:\\SYSTEM\\CurrentControlSet\\Services\\$AgentService"',
        '-Name',
        'Environment',
      ]);
      // What Run Command passed (the agent's environment) wins over the registry value.
      expect(proxy.text).toContain('-not (Get-Item "Env:$name" -ErrorAction Ignore)) { Set-Item "Env:$name" $value }');
      expect(s(f).text).toContain("$ProxyVars = 'https_proxy', 'http_proxy', 'no_proxy'");
      // The AWS Tools get it explicitly; no_proxy becomes their bypass list.
      expect(s(f).calls(proxy, 'Set-AWSProxy')[0]!.elements).toEqual([
        '-Hostname',
        '$uri.Host',
        '-Port',
        '$uri.Port',
        '-Scope',
        'Global',
        '@more',
      ]);
      expect(proxy.text).toContain('$more.BypassList = $bypass');
      // Set before the first AWS call, in the check and in the worker.
      const worker = f === REGISTER ? 'Invoke-Registration' : 'Invoke-Deregistration';
      // The worker's AWS setup is Initialize-Worker, which Invoke-Worker runs before the work.
      expect(s(f).fn(worker).text).not.toContain('Read-Imds');
      for (const fn of ['Invoke-Check', 'Initialize-Worker']) {
        const use = call(f, fn, 'Use-Proxy').node;
        expect(before(call(f, fn, 'Import-AwsTools').node, use), fn).toBe(true);
        expect(before(use, call(f, fn, 'Read-Imds').node), fn).toBe(true);
      }
      // The worker file carries the environment's proxy variables with the settings.
      expect(s(f).fn('Start-Worker').text).toContain("$e.Name -like 'SSM_HUB_*' -or $ProxyVars -contains $e.Name");
      // IMDS: a request with no proxy at all; Invoke-RestMethod would take one.
      expect(s(f).fn('Invoke-Imds').text).toContain('$request.Proxy = $null');
      expect(s(f).calls(s(f).root, 'Invoke-RestMethod')).toEqual([]);
      expect(s(f).calls(s(f).root, 'Invoke-WebRequest')).toEqual([]);
    },
  );

  it.each([REGISTER, DEREGISTER])(
    '7. %s stops and starts the agent only with a timeout, and ends the process when the stop does not end',
    (f) => {
      for (const cmd of ['Stop-Service', 'Start-Service', 'Restart-Service']) {
        // Only the guard task's command line names Start-Service; the script itself never waits unbounded.
        expect(s(f).calls(s(f).root, cmd), cmd).toEqual([]);
      }
      const state = s(f).fn('Set-AgentState');
      const waits = s(f)
        .methods(state, 'WaitForStatus')
        .map((n) => n.text);
      expect(waits).toEqual([
        "$svc.WaitForStatus('Stopped', [TimeSpan]::FromSeconds($StopSeconds))",
        "$svc.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(30))",
        "$svc.WaitForStatus('Running', [TimeSpan]::FromSeconds(60))",
      ]);
      const kill = s(f).calls(state, 'Stop-Process');
      expect(kill.map((c) => c.elements[0])).toEqual(['-Force', '-Id']);
      for (const k of kill) expect(tryPart(k.node)).toBe('catch');
      expect(s(f).text).toContain('$StopSeconds = 60');
    },
  );

  it.each(WORKERS)(
    '7. %s cannot leave the agent stopped: a guard task after the time limit, and a finally that starts it',
    (f, fn) => {
      expect(before(call(f, fn, 'Register-Guard').node, call(f, fn, 'Set-AgentState', "'Stopped'").node)).toBe(true);
      const guard = s(f).fn('Register-Guard');
      expect(guard.text).toContain('$at = (Get-Date).AddMinutes($TaskMinutes + 1)');
      // The guard runs a copy of the worker's file with -Guard: Invoke-Guard, whose finally starts the agent.
      expect(s(f).calls(guard, 'Copy-Item')[0]!.elements).toEqual([
        '-LiteralPath',
        '$PSCommandPath',
        '-Destination',
        '$file',
        '-Force',
      ]);
      expect(s(f).calls(guard, 'New-ScheduledTaskAction')[0]!.elements.join(' ')).toContain(
        '-File `"$file`" -Worker -Guard',
      );
      expect(s(f).text).toMatch(/^if \(\$args -contains '-Guard'\) \{ Invoke-Guard \}/m);
      const guardStart = call(f, 'Invoke-Guard', 'Set-AgentState', "'Running'");
      expect(tryPart(ancestor(guardStart.node, 'try_statement')!)).toBe('finally');
      expect(before(call(f, 'Invoke-Guard', 'Enter-Lock').node, call(f, 'Invoke-Guard', 'Invoke-Rescue').node)).toBe(
        true,
      );
      expect(s(f).calls(guard, 'Register-ScheduledTask')[0]!.elements).toEqual(
        expect.arrayContaining(['-Trigger', '$trigger', '-TaskName', '$script:Guard']),
      );
      // The worker task's own limit is the same constant.
      expect(s(f).calls(s(f).fn('Start-Worker'), 'New-ScheduledTaskSettingsSet')[0]!.elements.join(' ')).toContain(
        '-ExecutionTimeLimit (New-TimeSpan -Minutes $TaskMinutes)',
      );
      // In process: finally starts an agent this worker stopped, then removes the guard.
      const restore = s(f).calls(s(f).fn('Invoke-Worker'), 'Restore-Agent')[0]!;
      expect(tryPart(restore.node)).toBe('finally');
      const start = s(f).calls(s(f).fn('Restore-Agent'), 'Set-AgentState')[0]!;
      expect(conditionOf(guardingIf(start.node)!)).toBe('$script:AgentStopped');
      expect(s(f).fn('Set-AgentState').text).toContain('$script:AgentStopped = $true');
    },
  );

  // Untagged, a hub node is never claimed (the collector sends only tagged instances), and an agent
  // running as it no longer answers the agency's association: the tag is part of the registration.
  it('8. register-windows.ps1 clears a registration whose tag cannot be written (the instance falls back)', () => {
    const f = REGISTER;
    const fn = s(f).fn('Invoke-Registration');
    const keep = fn
      .descendantsOfType('assignment_expression')
      .find((n) => n?.text === '$script:AgentTouched = $false')!;
    const tag = call(f, 'Invoke-Registration', 'Set-TagPatiently', '$MiTag', '$mi').node;
    const mark = call(f, 'Invoke-Registration', 'Set-Content', '$Mark').node;
    const done = call(f, 'Invoke-Registration', 'Remove-Item', '$Pending').node;
    // Still "touched" while tagging: only a tagged node is kept.
    expect(before(tag, mark) && before(mark, done) && before(done, keep)).toBe(true);
    const failure = inFn(f, 'Invoke-Registration', 'Invoke-Failure').find((c) => before(tag, c.node))!;
    expect(conditionOf(guardingIf(failure.node)!)).toBe('-not (Set-TagPatiently $MiTag $mi)');
    expect(failure.elements[0]).toContain('registration cleared, the instance is back on its own account');
    expect(s(f).text).not.toContain('retries only the tag');
    // Invoke-Failure clears while AgentTouched is set, and writes the error tag either way.
    const clear = call(f, 'Invoke-Failure', 'Clear-Registration').node;
    expect(conditionOf(guardingIf(clear)!)).toBe('$script:AgentTouched');
    expect(guardingIf(call(f, 'Invoke-Failure', 'Write-ErrorTag').node)).toBeUndefined();
    // Bounded backoff: 5 tries, 2 to 16 s apart.
    const retry = s(f).fn('Set-TagPatiently');
    expect(retry.text).toContain('for ($try = 1; $try -le 5; $try++)');
    expect(retry.text).toContain('if ($try -lt 5) { Start-Sleep -Seconds ([Math]::Pow(2, $try)) }');
  });

  it('8. register-windows.ps1 leaves a pending mark for its guard task, which undoes a worker the time limit ended', () => {
    const f = REGISTER;
    const pending = call(f, 'Invoke-Registration', 'Set-Content', '$Pending');
    expect(pending.elements).toEqual(['-LiteralPath', '$Pending', '-Value', '$script:ConfBak']);
    const touched = s(f)
      .fn('Invoke-Registration')
      .descendantsOfType('assignment_expression')
      .find((n) => n?.text === '$script:AgentTouched = $true')!;
    expect(before(call(f, 'Invoke-Registration', 'Register-Guard').node, pending.node)).toBe(true);
    expect(before(pending.node, touched)).toBe(true);
    expect(before(touched, call(f, 'Invoke-Registration', 'Set-AgentState', "'Stopped'").node)).toBe(true);
    // Every failure removes it (after its undo); so does success.
    const removeInFailure = call(f, 'Invoke-Failure', 'Remove-Item', '$Pending').node;
    expect(before(call(f, 'Invoke-Failure', 'Clear-Registration').node, removeInFailure)).toBe(true);
    // The guard: with the mark, it takes the backup from it and sets AgentTouched before anything
    // that could fail, then falls back through Invoke-Failure.
    const rescue = s(f).fn('Invoke-Rescue');
    expect(rescue.text).toContain('if (-not (Test-Path -LiteralPath $Pending)) { return }');
    expect(rescue.text).toContain('$script:ConfBak = "$(Get-Content -LiteralPath $Pending -Raw)".Trim()');
    const set = rescue
      .descendantsOfType('assignment_expression')
      .find((n) => n?.text === '$script:AgentTouched = $true')!;
    expect(before(set, call(f, 'Invoke-Rescue', 'Initialize-Worker').node)).toBe(true);
    expect(tryPart(call(f, 'Invoke-Rescue', 'Initialize-Worker').node)).toBe('try');
    expect(call(f, 'Invoke-Rescue', 'Invoke-Failure').elements[0]).toBe(
      "'the worker ended before the registration was complete'",
    );
  });

  it.each([REGISTER, DEREGISTER])('9. %s removes the registration file (and the marker) whenever it clears', (f) => {
    const clear = s(f).fn('Clear-Registration');
    const agent = s(f).calls(clear, '$AgentExe')[0]!;
    const remove = s(f).calls(clear, 'Remove-Item')[0]!;
    expect(remove.elements.slice(0, 2)).toEqual(['-LiteralPath', '$RegistrationFile, $Mark']);
    expect(before(agent.node, remove.node)).toBe(true);
    // Not conditional on the clear's exit code: a stale file must never outlive a failure.
    expect(guardingIf(remove.node)).toBeUndefined();
    expect(tryPart(remove.node)).toBeUndefined();
  });

  it('9. register-windows.ps1 clears (and so removes the file) on every failure after touching the agent', () => {
    const clear = call(REGISTER, 'Invoke-Failure', 'Clear-Registration').node;
    expect(ancestor(clear, 'function_statement')!.text).toMatch(/^function Invoke-Failure/);
    expect(conditionOf(guardingIf(clear)!)).toBe('$script:AgentTouched');
    expect(before(call(REGISTER, 'Invoke-Failure', 'Set-AgentState', "'Stopped'").node, clear)).toBe(true);
    expect(before(clear, call(REGISTER, 'Invoke-Failure', 'Set-AgentState', "'Running'").node)).toBe(true);
  });

  it('10. register-windows.ps1 opts out only when the opt-out tag is true', () => {
    const exit = s(REGISTER).fn('Test-OptedOut').descendantsOfType('flow_control_statement')[0]!;
    expect(conditionOf(guardingIf(exit)!)).toBe("(Get-Tag $OptOutTag) -eq 'true'");
    expect(s(REGISTER).text).not.toContain('$null -ne (Get-Tag $OptOutTag)');
  });

  it.each([REGISTER, DEREGISTER])('10. %s gives every run a task name of its own', (f) => {
    expect(s(f).fn('Start-Worker').text).toContain(
      "$task = '{0}-{1}-{2}' -f $TaskPrefix, (Get-Date).ToUniversalTime().ToString('yyyyMMddHHmmss'), [guid]::NewGuid().ToString('N').Substring(0, 8)",
    );
    for (const c of s(f).calls(s(f).root, 'Register-ScheduledTask')) {
      expect(c.elements[1]).toMatch(/^\$(task|script:Guard)$/);
    }
  });
});

// Issue 11: the instance role has no ec2:DeleteTags. A tag is cleared by writing it with an empty
// value (New-EC2Tag, Value ''), and only when it holds one; an empty tag counts as no tag.
describe('11. no script deletes a tag: clearing writes the key with an empty value', () => {
  const FILES = [REGISTER, DEREGISTER] as const;

  it.each(FILES)('11. %s never calls Remove-EC2Tag; its one tag write is New-EC2Tag in Set-Tag', (f) => {
    expect(s(f).calls(s(f).root, 'Remove-EC2Tag')).toEqual([]);
    expect(s(f).text).not.toMatch(/Remove-EC2Tag/i);
    const writes = s(f).calls(s(f).root, 'New-EC2Tag');
    expect(writes).toHaveLength(1);
    expect(ancestor(writes[0]!.node, 'function_statement')!.text).toMatch(/^function Set-Tag\(/);
    // Set-Tag writes the value it is given, '' included: no branch to another cmdlet.
    expect(s(f).fn('Set-Tag').descendantsOfType('if_statement')).toEqual([]);
  });

  it.each(FILES)('11. %s clears a tag with Set-Tag $Key empty, only when Read-Tag finds a value', (f) => {
    const clear = call(f, 'Clear-Tag', 'Set-Tag', '$Key', "''");
    expect(clear.elements).toEqual(['$Key', "''"]);
    expect(conditionOf(guardingIf(clear.node)!)).toBe('$value');
    // A read that fails is not taken as "no tag": the clear is written anyway.
    const read = call(f, 'Clear-Tag', 'Read-Tag', '$Key');
    expect(tryPart(read.node)).toBe('try');
    expect(s(f).fn('Clear-Tag').text).toContain("catch { $value = '?' }");
    // Read-Tag: '' for a cleared tag, $null for none; errors stop it even where Continue is set.
    expect(s(f).fn('Read-Tag').text).toContain('if ($tag) { return [string] @($tag)[0].Value }');
    expect(call(f, 'Read-Tag', 'Get-EC2Tag').elements).toContain('-ErrorAction');
    // Nothing writes '' except Clear-Tag.
    const empties = s(f)
      .calls(s(f).root, 'Set-Tag')
      .filter((c) => c.elements[1] === "''");
    expect(empties.map((c) => ancestor(c.node, 'function_statement')!.text.split('(')[0])).toEqual([
      'function Clear-Tag',
    ]);
  });

  it.each([
    [REGISTER, 'Invoke-Failure', ['$MiTag']],
    [REGISTER, 'Invoke-Registration', ['$ErrorTag']],
    [DEREGISTER, 'Complete-OptOut', ['$MiTag']],
    [DEREGISTER, 'Invoke-Deregistration', ['$MiTag', '$ErrorTag']],
  ] as const)('11. %s clears in %s: %j', (f, fn, keys) => {
    expect(inFn(f, fn, 'Clear-Tag').map((c) => c.elements[0])).toEqual(keys);
    for (const c of inFn(f, fn, 'Clear-Tag')) {
      expect(tryPart(c.node)).toBe('try');
      expect(ancestor(c.node, 'try_statement')!.text).not.toContain('DeleteTags');
    }
  });

  it('11. register-windows.ps1 takes a cleared managedinstanceid as missing and restores it', () => {
    const restore = call(REGISTER, 'Invoke-Check', 'Set-Tag', '$MiTag', '$mi');
    // '' -ne 'mi-…' is true: an empty tag is restored like a missing one.
    expect(conditionOf(guardingIf(restore.node)!)).toBe('(Get-Tag $MiTag) -ne $mi');
  });
});

describe('the workers finish what the document reported (review of the registration documents)', () => {
  it('a deregistration worker waits (bounded) for a register worker holding the lock, then does its work', () => {
    const f = DEREGISTER;
    // Initialize-Worker (AWS Tools, proxy, IMDS) first: a failure can then be written to the error tag.
    const lock = inFn(f, 'Invoke-Worker', 'Enter-Lock')[0]!;
    expect(before(call(f, 'Invoke-Worker', 'Initialize-Worker').node, lock.node)).toBe(true);
    expect(conditionOf(guardingIf(call(f, 'Invoke-Worker', 'Wait-Lock').node)!)).toBe('-not (Enter-Lock)');
    const wait = s(f).fn('Wait-Lock');
    expect(wait.text).toContain('$deadline = (Get-Date).AddSeconds([int] $LockWait)');
    expect(wait.descendantsOfType('do_statement')[0]!.text).toBe(
      'do { Start-Sleep -Seconds 5; $held = -not (Enter-Lock) } while ($held -and (Get-Date) -lt $deadline)',
    );
    expect(wait.descendantsOfType('flow_control_statement')).toEqual([]);
    const giveUp = call(
      f,
      'Wait-Lock',
      'Invoke-Failure',
      '"another worker held the lock for $LockWait s; nothing was changed: run the deregistration document again"',
    );
    expect(conditionOf(guardingIf(giveUp.node)!)).toBe('$held');
    expect(s(f).text).toContain("$LockWait = Get-Setting 'LOCK_WAIT' '480'");
    expect(s(f).fn('Test-Inputs').text).toContain("if ($LockWait -notmatch '^\\d{1,3}$')");
    // A register worker leaves the lock to its holder: the next hourly run checks again.
    const leave = s(REGISTER).fn('Wait-Lock');
    expect(leave.descendantsOfType('flow_control_statement').map((n) => n!.text)).toEqual(['exit 0']);
  });

  it('register-windows.ps1 refuses, in the check, an agent older than 3.1.501.0 (no identity_config.json)', () => {
    const stop = call(REGISTER, 'Invoke-Check', 'Stop-WithError', '3');
    expect(conditionOf(guardingIf(stop.node)!)).toBe('-not (Test-Path -LiteralPath $IdentityConfig)');
    expect(stop.elements[1]).toBe('"the SSM Agent is older than 3.1.501.0 (no $IdentityConfig); update it"');
    for (const later of ['Import-AwsTools', 'Read-Activation', 'Start-Worker'])
      expect(before(stop.node, call(REGISTER, 'Invoke-Check', later).node), later).toBe(true);
  });

  it('register-windows.ps1 backs the config up, verified, before the agent is touched, and sets ConfBak only then', () => {
    const f = REGISTER;
    const backup = call(f, 'Invoke-Registration', 'Backup-AgentConfig').node;
    expect(before(backup, call(f, 'Invoke-Registration', 'Register-Guard').node)).toBe(true);
    expect(before(backup, call(f, 'Invoke-Registration', 'Set-AgentState', "'Stopped'").node)).toBe(true);
    const fn = s(f).fn('Backup-AgentConfig');
    expect(fn.text).toContain(
      'if ((Get-FileHash -LiteralPath "$bak.tmp").Hash -ne (Get-FileHash -LiteralPath $Conf).Hash) { throw',
    );
    const move = call(f, 'Backup-AgentConfig', 'Move-Item');
    expect(move.elements).toEqual(['-LiteralPath', '"$bak.tmp"', '-Destination', '$bak', '-Force']);
    expect(tryPart(call(f, 'Backup-AgentConfig', 'Stop-WithError', '6').node)).toBe('catch');
    // The one assignment of a path to ConfBak comes after the try that copies, checks and moves.
    const sets = fn.descendantsOfType('assignment_expression').filter((n) => n?.text.startsWith('$script:ConfBak ='));
    expect(sets.map((n) => n!.text)).toEqual(["$script:ConfBak = '-'", '$script:ConfBak = $bak']);
    expect(before(ancestor(move.node, 'try_statement')!, sets[1]!)).toBe(true);
    expect(ancestor(sets[1]!, 'try_statement')).toBeUndefined();
    // Write-AgentConfig no longer copies anything.
    expect(inFn(f, 'Write-AgentConfig', 'Copy-Item')).toEqual([]);
  });

  it('a register worker that fails before it holds the lock removes no pending mark and touches no agent', () => {
    const f = REGISTER;
    // Test-Inputs and Initialize-Worker (AWS Tools, proxy, IMDS) run, and can fail, before the lock.
    const lock = inFn(f, 'Invoke-Worker', 'Enter-Lock')[0]!.node;
    for (const early of ['Test-Inputs', 'Initialize-Worker'])
      expect(before(call(f, 'Invoke-Worker', early).node, lock), early).toBe(true);
    // AgentTouched is set only by the locked worker's Invoke-Registration and by the guard task's
    // Invoke-Rescue, which runs under the lock.
    const touched = s(f)
      .root.descendantsOfType('assignment_expression')
      .filter((n) => n?.text === '$script:AgentTouched = $true')
      .map((n) => ancestor(n!, 'function_statement')!.text.split(' {')[0]);
    expect(touched).toEqual(['function Invoke-Rescue', 'function Invoke-Registration']);
    expect(before(call(f, 'Invoke-Guard', 'Enter-Lock').node, call(f, 'Invoke-Guard', 'Invoke-Rescue').node)).toBe(
      true,
    );
    // Invoke-Failure touches the agent, the vault, the config and the pending mark only then: the
    // running worker's guard task reads the mark to undo a worker its time limit ended.
    for (const undo of [
      call(f, 'Invoke-Failure', 'Set-AgentState', "'Stopped'"),
      call(f, 'Invoke-Failure', 'Clear-Registration'),
      call(f, 'Invoke-Failure', 'Copy-Item', '$script:ConfBak'),
      call(f, 'Invoke-Failure', 'Remove-Item', '$Pending'),
    ])
      expect(conditionOf(guardingIf(undo.node)!), undo.name).toBe('$script:AgentTouched');
  });

  // Behaviour checked on Linux (tag-backoff.test.ts); here the same rule, read from the syntax tree.
  it('register-windows.ps1 backs off after registrations that could not be tagged, as the Linux script does', () => {
    const f = REGISTER;
    expect(s(f).text).toContain('$TagBackoff = "$StateDir\\tag-backoff"');
    // The check, and the worker again under the lock: after "already registered", before the
    // activation is read.
    for (const fn of ['Invoke-Check', 'Invoke-Registration']) {
      const backoff = call(f, fn, 'Test-TagBackoff').node;
      expect(before(call(f, fn, 'Get-OwnHubNode').node, backoff), fn).toBe(true);
      expect(before(backoff, call(f, fn, 'Read-Activation').node), fn).toBe(true);
    }
    // 2^(k-1)-1 hours (at most 23) after the k-th failure in a row, k >= 2; exit 7, nothing changed.
    const test = s(f).fn('Test-TagBackoff');
    expect(test.text).toContain('if ($k -lt 2) { return }');
    expect(test.text).toContain('$until = $at.AddHours([Math]::Min([Math]::Pow(2, $k - 1), 24) - 1)');
    const stop = call(f, 'Test-TagBackoff', 'Stop-WithError', '7');
    expect(conditionOf(guardingIf(stop.node)!)).toBe('$now -ge $at -and $now -lt $until');
    expect(stop.elements[1]).toMatch(/^"not registering until .*\(delete \$TagBackoff to try now\)"$/);
    // This instance's back-off only: a copied image's file is ignored.
    expect(s(f).fn('Get-TagBackoff').text).toContain("if ($i -eq $script:InstanceId -and $n -match '^[1-9]\\d{0,2}$')");
    // The worker: a failed tag counts one more before falling back; a tagged registration ends it.
    const write = call(f, 'Invoke-Registration', 'Set-Content', '$TagBackoff');
    expect(conditionOf(guardingIf(write.node)!)).toBe('-not (Set-TagPatiently $MiTag $mi)');
    expect(write.elements).toContain('"$id $k $([DateTime]::UtcNow.ToString(\'s\'))"');
    expect(s(f).fn('Invoke-Registration').text).toContain('$k = (Get-TagBackoff)[0] + 1');
    const failure = inFn(f, 'Invoke-Registration', 'Invoke-Failure').find((c) => before(write.node, c.node))!;
    expect(guardingIf(failure.node)!.startIndex).toBe(guardingIf(write.node)!.startIndex);
    const done = call(f, 'Invoke-Registration', 'Remove-Item', '$TagBackoff').node;
    expect(guardingIf(done)).toBeUndefined();
    expect(before(call(f, 'Invoke-Registration', 'Remove-Item', '$Pending').node, done)).toBe(true);
  });
});
