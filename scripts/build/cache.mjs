// A content-addressed cache for the build's two esbuild steps (the launcher bundling the build's
// own TypeScript, and the Lambda bundles). Plain JavaScript: the launcher uses it before any
// TypeScript is loaded.
//
// An entry records every file esbuild read (its metafile inputs) and the outputs. It is used only
// when a fresh key over those same files matches: each file's content hash, the listing of each
// folder holding one (a new file could change how an import resolves), package-lock.json (the
// installed esbuild and packages, so their files are not read again), package.json and
// tsconfig.json, and the step's options. Any difference, a missing file or an
// unreadable entry means a miss, and the step runs as if there were no cache. So a hit returns
// exactly the bytes esbuild gave for the same inputs: the output stays deterministic.
// SSM_HUB_BUILD_CACHE=off turns it off (the bench times both ways).
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/** Whether the cache is on (anything but SSM_HUB_BUILD_CACHE=off). */
export const cacheEnabled = (env = process.env) => env.SSM_HUB_BUILD_CACHE !== 'off';

/**
 * The key of a step: its salt (options), package-lock.json, and for each input (a path relative
 * to root, sorted) its content and its folder's listing. Undefined when an input cannot be read.
 */
export function inputsKey(root, inputs, salt) {
  const hash = createHash('sha256').update(`salt\0${salt}\0`);
  try {
    // esbuild also reads these, and they are not among its metafile inputs: package.json (module
    // type, side effects), tsconfig.json (TypeScript settings) and package-lock.json (what is installed).
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json']) {
      hash.update(`${f}\0${sha256(readFileSync(join(root, f)))}\0`);
    }
    const folders = new Map();
    for (const input of [...inputs].sort()) {
      // An installed package changes only with package-lock.json, which is in the key already.
      if (input.startsWith('node_modules/')) {
        hash.update(`package file\0${input}\0`);
        continue;
      }
      const folder = dirname(input);
      if (!folders.has(folder)) folders.set(folder, readdirSync(join(root, folder)).sort().join('/'));
      hash.update(`file\0${input}\0${sha256(readFileSync(join(root, input)))}\0${folders.get(folder)}\0`);
    }
  } catch {
    return undefined;
  }
  return hash.digest('hex');
}

function readEntry(file) {
  try {
    const entry = JSON.parse(readFileSync(file, 'utf8'));
    if (Array.isArray(entry.inputs) && typeof entry.key === 'string' && entry.outputs) return entry;
  } catch {
    // No entry yet, or an unreadable one: a miss.
  }
  return undefined;
}

/**
 * The outputs of `run` for these inputs, from the cache when every recorded input is unchanged.
 * `run` returns { outputs: Record<string, string>, inputs: string[] } (inputs relative to root).
 */
export async function cachedStep(root, name, salt, run, env = process.env) {
  if (!cacheEnabled(env)) return (await run()).outputs;
  const dir = join(root, '.tmp', 'build-cache');
  const file = join(dir, `${name}.json`);
  const entry = readEntry(file);
  if (entry && inputsKey(root, entry.inputs, salt) === entry.key) return entry.outputs;
  const fresh = await run();
  const key = inputsKey(root, fresh.inputs, salt);
  if (key) {
    // Written beside it and renamed into place: a parallel build never reads half an entry.
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(tmp, JSON.stringify({ key, inputs: [...fresh.inputs].sort(), outputs: fresh.outputs }));
    renameSync(tmp, file);
  }
  return fresh.outputs;
}
