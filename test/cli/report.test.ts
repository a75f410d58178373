// report against mocked AWS clients: its model is what status --json and compliance --json print
// (one model, no query path of its own), it writes one page, and it draws from a saved model.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CloudFormationClient,
  DescribeStacksCommand,
  ListStackInstancesCommand,
  ListStacksCommand,
} from '@aws-sdk/client-cloudformation';
import { DescribeActivationsCommand } from '@aws-sdk/client-ssm';
import { main as report } from '../../scripts/ops/report.ts';
import { main as status } from '../../scripts/ops/status.ts';
import { main as compliance } from '../../scripts/ops/compliance.ts';
import { esc, limitBar, renderReport } from '../../scripts/ops/report-html.ts';
import { testContext } from './helpers.ts';
import { A, B, mockFleet, NOW, OWN } from './fleet-fixture.ts';
import { fixtureModel } from './report-fixture.ts';

let fleet: ReturnType<typeof mockFleet>;
const cfn = mockClient(CloudFormationClient);
beforeEach(() => {
  fleet = mockFleet();
  cfn.reset();
  cfn.on(DescribeStacksCommand).resolves({
    Stacks: [{ StackName: 'ssm-hub-central-manager', StackStatus: 'UPDATE_COMPLETE', CreationTime: NOW, Outputs: [] }],
  });
  cfn.on(ListStacksCommand).callsFake(async (input) =>
    input.NextToken
      ? { StackSummaries: [{ StackName: `ssm-hub-agency-${B}`, StackStatus: 'CREATE_COMPLETE', CreationTime: NOW }] }
      : {
          StackSummaries: [{ StackName: `ssm-hub-agency-${A}`, StackStatus: 'UPDATE_COMPLETE', CreationTime: NOW }],
          NextToken: 'p2',
        },
  );
  cfn.on(ListStackInstancesCommand).resolves({
    Summaries: [{ StackSetId: 's', Account: A, Region: 'us-east-1', Status: 'CURRENT' }],
  });
  fleet.ssm.on(DescribeActivationsCommand).resolves({
    ActivationList: [
      {
        ActivationId: 'a-1',
        ExpirationDate: new Date(NOW.getTime() + 3 * 86_400_000),
        RegistrationsCount: 3,
        RegistrationLimit: 1000,
        Tags: [{ Key: OWN, Value: A }],
      },
    ],
  });
});
afterEach(() => fleet.restore());

const exec = async (main: typeof report, ...argv: string[]) => {
  const ctx = testContext(NOW);
  const code = await main(argv, ctx);
  return { code, ctx, out: ctx.stdoutText() };
};

// Models a hand edit or a truncated save could give; each one drew a TypeError before.
const malformed: Array<{ case: string; edit: (m: Record<string, any>) => void; error: string }> = [
  {
    case: 'an agency without stack instances',
    edit: (m) => delete m.status.agencies[0].stackInstances,
    error: 'status.agencies[0].stackInstances is missing',
  },
  {
    case: 'a Region count that is text',
    edit: (m) => (m.status.regions[0].managedNodes = '12'),
    error: 'status.regions[0].managedNodes: must be a number',
  },
  {
    case: 'an activation without its expiry',
    edit: (m) => (m.status.agencies[0].activation = { daysLeft: 3 }),
    error: 'status.agencies[0].activation.expiresAt is missing',
  },
  {
    case: 'compliance without totals',
    edit: (m) => delete m.compliance.totals,
    error: 'compliance.totals is missing',
  },
  {
    case: 'a compliance row whose patch tally is a list',
    edit: (m) => (m.compliance.agencies[0].patch = []),
    error: 'compliance.agencies[0].patch: must be an object',
  },
];

