// `ssm-hub publish`: uploads the generated templates and documents to S3 under content-hash
// keys, then writes and prints console quick-create links. `--dry-run` needs no AWS account.
// Three steps: plan (options, artifacts, targets; no AWS call), upload (or the dry-run copy), report.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, type S3Client, type ServerSideEncryption } from '@aws-sdk/client-s3';
import { ValidateTemplateCommand } from '@aws-sdk/client-cloudformation';
import { callerAccount, makeClients, partitionOf, resolveRegion, type Clients } from './aws.ts';
import { announceTarget } from './preview.ts';
import { choice, defaultContext, defineCommand, errorText, EXIT, flag, list, OperationError } from '../kit/index.ts';
import { progress, repeatable, runCommand, text, UsageError, type Context, type Values } from '../kit/index.ts';
import * as v from '../kit/validate.ts';
import { AWS_OPTIONS, GENERATED_DIR_OPTION, flagPath, generatedDir, loadConfig } from './common.ts';
import { checkParameter, isNoEcho, loadArtifacts, readTemplate, TEMPLATE_NAMES, type Artifact } from './generated.ts';
import { type TemplateName } from './generated.ts';
import { launchLinksMarkdown, quickCreateLink, s3ObjectUrl, type LaunchLink } from './links.ts';

export const spec = defineCommand({
  name: 'publish',
  summary: 'Upload generated templates and documents to S3 (content-hash keys) and print console quick-create links.',
  usage: [
    '--bucket BUCKET [--prefix P] [--regions r1,r2] [--validate]',
    '--dry-run [--bucket BUCKET] [--out DIR]',
    '--print-bucket-policy --bucket BUCKET --org-id o-…',
  ],
  options: [
    text('bucket', { arg: 'BUCKET', help: 'target bucket; may contain {region} for one bucket per Region' }),
    text('prefix', {
      arg: 'P',
      help: 'key prefix; keys are P/<sha256>/<file>',
      check: v.keyPrefix,
      allowEmpty: true,
      defaultText: 'the build namePrefix, e.g. ssm-hub',
    }),
    list('regions', { arg: 'r1,r2', help: 'Regions to publish for and link to (default: --region)', check: v.regions }),
    text('bucket-region', {
      arg: 'REGION',
      help: 'Region of --bucket when it has no {region}',
      check: v.region,
      defaultText: '--region',
    }),
    text('bucket-owner', {
      arg: 'ACCOUNT',
      help: 'expected bucket owner',
      check: v.accountId,
      defaultText: "the caller's account",
    }),
    choice('sse', {
      help: 'server-side encryption of uploaded objects',
      values: ['AES256', 'aws:kms'],
      default: 'AES256',
    }),
    text('kms-key-id', {
      arg: 'KEY',
      help: 'customer managed KMS key, required with --sse aws:kms (readers then need kms:Decrypt)',
    }),
    flag('validate', 'run CloudFormation ValidateTemplate on each uploaded template before printing links'),
    flag('dry-run', 'write what would be uploaded to --out and the links; no AWS credentials needed'),
    text('out', { arg: 'DIR', help: 'dry-run output folder', defaultText: '.tmp/publish-dry-run' }),
    text('links-file', {
      arg: 'FILE',
      help: 'where to write the Markdown link table',
      defaultText: 'generated/launch-links.md',
    }),
    list('agencies', {
      arg: 'ACCOUNT,…',
      help: 'also print one agency-permissions link per agency account',
      check: v.accountIds,
    }),
    text('central-account', {
      arg: 'ACCOUNT',
      help: 'CentralAccountId for agency-collector links',
      check: v.accountId,
      defaultText: "the caller's account",
    }),
    text('central-region', {
      arg: 'REGION',
      help: 'CentralRegion for agency-collector and agency-registration links',
      check: v.region,
      defaultText: '--region',
    }),
    repeatable('param', {
      arg: 'TEMPLATE:NAME=VALUE',
      help: "prefill a parameter in a template's links, e.g. central-manager:AlarmEmail=ops@example.org",
    }),
    flag('print-bucket-policy', 'print the bucket policy for organization-wide read and exit'),
    text('org-id', { arg: 'o-…', help: 'organization ID for --print-bucket-policy (aws:PrincipalOrgID)' }),
    GENERATED_DIR_OPTION,
    ...AWS_OPTIONS,
  ],
  notes: [
    'Objects are written with ExpectedBucketOwner and server-side encryption; an object whose key (its content hash)',
    'already exists is skipped. Links never prefill a NoEcho parameter.',
  ],
});

