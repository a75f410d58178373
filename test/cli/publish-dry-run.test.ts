// `publish --dry-run` must work on a fresh clone with no AWS account: these tests strip every
// credential source and prove that no AWS client is touched.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../scripts/ops/publish.ts';
import { PROJECT_ROOT } from '../../scripts/kit/index.ts';
import { makeGenerated, mockAll, sha256, testContext } from './helpers.ts';

describe('publish --dry-run', () => {
  let mocks: ReturnType<typeof mockAll>;
  beforeEach(() => {
    mocks = mockAll();
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_REGION'])
      vi.stubEnv(k, undefined);
  });
  afterEach(() => {
    mocks.restore();
    vi.unstubAllEnvs();
  });

  it('writes every object under its content-hash key and the link table, calling no AWS API', async () => {
    const gen = makeGenerated();
    const out = mkdtempSync(join(tmpdir(), 'dry-'));
    const ctx = testContext();
    ctx.env = {};
    const code = await main(
      [
        '--dry-run',
        '--generated-dir',
        gen,
        '--out',
        out,
        '--bucket',
        'hub-{region}',
        '--regions',
        'us-east-1,ap-southeast-2',
      ],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    expect(mocks.totalCalls()).toBe(0);
    const manifest = JSON.parse(readFileSync(join(gen, 'manifest.json'), 'utf8')).artifacts as Array<{
      path: string;
      sha256: string;
    }>;
    for (const bucket of ['hub-us-east-1', 'hub-ap-southeast-2']) {
      for (const a of manifest) {
        const file = join(out, bucket, 'ssm-hub', a.sha256, a.path.split('/')[1]!);
        expect(sha256(readFileSync(file))).toBe(a.sha256);
      }
    }
    const md = readFileSync(join(out, 'launch-links.md'), 'utf8');
    expect(md).toContain('## ap-southeast-2');
    expect(md).toContain('Dry run: nothing was uploaded');
    // The committed generated/ folder is not touched by a dry run.
    expect(existsSync(join(gen, 'launch-links.md'))).toBe(false);
  });

  it('runs through the real bin in a clean process with no credentials, no profile and no Region', () => {
    const gen = makeGenerated();
    const out = mkdtempSync(join(tmpdir(), 'dry-bin-'));
    const home = mkdtempSync(join(tmpdir(), 'home-'));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      AWS_CONFIG_FILE: join(home, 'nope-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'nope-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      // Any AWS call would go here and fail, so success proves none was made.
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    };
    const r = spawnSync(
      process.execPath,
      [join(PROJECT_ROOT, 'scripts/bin/ssm-hub.mjs'), 'publish', '--dry-run', '--generated-dir', gen, '--out', out],
      {
        env,
        cwd: home,
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('would upload 14, unchanged 0: s3://replace-with-your-bucket-us-east-1 (us-east-1)');
    expect(r.stdout).toContain(
      'https://us-east-1.console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacks/create/review?templateURL=',
    );
    expect(readdirSync(join(out, 'replace-with-your-bucket-us-east-1', 'ssm-hub'))).toHaveLength(14);
  });
});