describe('report', () => {
  it('draws from the same model status --json and compliance --json print', async () => {
    const r = await exec(report, '--json', '--regions', 'us-east-1,us-west-2');
    expect(r.code, r.ctx.stderrText()).toBe(0);
    const model = JSON.parse(r.out);
    const s = await exec(status, '--json', '--regions', 'us-east-1,us-west-2');
    const c = await exec(compliance, '--json', '--regions', 'us-east-1,us-west-2');
    expect(model.status).toEqual(JSON.parse(s.out));
    expect(model.compliance).toEqual(JSON.parse(c.out));
    expect(model.generatedAt).toBe(NOW.toISOString());
    expect(model.status.agencies.map((a: { account: string }) => a.account)).toEqual([A, B]);
  });

  it('keeps to the agencies given with --agency, in both halves of the model', async () => {
    const r = await exec(report, '--json', '--agency', B);
    expect(r.code, r.ctx.stderrText()).toBe(0);
    const model = JSON.parse(r.out);
    expect(model.status.agencies.map((a: { account: string }) => a.account)).toEqual([B]);
    expect(model.compliance.agencies.map((a: { agency: string }) => a.agency)).toEqual([B]);
  });

  it('writes one page with a row per agency and the time it was made', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'report-'));
    const r = await exec(report, '--out', join(dir, 'hub.html'));
    expect(r.code, r.ctx.stderrText()).toBe(0);
    const html = readFileSync(join(dir, 'hub.html'), 'utf8');
    expect(html.match(/class="agency-row"/g)).toHaveLength(2);
    expect(html).toContain(`datetime="${NOW.toISOString()}"`);
    expect(html).not.toMatch(/<script(?![^>]*type="application\/json")/);
    expect(html).not.toMatch(/(src|href)=/);
  });

  it('draws a saved model with --from and calls no AWS API', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'report-'));
    writeFileSync(join(dir, 'model.json'), JSON.stringify(fixtureModel(3, 30)));
    const r = await exec(report, '--from', join(dir, 'model.json'), '--out', join(dir, 'page.html'));
    expect(r.code, r.ctx.stderrText()).toBe(0);
    expect(readFileSync(join(dir, 'page.html'), 'utf8').match(/class="agency-row"/g)).toHaveLength(3);
    expect(fleet.ssm.calls().length + fleet.tagging.calls().length + cfn.calls().length).toBe(0);
  });

  it('reads --from and writes --out relative to the folder the command was started in, not the project', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'report-'));
    writeFileSync(join(dir, 'model.json'), JSON.stringify(fixtureModel(2, 30)));
    const ctx = { ...testContext(NOW), cwd: dir };
    const code = await report(['--from', 'model.json', '--out', 'page.html'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    expect(ctx.stdoutText()).toBe(`${join(dir, 'page.html')}\n`);
    expect(readFileSync(join(dir, 'page.html'), 'utf8').match(/class="agency-row"/g)).toHaveLength(2);
  });

  it.each([
    { case: 'not JSON', text: 'nope', error: 'cannot read' },
    { case: 'not a model', text: '{"generatedAt":"x","status":{}}', error: 'status.agencies is missing' },
    ...malformed.map(({ case: c, edit, error }) => {
      const m = fixtureModel(2, 10) as unknown as Record<string, any>;
      edit(m);
      return { case: c, text: JSON.stringify(m), error };
    }),
  ])('refuses a --from file that is $case, naming the field (exit 2)', async ({ text, error }) => {
    const dir = mkdtempSync(join(tmpdir(), 'report-'));
    writeFileSync(join(dir, 'm.json'), text);
    const r = await exec(report, '--from', join(dir, 'm.json'));
    expect(r.code).toBe(2);
    expect(r.ctx.stderrText()).toContain(error);
  });

  it('draws a Region status could not count as such, with its error', async () => {
    const m = fixtureModel(2, 10);
    const [first] = m.status.regions;
    m.status.regions = [
      first!,
      { region: 'eu-west-1', limit: 1000, error: 'access-denied: AccessDeniedException: no' },
    ];
    const dir = mkdtempSync(join(tmpdir(), 'report-'));
    writeFileSync(join(dir, 'model.json'), JSON.stringify(m));
    const r = await exec(report, '--from', join(dir, 'model.json'), '--out', join(dir, 'page.html'));
    expect(r.code, r.ctx.stderrText()).toBe(0);
    expect(readFileSync(join(dir, 'page.html'), 'utf8')).toContain(
      '<td class="bad" colspan="4">not counted: access-denied: AccessDeniedException: no</td>',
    );
  });

  it('escapes every value it draws, so a tag or an error message cannot add markup', () => {
    const m = fixtureModel(2, 10);
    m.status.agencies[0]!.latestError = { managedInstanceId: 'mi-1', error: '<img src=x onerror=alert(1)>' };
    m.status.warnings.push('</script><script>alert(1)</script>');
    const html = renderReport(m);
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('</script><script>');
    expect(esc(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('the Region limit bar', () => {
  it.each([
    { used: 1500, applies: true, cls: 'bad' },
    { used: 850, applies: true, cls: 'warn' },
    { used: 100, applies: true, cls: 'ok' },
    { used: 1500, applies: false, cls: 'ok' },
  ])('$used of 1000 nodes, standard-tier limit applies $applies: $cls', ({ used, applies, cls }) => {
    expect(limitBar(used, 1000, 240, applies)).toMatch(new RegExp(`<rect class="${cls}" x="0" y="0" width=`));
  });
});
