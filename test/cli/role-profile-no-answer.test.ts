// A role profile (role_arn + source_profile) whose STS endpoint accepts and never answers: the
// credential provider's own STS client has the CLI's timeouts, so the command still ends within
// 30 s with exit 1, and the error names STS AssumeRole, not the call that needed the credentials.
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main as status } from '../../scripts/ops/status.ts';
import { startSilentEndpoint, type SilentEndpoint } from '../../testing/helpers/silent-endpoint.ts';
import { testContext } from './helpers.ts';

let silent: SilentEndpoint;
beforeAll(async () => {
  silent = await startSilentEndpoint();
});
afterEach(() => {
  vi.unstubAllEnvs();
});
afterAll(async () => {
  await silent.close();
});

/** Shared config and credentials files with a role profile `ops` whose source is `base` (AWS CLI file format). */
function roleProfileFiles(): void {
  const dir = mkdtempSync(join(tmpdir(), 'ssm-hub-role-'));
  const config = join(dir, 'config');
  const credentials = join(dir, 'credentials');
  writeFileSync(
    config,
    [
      '[profile ops]',
      'role_arn = arn:aws:iam::111111111111:role/central-it-operator',
      'source_profile = base',
      'region = us-east-1',
      '[profile base]',
      'region = us-east-1',
      '',
    ].join('\n'),
  );
  writeFileSync(
    credentials,
    '[base]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n',
  );
  vi.stubEnv('AWS_CONFIG_FILE', config);
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', credentials);
}

it.each([
  { case: 'chosen with --profile', argv: ['--json', '--profile', 'ops'], env: {} },
  // With AWS_PROFILE set, the SDK's default chain skips the environment keys (credential-provider-node
  // defaultProvider: "AWS_PROFILE is set, skipping fromEnv provider").
  { case: 'chosen with AWS_PROFILE', argv: ['--json'], env: { AWS_PROFILE: 'ops' } },
])(
  'status with a role profile $case ends within 30 s with exit 1, naming STS AssumeRole',
  async ({ argv, env }) => {
    roleProfileFiles();
    vi.stubEnv('AWS_ENDPOINT_URL', silent.url);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
    const before = silent.connections();
    const ctx = testContext();
    const started = Date.now();
    const code = await status(argv, ctx);
    const text = ctx.stdoutText() + ctx.stderrText();
    expect(code, text).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(text).toMatch(/STS AssumeRole to http:\/\/127\.0\.0\.1:\d+: timeout/);
    expect(silent.connections()).toBeGreaterThan(before);
  },
  60_000,
);
