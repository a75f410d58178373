// `ssm-hub publish`: uploads the generated templates and documents to S3 under content-hash
// keys, then writes and prints console quick-create links. `--dry-run` needs no AWS account.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, type ServerSideEncryption } from '@aws-sdk/client-s3';
import { ValidateTemplateCommand } from '@aws-sdk/client-cloudformation';
import { callerAccount, makeClients, partitionOf, resolveRegion } from './aws.ts';
import {
  defaultContext,
  list,
  progress,
  runCommand,
  str,
  type CommandSpec,
  type Context,
  type Flags,
} from './cli-kit.ts';
import { GENERATED_DIR_OPTION, generatedDir, loadConfig, projectPath } from './common.ts';
import { describeError, EXIT, OperationError, UsageError } from './errors.ts';
import {
  checkParameter,
  isNoEcho,
  loadArtifacts,
  readTemplate,
  TEMPLATE_NAMES,
  type Artifact,
  type TemplateName,
} from './generated.ts';
import { launchLinksMarkdown, quickCreateLink, s3ObjectUrl, type LaunchLink } from './links.ts';
import * as v from './validate.ts';

export const spec: CommandSpec = {
  name: 'publish',
  summary: 'Upload generated templates and documents to S3 (content-hash keys) and print console quick-create links.',
  usage: [
    '--bucket BUCKET [--prefix P] [--regions r1,r2] [--validate]',
    '--dry-run [--bucket BUCKET] [--out DIR]',
    '--print-bucket-policy --bucket BUCKET --org-id o-…',
  ],
  options: [
    {
      name: 'bucket',
      type: 'string',
      arg: 'BUCKET',
      help: 'target bucket; may contain {region} for one bucket per Region',
    },
    {
      name: 'prefix',
      type: 'string',
      arg: 'P',
      help: 'key prefix (default: the build namePrefix, e.g. ssm-hub); keys are P/<sha256>/<file>',
    },
    { name: 'regions', type: 'string', arg: 'r1,r2', help: 'Regions to publish for and link to (default: --region)' },
    {
      name: 'bucket-region',
      type: 'string',
      arg: 'REGION',
      help: 'Region of --bucket when it has no {region} (default: --region)',
    },
    {
      name: 'bucket-owner',
      type: 'string',
      arg: 'ACCOUNT',
      help: "expected bucket owner (default: the caller's account)",
    },
    {
      name: 'sse',
      type: 'string',
      arg: 'AES256|aws:kms',
      help: 'server-side encryption of uploaded objects (default: AES256)',
    },
    {
      name: 'kms-key-id',
      type: 'string',
      arg: 'KEY',
      help: 'KMS key for --sse aws:kms (readers then need kms:Decrypt)',
    },
    {
      name: 'validate',
      type: 'boolean',
      help: 'run CloudFormation ValidateTemplate on each uploaded template before printing links',
    },
    {
      name: 'dry-run',
      type: 'boolean',
      help: 'write what would be uploaded to --out and the links; no AWS credentials needed',
    },
    { name: 'out', type: 'string', arg: 'DIR', help: 'dry-run output folder (default: .tmp/publish-dry-run)' },
    {
      name: 'links-file',
      type: 'string',
      arg: 'FILE',
      help: 'where to write the Markdown link table (default: generated/launch-links.md)',
    },
    {
      name: 'agencies',
      type: 'string',
      arg: 'ACCOUNT,…',
      help: 'also print one agency-permissions link per agency account',
    },
    {
      name: 'central-account',
      type: 'string',
      arg: 'ACCOUNT',
      help: "CentralAccountId for agency-collector links (default: the caller's account)",
    },
    {
      name: 'central-region',
      type: 'string',
      arg: 'REGION',
      help: 'CentralRegion for agency-collector links (default: --region)',
    },
    {
      name: 'param',
      type: 'string',
      arg: 'TEMPLATE:NAME=VALUE',
      multiple: true,
      help: "prefill a parameter in a template's links, e.g. central-manager:AlarmEmail=ops@example.org (repeatable)",
    },
    {
      name: 'print-bucket-policy',
      type: 'boolean',
      help: 'print the bucket policy for organization-wide read and exit',
    },
    {
      name: 'org-id',
      type: 'string',
      arg: 'o-…',
      help: 'organization ID for --print-bucket-policy (aws:PrincipalOrgID)',
    },
    GENERATED_DIR_OPTION,
  ],
  notes: [
    'Objects are written with ExpectedBucketOwner and server-side encryption; an object whose key (its content hash)',
    'already exists is skipped. Links never prefill a NoEcho parameter.',
  ],
};

