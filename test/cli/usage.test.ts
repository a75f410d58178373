// Every subcommand refuses bad input with a message naming the flag and the rule, exit code 2,
// before any AWS call; and --help works everywhere.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, type CommandSpec, type Context } from '../../scripts/kit/index.ts';
import * as publish from '../../scripts/ops/publish.ts';
import * as onboard from '../../scripts/ops/onboard.ts';
import * as offboard from '../../scripts/ops/offboard.ts';
import * as rollout from '../../scripts/ops/rollout.ts';
import * as status from '../../scripts/ops/status.ts';
import * as deploy from '../../scripts/ops/deploy.ts';
import * as uninstall from '../../scripts/ops/uninstall.ts';
import * as nodes from '../../scripts/ops/nodes.ts';
import * as doctor from '../../scripts/ops/doctor.ts';
import { makeGenerated, mockAll, testContext } from './helpers.ts';

const COMMANDS: Record<string, { spec: CommandSpec; main: (argv: string[], ctx: Context) => Promise<number> }> = {
  publish,
  onboard,
  offboard,
  rollout,
  status,
  deploy,
  uninstall,
  nodes,
  doctor,
};

let mocks: ReturnType<typeof mockAll>;
let gen: string;
beforeAll(() => {
  mocks = mockAll();
  gen = makeGenerated();
});
afterAll(() => mocks.restore());

