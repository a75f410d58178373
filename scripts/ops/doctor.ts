// `ssm-hub doctor`: checks each prerequisite of the hub and says, per check, PASS or FAIL and the
// fix: Node version, StackSets trusted access, the delegated administrator (or management account),
// the central stack and whether it runs the local build, the template buckets' organization read
// policy, and the SSM instance tier with node headroom per Region. Exit code 1 when any check fails.
import { DescribeOrganizationsAccessCommand, GetTemplateCommand, type CallAs } from '@aws-sdk/client-cloudformation';
import { type CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DescribeOrganizationCommand, paginateListDelegatedAdministrators } from '@aws-sdk/client-organizations';
import { GetBucketPolicyCommand } from '@aws-sdk/client-s3';
import { GetServiceSettingCommand } from '@aws-sdk/client-ssm';
import { GetAccountSettingsCommand } from '@aws-sdk/client-lambda';
import {
  advancedTierOn,
  CENTRAL_RESERVED_CONCURRENCY,
  LAMBDA_MIN_UNRESERVED_CONCURRENCY,
} from '../../contract/limits.ts';
import { callerAccount, makeClients, resolveRegion, type Clients } from './aws.ts';
import { awsFailureText, failureKind } from './aws-errors.ts';
import { defaultContext, defineCommand, EXIT, list, runCommand, text, UsageError, type Context } from '../kit/index.ts';
import * as v from '../kit/validate.ts';
import { AWS_OPTIONS, callAsOption, centralStackOption, GENERATED_DIR_OPTION, generatedDir } from './common.ts';
import { loadConfig } from './common.ts';
import { readTemplate } from './generated.ts';
import { bucketPolicy, planTargets } from './publish.ts';
import { countManagedNodes } from './status.ts';
import { describeStack } from './stacks.ts';
import { agencyStackPattern, agencyStacks, holdsNothing } from './agency-stacks.ts';

export const spec = defineCommand({
  name: 'doctor',
  summary: 'Check every prerequisite of the hub, with a PASS or FAIL line and the fix for each; exit 1 when any fails.',
  usage: ['[--regions r1,r2] [--bucket NAME-{region} --prefix P] [--call-as DELEGATED_ADMIN] [options]'],
  options: [
    list('regions', {
      arg: 'r1,r2',
      help: 'Regions whose SSM tier and node headroom are checked (default: --region)',
      check: v.regions,
    }),
    text('bucket', {
      arg: 'BUCKET',
      help: 'template bucket (may contain {region}) whose policy must let the organization read',
    }),
    text('bucket-region', {
      arg: 'REGION',
      help: 'Region of --bucket when it has no {region} (one bucket is checked once, there)',
      check: v.region,
      defaultText: '--region',
    }),
    text('prefix', {
      arg: 'P',
      help: 'published key prefix',
      check: v.keyPrefix,
      allowEmpty: true,
      defaultText: 'the build namePrefix',
    }),
    callAsOption('SELF from the management account, DELEGATED_ADMIN from a registered delegated administrator'),
    centralStackOption('central stack name'),
    GENERATED_DIR_OPTION,
    ...AWS_OPTIONS,
  ],
});

export interface CheckResult {
  check: string;
  status: 'PASS' | 'WARN' | 'FAIL';
  detail: string;
  fix?: string;
}

const STACKSETS_PRINCIPAL = 'member.org.stacksets.cloudformation.amazonaws.com';
const TIER_SETTING = '/ssm/managed-instance/activation-tier';
const MIN_NODE: [number, number] = [20, 19];

const pass = (check: string, detail: string): CheckResult => ({ check, status: 'PASS', detail });
const fail = (check: string, detail: string, fix: string): CheckResult => ({ check, status: 'FAIL', detail, fix });

/** A check whose AWS call failed says which kind of failure, never a bare stack trace. */
const unreadable = (check: string, err: unknown, fix: string): CheckResult =>
  fail(check, `could not check (${failureKind(err)}): ${awsFailureText(err)}`, fix);

export function nodeVersionCheck(version: string): CheckResult {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
  const ok = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  return ok
    ? pass('Node.js version', `${version} (needs ${MIN_NODE.join('.')} or later)`)
    : fail(
        'Node.js version',
        `${version} is older than ${MIN_NODE.join('.')}`,
        'install Node.js 20.19 or later (22 LTS recommended)',
      );
}