/** Placeholder used by --dry-run without --bucket: clearly not a real bucket. */
export const DRY_RUN_BUCKET = 'replace-with-your-bucket-{region}';

interface Target {
  bucket: string;
  region: string;
  /** Regions whose links point at this bucket. */
  linkRegions: string[];
}

type Param = { template: TemplateName; name: string; value: string };

function parseParams(raw: string[]): Param[] {
  return raw.map((item) => {
    const m = /^([a-z-]+):([^=]+)=(.*)$/s.exec(item);
    if (!m || !(TEMPLATE_NAMES as readonly string[]).includes(m[1]!)) {
      throw new UsageError(
        `--param: "${item}" must look like TEMPLATE:NAME=VALUE with TEMPLATE one of ${TEMPLATE_NAMES.join(', ')}`,
      );
    }
    return { template: m[1] as TemplateName, name: m[2]!, value: m[3]! };
  });
}

/** The flag combinations publish refuses, before anything is read. */
function checkCombinations(o: Values<typeof spec.options>, given: ReadonlySet<string>): void {
  v.exclusive(given, 'dry-run', 'validate');
  v.exclusive(given, 'dry-run', 'print-bucket-policy');
  v.exclusive(given, 'regions', 'bucket-region');
  if (given.has('org-id') && !o['print-bucket-policy'])
    throw new UsageError('--org-id is only used with --print-bucket-policy');
  if (given.has('out') && !o['dry-run']) throw new UsageError('--out is only used with --dry-run');
  if (!o.bucket && !o['dry-run']) throw new UsageError('--bucket is required (or use --dry-run)');
  if (o['kms-key-id'] && o.sse !== 'aws:kms') throw new UsageError('--kms-key-id needs --sse aws:kms');
  // Without a key ID S3 uses the AWS managed key aws/s3, whose key policy is read-only, so no other
  // account can be allowed to decrypt (AWS KMS Developer Guide, "AWS managed keys": their key
  // policies cannot be changed; S3 User Guide, SSE-KMS: no key ID means aws/s3).
  if (o.sse === 'aws:kms' && (!o['kms-key-id'] || /(^|:)alias\/aws\//.test(o['kms-key-id'])))
    throw new UsageError(
      '--sse aws:kms needs --kms-key-id with a customer managed key: without it (or with alias/aws/s3) S3 uses the AWS managed key aws/s3, which cannot be shared with other accounts, so agencies and StackSets could not read the templates',
    );
  if (o['print-bucket-policy']) {
    if (!o.bucket) throw new UsageError('--print-bucket-policy needs --bucket');
    if (!o['org-id']) throw new UsageError('--print-bucket-policy needs --org-id o-…');
    v.orgId('org-id', o['org-id']);
  }
}

/** Every artifact checked against the manifest, every --param against its template. */
function readArtifacts(gen: string, params: Param[]) {
  const artifacts = loadArtifacts(gen);
  for (const name of TEMPLATE_NAMES) readTemplate(gen, name);
  for (const p of params) {
    const t = readTemplate(gen, p.template).json;
    checkParameter('--param', p.template, t, p.name, p.value);
    // A secret must never travel in a URL (browser history, logs, chat): refuse rather than skip.
    if (isNoEcho(t.Parameters?.[p.name]))
      throw new UsageError(
        `--param: ${p.template} parameter ${p.name} is NoEcho and is never put in a link; enter it in the console`,
      );
  }
  return artifacts;
}

/** One bucket per Region when the name has {region}; otherwise one bucket that every Region links to. */
export function planTargets(bucketTemplate: string, regions: string[], bucketRegion: string): Target[] {
  if (bucketTemplate.includes('{region}')) {
    return regions.map((r) => ({ bucket: bucketTemplate.replace(/\{region\}/g, r), region: r, linkRegions: [r] }));
  }
  return [{ bucket: bucketTemplate, region: bucketRegion, linkRegions: regions }];
}

export function objectKey(prefix: string, artifact: Artifact): string {
  const key = `${artifact.sha256}/${basename(artifact.path)}`;
  return prefix ? `${prefix}/${key}` : key;
}

const contentType = (path: string) => (path.endsWith('.json') ? 'application/json' : 'application/yaml');

/** Bucket policy: organization-wide read of the published prefix, and no plain-HTTP access at all. */
export function bucketPolicy(bucket: string, region: string, prefix: string, orgId: string): object {
  const arn = `arn:${partitionOf(region)}:s3:::${bucket}`;
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'OrganizationReadTemplates',
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: `${arn}/${prefix ? `${prefix}/` : ''}*`,
        Condition: { StringEquals: { 'aws:PrincipalOrgID': orgId } },
      },
      {
        Sid: 'DenyInsecureTransport',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [arn, `${arn}/*`],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ],
  };
}

