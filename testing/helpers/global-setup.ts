// Vitest global setup: one scratch folder per test run for the bundled handlers that tests load
// (testing/helpers/bundled.ts), removed when the run ends, so runs leave nothing in .tmp/bundles.
// A run killed before its teardown (a timeout, ^C) leaves its folder: the next run removes it.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../contract/project.ts';
import { BUNDLE_DIR_VARIABLE } from './bundled.ts';

/** True while a process with this ID runs (signal 0 only checks). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the folders of earlier runs whose process is gone. */
export function removeStaleRuns(root: string): void {
  for (const name of readdirSync(root)) {
    const pid = /^(?:run|pid)-(\d+)$/.exec(name)?.[1];
    if (pid && !running(Number(pid))) rmSync(join(root, name), { recursive: true, force: true });
  }
}

export default function setup(): () => void {
  const root = join(PROJECT_ROOT, '.tmp', 'bundles');
  const dir = join(root, `run-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  removeStaleRuns(root);
  // Test workers start after this and inherit the variable.
  process.env[BUNDLE_DIR_VARIABLE] = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
