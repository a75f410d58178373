// The README's CLI section, claim by claim. Claims shown elsewhere name their test:
// - no hang within 30 s, naming service and operation: test/cli/no-answer.test.ts
// - --dry-run sends only reads; aws://ACCOUNT/REGION first: test/cli/dry-run.test.ts,
//   test/cli/deploy.test.ts, test/cli/uninstall.test.ts
// - deploy's table, confirmation and events: test/cli/deploy.test.ts
// - doctor's checks: test/cli/doctor.test.ts; nodes' states and filters: test/cli/nodes.test.ts;
//   rejections recorded in the caller's row: test/lambda/tag-manager/rejections.test.ts;
//   per-agency rows not counted as nodes: test/cli/status.test.ts
// - status: ListNodesSummary, the table comparison and failure kinds: test/cli/status*.test.ts
// - --help from the option specs, exit code 2 before any AWS call: test/cli/usage.test.ts
// - the clean-clone install: the CI step in .ci/run
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { list, parseOptions, PROJECT_ROOT, text, type CommandSpec } from '../../scripts/kit/index.ts';
import * as v from '../../scripts/kit/validate.ts';
import { HTTP_LIMITS } from '../../scripts/ops/aws.ts';
import { bucketPolicy, main as publish } from '../../scripts/ops/publish.ts';
import { makeGenerated, testContext } from './helpers.ts';

const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
const bullet = (title: string) => {
  const start = readme.indexOf(`- **${title}**`);
  expect(start, title).toBeGreaterThan(0);
  return readme.slice(start, readme.indexOf('\n- **', start + 5));
};

describe('README CLI section', () => {
  it('lists as AWS commands exactly those whose options include --profile, --region, --json and --output', async () => {
    const named = [...bullet('The AWS commands').matchAll(/`([a-z]+)`/g)].map((m) => m[1]!);
    const all = [
      'publish',
      'deploy',
      'onboard',
      'offboard',
      'rollout',
      'status',
      'nodes',
      'doctor',
      'uninstall',
      'build',
      'lint',
      'bench',
    ];
    const aws: string[] = [];
    for (const name of all) {
      const dir = ['build', 'lint', 'bench'].includes(name) ? name : 'ops';
      const mod = (await import(`../../scripts/${dir}/${dir === 'ops' ? name : 'index'}.ts`)) as { spec: CommandSpec };
      const opts = new Set(mod.spec.options.map((o) => o.name));
      if (['profile', 'region', 'json', 'output'].every((o) => opts.has(o))) aws.push(name);
    }
    expect(named.filter((n) => all.includes(n)).sort()).toEqual(aws.sort());
    expect(aws).not.toContain('build');
    expect(aws).not.toContain('lint');
  });

  it('states the timeouts and attempts the clients use', () => {
    expect(bullet('No hang.')).toContain(
      `after ${HTTP_LIMITS.connectionTimeoutMs / 1000} s and on a silent socket after\n  ${HTTP_LIMITS.socketTimeoutMs / 1000} s, and makes at most ${HTTP_LIMITS.maxAttempts} attempts`,
    );
  });

  it('accumulates repeated list flags and refuses any other flag given twice', () => {
    const options = [
      list('agencies', { arg: 'A', help: 'h', check: v.accountIds }),
      text('profile', { arg: 'N', help: 'h' }),
    ] as const;
    const { values } = parseOptions('x', options, ['--agencies', '111111111111', '--agencies', '222222222222']);
    expect(values.agencies).toEqual(['111111111111', '222222222222']);
    expect(() => parseOptions('x', options, ['--profile', 'a', '--profile', 'b'])).toThrow(/given 2 times/);
  });

  it('exits 2 for a bad build.config.json, naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssm-hub-bad-config-'));
    writeFileSync(join(dir, 'bad.json'), '{"namePrefix": 5}');
    const r = spawnSync(
      process.execPath,
      [join(PROJECT_ROOT, 'scripts/build/run.mjs'), '--config', join(dir, 'bad.json'), '--check'],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--config: .*bad\.json is invalid: namePrefix: /);
  });

  it('prints exactly one policy on stdout for one Region, so > policy.json is valid JSON', async () => {
    const ctx = testContext();
    const gen = makeGenerated();
    const code = await publish(
      [
        '--print-bucket-policy',
        '--bucket',
        'acme-ssm-hub-templates-{region}',
        '--regions',
        'us-east-1',
        '--org-id',
        'o-abcdefghij',
        '--generated-dir',
        gen,
      ],
      ctx,
    );
    expect(code).toBe(0);
    expect(JSON.parse(ctx.stdoutText())).toEqual(
      bucketPolicy('acme-ssm-hub-templates-us-east-1', 'us-east-1', 'ssm-hub', 'o-abcdefghij'),
    );
    expect(ctx.stderrText()).toContain('bucket policy for acme-ssm-hub-templates-us-east-1');
  });

  it('is right that plain npm run prints a banner on stdout and npm run --silent does not', () => {
    const run = (...args: string[]) =>
      spawnSync('npm', args, {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, npm_config_loglevel: '' },
      });
    const version = `${JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')).name} `;
    const loud = run('run', 'hub', '--', '--version');
    expect(loud.stdout.trimStart().startsWith('>')).toBe(true);
    const quiet = run('run', '--silent', 'hub', '--', '--version');
    expect(quiet.stdout.startsWith(version)).toBe(true);
  });
});
