// The Windows scripts cannot run here, so they are parsed (tree-sitter-powershell) as they ship,
// joined with documents/lib/common.ps1, and their structure is asserted from the syntax tree:
// which cmdlets they call, with which arguments, in which function.
import { beforeAll, describe, expect, it } from 'vitest';
import { joinScript } from '../../documents/index.ts';
import { parsePowerShell, type PowerShellSyntaxError } from '../../scripts/lint/powershell.ts';
import { ancestor, before, exits, guardingIf, loadScript, tryPart, type Script } from './windows-ast.ts';

const FILES = ['register-windows.ps1', 'deregister-windows.ps1'] as const;
const scripts = new Map<string, Script>();
const errors = new Map<string, PowerShellSyntaxError[]>();
const s = (f: string) => scripts.get(f)!;

// Planted syntax errors, each in a copy of the joined script.
function plant(f: string): Array<{ name: string; source: string; expectLine: number }> {
  const lines = joinScript(f).split('\n');
  const closing = lines.findIndex((l) => l === '}'); // end of the first function
  const stringLine = lines.findIndex((l) => l.includes("Write-Log 'worker started'"));
  const ifLine = lines.findIndex((l) =>
    /^if \(\$args -contains '-Guard'\) \{ Invoke-Guard \} elseif \(\$Mode -eq 'worker'\) \{ Invoke-Worker/.test(l),
  );
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
  for (const f of FILES) {
    scripts.set(f, await loadScript(f));
    errors.set(f, (await parsePowerShell(joinScript(f), f)).errors);
    for (const p of plant(f)) errors.set(p.name, (await parsePowerShell(p.source, p.name)).errors);
  }
});

const inFn = (f: string, fn: string, name?: string) => s(f).calls(s(f).fn(fn), name);
const first = (f: string, fn: string, name: string, element?: string) => {
  const c = inFn(f, fn, name).find((x) => !element || x.elements.includes(element));
  expect(c, `${fn}: ${name} ${element ?? ''}`).toBeDefined();
  return c!.node;
};