interface LinkInputs {
  names: {
    centralStackName: string;
    /** Optional stack; no link when absent. */
    centralOperationsStackName?: string;
    agencyPermissionsStackName: (a: string) => string;
    agencyCollectorStackName: string;
    agencyRegistrationStackName: string;
  };
  agencies: string[];
  centralAccount: string | undefined;
  centralRegion: string | undefined;
  /** Extra values per template, from --param. */
  params: Array<{ template: TemplateName; name: string; value: string }>;
}

export function buildLinks(
  gen: string,
  targets: Target[],
  keyOf: (templatePath: string) => string,
  inputs: LinkInputs,
): { links: LaunchLink[]; warnings: string[] } {
  const templates = Object.fromEntries(TEMPLATE_NAMES.map((n) => [n, readTemplate(gen, n).json])) as Record<
    TemplateName,
    ReturnType<typeof readTemplate>['json']
  >;
  const links: LaunchLink[] = [];
  const warnings = new Set<string>();
  for (const t of targets) {
    for (const region of t.linkRegions) {
      const add = (
        template: TemplateName,
        stackName: string | undefined,
        deployIn: string,
        params: Record<string, string | undefined>,
      ) => {
        const templateUrl = s3ObjectUrl(t.bucket, t.region, keyOf(`templates/${template}.json`));
        const { url, skippedNoEcho } = quickCreateLink({
          region,
          templateUrl,
          stackName,
          params,
          template: templates[template],
        });
        for (const p of skippedNoEcho)
          warnings.add(`${template}: parameter ${p} is NoEcho, so it is not prefilled; enter it in the console`);
        links.push({ region, template, stackName: stackName ?? '(choose)', deployIn, url });
      };
      const extra = (t: TemplateName) =>
        Object.fromEntries(inputs.params.filter((p) => p.template === t).map((p) => [p.name, p.value]));
      add('central-manager', inputs.names.centralStackName, 'central account', extra('central-manager'));
      if (inputs.names.centralOperationsStackName)
        add(
          'central-operations',
          inputs.names.centralOperationsStackName,
          'central account, optional (inventory, patch scan, install window)',
          extra('central-operations'),
        );
      if (inputs.agencies.length === 0) {
        add(
          'agency-permissions',
          undefined,
          'central account, one stack per agency (name it ' +
            inputs.names.agencyPermissionsStackName('<account>') +
            '; `status` finds it under any name)',
          extra('agency-permissions'),
        );
      }
      for (const a of inputs.agencies) {
        add('agency-permissions', inputs.names.agencyPermissionsStackName(a), `central account, for agency ${a}`, {
          ...extra('agency-permissions'),
          AgencyAccountId: a,
        });
      }
      add('agency-collector', inputs.names.agencyCollectorStackName, 'each agency account (or `ssm-hub rollout`)', {
        ...extra('agency-collector'),
        CentralAccountId: inputs.centralAccount,
        CentralRegion: inputs.centralRegion ?? region,
      });
      add(
        'agency-registration',
        inputs.names.agencyRegistrationStackName,
        'each agency account, after agency-collector (or `ssm-hub rollout`)',
        { ...extra('agency-registration'), CentralRegion: inputs.centralRegion ?? region },
      );
    }
  }
  return { links, warnings: [...warnings] };
}

