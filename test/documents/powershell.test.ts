// The Windows scripts cannot run here, so they are parsed (tree-sitter-powershell) and their
// structure is asserted from the syntax tree: which cmdlets they call, with which arguments.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  parsePowerShell,
  powerShellCommands,
  type PowerShellCommand,
  type PowerShellSyntaxError,
} from '../../scripts/lint/powershell.ts';

const DOCS = join(import.meta.dirname, '../../documents');
const FILES = ['register-windows.ps1', 'deregister-windows.ps1'] as const;
const source = (f: string) => readFileSync(join(DOCS, f), 'utf8');

type Parsed = { errors: PowerShellSyntaxError[]; commands: PowerShellCommand[] };
const parsed = new Map<string, Parsed>();

// Planted syntax errors, each in a copy of the real script.
function plant(f: string): Array<{ name: string; source: string; expectLine: number }> {
  const text = source(f);
  const lines = text.split('\n');
  const closing = lines.findIndex((l) => l === '}'); // end of the first function
  const stringLine = lines.findIndex((l) => l.includes("Write-Log 'worker started'"));
  const ifLine = lines.findIndex((l) => /^\s*if \(\$Mode -eq 'worker'\) \{ Invoke-Worker \}/.test(l));
  return [
    { name: `${f}:missing-brace`, source: lines.filter((_, i) => i !== closing).join('\n'), expectLine: 0 },
    {
      name: `${f}:unterminated-string`,
      source: lines.map((l, i) => (i === stringLine ? l.replace("'worker started'", "'worker started") : l)).join('\n'),
      expectLine: 0,
    },
    {
      name: `${f}:unclosed-paren`,
      source: lines.map((l, i) => (i === ifLine ? l.replace("-eq 'worker')", "-eq 'worker'") : l)).join('\n'),
      expectLine: ifLine + 1,
    },
  ];
}

beforeAll(async () => {
  const planted = FILES.flatMap(plant);
  // In-process: parsePowerShell keeps V8's wasm compiler on its fast tier, so this stays quick.
  for (const { name, source: text } of [...FILES.map((f) => ({ name: f, source: source(f) })), ...planted]) {
    parsed.set(name, { errors: (await parsePowerShell(text, name)).errors, commands: await powerShellCommands(text) });
  }
});

/** The commands named `name` inside `function fn { … }` (top-level functions end with a bare `}`), in order. */
function inFunction(f: string, fn: string, name?: string): PowerShellCommand[] {
  const lines = source(f).split('\n');
  const start = lines.findIndex((l) => l.startsWith(`function ${fn} `) || l.startsWith(`function ${fn}(`)) + 1;
  expect(start, fn).toBeGreaterThan(0);
  const end = lines.findIndex((l, i) => i >= start && l === '}') + 1;
  return commands(f).filter(
    (c) => c.line >= start && c.line <= end && (!name || c.name.toLowerCase() === name.toLowerCase()),
  );
}

/** Line of the first command named `name` inside function `fn`. */
function lineOf(f: string, fn: string, name: string, element?: string): number {
  const c = inFunction(f, fn, name).find((x) => !element || x.elements.includes(element));
  expect(c, `${fn}: ${name} ${element ?? ''}`).toBeDefined();
  return c!.line;
}

function commands(f: string): PowerShellCommand[] {
  return parsed.get(f)!.commands;
}
function named(f: string, name: string): PowerShellCommand[] {
  return commands(f).filter((c) => c.name.toLowerCase() === name.toLowerCase());
}