const OU = 'ou-abcd-12345678';
const BAD: Array<[string, string[], RegExp]> = [
  ['publish', [], /--bucket is required/],
  [
    'publish',
    ['--bucket', 'My_Bucket'],
    /--bucket: bucket name "My_Bucket" may contain only lowercase letters, digits, dots and hyphens/,
  ],
  ['publish', ['--bucket', 'ab'], /--bucket: bucket name "ab" must be 3–63 characters long/],
  ['publish', ['--bucket', '192.168.10.1'], /--bucket: .* must not be formatted as an IP address/],
  [
    'publish',
    ['--bucket', 'hub-{region}', '--regions', 'us-east-1,moon-base-1'],
    /--regions: "moon-base-1" is not an AWS Region name/,
  ],
  ['publish', ['--bucket', 'hub-{account}'], /--bucket: "hub-\{account\}" may only use the placeholder \{region\}/],
  [
    'publish',
    ['--bucket', 'good-bucket', '--prefix', '/abs/path'],
    /--prefix: "\/abs\/path" must not start or end with "\/"/,
  ],
  [
    'publish',
    ['--bucket', 'good-bucket', '--prefix', 'a/../b'],
    /--prefix: .* must not contain empty, "\." or "\.\." segments/,
  ],
  ['publish', ['--dry-run', '--validate'], /--dry-run and --validate cannot be used together/],
  [
    'publish',
    ['--print-bucket-policy', '--bucket', 'good-bucket', '--org-id', 'o-BAD'],
    /--org-id: "o-BAD" is not an organization ID/,
  ],
  [
    'publish',
    ['--bucket', 'good-bucket', '--bucket-owner', '12345'],
    /--bucket-owner: "12345" is not an AWS account ID \(exactly 12 digits\)/,
  ],
  ['publish', ['--bucket'], /--bucket needs a value/],
  [
    'publish',
    ['--bucket', 'good-bucket', '--sse', 'rot13'],
    /--sse: "rot13" is not allowed \(expected one of AES256, aws:kms\)/,
  ],
  [
    'publish',
    ['--dry-run', '--param', 'central-manager:Nope=1'],
    /--param: central-manager has no parameter Nope \(it declares: AlarmTopicArn\)/,
  ],
  [
    'publish',
    ['--dry-run', '--param', 'AlarmTopicArn=1'],
    /--param: "AlarmTopicArn=1" must look like TEMPLATE:NAME=VALUE/,
  ],
  ['onboard', [], /one of --agencies or --ou is required/],
  [
    'onboard',
    ['--agencies', '12345678901'],
    /--agencies: "12345678901" is not an AWS account ID \(exactly 12 digits\)/,
  ],
  ['onboard', ['--agencies', '111111111111,'], /--agencies: empty item/],
  ['onboard', ['--agencies', '111111111111', '--ou', OU], /--agencies and --ou cannot be used together/],
  ['onboard', ['--ou', 'ou-ABCD-1'], /--ou: "ou-ABCD-1" is not an organizational unit ID/],
  [
    'onboard',
    ['--agencies', '111111111111', '--concurrency', '0'],
    /--concurrency: 0 is out of range \(expected 1–20\)/,
  ],
  [
    'onboard',
    ['--agencies', '111111111111', '--registration-limit', '5000'],
    /--registration-limit: 5000 is out of range \(expected 1–1000\)/,
  ],
  [
    'onboard',
    ['--agencies', '111111111111', '--template-url', 'https://raw.githubusercontent.com/o/r/t.json'],
    /--template-url: must be an https:\/\/ Amazon S3 URL/,
  ],
  ['offboard', ['--agencies', '111111111111'], /offboard deletes stacks: pass --yes to confirm/],
  ['rollout', ['--ou', OU], /--regions is required/],
  ['rollout', ['--accounts', '111111111111', '--regions', 'us-east-1'], /--accounts alone needs --self-managed/],
  ['rollout', ['--self-managed', '--ou', OU, '--regions', 'us-east-1'], /--ou cannot be used with --self-managed/],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--failure-tolerance-count', '1', '--failure-tolerance-percentage', '10'],
    /--failure-tolerance-count and --failure-tolerance-percentage cannot be used together/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--max-concurrent-count', '2', '--max-concurrent-percentage', '10'],
    /--max-concurrent-count and --max-concurrent-percentage cannot be used together/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--max-concurrent-percentage', '150'],
    /--max-concurrent-percentage: 150 is out of range \(expected 1–100\)/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--failure-tolerance-count', 'two'],
    /--failure-tolerance-count: "two" is not a whole number/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--concurrency-mode', 'FAST'],
    /--concurrency-mode: "FAST" is not allowed \(expected one of STRICT_FAILURE_TOLERANCE, SOFT_FAILURE_TOLERANCE\)/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--region-order', 'eu-west-1'],
    /--region-order: eu-west-1 is not one of --regions/,
  ],
  [
    'rollout',
    ['--self-managed', '--accounts', '111111111111', '--regions', 'us-east-1', '--call-as', 'DELEGATED_ADMIN'],
    /--call-as DELEGATED_ADMIN works only with service-managed/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--skip-onboard', '--concurrency', '3'],
    /--concurrency configures onboarding and cannot be used with --skip-onboard/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--zero-touch', 'yes'],
    /--zero-touch: "yes" is not allowed \(expected one of true, false\)/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--execution-role-name', 'X'],
    /--execution-role-name is only used with --self-managed/,
  ],
  [
    'rollout',
    ['--self-managed', '--accounts', '111111111111', '--regions', 'us-east-1', '--auto-deployment', 'disabled'],
    /--auto-deployment is only used with service-managed StackSets/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--auto-deployment', 'off'],
    /--auto-deployment: "off" is not allowed \(expected one of enabled, enabled-retain-stacks, disabled\)/,
  ],
  [
    'rollout',
    ['--ou', Array.from({ length: 51 }, (_, i) => `ou-abcd-${10_000_000 + i}`).join(','), '--regions', 'us-east-1'],
    /--ou: 51 OUs given, but CreateStackInstances takes at most 50 in one operation; target a parent OU/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--param', 'EnableZeroTouchRegistration=maybe'],
    /--param: agency-registration parameter EnableZeroTouchRegistration must be one of true, false/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--param', 'NoSuchParameter=1'],
    /--param: no agency template declares a parameter NoSuchParameter \(agency-collector: CentralAccountId, .*; agency-registration: CentralRegion, .*\)/,
  ],
  [
    'rollout',
    [
      '--ou',
      OU,
      '--regions',
      'us-east-1',
      '--param',
      'AlarmEmail=a@example.org',
      '--param',
      'AlarmEmail=b@example.org',
    ],
    /--param: AlarmEmail is given twice/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--zero-touch', 'true', '--param', 'EnableZeroTouchRegistration=false'],
    /--param: EnableZeroTouchRegistration is already set by its own flag/,
  ],
  [
    'rollout',
    ['--ou', OU, '--regions', 'us-east-1', '--param', 'CentralRegion=eu-west-1'],
    /--param: set CentralRegion with --central-region/,
  ],
  ['status', ['--regions', 'us-east-1,US-EAST-2'], /--regions: "US-EAST-2" is not an AWS Region name/],
  ['status', ['--region', 'useast1'], /--region: "useast1" is not an AWS Region name/],
  ['status', ['--verbose'], /unknown option --verbose \(see ssm-hub status --help\)/],
  ['status', ['now'], /unexpected argument now/],
  ['status', ['--call-as', 'ADMIN'], /--call-as: "ADMIN" is not allowed/],
  ['deploy', ['--yes', '--param', 'x'], /--param: "x" must look like NAME=VALUE/],
  ['deploy', ['--yes', '--stack-name', '1bad'], /--stack-name: "1bad" is not a valid stack name/],
  ['deploy', [], /deploy changes the central stack: no terminal to confirm on, so pass --yes/],
  ['doctor', ['--regions', 'mars-1'], /--regions: "mars-1" is not an AWS Region name/],
  ['nodes', ['--status', 'ok'], /--status: "ok" is not allowed/],
  ['nodes', ['--json', '--output', 'table'], /--json and --output table cannot be used together/],
  ['uninstall', ['--nodes', 'all'], /--nodes: "all" is not allowed/],
  ['uninstall', ['--nodes', 'keep'], /uninstall removes the hub: no terminal to confirm on, so pass --yes/],
];

