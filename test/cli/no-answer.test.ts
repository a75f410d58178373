// Every command that calls AWS, pointed at an endpoint that accepts and never answers, stops
// within 30 s with exit code 1 and a message naming the service, the operation and the timeout.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main as status } from '../../scripts/ops/status.ts';
import { main as onboard } from '../../scripts/ops/onboard.ts';
import { main as offboard } from '../../scripts/ops/offboard.ts';
import { main as rollout } from '../../scripts/ops/rollout.ts';
import { main as publish } from '../../scripts/ops/publish.ts';
import { main as deploy } from '../../scripts/ops/deploy.ts';
import { main as run } from '../../scripts/ops/run.ts';
import { startSilentEndpoint, type SilentEndpoint } from '../../testing/helpers/silent-endpoint.ts';
import { makeGenerated, testContext } from './helpers.ts';

let silent: SilentEndpoint;
beforeAll(async () => {
  silent = await startSilentEndpoint();
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await silent.close();
});

const A = '111111111111';
type Main = (argv: string[], ctx: ReturnType<typeof testContext>) => Promise<number>;

describe('an endpoint that accepts and never answers', () => {
  it('ends every AWS-facing command within 30 s with exit 1, naming the service and the timeout', async () => {
    // The SDK reads the endpoint and credentials from the process environment (AWS SDK
    // "Service-specific endpoints" and "Credential provider chain").
    vi.stubEnv('AWS_ENDPOINT_URL', silent.url);
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAIOSFODNN7EXAMPLE');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    const gen = makeGenerated();
    const runs: Array<[string, Main, string[]]> = [
      ['status', status, ['--json']],
      ['onboard', onboard, ['--agencies', A, '--generated-dir', gen]],
      ['offboard', offboard, ['--agencies', A, '--yes']],
      ['rollout', rollout, ['--ou', 'ou-ab12-cdef3456', '--regions', 'us-east-1', '--generated-dir', gen]],
      ['deploy', deploy, ['--yes', '--generated-dir', gen]],
      ['publish', publish, ['--bucket', 'acme-templates-{region}', '--regions', 'us-east-1', '--generated-dir', gen]],
      ['run', run, ['--document', 'AWS-RunShellScript', '--agency', A, '--yes']],
    ];
    const results = await Promise.all(
      runs.map(async ([name, main, argv]) => {
        const ctx = testContext();
        const started = Date.now();
        const code = await main(argv, ctx);
        return { name, code, ms: Date.now() - started, text: ctx.stdoutText() + ctx.stderrText() };
      }),
    );
    for (const r of results) {
      expect(r.code, `${r.name}: ${r.text}`).toBe(1);
      expect(r.ms, r.name).toBeLessThan(30_000);
      expect(r.text, r.name).toMatch(
        /(CloudFormation|STS|SSM|S3|DynamoDB|Organizations) \w+ to http:\/\/127\.0\.0\.1:\d+: timeout/,
      );
    }
    expect(silent.connections()).toBeGreaterThan(0);
  }, 60_000);
});

describe('no credentials at all', () => {
  it('makes status --json report the credential error, never NOT_FOUND', async () => {
    // Empty the credential chain (AWS SDK "Credential provider chain"): no keys, no profile files,
    // no instance metadata. The endpoint is the silent one, so nothing could leave the machine.
    vi.stubEnv('AWS_ENDPOINT_URL', silent.url);
    vi.stubEnv('AWS_ACCESS_KEY_ID', '');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', '');
    vi.stubEnv('AWS_SESSION_TOKEN', '');
    vi.stubEnv('AWS_PROFILE', '');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/credentials');
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/config');
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    vi.stubEnv('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', '');
    vi.stubEnv('AWS_CONTAINER_CREDENTIALS_FULL_URI', '');
    vi.stubEnv('AWS_WEB_IDENTITY_TOKEN_FILE', '');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    const ctx = testContext();
    const code = await status(['--json'], ctx);
    expect(code).toBe(1);
    const report = JSON.parse(ctx.stdoutText());
    expect(report.centralStack.status).toBe('UNREADABLE');
    expect(report.centralStack.error.kind).toBe('credentials');
    expect(JSON.stringify(report)).not.toContain('NOT_FOUND');
  }, 30_000);
});