/** Placeholder used by --dry-run without --bucket: clearly not a real bucket. */
export const DRY_RUN_BUCKET = 'replace-with-your-bucket-{region}';

interface Target {
  bucket: string;
  region: string;
  /** Regions whose links point at this bucket. */
  linkRegions: string[];
}

interface PublishOptions {
  dryRun: boolean;
  bucketTemplate: string;
  prefix: string;
  regions: string[];
  homeRegion: string | undefined;
  bucketRegion: string | undefined;
  bucketOwner: string | undefined;
  sse: ServerSideEncryption;
  kmsKeyId: string | undefined;
  validate: boolean;
  outDir: string;
  linksFile: string | undefined;
  agencies: string[];
  centralAccount: string | undefined;
  centralRegion: string | undefined;
  params: Array<{ template: TemplateName; name: string; value: string }>;
  printPolicy: boolean;
  orgId: string | undefined;
  profile: string | undefined;
  json: boolean;
}

function parseOptions(ctx: Context, flags: Flags, namePrefix: string): PublishOptions {
  const dryRun = flags['dry-run'] === true;
  const printPolicy = flags['print-bucket-policy'] === true;
  v.exclusive(flags, 'dry-run', 'validate');
  v.exclusive(flags, 'dry-run', 'print-bucket-policy');
  v.exclusive(flags, 'regions', 'bucket-region');
  if (flags['org-id'] !== undefined && !printPolicy)
    throw new UsageError('--org-id is only used with --print-bucket-policy');
  if (flags['out'] !== undefined && !dryRun) throw new UsageError('--out is only used with --dry-run');
  const bucket = str(flags, 'bucket');
  if (!bucket && !dryRun) throw new UsageError('--bucket is required (or use --dry-run)');
  const region = str(flags, 'region');
  if (region) v.region('region', region);
  const regionsFlag = str(flags, 'regions');
  const regions = regionsFlag ? v.regions('regions', regionsFlag) : region ? [region] : [];
  const bucketRegion = str(flags, 'bucket-region');
  if (bucketRegion) v.region('bucket-region', bucketRegion);
  const bucketTemplate = bucket ?? DRY_RUN_BUCKET;
  v.bucketTemplate('bucket', bucketTemplate, regions.length ? regions : ['us-east-1']);
  const prefixFlag = flags['prefix'];
  const prefix = typeof prefixFlag === 'string' ? v.keyPrefix('prefix', prefixFlag) : namePrefix;
  const sse = v.oneOf('sse', str(flags, 'sse') ?? 'AES256', ['AES256', 'aws:kms'] as const) as ServerSideEncryption;
  const kmsKeyId = str(flags, 'kms-key-id');
  if (kmsKeyId && sse !== 'aws:kms') throw new UsageError('--kms-key-id needs --sse aws:kms');
  const bucketOwner = str(flags, 'bucket-owner');
  if (bucketOwner) v.accountId('bucket-owner', bucketOwner);
  const centralAccount = str(flags, 'central-account');
  if (centralAccount) v.accountId('central-account', centralAccount);
  const centralRegion = str(flags, 'central-region');
  if (centralRegion) v.region('central-region', centralRegion);
  const agenciesFlag = str(flags, 'agencies');
  const params = list(flags, 'param').map((raw) => {
    const m = /^([a-z-]+):([^=]+)=(.*)$/s.exec(raw);
    if (!m || !(TEMPLATE_NAMES as readonly string[]).includes(m[1]!)) {
      throw new UsageError(
        `--param: "${raw}" must look like TEMPLATE:NAME=VALUE with TEMPLATE one of ${TEMPLATE_NAMES.join(', ')}`,
      );
    }
    return { template: m[1] as TemplateName, name: m[2]!, value: m[3]! };
  });
  const orgId = str(flags, 'org-id');
  if (printPolicy) {
    if (!bucket) throw new UsageError('--print-bucket-policy needs --bucket');
    if (!orgId) throw new UsageError('--print-bucket-policy needs --org-id o-…');
    v.orgId('org-id', orgId);
  }
  return {
    dryRun,
    bucketTemplate,
    prefix,
    regions,
    homeRegion: region,
    bucketRegion,
    bucketOwner,
    sse,
    kmsKeyId,
    validate: flags['validate'] === true,
    outDir: projectPath(ctx, str(flags, 'out') ?? '.tmp/publish-dry-run'),
    linksFile: str(flags, 'links-file'),
    agencies: agenciesFlag ? v.accountIds('agencies', agenciesFlag) : [],
    centralAccount,
    centralRegion,
    params,
    printPolicy,
    orgId,
    profile: str(flags, 'profile'),
    json: flags['json'] === true,
  };
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
    agencyPermissionsStackName: (a: string) => string;
    agencyCollectorStackName: string;
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
  const templates = Object.fromEntries(
    (['central-manager', 'agency-permissions', 'agency-collector'] as TemplateName[]).map((n) => [
      n,
      readTemplate(gen, n).json,
    ]),
  ) as Record<TemplateName, ReturnType<typeof readTemplate>['json']>;
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
      if (inputs.agencies.length === 0) {
        add(
          'agency-permissions',
          undefined,
          'central account, one stack per agency (name it ' +
            inputs.names.agencyPermissionsStackName('<account>') +
            ')',
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
    }
  }
  return { links, warnings: [...warnings] };
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (flags) => {
    const { config, names } = loadConfig(ctx, flags);
    const o = parseOptions(ctx, flags, config.namePrefix);
    const gen = generatedDir(ctx, flags);
    const artifacts = loadArtifacts(gen);
    for (const name of TEMPLATE_NAMES) readTemplate(gen, name);
    for (const p of o.params) {
      const t = readTemplate(gen, p.template).json;
      checkParameter('--param', p.template, t, p.name, p.value);
      // A secret must never travel in a URL (browser history, logs, chat): refuse rather than skip.
      if (isNoEcho(t.Parameters?.[p.name]))
        throw new UsageError(
          `--param: ${p.template} parameter ${p.name} is NoEcho and is never put in a link; enter it in the console`,
        );
    }

    // Dry-run must work on a fresh clone: no Region lookup through the SDK, no STS.
    const homeRegion =
      o.homeRegion ?? (o.dryRun ? ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION || 'us-east-1' : undefined);
    const region = homeRegion ?? (await resolveRegion(ctx, undefined, o.profile));
    const regions = o.regions.length ? o.regions : [v.region('region', region)];
    v.bucketTemplate('bucket', o.bucketTemplate, regions);
    const targets = planTargets(o.bucketTemplate, regions, o.bucketRegion ?? region);

    if (o.printPolicy) {
      const policies = targets.map((t) => ({
        bucket: t.bucket,
        policy: bucketPolicy(t.bucket, t.region, o.prefix, o.orgId!),
      }));
      if (o.json) ctx.stdout(`${JSON.stringify(policies, null, 2)}\n`);
      else
        for (const p of policies) ctx.stdout(`# bucket policy for ${p.bucket}\n${JSON.stringify(p.policy, null, 2)}\n`);
      return EXIT.ok;
    }

    const byPath = new Map(artifacts.map((a) => [a.path, a]));
    const keyOf = (path: string) => {
      const a = byPath.get(path);
      if (!a) throw new UsageError(`${join(gen, 'manifest.json')} does not list ${path}: run \`npm run build\``);
      return objectKey(o.prefix, a);
    };

    const report = targets.map((t) => ({
      bucket: t.bucket,
      region: t.region,
      uploaded: [] as string[],
      skipped: [] as string[],
    }));
    let centralAccount = o.centralAccount;
    const notes: string[] = [];

    if (o.dryRun) {
      for (const [i, t] of targets.entries()) {
        for (const a of artifacts) {
          const key = objectKey(o.prefix, a);
          const dest = join(o.outDir, t.bucket, ...key.split('/'));
          mkdirSync(dirname(dest), { recursive: true });
          copyFileSync(join(gen, a.path), dest);
          report[i]!.uploaded.push(key);
        }
      }
      mkdirSync(o.outDir, { recursive: true });
      writeFileSync(join(o.outDir, 'upload-plan.json'), `${JSON.stringify(report, null, 2)}\n`);
      progress(
        ctx,
        `dry run: wrote ${artifacts.length} objects per bucket under ${relative(ctx.root, o.outDir) || o.outDir}`,
      );
      notes.push(
        'Dry run: nothing was uploaded. These links work only once the objects are in the bucket named in them.',
      );
    } else {
      const clients = makeClients(ctx, o.profile);
      const caller = o.bucketOwner && o.centralAccount ? undefined : await callerAccount(clients, region);
      const owner = o.bucketOwner ?? caller!;
      centralAccount ??= caller;
      for (const [i, t] of targets.entries()) {
        const s3 = clients.s3(t.region);
        for (const a of artifacts) {
          const key = objectKey(o.prefix, a);
          const where = `s3://${t.bucket}/${key}`;
          let exists = false;
          try {
            const head = await s3.send(
              new HeadObjectCommand({ Bucket: t.bucket, Key: key, ExpectedBucketOwner: owner }),
            );
            // The key is the content hash, so an object of the same size there is this file.
            exists = head.ContentLength === undefined || head.ContentLength === a.body.length;
          } catch (err) {
            const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
            if (e.name !== 'NotFound' && e.name !== 'NoSuchKey' && e.$metadata?.httpStatusCode !== 404) {
              throw new OperationError(`cannot read ${where} (bucket owner expected: ${owner}): ${describeError(err)}`);
            }
          }
          if (exists) {
            report[i]!.skipped.push(key);
            progress(ctx, `unchanged ${where}`);
            continue;
          }
          progress(ctx, `uploading ${where}`);
          try {
            await s3.send(
              new PutObjectCommand({
                Bucket: t.bucket,
                Key: key,
                Body: a.body,
                ContentType: contentType(a.path),
                ExpectedBucketOwner: owner,
                ServerSideEncryption: o.sse,
                ...(o.kmsKeyId ? { SSEKMSKeyId: o.kmsKeyId } : {}),
              }),
            );
          } catch (err) {
            throw new OperationError(`upload of ${where} failed: ${describeError(err)}`);
          }
          report[i]!.uploaded.push(key);
        }
      }
      if (o.validate) {
        for (const t of targets) {
          for (const a of artifacts.filter((x) => x.kind === 'template')) {
            const url = s3ObjectUrl(t.bucket, t.region, objectKey(o.prefix, a));
            progress(ctx, `validating ${url}`);
            try {
              await clients.cloudformation(t.region).send(new ValidateTemplateCommand({ TemplateURL: url }));
            } catch (err) {
              throw new OperationError(`ValidateTemplate failed for ${url}: ${describeError(err)}`);
            }
          }
        }
      }
    }

    if (!centralAccount)
      notes.push('CentralAccountId is not prefilled in agency-collector links: pass --central-account.');
    const { links, warnings } = buildLinks(gen, targets, keyOf, {
      names,
      agencies: o.agencies,
      centralAccount,
      centralRegion: o.centralRegion ?? o.homeRegion ?? region,
      params: o.params,
    });
    const linksFile = o.dryRun
      ? join(o.outDir, 'launch-links.md')
      : o.linksFile
        ? projectPath(ctx, o.linksFile)
        : join(gen, 'launch-links.md');
    mkdirSync(dirname(linksFile), { recursive: true });
    writeFileSync(linksFile, launchLinksMarkdown(links, notes));

    // Plain template URLs, for `onboard`/`rollout --template-url` and `aws cloudformation` commands.
    const templateUrls = targets.flatMap((t) =>
      TEMPLATE_NAMES.map((name) => ({
        bucket: t.bucket,
        region: t.region,
        template: name,
        url: s3ObjectUrl(t.bucket, t.region, keyOf(`templates/${name}.json`)),
      })),
    );
    if (o.json) {
      ctx.stdout(
        `${JSON.stringify({ dryRun: o.dryRun, buckets: report, templateUrls, links, linksFile, warnings, notes }, null, 2)}\n`,
      );
    } else {
      for (const r of report) {
        ctx.stdout(
          `${o.dryRun ? 'would upload' : 'uploaded'} ${r.uploaded.length}, unchanged ${r.skipped.length}: s3://${r.bucket} (${r.region})\n`,
        );
      }
      ctx.stdout('\nTemplate URLs (for --template-url):\n');
      for (const t of templateUrls) ctx.stdout(`  ${t.template} (${t.region}): ${t.url}\n`);
      for (const region of [...new Set(links.map((l) => l.region))]) {
        ctx.stdout(`\nQuick-create links for ${region}:\n`);
        for (const l of links.filter((x) => x.region === region))
          ctx.stdout(`  ${l.template} → ${l.stackName} (${l.deployIn})\n    ${l.url}\n`);
      }
      for (const w of warnings) ctx.stdout(`WARNING: ${w}\n`);
      for (const n of notes) ctx.stdout(`note: ${n}\n`);
      ctx.stdout(`\nwrote ${relative(ctx.root, linksFile) || linksFile}\n`);
    }
    return EXIT.ok;
  });
}