interface PublishPlan {
  o: Values<typeof spec.options>;
  gen: string;
  artifacts: Array<Artifact & { body: Buffer }>;
  params: Param[];
  prefix: string;
  region: string;
  targets: Target[];
  outDir: string;
}

async function planPublish(
  ctx: Context,
  o: Values<typeof spec.options>,
  given: ReadonlySet<string>,
  namePrefix: string,
) {
  checkCombinations(o, given);
  const bucketTemplate = o.bucket ?? DRY_RUN_BUCKET;
  const listed = o.regions ?? (o.region ? [o.region] : []);
  v.bucketTemplate('bucket', bucketTemplate, listed.length ? listed : ['us-east-1']);
  const params = parseParams(o.param);
  const gen = generatedDir(ctx, o['generated-dir']);
  const artifacts = readArtifacts(gen, params);
  // Dry-run must work on a fresh clone: no Region lookup through the SDK, no STS.
  const home = o.region ?? (o['dry-run'] ? ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION || 'us-east-1' : undefined);
  const region = home ?? (await resolveRegion(ctx, undefined, o.profile));
  const regions = listed.length ? listed : [v.region('region', region)];
  v.bucketTemplate('bucket', bucketTemplate, regions);
  const targets = planTargets(bucketTemplate, regions, o['bucket-region'] ?? region);
  const outDir = flagPath(ctx, o.out, '.tmp/publish-dry-run');
  const plan: PublishPlan = { o, gen, artifacts, params, prefix: o.prefix ?? namePrefix, region, targets, outDir };
  return plan;
}

function printPolicies(ctx: Context, plan: PublishPlan): number {
  const policies = plan.targets.map((t) => ({
    bucket: t.bucket,
    policy: bucketPolicy(t.bucket, t.region, plan.prefix, plan.o['org-id']!),
  }));
  // Bare JSON on stdout, the bucket's name on stderr: with one Region, `> policy.json` gives the
  // file `aws s3api put-bucket-policy --policy file://policy.json` reads. --json gives every bucket.
  if (plan.o.json) ctx.stdout(`${JSON.stringify(policies, null, 2)}\n`);
  else
    for (const p of policies) {
      progress(ctx, `bucket policy for ${p.bucket}:`);
      ctx.stdout(`${JSON.stringify(p.policy, null, 2)}\n`);
    }
  return EXIT.ok;
}

interface BucketReport {
  bucket: string;
  region: string;
  uploaded: string[];
  skipped: string[];
}

const emptyReport = (plan: PublishPlan): BucketReport[] =>
  plan.targets.map((t) => ({ bucket: t.bucket, region: t.region, uploaded: [], skipped: [] }));

function dryRunCopy(ctx: Context, plan: PublishPlan): BucketReport[] {
  const report = emptyReport(plan);
  for (const [i, t] of plan.targets.entries()) {
    for (const a of plan.artifacts) {
      const key = objectKey(plan.prefix, a);
      const dest = join(plan.outDir, t.bucket, ...key.split('/'));
      mkdirSync(dirname(dest), { recursive: true });
      copyFileSync(join(plan.gen, a.path), dest);
      report[i]!.uploaded.push(key);
    }
  }
  mkdirSync(plan.outDir, { recursive: true });
  writeFileSync(join(plan.outDir, 'upload-plan.json'), `${JSON.stringify(report, null, 2)}\n`);
  const where = relative(ctx.root, plan.outDir) || plan.outDir;
  progress(ctx, `dry run: wrote ${plan.artifacts.length} objects per bucket under ${where}`);
  return report;
}

