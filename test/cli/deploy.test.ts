// deploy: the central stack through a change set, shown as a table, confirmed, executed and
// followed; --dry-run and a declined confirmation change nothing that stays.
import { describe, expect, it } from 'vitest';
import { main as deploy } from '../../scripts/ops/deploy.ts';
import { fakeCloudFormation } from './fake-cloudformation.ts';
import { CALLER_ACCOUNT, makeGenerated, mockAll, mocksEachTest, testContext } from './helpers.ts';

const mocks = mocksEachTest(mockAll);

const READ_ONLY = /^(Describe|List|Get)\w*Command$/;
const setUp = () => {
  const ctx = testContext();
  return { gen: makeGenerated(), ctx, fake: fakeCloudFormation(mocks.cfn, { now: ctx.now }) };
};

describe('deploy', () => {
  it('refuses to run without a terminal and without --yes, before any AWS call', async () => {
    const { gen, ctx } = setUp();
    ctx.interactive = false;
    expect(await deploy(['--generated-dir', gen], ctx)).toBe(2);
    expect(ctx.stderrText()).toContain('deploy changes the central stack: no terminal to confirm on, so pass --yes');
    expect(mocks.totalCalls()).toBe(0);
  });

  it('with --yes creates the stack through a change set, shows it as a table and follows its events', async () => {
    const { gen, ctx, fake } = setUp();
    const code = await deploy(
      ['--generated-dir', gen, '--yes', '--param', 'AlarmTopicArn=arn:aws:sns:us-east-1:1:t'],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const err = ctx.stderrText();
    expect(err).toContain(`aws://${CALLER_ACCOUNT}/us-east-1: deploying ssm-hub-central-manager`);
    expect(err).toMatch(/resource\s+type\s+action\s+replacement/);
    expect(err).toMatch(/Topic\s+AWS::SNS::Topic\s+Add\s+n\/a/);
    expect(err).toMatch(/ssm-hub-central-manager\s+CREATE_COMPLETE/);
    expect(ctx.stdoutText()).toBe('ssm-hub-central-manager: created (CREATE_COMPLETE)\n');
    expect(fake.stacks.get('ssm-hub-central-manager')!.status).toBe('CREATE_COMPLETE');
  });

  it('asks on a terminal, and when declined deletes the change set and the empty stack it created', async () => {
    const { gen, ctx } = setUp();
    const questions: string[] = [];
    ctx.interactive = true;
    ctx.confirm = async (q) => {
      questions.push(q);
      return false;
    };
    const code = await deploy(['--generated-dir', gen], ctx);
    expect(code).toBe(0);
    expect(questions).toEqual(['Execute this change set on ssm-hub-central-manager?']);
    expect(ctx.stdoutText()).toBe('ssm-hub-central-manager: declined\n');
    const sent = mocks.commandNames();
    expect(sent).not.toContain('ExecuteChangeSetCommand');
    expect(sent).toContain('DeleteChangeSetCommand');
    expect(sent).toContain('DeleteStackCommand');
  });

  it('--dry-run shows the resources it would add and sends only read calls', async () => {
    const { gen, ctx } = setUp();
    ctx.interactive = false;
    const code = await deploy(['--generated-dir', gen, '--dry-run'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(ctx.stdoutText()).toContain('CREATE stack ssm-hub-central-manager');
    expect(ctx.stdoutText()).toMatch(/Topic\s+AWS::SNS::Topic\s+Add/);
    expect(mocks.commandNames().filter((n) => !READ_ONLY.test(n))).toEqual([]);
  });

  it('refuses a parameter the template does not declare, before any AWS call', async () => {
    const { gen, ctx } = setUp();
    expect(await deploy(['--generated-dir', gen, '--yes', '--param', 'Nope=1'], ctx)).toBe(2);
    expect(ctx.stderrText()).toContain('--param: central-manager has no parameter Nope');
    expect(mocks.totalCalls()).toBe(0);
  });
});
