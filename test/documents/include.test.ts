// The build joins a shared library into each document script in place of its include line.
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  joinScript,
  joinScriptWithOrigin,
  libraryFunctions,
  libraryLinesToKeep,
  mentions,
} from '../../documents/index.ts';

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ssm-hub-include-'));
  mkdirSync(join(dir, 'lib'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('joinScript', () => {
  it.each([
    [
      'a shell script',
      'x.sh',
      'lib/common.sh',
      '# shellcheck shell=bash\nhelper() { :; }\n',
      '#!/bin/bash\nhelper() { :; }\nhelper\n',
    ],
    [
      'a PowerShell script',
      'x.ps1',
      'lib/common.ps1',
      'function Helper { }\n',
      '#!/bin/bash\nfunction Helper { }\nhelper\n',
    ],
  ])('puts the library text in place of the include line in %s', (_label, file, lib, libText, expected) => {
    const dir = folder({ [lib]: libText, [file]: `#!/bin/bash\n# @include ${lib}\nhelper\n` });
    expect(joinScript(file, dir)).toBe(expected);
  });

  it('maps each joined line back to its file and line', () => {
    const dir = folder({
      'lib/common.sh': '# shellcheck shell=bash\na\nb\n',
      'x.sh': '#!/bin/bash\n# @include lib/common.sh\nc\n',
    });
    expect(joinScriptWithOrigin('x.sh', dir).origin).toEqual([
      { file: 'x.sh', line: 1 },
      { file: 'lib/common.sh', line: 2 },
      { file: 'lib/common.sh', line: 3 },
      { file: 'x.sh', line: 3 },
    ]);
  });

  it('leaves a script without an include line as it is', () => {
    const dir = folder({ 'x.sh': '#!/bin/bash\necho "# @include lib/common.sh"\n' });
    expect(joinScript('x.sh', dir)).toBe('#!/bin/bash\necho "# @include lib/common.sh"\n');
  });

  it.each([
    ['the other shell library', 'x.sh', '# @include lib/common.ps1', 'a .sh script can include only lib/common.sh'],
    ['another file', 'x.ps1', '# @include lib/other.ps1', 'a .ps1 script can include only lib/common.ps1'],
    ['an indented or altered include', 'x.sh', '  # @include  lib/common.sh', 'x.sh:2: an include line is exactly'],
  ])('refuses an include of %s', (_label, file, line, message) => {
    const dir = folder({ 'lib/common.sh': '', 'lib/common.ps1': '', [file]: `#!/bin/bash\n${line}\n` });
    expect(() => joinScript(file, dir)).toThrow(message);
  });

  it('refuses a library that includes another', () => {
    const dir = folder({ 'lib/common.sh': '# @include lib/common.sh\n', 'x.sh': '# @include lib/common.sh\n' });
    expect(() => joinScript('x.sh', dir)).toThrow('lib/common.sh:1: a library includes nothing');
  });
});

describe('library functions a script never calls are left out (libraryLinesToKeep)', () => {
  const PS_LIB = [
    '$Mode = 1',
    '# Logs one line.',
    'function Write-Log([string] $M) {',
    '  Write-Host $M',
    '}',
    'function Get-Tag { Write-Log x }',
    '# Sets a tag.',
    '# Two comment lines.',
    'function Set-Tag {',
    '  Get-Tag',
    '}',
    'function Set-TagPatiently {',
    '  Set-Tag',
    '}',
  ];
  const SH_LIB = [
    'export X=1',
    'log() { echo "$1"; }',
    '# dies',
    'die() {',
    '  log "$1"',
    '  exit 1',
    '}',
    'unused() {',
    '}',
  ];
  const kept = (lib: string[], script: string, ext: 'sh' | 'ps1') => {
    const keep = libraryLinesToKeep(lib, script.split('\n'), ext);
    return lib.filter((_, k) => keep[k]);
  };

  it.each([
    {
      case: 'a script that calls nothing keeps only the top-level lines',
      lib: PS_LIB,
      script: 'exit 0',
      ext: 'ps1' as const,
      expected: ['$Mode = 1'],
    },
    {
      case: 'a call keeps the function and, transitively, what it calls, with their comments',
      lib: PS_LIB,
      script: 'Set-Tag',
      ext: 'ps1' as const,
      expected: [
        '$Mode = 1',
        '# Logs one line.',
        'function Write-Log([string] $M) {',
        '  Write-Host $M',
        '}',
        'function Get-Tag { Write-Log x }',
        '# Sets a tag.',
        '# Two comment lines.',
        'function Set-Tag {',
        '  Get-Tag',
        '}',
      ],
    },
    {
      case: 'PowerShell names match in any case; a longer name is not its prefix',
      lib: PS_LIB,
      script: 'get-tag',
      ext: 'ps1' as const,
      expected: [
        '$Mode = 1',
        '# Logs one line.',
        'function Write-Log([string] $M) {',
        '  Write-Host $M',
        '}',
        'function Get-Tag { Write-Log x }',
      ],
    },
    {
      case: 'a bash call keeps the function and what it calls',
      lib: SH_LIB,
      script: 'die "no agent"',
      ext: 'sh' as const,
      expected: ['export X=1', 'log() { echo "$1"; }', '# dies', 'die() {', '  log "$1"', '  exit 1', '}'],
    },
    {
      case: 'bash names are case-sensitive',
      lib: SH_LIB,
      script: 'LOG x',
      ext: 'sh' as const,
      expected: ['export X=1'],
    },
  ])('$case', ({ lib, script, ext, expected }) => {
    expect(kept(lib, script, ext)).toEqual(expected);
  });

  it.each([
    ['Set-Tag', 'x; Set-Tag $a', 'ps1', true],
    ['Set-Tag', 'Set-TagPatiently $a', 'ps1', false],
    ['Set-Tag', '$Set-Tag', 'ps1', true],
    ['Get-Tag', 'New-Get-Tag', 'ps1', false],
    ['log', 'logger x', 'sh', false],
    ['log', 'x && log "y"', 'sh', true],
  ] as const)('mentions(%j) in %j (%s) is %s', (name, text, ext, expected) => {
    expect(mentions(text, name, ext)).toBe(expected);
  });

  it('refuses a library function defined twice or never closed', () => {
    expect(() => libraryFunctions(['function A {', '}', 'function a { }'], 'ps1')).toThrow(
      'function a is defined twice',
    );
    expect(() => libraryFunctions(['f() {', '  :'], 'sh')).toThrow('lib/common.sh:1: function f has no closing }');
  });

  it('leaves out of a joined script the library function it never calls', () => {
    const dir = folder({
      'lib/common.ps1': 'function Used { }\nfunction Unused {\n  Used\n}\n',
      'x.ps1': '# @include lib/common.ps1\nUsed\n',
    });
    expect(joinScript('x.ps1', dir)).toBe('function Used { }\nUsed\n');
  });

  it('ships the Windows deregistration without the register-only helpers, and the registration with them', () => {
    const dereg = joinScript('deregister-windows.ps1');
    const reg = joinScript('register-windows.ps1');
    for (const fn of ['Get-HubNode', 'Get-Tag', 'Set-TagPatiently']) {
      expect(dereg).not.toMatch(new RegExp(`^function ${fn}\\b`, 'm'));
      expect(reg).toMatch(new RegExp(`^function ${fn}\\b`, 'm'));
    }
    expect(dereg).toMatch(/^function Set-AgentState\b/m);
  });
});
