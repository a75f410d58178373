// Vitest global setup: one scratch folder per test run for the bundled handlers that tests load
// (testing/helpers/bundled.ts), removed when the run ends, so runs leave nothing in .tmp/bundles.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../contract/project.ts';
import { BUNDLE_DIR_VARIABLE } from './bundled.ts';

export default function setup(): () => void {
  const dir = join(PROJECT_ROOT, '.tmp', 'bundles', `run-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  // Test workers start after this and inherit the variable.
  process.env[BUNDLE_DIR_VARIABLE] = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
