// SendCommand through the real SDK client against a loopback Run Command fake whose first answer
// comes after the client's 4 s socket timeout: SSM has created the command, the client gives up.
// run must not send it again (the SDK would: SendCommand takes no idempotency token); it finds the
// command by the token in its Comment and follows it.
import { afterEach, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { main as run } from '../../scripts/ops/run.ts';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { HTTP_LIMITS, makeClients } from '../../scripts/ops/aws.ts';
import { startRunCommandFake, type RunCommandFake } from '../../testing/fakes/run-command-fake.ts';
import { CALLER_ACCOUNT, testContext } from './helpers.ts';
import { A, B, mi, OWN } from './fleet-fixture.ts';

let fake: RunCommandFake | undefined;
const sts = mockClient(STSClient);
afterEach(async () => {
  await fake?.close();
  sts.reset();
});

it('sends a slow SendCommand once, then finds the command it created and follows it', async () => {
  sts.on(GetCallerIdentityCommand).resolves({ Account: CALLER_ACCOUNT });
  fake = await startRunCommandFake(
    [
      { id: mi(1), tags: { [OWN]: A } },
      { id: mi(2), tags: { [OWN]: B } },
      { id: mi(3), tags: { Name: 'central-it-own' } },
    ],
    { delayFirstSendMs: HTTP_LIMITS.socketTimeoutMs + 2_000 },
  );
  const ctx = testContext(new Date());
  const aws = { endpoint: fake.endpoint, credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x' } };
  ctx.awsConfig = { ssm: aws, tagging: aws };
  const code = await run(
    ['--yes', '--document', 'AWS-RunShellScript', '--agency', A, '--parameter', 'commands=x'],
    ctx,
  );
  expect(code, ctx.stderrText()).toBe(0);
  expect(fake.sendRequests()).toBe(1);
  expect(fake.commands).toHaveLength(1);
  expect(fake.commands[0]!.nodes).toEqual([mi(1)]);
  expect(ctx.stderrText()).toMatch(
    /SendCommand got no clear answer \(SSM SendCommand to http:\/\/127\.0\.0\.1:\d+: timeout: no answer within 4 s \(1 attempt\)\): looking for the command by its comment "ssm-hub run [0-9a-f]{12}"/,
  );
  expect(ctx.stdoutText()).toContain('command c-1: Success; 1 succeeded, 0 failed');
}, 30_000);

// The fake refuses a tag filter beside another filter type, as SSM does (DescribeInstanceInformation Filters).
it.each([{ agency: ['--agency', A] }, { agency: [] }])(
  'checks node IDs against an SSM that refuses mixed tag filters, and sends them (%j)',
  async ({ agency }) => {
    sts.on(GetCallerIdentityCommand).resolves({ Account: CALLER_ACCOUNT });
    fake = await startRunCommandFake([
      { id: mi(1), tags: { [OWN]: A } },
      { id: mi(2), tags: { [OWN]: B } },
    ]);
    const ctx = testContext(new Date());
    const aws = { endpoint: fake.endpoint, credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x' } };
    ctx.awsConfig = { ssm: aws, tagging: aws };
    const argv = ['--yes', '--document', 'AWS-RunShellScript', ...agency, '--target', `InstanceIds=${mi(1)}`];
    const code = await run(argv, ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(fake.commands.map((c) => c.nodes)).toEqual([[mi(1)]]);
  },
  30_000,
);

it("refuses another agency's node ID against the loopback SSM, and sends nothing", async () => {
  sts.on(GetCallerIdentityCommand).resolves({ Account: CALLER_ACCOUNT });
  fake = await startRunCommandFake([
    { id: mi(1), tags: { [OWN]: A } },
    { id: mi(2), tags: { [OWN]: B } },
  ]);
  const ctx = testContext(new Date());
  const aws = { endpoint: fake.endpoint, credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x' } };
  ctx.awsConfig = { ssm: aws, tagging: aws };
  const argv = ['--yes', '--document', 'AWS-RunShellScript', '--agency', A, '--target', `InstanceIds=${mi(2)}`];
  expect(await run(argv, ctx)).toBe(2);
  expect(ctx.stderrText()).toContain(`${mi(2)} is not a node of agency ${A} in SSM`);
  expect(fake.sendRequests()).toBe(0);
}, 30_000);

it('tries the next SendCommand after one timed out on the single-attempt client (no "not tried")', async () => {
  fake = await startRunCommandFake([{ id: mi(1), tags: { [OWN]: A } }], {
    delayFirstSendMs: HTTP_LIMITS.socketTimeoutMs + 2_000,
  });
  const ctx = testContext(new Date());
  const aws = { endpoint: fake.endpoint, credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x' } };
  ctx.awsConfig = { ssm: aws };
  const ssm = makeClients(ctx, undefined).ssmSingleAttempt('us-east-1');
  const input = { DocumentName: 'AWS-RunShellScript', InstanceIds: [mi(1)] };
  await expect(ssm.send(new SendCommandCommand(input))).rejects.toThrow('timeout: no answer within 4 s (1 attempt)');
  const second = await ssm.send(new SendCommandCommand(input));
  expect(second.Command?.CommandId).toBe('c-2');
  expect(fake.sendRequests()).toBe(2);
}, 30_000);

it('with 6 agencies and a slow first SendCommand, finds the first command, follows it, then sends the second', async () => {
  sts.on(GetCallerIdentityCommand).resolves({ Account: CALLER_ACCOUNT });
  const F = '666666666666';
  fake = await startRunCommandFake(
    [
      { id: mi(1), tags: { [OWN]: A } },
      { id: mi(6), tags: { [OWN]: F } },
    ],
    { delayFirstSendMs: HTTP_LIMITS.socketTimeoutMs + 2_000 },
  );
  const ctx = testContext(new Date());
  const aws = { endpoint: fake.endpoint, credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x' } };
  ctx.awsConfig = { ssm: aws, tagging: aws };
  const six = [A, B, '333333333333', '444444444444', '555555555555', F];
  const code = await run(['--yes', '--document', 'AWS-RunShellScript', '--agency', six.join(',')], ctx);
  expect(code, ctx.stderrText()).toBe(0);
  expect(fake.sendRequests()).toBe(2);
  expect(fake.commands.map((c) => c.nodes)).toEqual([[mi(1)], [mi(6)]]);
  expect(ctx.stdoutText()).toContain('command c-1: Success; 1 succeeded, 0 failed');
  expect(ctx.stdoutText()).toContain('command c-2: Success; 1 succeeded, 0 failed');
  expect(ctx.stderrText()).not.toContain('not tried');
}, 30_000);