/** True when the object is already there (its key is its content hash, so the same size means the same file). */
async function objectExists(s3: S3Client, bucket: string, key: string, owner: string, bytes: number) {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ExpectedBucketOwner: owner }));
    return head.ContentLength === undefined || head.ContentLength === bytes;
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return false;
    throw new OperationError(`cannot read s3://${bucket}/${key} (bucket owner expected: ${owner}): ${errorText(err)}`, {
      cause: err,
    });
  }
}

async function uploadAll(ctx: Context, clients: Clients, plan: PublishPlan, owner: string): Promise<BucketReport[]> {
  const report = emptyReport(plan);
  const { o } = plan;
  for (const [i, t] of plan.targets.entries()) {
    const s3 = clients.s3(t.region);
    for (const a of plan.artifacts) {
      const key = objectKey(plan.prefix, a);
      const where = `s3://${t.bucket}/${key}`;
      if (await objectExists(s3, t.bucket, key, owner, a.body.length)) {
        report[i]!.skipped.push(key);
        progress(ctx, `unchanged ${where}`);
        continue;
      }
      progress(ctx, `uploading ${where}`);
      const put = new PutObjectCommand({
        Bucket: t.bucket,
        Key: key,
        Body: a.body,
        ContentType: contentType(a.path),
        ExpectedBucketOwner: owner,
        ServerSideEncryption: o.sse as ServerSideEncryption,
        ...(o['kms-key-id'] ? { SSEKMSKeyId: o['kms-key-id'] } : {}),
      });
      try {
        await s3.send(put);
      } catch (err) {
        throw new OperationError(`upload of ${where} failed: ${errorText(err)}`, { cause: err });
      }
      report[i]!.uploaded.push(key);
    }
  }
  return report;
}

async function validateAll(ctx: Context, clients: Clients, plan: PublishPlan): Promise<void> {
  for (const t of plan.targets) {
    for (const a of plan.artifacts.filter((x) => x.kind === 'template')) {
      const url = s3ObjectUrl(t.bucket, t.region, objectKey(plan.prefix, a));
      progress(ctx, `validating ${url}`);
      try {
        await clients.cloudformation(t.region).send(new ValidateTemplateCommand({ TemplateURL: url }));
      } catch (err) {
        throw new OperationError(`ValidateTemplate failed for ${url}: ${errorText(err)}`, { cause: err });
      }
    }
  }
}

/** Uploads (or, with --dry-run, copies) every artifact; returns what went where and the central account. */
async function executePublish(ctx: Context, plan: PublishPlan) {
  const { o } = plan;
  if (o['dry-run']) return { report: dryRunCopy(ctx, plan), centralAccount: o['central-account'] };
  const clients = makeClients(ctx, o.profile);
  const caller = o['bucket-owner'] && o['central-account'] ? undefined : await callerAccount(clients, plan.region);
  const buckets = plan.targets.map((t) => t.bucket).join(', ');
  announceTarget(ctx, caller ?? o['bucket-owner']!, plan.region, `uploading templates and documents to ${buckets}`);
  const report = await uploadAll(ctx, clients, plan, o['bucket-owner'] ?? caller!);
  if (o.validate) await validateAll(ctx, clients, plan);
  return { report, centralAccount: o['central-account'] ?? caller };
}

function keyLookup(plan: PublishPlan) {
  const byPath = new Map(plan.artifacts.map((a) => [a.path, a]));
  return (path: string) => {
    const a = byPath.get(path);
    if (!a) throw new UsageError(`${join(plan.gen, 'manifest.json')} does not list ${path}: run \`npm run build\``);
    return objectKey(plan.prefix, a);
  };
}

