// The build joins a shared library into each document script in place of its include line.
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { joinScript, joinScriptWithOrigin } from '../../documents/index.ts';

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