describe('PowerShell scripts', () => {
  it.each(FILES)('%s parses without syntax errors', (f) => {
    expect(parsed.get(f)!.errors).toEqual([]);
    expect(commands(f).length).toBeGreaterThan(20); // the parse really saw the script
  });

  it.each(FILES)('a syntax error planted in a copy of %s is caught, with its line', (f) => {
    for (const p of plant(f)) {
      const errors = parsed.get(p.name)!.errors;
      expect(errors.length, p.name).toBeGreaterThan(0);
      expect(errors[0]!.text).toContain(p.name);
      if (p.expectLine) expect(errors.map((e) => e.line)).toContain(p.expectLine);
      if (p.name.endsWith('missing-brace')) expect(errors.map((e) => e.text)).toContain(`${p.name}: missing }`);
    }
  });

  it('register-windows.ps1 reads IMDSv2 with a token', () => {
    const f = 'register-windows.ps1';
    const rest = named(f, 'Invoke-RestMethod');
    const put = rest.find((c) => c.elements.includes('Put'))!;
    expect(put.elements).toEqual(expect.arrayContaining(['-Method', 'Put', '"$Imds/latest/api/token"']));
    expect(put.elements.join(' ')).toContain("'X-aws-ec2-metadata-token-ttl-seconds' = '300'");
    const gets = rest.filter((c) => c !== put);
    expect(gets.map((c) => c.elements.find((e) => e.includes('/latest/meta-data/')))).toEqual([
      '"$Imds/latest/meta-data/instance-id"',
      '"$Imds/latest/meta-data/placement/region"',
    ]);
    for (const g of gets) expect(g.elements).toEqual(expect.arrayContaining(['-Headers', '$headers']));
  });

  it('register-windows.ps1 reads the activation as SecureStrings with the instance role, in the instance Region', () => {
    const [get] = named('register-windows.ps1', 'Get-SSMParameterValue');
    expect(get!.elements).toEqual(
      expect.arrayContaining([
        '-WithDecryption',
        '$true',
        '-Region',
        '$script:InstanceRegion',
        '-Credential',
        '$script:Credential',
      ]),
    );
    expect(source('register-windows.ps1')).toContain(
      'New-Object -TypeName Amazon.Runtime.InstanceProfileAWSCredentials',
    );
  });

  it('register-windows.ps1 names AWS Tools for PowerShell when it is missing', () => {
    const text = source('register-windows.ps1');
    expect(text).toMatch(/Stop-WithError 3 'AWS Tools for PowerShell is not installed/);
    expect(named('register-windows.ps1', 'Get-Module').length).toBeGreaterThanOrEqual(2);
  });

  it('register-windows.ps1 registers with -register -y -code -id -region and clears on failure', () => {
    const agent = commands('register-windows.ps1').filter((c) => c.invoked && c.name === '$AgentExe');
    expect(agent.map((c) => c.elements.filter((e) => !e.startsWith('2>')))).toEqual([
      ['-register', '-clear'],
      ['-register', '-y', '-code', '$script:ActivationCode', '-id', '$script:ActivationId', '-region', '$HubRegion'],
    ]);
    expect(source('register-windows.ps1')).toContain(
      "$AgentExe = Join-Path $env:ProgramFiles 'Amazon\\SSM\\amazon-ssm-agent.exe'",
    );
  });

  it('register-windows.ps1 stops, starts and restarts the AmazonSSMAgent service', () => {
    const f = 'register-windows.ps1';
    for (const cmd of ['Stop-Service', 'Start-Service', 'Restart-Service']) {
      expect(named(f, cmd).length, cmd).toBeGreaterThan(0);
      for (const c of named(f, cmd)) expect(c.elements.slice(0, 2)).toEqual(['-Name', '$AgentService']);
    }
    expect(source(f)).toContain("$AgentService = 'AmazonSSMAgent'");
  });

  it('register-windows.ps1 reads the mi- ID from the registration file and tags the instance with it', () => {
    const f = 'register-windows.ps1';
    expect(source(f)).toContain("Join-Path $env:ProgramData 'Amazon\\SSM\\InstanceData'");
    // Set-Tag puts the tag on this instance (splatted: Region, Credential, Resource).
    expect(source(f)).toContain(
      '$on = @{ Region = $script:InstanceRegion; Credential = $script:Credential; Resource = $script:InstanceId }',
    );
    expect(named(f, 'New-EC2Tag').map((c) => c.elements.join(' '))).toEqual([
      '@on -Tag @{ Key = $Key; Value = $Value }',
    ]);
    const setTags = named(f, 'Set-Tag').map((c) => c.elements.slice(0, 2).join(' '));
    expect(inFunction(f, 'Invoke-Worker', 'Set-Tag').map((c) => c.elements.join(' '))).toContain('$MiTag $mi');
    expect(setTags.some((t) => t.startsWith('$ErrorTag $text'))).toBe(true);
    expect(named(f, 'Get-Content').some((c) => c.elements.includes('$RegistrationFile'))).toBe(true);
  });

  it('register-windows.ps1 checks the opt-out tag right after IMDS, before reading the activation', () => {
    const f = 'register-windows.ps1';
    expect(source(f)).toContain('$OptOutTag = "${TagPrefix}registration-opt-out"');
    const optOut = lineOf(f, 'Invoke-Check', 'Get-Tag', '$OptOutTag');
    expect(optOut).toBeGreaterThan(lineOf(f, 'Invoke-Check', 'Read-Imds'));
    expect(optOut).toBeLessThan(lineOf(f, 'Invoke-Check', 'Read-Registration'));
    expect(optOut).toBeLessThan(lineOf(f, 'Invoke-Check', 'Read-Activation'));
    const lines = source(f).split('\n');
    expect(lines[optOut - 1]).toMatch(/^\s*if \(\$null -ne \(Get-Tag \$OptOutTag\)\) \{$/);
    expect(lines[optOut]).toContain('opted out of hub registration');
    expect(lines[optOut + 1]).toMatch(/^\s*exit 0$/);
    // Get-EC2Tag reads this instance's tag with the instance role.
    expect(named(f, 'Get-EC2Tag')[0]!.elements.join(' ')).toMatch(
      /-Region \$script:InstanceRegion -Credential \$script:Credential -Filter .*'resource-id'; Values = \$script:InstanceId .*'key'; Values = \$Key/s,
    );
  });

  it('register-windows.ps1 restores a lost tag from the registration file instead of registering again', () => {
    const f = 'register-windows.ps1';
    const restore = lineOf(f, 'Invoke-Check', 'Set-Tag', '$MiTag');
    expect(inFunction(f, 'Invoke-Check', 'Set-Tag')[0]!.elements).toEqual(['$MiTag', '$mi']);
    expect(restore).toBeLessThan(lineOf(f, 'Invoke-Check', 'Read-Activation'));
    expect(source(f)).toMatch(
      /\$note = 'tag restored'\n\s*\}\n\s*Write-Log "already registered as \$mi in \$HubRegion; \$note"\n\s*exit 0/,
    );
    // Only when the registration is this instance's own: a copied image registers anew.
    expect(source(f)).toContain("$Mark = Join-Path $StateDir 'registered-instance'");
    expect(source(f)).toContain(
      '(-not (Test-Path -LiteralPath $Mark) -or (Get-Content -LiteralPath $Mark -Raw).Trim() -eq $id)',
    );
    expect(inFunction(f, 'Invoke-Worker', 'Set-Content')[0]!.elements).toEqual([
      '-LiteralPath',
      '$Mark',
      '-Value',
      '$id',
    ]);
  });

  it('register-windows.ps1 sets Profile.ShareCreds false in the agent config after stopping the agent and before -register', () => {
    const f = 'register-windows.ps1';
    expect(source(f)).toContain("$Conf = Join-Path $env:ProgramFiles 'Amazon\\SSM\\amazon-ssm-agent.json'");
    const disable = lineOf(f, 'Invoke-Worker', 'Disable-ShareCreds');
    expect(disable).toBeGreaterThan(lineOf(f, 'Invoke-Worker', 'Stop-Service'));
    expect(disable).toBeLessThan(lineOf(f, 'Invoke-Worker', '$AgentExe', '-y'));
    const body = (name: string) => inFunction(f, 'Disable-ShareCreds', name);
    expect(body('Copy-Item')[0]!.elements).toEqual([
      '-LiteralPath',
      '$Conf',
      '-Destination',
      '$script:ConfBak',
      '-Force',
    ]);
    expect(body('Get-Content').map((c) => c.elements[1])).toEqual(['$Conf', '"$Conf.template"']);
    expect(body('ConvertFrom-Json')).toHaveLength(2);
    expect(body('Add-Member').map((c) => c.elements.join(' '))).toEqual([
      '-NotePropertyName Profile -NotePropertyValue ([pscustomobject] @{})',
      '-NotePropertyName ShareCreds -NotePropertyValue $false -Force',
    ]);
    // No BOM (Set-Content -Encoding UTF8 would write one): the agent's JSON parser refuses it.
    expect(source(f)).toContain('[IO.File]::WriteAllText($Conf, ($json | ConvertTo-Json -Depth 20))');
    // Invoke-Failure puts the original back, or removes the config it created.
    const failure = inFunction(f, 'Invoke-Failure');
    expect(failure.find((c) => c.name === 'Copy-Item')!.elements).toEqual([
      '-LiteralPath',
      '$script:ConfBak',
      '-Destination',
      '$Conf',
      '-Force',
    ]);
    expect(failure.find((c) => c.name === 'Remove-Item')!.elements).toEqual(['-LiteralPath', '$Conf', '-Force']);
    expect(source(f)).toMatch(/if \(\$script:ConfBak -eq '-'\) \{ Remove-Item/);
  });

  it('deregister-windows.ps1 tags the instance as opted out first, before stopping the agent and clearing, and when it was not registered', () => {
    const f = 'deregister-windows.ps1';
    expect(source(f)).toContain('$OptOutTag = "${TagPrefix}registration-opt-out"');
    expect(named(f, 'New-EC2Tag').map((c) => c.elements.join(' '))).toContain(
      "-Region $script:InstanceRegion -Credential $script:Credential -Resource $script:InstanceId -Tag @{ Key = $OptOutTag; Value = 'true' }",
    );
    // Once, and before anything changes: the agent is stopped and the registration cleared only after it.
    expect(inFunction(f, 'Invoke-Worker', 'Set-OptOut')).toHaveLength(1);
    const optOut = lineOf(f, 'Invoke-Worker', 'Set-OptOut');
    expect(optOut).toBeGreaterThan(lineOf(f, 'Invoke-Worker', 'Read-Imds'));
    expect(optOut).toBeLessThan(lineOf(f, 'Invoke-Worker', 'Stop-Service'));
    expect(optOut).toBeLessThan(lineOf(f, 'Invoke-Worker', '$AgentExe', '-clear'));
    expect(optOut).toBeLessThan(lineOf(f, 'Invoke-Worker', 'Start-Service'));
    expect(optOut).toBeLessThan(lineOf(f, 'Invoke-Worker', 'Remove-InstanceTag', '$MiTag'));
    expect(lineOf(f, 'Invoke-Check', 'Set-OptOut')).toBeLessThan(lineOf(f, 'Invoke-Check', 'Test-Agent'));
  });

  it('deregister-windows.ps1 stops with nothing changed when the opt-out tag cannot be written', () => {
    const f = 'deregister-windows.ps1';
    const lines = source(f).split('\n');
    const optOut = lineOf(f, 'Invoke-Worker', 'Set-OptOut');
    // Its failure goes straight to Invoke-Failure (which exits), before the agent is marked stopped.
    expect(lines[optOut - 1]!.trim()).toBe('try { Set-OptOut } catch {');
    const failure = inFunction(f, 'Invoke-Worker', 'Invoke-Failure').find((c) => c.line > optOut)!;
    expect(failure.line).toBe(optOut + 1);
    expect(failure.elements.join(' ')).toContain(
      '(ec2:CreateTags); the registration and the agent were left unchanged',
    );
    const stopped = lines.findIndex((l) => l.trim() === '$script:AgentStopped = $true') + 1;
    expect(stopped).toBeGreaterThan(optOut);
    expect(stopped).toBeLessThan(lineOf(f, 'Invoke-Worker', 'Stop-Service'));
    // Invoke-Failure starts only an agent this worker stopped, and it exits non-zero.
    const start = lineOf(f, 'Invoke-Failure', 'Start-Service');
    expect(lines[start - 2]!.trim()).toBe('if ($script:AgentStopped) {');
    expect(source(f)).toContain('$script:AgentStopped = $false');
    expect(source(f)).toMatch(/Write-Log 'deregistration failed'\n\s*exit 1\n\}/);
  });

  it.each([
    ['register-windows.ps1', "'ssm-hub-register'"],
    ['deregister-windows.ps1', "'ssm-hub-deregister'"],
  ])('%s detaches its worker as a one-shot SYSTEM scheduled task', (f, taskName) => {
    expect(source(f)).toContain(`$TaskName = ${taskName}`);
    const [principal] = named(f, 'New-ScheduledTaskPrincipal');
    expect(principal!.elements).toEqual([
      '-UserId',
      "'SYSTEM'",
      '-LogonType',
      'ServiceAccount',
      '-RunLevel',
      'Highest',
    ]);
    const [register] = named(f, 'Register-ScheduledTask');
    expect(register!.elements).toEqual(
      expect.arrayContaining(['-TaskName', '$TaskName', '-Principal', '$principal', '-Force']),
    );
    expect(register!.elements).not.toContain('-Trigger');
    expect(named(f, 'Start-ScheduledTask')[0]!.elements).toEqual(['-TaskName', '$TaskName']);
    const [action] = named(f, 'New-ScheduledTaskAction');
    expect(action!.elements.join(' ')).toContain('-File `"$worker`" -Worker');
  });

  it('deregister-windows.ps1 clears the registration, restarts the agent and removes the tag', () => {
    const f = 'deregister-windows.ps1';
    const agent = commands(f).filter((c) => c.invoked && c.name === '$AgentExe');
    expect(agent.map((c) => c.elements.filter((e) => !e.startsWith('2>')))).toEqual([['-register', '-clear']]);
    expect(named(f, 'Stop-Service').length).toBeGreaterThan(0);
    expect(named(f, 'Start-Service').length).toBeGreaterThan(0);
    expect(named(f, 'Remove-EC2Tag')[0]!.elements.join(' ')).toContain('-Tag @{ Key = $Key }');
    expect(source(f)).toMatch(/Remove-InstanceTag \$MiTag/);
  });

  it.each(FILES)(
    '%s records the worker lock owner (PID and boot time) and takes over a lock whose owner is gone or from another boot',
    (f) => {
      const lines = source(f).split('\n');
      const lock = (name: string) => {
        const [c] = inFunction(f, 'Enter-Lock', name);
        expect(c, name).toBeDefined();
        return c!;
      };
      const at = (c: PowerShellCommand) => lines[c.line - 1]!.trim();
      // The owner: this process and this boot (100 ns units since 1601, UTC).
      expect(at(lock('Get-CimInstance'))).toBe(
        '$t = (Get-CimInstance Win32_OperatingSystem).LastBootUpTime.ToFileTime()',
      );
      expect(lock('Set-Content').elements).toEqual(['"$L\\owner"', '$PID, $t']);
      // A recorded owner that is still running, in this boot (within 2 minutes), keeps the lock: give up.
      expect(lock('Get-Content').elements).toEqual(['"$L\\owner"', '-ErrorAction', 'Ignore']);
      expect(at(lock('Get-Content'))).toBe('$p, $b = (Get-Content "$L\\owner" -ErrorAction Ignore) -as [long[]]');
      expect(lock('Get-Process').elements).toEqual(['-Id', '$p', '-ErrorAction', 'Ignore']);
      expect(at(lock('Get-Process'))).toBe(
        'if ([Math]::Abs($b - $t) -lt 12e8 -and (Get-Process -Id $p -ErrorAction Ignore)) { return $false }',
      );
      // Anything else left there is stale: logged, removed with its owner file, then taken afresh.
      expect(at(lock('Remove-Item'))).toBe(
        "if (Test-Path $L) { Write-Log 'removing a stale worker lock'; Remove-Item -LiteralPath $L -Recurse -Force }",
      );
      expect(lock('Remove-Item').line).toBeGreaterThan(lock('Get-Process').line);
      // Creating the directory is the atomic step: another worker that won the race keeps it.
      expect(at(lock('New-Item'))).toBe('try { $null = New-Item -ItemType Directory $L } catch { return $false }');
      expect(lock('New-Item').line).toBeGreaterThan(lock('Remove-Item').line);
      expect(lock('Set-Content').line).toBeGreaterThan(lock('New-Item').line);
      // Only $true or $false leaves the function: no cmdlet output on its pipeline.
      const body = lines.slice(lock('Get-CimInstance').line - 1, lock('Set-Content').line + 1);
      expect(body.at(-1)!.trim()).toBe('$true');
      for (const l of body) if (/New-Item/.test(l)) expect(l).toContain('$null = New-Item');
    },
  );

  it.each(FILES)(
    '%s takes the lock before any work, leaves a live worker alone, and removes the lock at the end',
    (f) => {
      const lines = source(f).split('\n');
      expect(source(f)).toContain('$lock = "$StateDir\\worker.lock"');
      const enter = lineOf(f, 'Invoke-Worker', 'Enter-Lock');
      expect(enter).toBeLessThan(lineOf(f, 'Invoke-Worker', 'Import-AwsTools'));
      expect(lines.slice(enter - 1, enter + 3).map((l) => l.trim())).toEqual([
        'if (!(Enter-Lock $lock)) {',
        "Write-Log 'another worker is running; leaving it to finish'",
        'exit 0',
        '}',
      ]);
      // In finally, so a worker that fails still frees the lock; -Recurse: it holds the owner file.
      const remove = inFunction(f, 'Invoke-Worker', 'Remove-Item').filter((c) => c.elements.includes('$lock'));
      expect(remove.map((c) => c.elements)).toEqual([
        ['-LiteralPath', '$lock', '-Recurse', '-Force', '-ErrorAction', 'SilentlyContinue'],
      ]);
      expect(lines[remove[0]!.line - 2]!.trim()).toBe('} finally {');
    },
  );

  it.each(FILES)('%s never writes the activation code to output, a log or a file', (f) => {
    const writers = /Write-(Log|Output|Host|Verbose|Information)|WriteLine|Add-Content|Set-Content|Out-File/;
    for (const line of source(f).split('\n')) {
      if (line.includes('ActivationCode')) expect(line, line).not.toMatch(writers);
    }
    expect(source(f)).not.toMatch(/Start-Transcript|Set-PSDebug/);
  });
});