interface PublishResult {
  report: BucketReport[];
  templateUrls: Array<{ bucket: string; region: string; template: TemplateName; url: string }>;
  links: LaunchLink[];
  linksFile: string;
  warnings: string[];
  notes: string[];
}

function writeLinks(
  ctx: Context,
  plan: PublishPlan,
  names: LinkInputs['names'],
  done: Awaited<ReturnType<typeof executePublish>>,
): PublishResult {
  const { o } = plan;
  const notes: string[] = [];
  if (o['dry-run'])
    notes.push(
      'Dry run: nothing was uploaded. These links work only once the objects are in the bucket named in them.',
    );
  if (!done.centralAccount)
    notes.push('CentralAccountId is not prefilled in agency-collector links: pass --central-account.');
  const keyOf = keyLookup(plan);
  const { links, warnings } = buildLinks(plan.gen, plan.targets, keyOf, {
    names,
    agencies: o.agencies ?? [],
    centralAccount: done.centralAccount,
    centralRegion: o['central-region'] ?? o.region ?? plan.region,
    params: plan.params,
  });
  const linksFile = o['dry-run']
    ? join(plan.outDir, 'launch-links.md')
    : o['links-file']
      ? flagPath(ctx, o['links-file'], 'generated/launch-links.md')
      : join(plan.gen, 'launch-links.md');
  mkdirSync(dirname(linksFile), { recursive: true });
  writeFileSync(linksFile, launchLinksMarkdown(links, notes));
  // Plain template URLs, for `onboard`/`rollout --template-url` and `aws cloudformation` commands.
  const templateUrls = plan.targets.flatMap((t) =>
    TEMPLATE_NAMES.map((name) => ({
      bucket: t.bucket,
      region: t.region,
      template: name,
      url: s3ObjectUrl(t.bucket, t.region, keyOf(`templates/${name}.json`)),
    })),
  );
  return { report: done.report, templateUrls, links, linksFile, warnings, notes };
}

function reportPublish(ctx: Context, plan: PublishPlan, r: PublishResult): number {
  const dryRun = plan.o['dry-run'];
  if (plan.o.json) {
    const { report: buckets, templateUrls, links, linksFile, warnings, notes } = r;
    ctx.stdout(`${JSON.stringify({ dryRun, buckets, templateUrls, links, linksFile, warnings, notes }, null, 2)}\n`);
    return EXIT.ok;
  }
  for (const b of r.report) {
    const verb = dryRun ? 'would upload' : 'uploaded';
    ctx.stdout(`${verb} ${b.uploaded.length}, unchanged ${b.skipped.length}: s3://${b.bucket} (${b.region})\n`);
  }
  ctx.stdout('\nTemplate URLs (for --template-url):\n');
  for (const t of r.templateUrls) ctx.stdout(`  ${t.template} (${t.region}): ${t.url}\n`);
  for (const region of [...new Set(r.links.map((l) => l.region))]) {
    ctx.stdout(`\nQuick-create links for ${region}:\n`);
    for (const l of r.links.filter((x) => x.region === region))
      ctx.stdout(`  ${l.template} → ${l.stackName} (${l.deployIn})\n    ${l.url}\n`);
  }
  for (const w of r.warnings) ctx.stdout(`WARNING: ${w}\n`);
  for (const n of r.notes) ctx.stdout(`note: ${n}\n`);
  ctx.stdout(`\nwrote ${relative(ctx.root, r.linksFile) || r.linksFile}\n`);
  return EXIT.ok;
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o, given) => {
    const { config, names } = loadConfig(ctx, o.config);
    const plan = await planPublish(ctx, o, given, config.namePrefix);
    if (o['print-bucket-policy']) return printPolicies(ctx, plan);
    const done = await executePublish(ctx, plan);
    return reportPublish(ctx, plan, writeLinks(ctx, plan, names, done));
  });
}
