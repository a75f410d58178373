// The global setup removes bundle folders left by runs that were killed before their teardown.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeStaleRuns } from '../../testing/helpers/global-setup.ts';

describe('the bundle folders of earlier test runs', () => {
  const root = mkdtempSync(join(tmpdir(), 'bundles-'));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('removes a folder whose run has ended and keeps one whose run is alive, and anything else', () => {
    // A process that has ended: its ID names no running process now.
    const ended = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    }).stdout;
    for (const name of [`run-${ended}`, `pid-${ended}`, `run-${process.pid}`, 'other']) mkdirSync(join(root, name));
    removeStaleRuns(root);
    expect(existsSync(join(root, `run-${ended}`))).toBe(false);
    expect(existsSync(join(root, `pid-${ended}`))).toBe(false);
    expect(existsSync(join(root, `run-${process.pid}`))).toBe(true);
    expect(existsSync(join(root, 'other'))).toBe(true);
  });
});
