import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ValidateTemplateCommand } from '@aws-sdk/client-cloudformation';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { main } from '../../scripts/ops/publish.ts';
import { quickCreateLink } from '../../scripts/ops/links.ts';
import { boundsProblem } from '../../scripts/ops/generated.ts';
import { PROJECT_ROOT } from '../../scripts/kit/index.ts';
import { awsError, makeGenerated, mockAll, sha256, testContext } from './helpers.ts';

let mocks: ReturnType<typeof mockAll>;
beforeEach(() => {
  mocks = mockAll();
  mocks.sts
    .on(GetCallerIdentityCommand)
    .resolves({ Account: '999999999999', Arn: 'arn:aws:iam::999999999999:user/op' });
});
afterEach(() => mocks.restore());

/** Splits a quick-create link into its console page and its decoded fragment parameters. */
function parseLink(link: string) {
  const url = new URL(link);
  const [route, query] = url.hash.slice(1).split('?');
  return { host: url.host, region: url.searchParams.get('region'), route, params: new URLSearchParams(query) };
}

const links = (out: string) =>
  out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('https://'));

const BUCKET = ['--bucket', 'hub-templates'];

describe('publish', () => {
  it('skips objects already in the bucket and uploads the rest with the expected owner and encryption', async () => {
    const gen = makeGenerated();
    const existing = JSON.parse(readFileSync(join(gen, 'manifest.json'), 'utf8')).artifacts[0];
    const existingKey = `tmpl/${existing.sha256}/central-manager.json`;
    mocks.s3.on(HeadObjectCommand).callsFake(async (input) => {
      if (input.Key === existingKey) return { ContentLength: existing.bytes };
      throw awsError('NotFound', 'Not Found', 404);
    });
    mocks.s3.on(PutObjectCommand).resolves({});
    const ctx = testContext();
    const code = await main(
      [...BUCKET, '--prefix', 'tmpl', '--generated-dir', gen, '--links-file', join(gen, 'launch-links.md')],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);

    const manifest = JSON.parse(readFileSync(join(gen, 'manifest.json'), 'utf8')).artifacts as Array<{
      path: string;
      sha256: string;
    }>;
    expect(manifest).toHaveLength(14); // 5 templates and 2 documents, as JSON and YAML
    const heads = mocks.s3.commandCalls(HeadObjectCommand).map((c) => c.args[0].input);
    expect(heads).toHaveLength(14);
    expect(heads.every((h) => h.ExpectedBucketOwner === '999999999999' && h.Bucket === 'hub-templates')).toBe(true);
    const puts = mocks.s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key).sort()).toEqual(
      manifest
        .filter((a) => a.path !== 'templates/central-manager.json')
        .map((a) => `tmpl/${a.sha256}/${a.path.split('/')[1]}`)
        .sort(),
    );
    for (const p of puts) {
      expect(p.ExpectedBucketOwner).toBe('999999999999');
      expect(p.ServerSideEncryption).toBe('AES256');
      // The key's hash is the hash of what is uploaded.
      expect(p.Key!.split('/')[1]).toBe(sha256(p.Body as Buffer));
    }
    expect(ctx.stderrText()).toContain(`unchanged s3://hub-templates/${existingKey}`);
    // The account and Region are named before the first upload.
    const announced = ctx
      .stderrText()
      .indexOf('aws://999999999999/us-east-1: uploading templates and documents to hub-templates');
    expect(announced).toBeGreaterThanOrEqual(0);
    expect(announced).toBeLessThan(ctx.stderrText().indexOf('uploading s3://'));
    expect(ctx.stdoutText()).toContain('uploaded 13, unchanged 1: s3://hub-templates (us-east-1)');
  });

  it('prints quick-create links whose every value is URL-encoded and decodes back to the right template, stack and parameters', async () => {
    const gen = makeGenerated();
    mocks.s3.on(HeadObjectCommand).rejects(awsError('NotFound', 'Not Found', 404));
    mocks.s3.on(PutObjectCommand).resolves({});
    const ctx = testContext();
    const code = await main(
      [
        '--bucket',
        'hub-{region}',
        '--regions',
        'us-east-1,eu-west-2',
        '--generated-dir',
        gen,
        '--agencies',
        '111111111111',
        '--param',
        'central-manager:AlarmTopicArn=arn:aws:sns:us-east-1:999999999999:ops-alerts',
      ],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const all = links(ctx.stdoutText());
    expect(all).toHaveLength(10); // 5 stacks × 2 Regions
    const sha = (name: string) => sha256(readFileSync(join(gen, 'templates', `${name}.json`)));

    const central = parseLink(
      all.find((l) => l.includes('stackName=ssm-hub-central-manager') && l.startsWith('https://eu-west-2'))!,
    );
    expect(central.host).toBe('eu-west-2.console.aws.amazon.com');
    expect(central.region).toBe('eu-west-2');
    expect(central.route).toBe('/stacks/create/review');
    expect(central.params.get('templateURL')).toBe(
      `https://hub-eu-west-2.s3.eu-west-2.amazonaws.com/ssm-hub/${sha('central-manager')}/central-manager.json`,
    );
    expect(central.params.get('param_AlarmTopicArn')).toBe('arn:aws:sns:us-east-1:999999999999:ops-alerts');

    const perms = parseLink(
      all.find((l) => l.includes('stackName=ssm-hub-agency-111111111111') && l.startsWith('https://us-east-1'))!,
    );
    expect(perms.params.get('param_AgencyAccountId')).toBe('111111111111');
    expect(perms.params.get('templateURL')).toContain(`/ssm-hub/${sha('agency-permissions')}/agency-permissions.json`);

    const collector = parseLink(
      all.find((l) => l.includes('stackName=ssm-hub-agency-collector') && l.startsWith('https://us-east-1'))!,
    );
    expect(collector.params.get('param_CentralAccountId')).toBe('999999999999');
    expect(collector.params.get('param_CentralRegion')).toBe('us-east-1');

    // The registration template is linked beside the collector in every Region, pointing at the hub's
    // Region like the collector, and with no CentralAccountId (it declares none).
    const registration = parseLink(
      all.find((l) => l.includes('stackName=ssm-hub-agency-registration') && l.startsWith('https://eu-west-2'))!,
    );
    expect(registration.params.get('templateURL')).toBe(
      `https://hub-eu-west-2.s3.eu-west-2.amazonaws.com/ssm-hub/${sha('agency-registration')}/agency-registration.json`,
    );
    expect(registration.params.get('param_CentralRegion')).toBe('us-east-1');
    expect(registration.params.get('stackName')).toBe('ssm-hub-agency-registration');
    expect(registration.params.has('param_CentralAccountId')).toBe(false);

    const operations = parseLink(
      all.find((l) => l.includes('stackName=ssm-hub-central-operations') && l.startsWith('https://us-east-1'))!,
    );
    expect(operations.params.get('templateURL')).toContain(
      `/ssm-hub/${sha('central-operations')}/central-operations.json`,
    );

    // Raw form: nothing after the fragment's "?" is left unencoded.
    for (const l of all) {
      const query = l.split('#/stacks/create/review?')[1]!;
      for (const pair of query.split('&')) expect(pair.split('=')[1]).not.toMatch(/[:/?#&= ]/);
      expect(query).toMatch(/^templateURL=https%3A%2F%2F/);
    }
    // One bucket per Region received the objects.
    const buckets = new Set(mocks.s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Bucket));
    expect([...buckets].sort()).toEqual(['hub-eu-west-2', 'hub-us-east-1']);
    const md = readFileSync(join(gen, 'launch-links.md'), 'utf8');
    expect(md).toContain('## us-east-1');
    expect(md).toContain('## eu-west-2');
    expect(md.match(/\[Launch stack\]\(https:\/\//g)).toHaveLength(10);
  });

  it('never puts a NoEcho parameter in a link, whatever the template calls it', () => {
    const template = { Parameters: { ApiToken: { Type: 'String', NoEcho: true }, Name: { Type: 'String' } } };
    const { url, skippedNoEcho } = quickCreateLink({
      region: 'us-east-1',
      templateUrl: 'https://b.s3.us-east-1.amazonaws.com/k.json',
      stackName: 's',
      params: { ApiToken: 'hunter2', Name: 'a&b=c' },
      template,
    });
    expect(url).not.toContain('hunter2');
    expect(url).not.toContain('ApiToken');
    expect(url).toContain('param_Name=a%26b%3Dc');
    expect(skippedNoEcho).toEqual(['ApiToken']);
    expect(() =>
      quickCreateLink({ region: 'us-east-1', templateUrl: 'https://x', params: { Nope: '1' }, template }),
    ).toThrow(/no parameter Nope/);
  });

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])(
    'refuses --param central-manager:%s=x: a built-in object name is not a parameter the template declares (exit 2, nothing written)',
    async (name) => {
      const gen = makeGenerated();
      const ctx = testContext();
      const out = mkdtempSync(join(tmpdir(), 'dry-'));
      const code = await main(
        ['--dry-run', '--out', out, '--generated-dir', gen, '--param', `central-manager:${name}=x`],
        ctx,
      );
      expect(code).toBe(2);
      expect(ctx.stderrText()).toContain(`--param: central-manager has no parameter ${name}`);
      expect(existsSync(join(out, 'launch-links.md'))).toBe(false);
      expect(() =>
        quickCreateLink({
          region: 'us-east-1',
          templateUrl: 'https://x',
          params: Object.fromEntries([[name, 'x']]),
          template: { Parameters: {} },
        }),
      ).toThrow(`no parameter ${name}`);
    },
  );

  it.each([
    {
      param: 'central-operations:ScanMaxConcurrency=12345678',
      error: 'ScanMaxConcurrency must be at most 7 characters',
    },
    {
      param: 'central-operations:CustomBaselineApproveAfterDays=400',
      error: 'CustomBaselineApproveAfterDays must be at most 360',
    },
    { param: 'central-operations:CustomBaselineApproveAfterDays=-1', error: 'must be at least 0' },
    { param: 'central-operations:CustomBaselineApproveAfterDays=soon', error: 'must be a number' },
  ])(
    'refuses --param $param outside its declared length or range (exit 2, nothing written)',
    async ({ param, error }) => {
      const gen = join(PROJECT_ROOT, 'generated');
      const ctx = testContext();
      const out = mkdtempSync(join(tmpdir(), 'dry-'));
      expect(await main(['--dry-run', '--out', out, '--generated-dir', gen, '--param', param], ctx)).toBe(2);
      expect(ctx.stderrText()).toContain(error);
      expect(existsSync(join(out, 'launch-links.md'))).toBe(false);
    },
  );

  it.each([
    { p: { MaxLength: 7 }, value: '1234567', problem: undefined },
    { p: { MaxLength: '7' }, value: '12345678', problem: 'must be at most 7 characters' },
    { p: { MinLength: 1 }, value: '', problem: 'must be at least 1 characters' },
    { p: { MaxLength: 2 }, value: 'éé', problem: undefined },
    { p: { Type: 'Number', MinValue: 0, MaxValue: 360 }, value: '360', problem: undefined },
    { p: { Type: 'Number', MinValue: 0, MaxValue: 360 }, value: '360.5', problem: 'must be at most 360' },
    { p: { Type: 'Number', MinValue: 1 }, value: ' ', problem: 'must be a number' },
    { p: { Type: 'String', MinValue: 1 }, value: 'x', problem: undefined },
  ])('boundsProblem($p, $value) is $problem', ({ p, value, problem }) => {
    expect(boundsProblem(p, value)).toBe(problem);
  });

  it('uses the GovCloud console and path-style URLs for dotted bucket names', () => {
    const { url } = quickCreateLink({
      region: 'us-gov-west-1',
      templateUrl: 'https://s3.us-gov-west-1.amazonaws.com/my.bucket/k.json',
      params: {},
      template: {},
    });
    expect(
      url.startsWith(
        'https://console.amazonaws-us-gov.com/cloudformation/home?region=us-gov-west-1#/stacks/create/review?',
      ),
    ).toBe(true);
  });

  it('refuses to put a NoEcho parameter in a link even when asked to with --param (exit 2, nothing written)', async () => {
    const gen = makeGenerated({
      'central-manager': { Parameters: { AlarmTopicArn: { Type: 'String', NoEcho: 'true' } }, Resources: {} },
    });
    const ctx = testContext();
    const out = mkdtempSync(join(tmpdir(), 'dry-'));
    const code = await main(
      ['--dry-run', '--out', out, '--generated-dir', gen, '--param', 'central-manager:AlarmTopicArn=secret-value'],
      ctx,
    );
    expect(code).toBe(2);
    expect(ctx.stderrText()).toContain(
      '--param: central-manager parameter AlarmTopicArn is NoEcho and is never put in a link',
    );
    expect(ctx.stderrText()).not.toContain('secret-value');
    expect(existsSync(join(out, 'launch-links.md'))).toBe(false);
  });

  it('prints the plain template URLs that onboard and rollout accept as --template-url', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    const code = await main(
      ['--dry-run', ...BUCKET, '--out', mkdtempSync(join(tmpdir(), 'dry-')), '--generated-dir', gen, '--json'],
      ctx,
    );
    expect(code).toBe(0);
    const { templateUrls } = JSON.parse(ctx.stdoutText());
    const collector = templateUrls.find((t: { template: string }) => t.template === 'agency-collector');
    expect(collector.url).toBe(
      `https://hub-templates.s3.us-east-1.amazonaws.com/ssm-hub/${sha256(readFileSync(join(gen, 'templates/agency-collector.json')))}/agency-collector.json`,
    );
  });

  it('runs ValidateTemplate on every uploaded template and prints no links when one is invalid', async () => {
    const gen = makeGenerated();
    mocks.s3.on(HeadObjectCommand).rejects(awsError('NotFound', 'Not Found', 404));
    mocks.s3.on(PutObjectCommand).resolves({});
    mocks.cfn.on(ValidateTemplateCommand).callsFake(async (input) => {
      if (String(input.TemplateURL).endsWith('agency-collector.yaml'))
        throw awsError('ValidationError', 'Template format error: unsupported structure.');
      return {};
    });
    const ctx = testContext();
    const code = await main(
      ['--bucket', 'hub-templates', '--generated-dir', gen, '--validate', '--links-file', join(gen, 'l.md')],
      ctx,
    );
    expect(code).toBe(1);
    const urls = mocks.cfn.commandCalls(ValidateTemplateCommand).map((c) => c.args[0].input.TemplateURL);
    expect(urls.length).toBeGreaterThanOrEqual(5);
    expect(urls.every((u) => u!.startsWith('https://hub-templates.s3.us-east-1.amazonaws.com/ssm-hub/'))).toBe(true);
    expect(ctx.stderrText()).toMatch(
      /ValidateTemplate failed for .*agency-collector\.yaml: ValidationError: Template format error/,
    );
    expect(links(ctx.stdoutText())).toHaveLength(0);
    expect(existsSync(join(gen, 'l.md'))).toBe(false);
  });

  it('reports a bucket owned by someone else as a failure (exit 1) without uploading', async () => {
    const gen = makeGenerated();
    mocks.s3.on(HeadObjectCommand).rejects(awsError('Forbidden', 'Forbidden', 403));
    const ctx = testContext();
    const code = await main(['--bucket', 'someone-elses-bucket', '--generated-dir', gen], ctx);
    expect(code).toBe(1);
    expect(ctx.stderrText()).toMatch(/cannot read s3:\/\/someone-elses-bucket\/.*bucket owner expected: 999999999999/);
    expect(mocks.s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('prints an organization-read bucket policy that also denies plain HTTP, with no AWS call', async () => {
    const gen = makeGenerated();
    const ctx = testContext();
    const code = await main(
      ['--print-bucket-policy', ...BUCKET, '--org-id', 'o-abcdef1234', '--generated-dir', gen, '--json'],
      ctx,
    );
    expect(code).toBe(0);
    const [{ bucket, policy }] = JSON.parse(ctx.stdoutText());
    expect(bucket).toBe('hub-templates');
    const [read, deny] = policy.Statement;
    expect(read).toMatchObject({
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: 'arn:aws:s3:::hub-templates/ssm-hub/*',
      Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-abcdef1234' } },
    });
    expect(deny).toMatchObject({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
    expect(mocks.totalCalls()).toBe(0);
  });

  it('refuses a generated file that no longer matches its manifest hash', async () => {
    const gen = makeGenerated();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(gen, 'templates', 'agency-collector.json'), '{"edited":true}');
    const ctx = testContext();
    const code = await main(['--bucket', 'hub-templates', '--generated-dir', gen], ctx);
    expect(code).toBe(2);
    expect(ctx.stderrText()).toMatch(/agency-collector\.json does not match its sha256 in manifest\.json/);
    expect(mocks.totalCalls()).toBe(0);
  });

  it.each([
    [['--sse', 'aws:kms']],
    [['--sse', 'aws:kms', '--kms-key-id', 'alias/aws/s3']],
    [['--sse', 'aws:kms', '--dry-run']],
  ])('refuses %j as a usage error: the AWS managed key aws/s3 cannot be shared with other accounts', async (flags) => {
    const ctx = testContext();
    const code = await main(['--bucket', 'hub-templates', '--generated-dir', makeGenerated(), ...flags], ctx);
    expect(code).toBe(2);
    expect(ctx.stderrText()).toContain(
      '--sse aws:kms needs --kms-key-id with a customer managed key: without it (or with alias/aws/s3) S3 uses the AWS managed key aws/s3, which cannot be shared with other accounts',
    );
    expect(mocks.totalCalls()).toBe(0);
  });

  it('accepts --sse aws:kms with a customer managed key and sends it on every upload', async () => {
    const ctx = testContext();
    mocks.s3.on(HeadObjectCommand).rejects(awsError('NotFound', 'NotFound', 404));
    mocks.s3.on(PutObjectCommand).resolves({});
    const key = 'arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const code = await main(
      ['--bucket', 'hub-templates', '--generated-dir', makeGenerated(), '--sse', 'aws:kms', '--kms-key-id', key],
      ctx,
    );
    expect(code, ctx.stderrText()).toBe(0);
    const puts = mocks.s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.length).toBeGreaterThan(0);
    expect(puts.every((p) => p.ServerSideEncryption === 'aws:kms' && p.SSEKMSKeyId === key)).toBe(true);
  });
});
