// --help of the operations commands comes from their option specs, and the CLI lists them.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/kit/index.ts';
import * as compliance from '../../scripts/ops/compliance.ts';
import * as run from '../../scripts/ops/run.ts';
import * as report from '../../scripts/ops/report.ts';
import { testContext } from './helpers.ts';

describe.each([
  { name: 'compliance', mod: compliance },
  { name: 'run', mod: run },
  { name: 'report', mod: report },
])('$name --help', ({ name, mod }) => {
  it('lists every option of its spec and exits 0', async () => {
    const ctx = testContext();
    expect(await mod.main(['--help'], ctx)).toBe(0);
    const help = ctx.stdoutText();
    expect(help).toContain(`usage: ssm-hub ${name} `);
    for (const o of mod.spec.options) expect(help).toContain(`--${o.name}`);
  });
});

describe('ssm-hub', () => {
  it('lists compliance, run and report among its commands', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'scripts', 'cli.ts'), '--help'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    for (const c of ['compliance', 'run', 'report']) expect(r.stdout).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
  });
});
