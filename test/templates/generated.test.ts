// The committed generated/ folder: what CI deploys and lints. The YAML files are only ever read by
// people and consoles, and the lint runs on the JSON, so each YAML must say exactly what its JSON
// twin says; and the manifest must describe the files as they are.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../../scripts/build/bundle.ts';
import { DOCUMENT_NAMES, TEMPLATE_NAMES } from '../../scripts/build/index.ts';

const generated = join(PROJECT_ROOT, 'generated');
const manifest = JSON.parse(readFileSync(join(generated, 'manifest.json'), 'utf8')) as {
  artifacts: Array<{ path: string; bytes: number; sha256: string }>;
};

describe('generated/', () => {
  it.each(manifest.artifacts.filter((a) => a.path.endsWith('.yaml')).map((a) => a.path))(
    '%s says exactly what its JSON twin says',
    (yamlPath) => {
      const yaml = parse(readFileSync(join(generated, yamlPath), 'utf8'), { version: '1.1' });
      const json = JSON.parse(readFileSync(join(generated, yamlPath.replace(/\.yaml$/, '.json')), 'utf8'));
      expect(yaml).toEqual(json);
    },
  );
  it('has a manifest whose sizes and hashes match the files', () => {
    // Each template and each stand-alone document as JSON and as YAML.
    expect(manifest.artifacts.length).toBe((TEMPLATE_NAMES.length + DOCUMENT_NAMES.length) * 2);
    expect(manifest.artifacts.length).toBe(14);
    for (const a of manifest.artifacts) {
      const content = readFileSync(join(generated, a.path));
      expect(content.length, a.path).toBe(a.bytes);
      expect(createHash('sha256').update(content).digest('hex'), a.path).toBe(a.sha256);
    }
  });
});