export async function trustedAccessCheck(cfn: CloudFormationClient, callAs: CallAs): Promise<CheckResult> {
  const name = 'StackSets trusted access';
  const fix =
    'aws cloudformation activate-organizations-access (from the management account or a delegated administrator)';
  try {
    const out = await cfn.send(new DescribeOrganizationsAccessCommand({ CallAs: callAs }));
    return out.Status === 'ENABLED' ? pass(name, 'activated') : fail(name, `status ${out.Status}`, fix);
  } catch (err) {
    return unreadable(name, err, fix);
  }
}

export async function adminCheck(
  clients: Clients,
  region: string,
  caller: string,
  callAs: CallAs,
): Promise<CheckResult> {
  const org = clients.organizations(region);
  const name = callAs === 'DELEGATED_ADMIN' ? 'delegated administrator' : 'management account';
  const register = `from the management account: aws organizations register-delegated-administrator --service-principal ${STACKSETS_PRINCIPAL} --account-id ${caller}`;
  try {
    if (callAs === 'SELF') {
      const out = await org.send(new DescribeOrganizationCommand({}));
      const mgmt = out.Organization?.MasterAccountId;
      return mgmt === caller
        ? pass(name, `${caller} is the management account`)
        : fail(
            name,
            `${caller} is not the management account (${mgmt})`,
            `run from ${mgmt}, or pass --call-as DELEGATED_ADMIN from a delegated administrator (${register})`,
          );
    }
    const admins: string[] = [];
    for await (const page of paginateListDelegatedAdministrators(
      { client: org },
      { ServicePrincipal: STACKSETS_PRINCIPAL },
    ))
      admins.push(...(page.DelegatedAdministrators ?? []).map((a) => a.Id ?? ''));
    return admins.includes(caller)
      ? pass(name, `${caller} is a delegated administrator for StackSets`)
      : fail(name, `${caller} is not registered for ${STACKSETS_PRINCIPAL}`, register);
  } catch (err) {
    return unreadable(name, err, register);
  }
}

const canonical = (body: string | undefined): string | undefined => {
  try {
    return body ? JSON.stringify(JSON.parse(body)) : undefined;
  } catch {
    return body;
  }
};

export async function centralStackChecks(
  cfn: CloudFormationClient,
  stackName: string,
  localBody: string | undefined,
  agencyStackPattern?: RegExp,
): Promise<CheckResult[]> {
  const name = `central stack ${stackName}`;
  try {
    const stack = await describeStack(cfn, stackName);
    if (!stack) {
      const fix = 'ssm-hub deploy --template-url <central-manager URL from publish>';
      // Agency stacks here import its exports: it was deployed, and is gone or named otherwise.
      // Without ListStacks that cannot be told, and the warning below says what to check anyway.
      const listed = agencyStackPattern
        ? await agencyStacks(cfn, agencyStackPattern).catch(() => undefined)
        : undefined;
      const agencies = [...(listed?.values() ?? [])].filter((a) => !holdsNothing(a.status)).length;
      if (agencies)
        return [
          fail(
            name,
            `not found, yet ${agencies} agency permissions stack(s) here depend on it`,
            `pass --central-stack if it is named otherwise; if it is gone: ${fix}`,
          ),
        ];
      // Before the first deploy this is expected (the README runs doctor first): a warning.
      return [
        {
          check: name,
          status: 'WARN',
          detail: 'not deployed yet in this Region (or named otherwise: --central-stack)',
          fix,
        },
      ];
    }
    const status = stack.StackStatus ?? '';
    const healthy = /_COMPLETE$/.test(status) && !/ROLLBACK|DELETE/.test(status);
    const state = healthy ? pass(name, status) : fail(name, status, 'see the stack events; fix, then ssm-hub deploy');
    if (!localBody) return [state];
    const deployed = await cfn.send(new GetTemplateCommand({ StackName: stackName, TemplateStage: 'Original' }));
    const same = canonical(deployed.TemplateBody) === canonical(localBody);
    return [
      state,
      same
        ? pass('central stack version', 'runs the local build of central-manager')
        : fail(
            'central stack version',
            'differs from the local build of central-manager',
            'publish, then ssm-hub deploy (or rebuild if the local build is older)',
          ),
    ];
  } catch (err) {
    return [unreadable(name, err, 'check credentials and cloudformation:DescribeStacks')];
  }
}

