// shellcheck on every shell script that ships in a document, as it ships: joined with
// documents/lib/common.sh, and once more compacted (the text embedded in the document). CI
// installs shellcheck, so there a missing shellcheck is a failure; a machine outside CI without
// it skips loudly.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactScript, DOCUMENTS_DIR, joinScript, LIBRARIES } from '../../documents/index.ts';
import { documentScripts, shellcheckJoined } from '../../scripts/lint/joined.ts';

const SCRIPTS = documentScripts('.sh');
const available = spawnSync('shellcheck', ['--version']).status === 0;
// CI=true (GitHub Actions, most runners); an empty CI, "0" or "false" is not CI.
const inCi = !/^(|0|false)$/i.test(process.env['CI'] ?? '');

if (!available && !inCi) {
  console.warn(
    '\n*** shellcheck is not installed: the shell lint tests are SKIPPED. Install it (apt-get install shellcheck). ***\n',
  );
}

const shellcheck = (text: string) =>
  spawnSync('shellcheck', ['--shell=bash', '--severity=style', '--format=gcc', '-'], { input: text, encoding: 'utf8' });

describe.runIf(!available && inCi)('shellcheck in CI', () => {
  it('is installed (CI installs it; without it the shell scripts would go unchecked)', () => {
    expect.fail('shellcheck is not on PATH, but CI is set: install shellcheck (apt-get install shellcheck)');
  });
});

describe.skipIf(!available)('shellcheck', () => {
  it('finds the Linux document scripts to check', () => {
    expect(SCRIPTS).toEqual(['deregister-linux.sh', 'register-linux.sh']);
  });

  it('checks every line of the shared library inside a script that includes it', () => {
    const lib = readFileSync(join(DOCUMENTS_DIR, LIBRARIES.sh), 'utf8');
    for (const f of SCRIPTS) {
      expect(readFileSync(join(DOCUMENTS_DIR, f), 'utf8').split('\n')).toContain(`# @include ${LIBRARIES.sh}`);
    }
    // A function no script calls is left out of every joined script (libraryLinesToKeep), and so
    // would go unchecked: none may exist.
    const joined = SCRIPTS.map((f) => joinScript(f).split('\n'));
    const unchecked = lib
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('# shellcheck shell='))
      .filter((l) => !joined.some((lines) => lines.includes(l)));
    expect(unchecked).toEqual([]);
  });

  it.each(SCRIPTS)('%s, joined with its library, is clean', (f) => {
    const r = shellcheck(joinScript(f));
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });

  it.each(SCRIPTS)('%s, as embedded in the document (compacted), is clean', (f) => {
    const r = shellcheck(`#!/bin/bash\n${compactScript(joinScript(f)).join('\n')}\n`);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(0);
  });

  it('reports a problem planted in a script', () => {
    const r = spawnSync('shellcheck', ['--shell=bash', '--format=gcc', '-'], {
      input: '#!/usr/bin/env bash\nset -euo pipefail\nrm -rf $STATE_DIR/*\n',
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/SC2086/);
  });

  it('reports a problem planted in the library at its line in the library, once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssm-hub-lib-'));
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'lib/common.sh'), '# shellcheck shell=bash\nwipe() {\n  rm -rf $STATE_DIR/*\n}\n');
    for (const f of ['a.sh', 'b.sh']) {
      writeFileSync(join(dir, f), '#!/usr/bin/env bash\nset -euo pipefail\n# @include lib/common.sh\nwipe\n');
    }
    const findings = shellcheckJoined(['a.sh', 'b.sh'], dir).filter((x) => x.rule === 'SC2086');
    expect(findings.map((x) => [x.file, x.location])).toEqual([[join(dir, 'lib/common.sh'), '3:10']]);
  });
});
