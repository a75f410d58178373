// The build cache (scripts/build/cache.mjs): an esbuild step's output is reused only while every
// file the step read, the folders holding them, package-lock.json and the options are unchanged.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cachedStep, cacheEnabled, inputsKey } from '../../scripts/build/cache.mjs';

const roots: string[] = [];
function project(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'ssm-hub-cache-'));
  roots.push(root);
  const base = { 'package.json': '{}', 'package-lock.json': '{}', 'tsconfig.json': '{}' };
  for (const [name, text] of Object.entries({ ...base, ...files })) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    writeFileSync(join(root, name), text);
  }
  return root;
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

const BASE = { 'src/a.ts': 'a', 'src/b.ts': 'b', 'node_modules/p/index.js': 'p' };
const INPUTS = ['src/a.ts', 'src/b.ts', 'node_modules/p/index.js'];

describe('inputsKey', () => {
  it.each<{ case: string; change: Record<string, string>; salt: string; same: boolean }>([
    { case: 'an input changes', change: { 'src/a.ts': 'a2' }, salt: 's', same: false },
    {
      case: 'a file is added beside an input (it could change how an import resolves)',
      change: { 'src/a.js': 'x' },
      salt: 's',
      same: false,
    },
    { case: 'package-lock.json changes', change: { 'package-lock.json': '{"v":2}' }, salt: 's', same: false },
    { case: 'tsconfig.json changes', change: { 'tsconfig.json': '{"v":2}' }, salt: 's', same: false },
    { case: 'package.json changes', change: { 'package.json': '{"type":"module"}' }, salt: 's', same: false },
    { case: 'the options (salt) change', change: {}, salt: 't', same: false },
    { case: 'a file elsewhere changes', change: { 'other/c.ts': 'c' }, salt: 's', same: true },
    { case: 'nothing changes', change: {}, salt: 's', same: true },
  ])('is $same when $case', ({ change, salt, same }) => {
    const before = inputsKey(project(BASE), INPUTS, 's');
    const after = inputsKey(project({ ...BASE, ...change }), INPUTS, salt);
    expect(after === before).toBe(same);
  });

  it('is undefined when an input is gone', () => {
    expect(inputsKey(project({ 'src/a.ts': 'a' }), ['src/a.ts', 'src/gone.ts'], 's')).toBeUndefined();
  });

  it('does not depend on the order the inputs are listed in', () => {
    const root = project(BASE);
    expect(inputsKey(root, [...INPUTS].reverse(), 's')).toBe(inputsKey(root, INPUTS, 's'));
  });
});

describe('cachedStep', () => {
  const step = (root: string) => {
    const run = vi.fn(async () => ({ outputs: { out: `built from ${INPUTS.length} files` }, inputs: INPUTS }));
    return { run, call: (env: NodeJS.ProcessEnv = {}) => cachedStep(root, 'step', 's', run, env) };
  };

  it('runs the step once and then answers from the cache while nothing changed', async () => {
    const root = project(BASE);
    const { run, call } = step(root);
    expect(await call()).toEqual({ out: 'built from 3 files' });
    expect(await call()).toEqual({ out: 'built from 3 files' });
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('runs the step again after an input changed', async () => {
    const root = project(BASE);
    const { run, call } = step(root);
    await call();
    writeFileSync(join(root, 'src/b.ts'), 'b2');
    await call();
    expect(run).toHaveBeenCalledTimes(2);
  });

  it('treats an unreadable entry as a miss', async () => {
    const root = project(BASE);
    const { run, call } = step(root);
    mkdirSync(join(root, '.tmp/build-cache'), { recursive: true });
    writeFileSync(join(root, '.tmp/build-cache/step.json'), '{ half');
    expect(await call()).toEqual({ out: 'built from 3 files' });
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('is off with SSM_HUB_BUILD_CACHE=off', async () => {
    const root = project(BASE);
    const { run, call } = step(root);
    await call({ SSM_HUB_BUILD_CACHE: 'off' });
    await call({ SSM_HUB_BUILD_CACHE: 'off' });
    expect(run).toHaveBeenCalledTimes(2);
    expect(cacheEnabled({ SSM_HUB_BUILD_CACHE: 'off' })).toBe(false);
    expect(cacheEnabled({})).toBe(true);
  });
});

describe('the operator CLI bundle step', () => {
  it('keys its cache entry on the CLI sources and on cli-bundle.mjs itself, which writes the stubs', async () => {
    const { PROJECT_ROOT } = await import('../../contract/project.ts');
    const { renderCliBundle } = await import('../../scripts/build/cli-bundle.mjs');
    const { inputs } = await renderCliBundle(PROJECT_ROOT);
    expect(inputs).toContain('scripts/cli.ts');
    expect(inputs).toContain('scripts/build/cli-bundle.mjs');
    // The dev-command stubs are esbuild's own namespace, not files: a key over them could never be made.
    expect(inputs.filter((f) => f.includes(':'))).toEqual([]);
    expect(inputsKey(PROJECT_ROOT, inputs, 'salt')).toMatch(/^[0-9a-f]{64}$/);
  });
});
