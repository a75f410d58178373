// shellcheck on every shell script that ships in a document. CI installs shellcheck, so there a
// missing shellcheck is a failure; a machine outside CI without it skips loudly.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const DOCS = join(import.meta.dirname, '../../documents');
const SCRIPTS = readdirSync(DOCS).filter((f) => f.endsWith('.sh'));
const available = spawnSync('shellcheck', ['--version']).status === 0;
// CI=true (GitHub Actions, most runners); an empty CI, "0" or "false" is not CI.
const inCi = !/^(|0|false)$/i.test(process.env['CI'] ?? '');

if (!available && !inCi) {
  console.warn(
    '\n*** shellcheck is not installed: the shell lint tests are SKIPPED. Install it (apt-get install shellcheck). ***\n',
  );
}

describe.runIf(!available && inCi)('shellcheck in CI', () => {
  it('is installed (CI installs it; without it the shell scripts would go unchecked)', () => {
    expect.fail('shellcheck is not on PATH, but CI is set: install shellcheck (apt-get install shellcheck)');
  });
});

describe.skipIf(!available)('shellcheck', () => {
  it('finds the Linux document scripts to check', () => {
    expect(SCRIPTS.sort()).toEqual(['deregister-linux.sh', 'register-linux.sh']);
  });

  it.each(SCRIPTS)('%s is clean', (f) => {
    const r = spawnSync('shellcheck', ['--shell=bash', '--severity=style', '--format=gcc', join(DOCS, f)], {
      encoding: 'utf8',
    });
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
});
