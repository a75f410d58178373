// Node-only helpers the build, the lint and the CLI share (never imported by a handler).
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root folder (this file is contract/project.ts). */
export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Hex sha256 of text or bytes, as manifest.json records each artifact. */
export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