/** The published read statement (publish --print-bucket-policy) must be in the bucket's policy. */
export function policyReaches(policyJson: string | undefined, expected: object): boolean {
  const want = (expected as { Statement: Array<{ Sid: string }> }).Statement.find(
    (s) => s.Sid === 'OrganizationReadTemplates',
  );
  const statements = (JSON.parse(policyJson ?? '{}') as { Statement?: unknown }).Statement ?? [];
  // IAM accepts one statement object as well as a list, and a one-element list for a single value.
  const have = Array.isArray(statements) ? statements : [statements];
  return have.some(
    (s) => iamCanonical({ ...(s as object), Sid: undefined }) === iamCanonical({ ...want, Sid: undefined }),
  );
}

/** JSON with object keys sorted and one-element lists as their element: equal for equal IAM meaning. Pure. */
function iamCanonical(value: unknown): string {
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.length === 1 ? norm(v[0]) : v.map(norm);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .sort()
          .map((k) => [k, norm((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  return JSON.stringify(norm(value));
}

async function bucketChecks(
  clients: Clients,
  region: string,
  bucket: string,
  regions: string[],
  bucketRegion: string,
  prefix: string,
): Promise<CheckResult[]> {
  let orgId: string;
  try {
    orgId = (await clients.organizations(region).send(new DescribeOrganizationCommand({}))).Organization?.Id ?? '';
  } catch (err) {
    return [
      unreadable(
        'template bucket policies',
        err,
        'organizations:DescribeOrganization is needed to know the organization ID',
      ),
    ];
  }
  const results: CheckResult[] = [];
  // The buckets publish writes to: one per Region with {region}, else one bucket in its own Region.
  for (const { bucket: name, region: r } of planTargets(bucket, regions, bucketRegion)) {
    const check = `bucket ${name} lets the organization read`;
    const regionFlag = bucket.includes('{region}') ? `--regions ${r}` : `--region ${r}`;
    const fix = `ssm-hub publish --print-bucket-policy --bucket '${bucket}' ${regionFlag} --org-id ${orgId} > policy.json, then aws s3api put-bucket-policy --bucket ${name} --policy file://policy.json`;
    try {
      const out = await clients.s3(r).send(new GetBucketPolicyCommand({ Bucket: name }));
      results.push(
        policyReaches(out.Policy, bucketPolicy(name, r, prefix, orgId))
          ? pass(check, `organization ${orgId} may read ${prefix}/*`)
          : fail(check, `no statement lets organization ${orgId} read ${prefix}/*`, fix),
      );
    } catch (err) {
      results.push(
        (err as { name?: string }).name === 'NoSuchBucketPolicy'
          ? fail(check, 'the bucket has no policy', fix)
          : unreadable(check, err, fix),
      );
    }
  }
  return results;
}

/** SSM's tier and the node count give the headroom: pure. */
export function tierCheck(region: string, tier: string, nodes: number, limit: number): CheckResult {
  const name = `SSM tier in ${region}`;
  if (advancedTierOn(tier)) return pass(name, `advanced tier, ${nodes} hybrid nodes`);
  const fix = `enable the advanced tier in ${region} (Systems Manager > Fleet Manager > Settings; a paid feature) or move agencies to another Region`;
  if (nodes >= limit) return fail(name, `standard tier, ${nodes} of ${limit} hybrid nodes: no headroom`, fix);
  const detail = `standard tier, ${nodes} of ${limit} hybrid nodes (${limit - nodes} left)`;
  return nodes >= limit * 0.8 ? { check: name, status: 'WARN', detail, fix } : pass(name, detail);
}

/**
 * Lambda concurrency left unreserved: central-manager reserves CENTRAL_RESERVED_CONCURRENCY and Lambda
 * keeps LAMBDA_MIN_UNRESERVED_CONCURRENCY unreserved, so before the stack exists the account needs
 * both; once it exists its reservation is already counted. Pure.
 */
export function concurrencyCheck(region: string, unreserved: number, centralDeployed: boolean): CheckResult {
  const name = `Lambda concurrency in ${region}`;
  const needed = LAMBDA_MIN_UNRESERVED_CONCURRENCY + (centralDeployed ? 0 : CENTRAL_RESERVED_CONCURRENCY);
  if (unreserved >= needed) return pass(name, `${unreserved} unreserved concurrent executions`);
  return fail(
    name,
    `${unreserved} unreserved concurrent executions; central-manager needs ${needed} (it reserves ${CENTRAL_RESERVED_CONCURRENCY} for the fleet lifecycle, and Lambda keeps ${LAMBDA_MIN_UNRESERVED_CONCURRENCY} unreserved)`,
    `request a higher "Concurrent executions" quota for Lambda in ${region} (Service Quotas); new accounts may start far below the default of 1,000`,
  );
}

async function lambdaConcurrency(clients: Clients, region: string, centralStack: string): Promise<CheckResult> {
  try {
    const settings = await clients.lambda(region).send(new GetAccountSettingsCommand({}));
    const central = await describeStack(clients.cloudformation(region), centralStack);
    return concurrencyCheck(region, settings.AccountLimit?.UnreservedConcurrentExecutions ?? 0, central !== undefined);
  } catch (err) {
    return unreadable(`Lambda concurrency in ${region}`, err, 'lambda:GetAccountSettings is needed');
  }
}

async function ssmChecks(clients: Clients, regions: string[], limit: number): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const r of regions) {
    try {
      const setting = await clients.ssm(r).send(new GetServiceSettingCommand({ SettingId: TIER_SETTING }));
      results.push(
        tierCheck(r, setting.ServiceSetting?.SettingValue ?? 'standard', await countManagedNodes(clients, r), limit),
      );
    } catch (err) {
      results.push(unreadable(`SSM tier in ${r}`, err, 'ssm:GetServiceSetting and ssm:ListNodesSummary are needed'));
    }
  }
  return results;
}

function print(ctx: Context, results: CheckResult[], json: boolean): number {
  const failed = results.filter((r) => r.status === 'FAIL').length;
  if (json) ctx.stdout(`${JSON.stringify({ checks: results, failed }, null, 2)}\n`);
  else {
    for (const r of results)
      ctx.stdout(
        `${r.status}  ${r.check}: ${r.detail}\n${r.fix && r.status !== 'PASS' ? `      fix: ${r.fix}\n` : ''}`,
      );
    ctx.stdout(`\n${results.length - failed} of ${results.length} checks passed\n`);
  }
  return failed ? EXIT.failed : EXIT.ok;
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o) => {
    const { config, names } = loadConfig(ctx, o.config);
    const regionsGiven = o.regions;
    if (o.bucket) v.bucketTemplate('bucket', o.bucket, regionsGiven ?? []);
    if (o['bucket-region'] && !(o.bucket && !o.bucket.includes('{region}')))
      throw new UsageError('--bucket-region is only used with a --bucket that has no {region}');
    let local: string | undefined;
    try {
      local = readTemplate(generatedDir(ctx, o['generated-dir']), 'central-manager').body;
    } catch {
      local = undefined; // no local build: the version check is skipped
    }
    const region = await resolveRegion(ctx, o.region, o.profile);
    const regions = regionsGiven ?? [region];
    const clients = makeClients(ctx, o.profile);
    const results: CheckResult[] = [nodeVersionCheck(process.versions.node)];
    let caller: string | undefined;
    try {
      caller = await callerAccount(clients, region);
      results.push(pass('credentials', `account ${caller}`));
    } catch (err) {
      results.push(unreadable('credentials', err, 'set AWS_PROFILE or pass --profile; check the endpoint and network'));
      return print(ctx, results, o.json);
    }
    const cfn = clients.cloudformation(region);
    results.push(await trustedAccessCheck(cfn, o['call-as']));
    results.push(await adminCheck(clients, region, caller, o['call-as']));
    const agencyPattern = agencyStackPattern(names.agencyPermissionsStackName);
    results.push(
      ...(await centralStackChecks(cfn, o['central-stack'] ?? names.centralStackName, local, agencyPattern)),
    );
    results.push(await lambdaConcurrency(clients, region, o['central-stack'] ?? names.centralStackName));
    if (o.bucket)
      results.push(
        ...(await bucketChecks(
          clients,
          region,
          o.bucket,
          regions,
          o['bucket-region'] ?? region,
          o.prefix ?? config.namePrefix,
        )),
      );
    results.push(...(await ssmChecks(clients, regions, config.standardTierNodeLimit)));
    return print(ctx, results, o.json);
  });
}