describe('bad input', () => {
  it.each(BAD)(
    '%s %j is refused with exit code 2 and a clear message, before any AWS call',
    async (name, argv, message) => {
      const ctx = testContext();
      const { spec, main } = COMMANDS[name]!;
      const fixture = spec.options.some((o) => o.name === 'generated-dir') ? ['--generated-dir', gen] : [];
      const code = await main([...argv, ...fixture], ctx);
      const err = ctx.stderrText();
      expect(err).toMatch(message);
      expect(err.startsWith(`ssm-hub ${name}: `)).toBe(true);
      expect(err).not.toMatch(/\n\s+at /); // no stack trace
      expect(code).toBe(2);
      expect(ctx.stdoutText()).toBe('');
      expect(mocks.totalCalls()).toBe(0);
    },
  );

  it('has a table of at least 15 bad invocations covering every subcommand', () => {
    expect(BAD.length).toBeGreaterThanOrEqual(15);
    expect(new Set(BAD.map(([n]) => n))).toEqual(new Set(Object.keys(COMMANDS)));
  });

  it('treats an invalid build.config.json as bad input naming the field', async () => {
    const ctx = testContext();
    const code = await status.main(['--config', join(gen, 'manifest.json')], ctx);
    expect(code).toBe(2);
    expect(ctx.stderrText()).toMatch(/--config: .*manifest\.json is invalid/);
    expect(mocks.totalCalls()).toBe(0);
  });
});

describe('--help', () => {
  it.each(Object.keys(COMMANDS))('ssm-hub %s --help lists every option and exits 0 without AWS', async (name) => {
    const ctx = testContext();
    const code = await COMMANDS[name]!.main(['--bogus', '--help'], ctx);
    expect(code).toBe(0);
    const text = ctx.stdoutText();
    expect(text.startsWith(`usage: ssm-hub ${name} `)).toBe(true);
    for (const o of [...COMMANDS[name]!.spec.options, { name: 'profile' }, { name: 'region' }, { name: 'json' }])
      expect(text).toContain(`--${o.name}`);
    expect(text).toContain('exit codes: 0 success, 1 AWS or operation failure, 2 bad usage or input');
    expect(mocks.totalCalls()).toBe(0);
  });

  it('works through the installed bin, and an unknown command exits 2', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [join(PROJECT_ROOT, 'scripts/bin/ssm-hub.mjs'), ...args], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { PATH: process.env.PATH },
      });
    const top = run('--help');
    expect(top.status).toBe(0);
    for (const c of ['build', 'lint', ...Object.keys(COMMANDS)])
      expect(top.stdout).toMatch(new RegExp(`^  ${c}\\s`, 'm'));
    const sub = run('rollout', '--help');
    expect(sub.status).toBe(0);
    expect(sub.stdout).toContain('--failure-tolerance-count');
    const bad = run('deploy-everything');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown command "deploy-everything"');
    const badFlag = run('onboard', '--agencies', '42');
    expect(badFlag.status).toBe(2);
    expect(badFlag.stderr).toContain('--agencies: "42" is not an AWS account ID');
  });

  it('keeps cli.ts free of static imports, so `build` never loads the AWS SDK', () => {
    const src = readFileSync(join(PROJECT_ROOT, 'scripts/cli.ts'), 'utf8');
    expect(src).not.toMatch(/^\s*import\s/m);
    expect(src).toMatch(/load: \(\) => import\('\.\/ops\/publish\.ts'\)/);
  });
});