describe('PowerShell scripts', () => {
  it.each(FILES)('%s parses without syntax errors once joined with its library', (f) => {
    expect(errors.get(f)).toEqual([]);
    expect(s(f).calls(s(f).root).length).toBeGreaterThan(20); // the parse really saw the script
    expect(s(f).text).toContain('function Set-AgentState('); // and the library in it
  });

  it.each(FILES)('a syntax error planted in a copy of %s is caught, with its line', (f) => {
    for (const p of plant(f)) {
      const found = errors.get(p.name)!;
      expect(found.length, p.name).toBeGreaterThan(0);
      expect(found[0]!.text).toContain(p.name);
      if (p.expectLine) expect(found.map((e) => e.line)).toContain(p.expectLine);
      if (p.name.endsWith('missing-brace')) expect(found.map((e) => e.text)).toContain(`${p.name}: missing }`);
    }
  });

  it.each(FILES)('%s reads IMDSv2 with a token', (f) => {
    const imds = inFn(f, 'Read-Imds', 'Invoke-Imds').map((c) => c.elements);
    expect(imds[0]).toEqual(["'PUT'", "'/latest/api/token'", "@{ 'X-aws-ec2-metadata-token-ttl-seconds' = '300' }"]);
    expect(imds.slice(1)).toEqual([
      ["'GET'", "'/latest/meta-data/instance-id'", '$headers'],
      ["'GET'", "'/latest/meta-data/placement/region'", '$headers'],
    ]);
  });

  it('register-windows.ps1 reads the activation as SecureStrings with the instance role, in the instance Region', () => {
    const [get] = s('register-windows.ps1').calls(s('register-windows.ps1').root, 'Get-SSMParameterValue');
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
    expect(inFn('register-windows.ps1', 'Import-AwsTools', 'New-Object')[0]!.elements).toEqual([
      '-TypeName',
      'Amazon.Runtime.InstanceProfileAWSCredentials',
    ]);
  });

  it.each(FILES)('%s names AWS Tools for PowerShell when it is missing', (f) => {
    const stop = inFn(f, 'Import-AwsTools', 'Stop-WithError');
    expect(stop.map((c) => c.elements[0])).toEqual(['3']);
    expect(stop[0]!.elements[1]).toMatch(/^"AWS Tools for PowerShell is not installed/);
    expect(inFn(f, 'Import-AwsTools', 'Get-Module')).toHaveLength(2);
  });

  it('register-windows.ps1 registers with -register -y -code -id -region and clears on failure', () => {
    const f = 'register-windows.ps1';
    const agent = s(f)
      .calls(s(f).root, '$AgentExe')
      .map((c) => c.elements.filter((e) => !e.startsWith('2>')));
    expect(agent).toEqual([
      ['-register', '-clear'],
      ['-register', '-y', '-code', '$script:ActivationCode', '-id', '$script:ActivationId', '-region', '$HubRegion'],
    ]);
    expect(s(f).text).toContain('$AgentExe = "$env:ProgramFiles\\Amazon\\SSM\\amazon-ssm-agent.exe"');
    expect(inFn(f, 'Invoke-Failure', 'Clear-Registration')).toHaveLength(1);
  });

  it.each(FILES)('%s tags only its own instance, with the instance role', (f) => {
    const setTag = s(f).fn('Set-Tag').text;
    expect(setTag).toContain(
      "$on = @{ Region = $script:InstanceRegion; Credential = $script:Credential; Resource = $script:InstanceId; ErrorAction = 'Stop' }",
    );
    expect(inFn(f, 'Set-Tag', 'New-EC2Tag').map((c) => c.elements.join(' '))).toEqual([
      '@on -Tag @{ Key = $Key; Value = $Value }',
    ]);
    // Nothing else writes tags, and nothing deletes one (the instance role has no ec2:DeleteTags).
    expect(s(f).calls(s(f).root, 'New-EC2Tag')).toHaveLength(1);
    expect(s(f).calls(s(f).root, 'Remove-EC2Tag')).toEqual([]);
    expect(s(f).text).not.toMatch(/Remove-EC2Tag|Remove-EC2Tags|ec2:DeleteTags\)/);
  });

  it('register-windows.ps1 checks the opt-out tag right after IMDS, before reading the activation', () => {
    const f = 'register-windows.ps1';
    expect(s(f).text).toContain('$OptOutTag = "${TagPrefix}registration-opt-out"');
    // The worker reads IMDS in Initialize-Worker, which Invoke-Worker runs before the work.
    expect(inFn(f, 'Initialize-Worker', 'Read-Imds')).toHaveLength(1);
    for (const fn of ['Invoke-Check', 'Invoke-Registration']) {
      const optOut = first(f, fn, 'Test-OptedOut');
      if (fn === 'Invoke-Check') expect(before(first(f, fn, 'Read-Imds'), optOut), fn).toBe(true);
      expect(before(optOut, first(f, fn, 'Get-OwnHubNode')), fn).toBe(true);
      expect(before(optOut, first(f, fn, 'Read-Activation')), fn).toBe(true);
    }
    expect(inFn(f, 'Test-OptedOut', 'Get-Tag')[0]!.elements).toEqual(['$OptOutTag']);
    expect(guardingIf(exits(s(f).fn('Test-OptedOut'), 0)[0]!)!.text).toMatch(
      /^if \(\(Get-Tag \$OptOutTag\) -eq 'true'\)/,
    );
    // Get-EC2Tag reads this instance's tag with the instance role (Get-Tag through Read-Tag).
    expect(inFn(f, 'Get-Tag', 'Read-Tag')[0]!.elements).toEqual(['$Key']);
    expect(inFn(f, 'Read-Tag', 'Get-EC2Tag')[0]!.elements.join(' ')).toMatch(
      /-Region \$script:InstanceRegion -Credential \$script:Credential -ErrorAction Stop -Filter .*'resource-id'; Values = \$script:InstanceId .*'key'; Values = \$Key/s,
    );
  });

  it('register-windows.ps1 restores a lost tag of its own hub node instead of registering again', () => {
    const f = 'register-windows.ps1';
    const restore = first(f, 'Invoke-Check', 'Set-Tag', '$MiTag');
    expect(inFn(f, 'Invoke-Check', 'Set-Tag')[0]!.elements).toEqual(['$MiTag', '$mi']);
    expect(before(restore, first(f, 'Invoke-Check', 'Read-Activation'))).toBe(true);
    expect(s(f).fn('Invoke-Check').text).toMatch(
      /\$note = 'tag restored'\n\s*\}\n\s*Write-Log "already registered as \$mi in \$HubRegion; \$note"\n\s*exit 0/,
    );
    // Only when the registration is this instance's own: a copied image registers anew.
    expect(s(f).text).toContain('$Mark = "$StateDir\\registered-instance"');
    expect(s(f).fn('Get-OwnHubNode').text).toContain(
      '(-not (Test-Path -LiteralPath $Mark) -or "$(Get-Content -LiteralPath $Mark -Raw)".Trim() -eq $script:InstanceId)',
    );
    expect(inFn(f, 'Invoke-Registration', 'Set-Content').find((c) => c.elements[1] === '$Mark')!.elements).toEqual([
      '-LiteralPath',
      '$Mark',
      '-Value',
      '$id',
    ]);
  });

  it('register-windows.ps1 sets Profile.ShareCreds false in the agent config after stopping the agent and before -register', () => {
    const f = 'register-windows.ps1';
    expect(s(f).text).toContain('$Conf = "$env:ProgramFiles\\Amazon\\SSM\\amazon-ssm-agent.json"');
    const write = first(f, 'Invoke-Registration', 'Write-AgentConfig');
    expect(before(first(f, 'Invoke-Registration', 'Set-AgentState', "'Stopped'"), write)).toBe(true);
    expect(before(write, first(f, 'Invoke-Registration', '$AgentExe', '-y'))).toBe(true);
    expect(inFn(f, 'Backup-AgentConfig', 'Copy-Item')[0]!.elements).toEqual([
      '-LiteralPath',
      '$Conf',
      '-Destination',
      '"$bak.tmp"',
      '-Force',
    ]);
    expect(inFn(f, 'New-AgentConfig', 'Get-Content').map((c) => c.elements[1])).toEqual(['$Conf', '"$Conf.template"']);
    expect(inFn(f, 'New-AgentConfig', 'Add-Member').map((c) => c.elements.join(' '))).toEqual([
      '-NotePropertyName Profile -NotePropertyValue ([pscustomobject] @{}) -Force',
      '-NotePropertyName ShareCreds -NotePropertyValue $false',
    ]);
    // No BOM (Set-Content -Encoding UTF8 would write one): the agent's JSON parser refuses it.
    expect(s(f).fn('Write-AgentConfig').text).toContain('[IO.File]::WriteAllText("$Conf.new", $Text)');
    // Invoke-Failure puts the original back, or removes the config it created.
    const failure = s(f).fn('Invoke-Failure');
    expect(s(f).calls(failure, 'Copy-Item')[0]!.elements.join(' ')).toBe(
      '-LiteralPath $script:ConfBak -Destination $Conf -Force',
    );
    expect(s(f).calls(failure, 'Remove-Item')[0]!.elements).toEqual(['-LiteralPath', '$Conf', '-Force']);
    expect(failure.text).toMatch(/if \(\$script:ConfBak -eq '-'\) \{ Remove-Item/);
  });

  it('deregister-windows.ps1 tags the instance as opted out first, before stopping the agent and clearing, and when it was not registered', () => {
    const f = 'deregister-windows.ps1';
    const optOuts = inFn(f, 'Invoke-Deregistration', 'Set-Tag').filter((c) => c.elements[0] === '$OptOutTag');
    expect(optOuts.map((c) => c.elements)).toEqual([['$OptOutTag', "'true'"]]);
    const optOut = optOuts[0]!.node;
    // IMDS is read in Initialize-Worker, which Invoke-Worker runs before the work.
    expect(inFn(f, 'Initialize-Worker', 'Read-Imds')).toHaveLength(1);
    for (const [name, element] of [
      ['Set-AgentState', "'Stopped'"],
      ['Clear-Registration', undefined],
      ['Set-AgentState', "'Running'"],
      ['Clear-Tag', '$MiTag'],
    ] as const) {
      expect(before(optOut, first(f, 'Invoke-Deregistration', name, element)), name).toBe(true);
    }
    expect(before(first(f, 'Invoke-Check', 'Complete-OptOut'), first(f, 'Invoke-Check', 'Test-Agent'))).toBe(true);
    expect(inFn(f, 'Complete-OptOut', 'Set-Tag').map((c) => c.elements)).toEqual([['$OptOutTag', "'true'"]]);
    expect(inFn(f, 'Complete-OptOut', 'Clear-Tag').map((c) => c.elements)).toEqual([['$MiTag']]);
  });

  it('deregister-windows.ps1 stops with nothing changed when the opt-out tag cannot be written', () => {
    const f = 'deregister-windows.ps1';
    const optOut = inFn(f, 'Invoke-Deregistration', 'Set-Tag').find((c) => c.elements[0] === '$OptOutTag')!.node;
    // Its failure goes straight to Invoke-Failure (which exits), before the agent is stopped.
    expect(tryPart(optOut)).toBe('try');
    const failure = s(f).calls(ancestor(optOut, 'try_statement')!, 'Invoke-Failure');
    expect(failure).toHaveLength(1);
    expect(tryPart(failure[0]!.node)).toBe('catch');
    expect(failure[0]!.elements.join(' ')).toContain(
      '(ec2:CreateTags); the registration and the agent were left unchanged',
    );
    expect(before(failure[0]!.node, first(f, 'Invoke-Deregistration', 'Set-AgentState', "'Stopped'"))).toBe(true);
    // Invoke-Failure starts only an agent this worker stopped, and it exits non-zero.
    const start = first(f, 'Invoke-Failure', 'Set-AgentState', "'Running'");
    expect(s(f).fn('Invoke-Failure').text).toContain(
      "if ($script:AgentStopped) {\n    try { Set-AgentState 'Running' }",
    );
    expect(before(start, exits(s(f).fn('Invoke-Failure'), 1)[0]!)).toBe(true);
    expect(s(f).text).toContain('$script:AgentStopped = $false');
  });

  it.each([
    ['register-windows.ps1', 'ssm-hub-register'],
    ['deregister-windows.ps1', 'ssm-hub-deregister'],
  ])('%s detaches its worker as a one-shot SYSTEM scheduled task', (f, prefix) => {
    expect(s(f).text).toContain('$TaskPrefix = "ssm-hub-$Job"');
    expect(s(f).text).toContain(`$Job = '${prefix.replace('ssm-hub-', '')}'`);
    expect(inFn(f, 'New-TaskPrincipal', 'New-ScheduledTaskPrincipal')[0]!.elements).toEqual([
      '-UserId',
      "'SYSTEM'",
      '-LogonType',
      'ServiceAccount',
      '-RunLevel',
      'Highest',
    ]);
    const [register] = inFn(f, 'Start-Worker', 'Register-ScheduledTask');
    expect(register!.elements).toEqual(
      expect.arrayContaining(['-TaskName', '$task', '-Principal', '(New-TaskPrincipal)', '-Force']),
    );
    expect(register!.elements).not.toContain('-Trigger');
    expect(inFn(f, 'Start-Worker', 'Start-ScheduledTask')[0]!.elements).toEqual(['-TaskName', '$task']);
    expect(inFn(f, 'Start-Worker', 'New-ScheduledTaskAction')[0]!.elements.join(' ')).toContain(
      '-File `"$worker`" -Worker',
    );
    expect(inFn(f, 'Invoke-Check', 'Start-Worker')).toHaveLength(1);
  });

  it('deregister-windows.ps1 clears the registration, restarts the agent and clears the tag', () => {
    const f = 'deregister-windows.ps1';
    expect(
      s(f)
        .calls(s(f).root, '$AgentExe')
        .map((c) => c.elements.filter((e) => !e.startsWith('2>'))),
    ).toEqual([['-register', '-clear']]);
    const clear = first(f, 'Invoke-Deregistration', 'Clear-Registration');
    expect(before(first(f, 'Invoke-Deregistration', 'Set-AgentState', "'Stopped'"), clear)).toBe(true);
    expect(before(clear, first(f, 'Invoke-Deregistration', 'Set-AgentState', "'Running'"))).toBe(true);
    expect(inFn(f, 'Invoke-Deregistration', 'Clear-Tag').map((c) => c.elements)).toEqual([['$MiTag'], ['$ErrorTag']]);
  });

  it.each(FILES)('%s never writes the activation code to output, a log or a file', (f) => {
    const writers = /Write-(Log|Output|Host|Verbose|Information)|WriteLine|Add-Content|Set-Content|Out-File/;
    for (const line of s(f).text.split('\n')) {
      if (line.includes('ActivationCode')) expect(line, line).not.toMatch(writers);
    }
    expect(s(f).text).not.toMatch(/Start-Transcript|Set-PSDebug/);
  });
});
