// Each Lambda function's environment is defined once (contract/environment.ts). These tests take
// both sides from the real artifacts: what the generated templates write into each function's
// Environment, and what the bundled handler (the function's own Code.ZipFile) actually reads
// from process.env when it runs. Neither side may have a variable the other lacks.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ACTIVATION_MANAGER_ENVIRONMENT,
  COLLECTOR_ENVIRONMENT,
  environmentVariables,
  LIFECYCLE_ENVIRONMENT,
  isTemplateSetting,
  TAG_MANAGER_ENVIRONMENT,
  type EnvironmentSpec,
} from '../../contract/environment.ts';
import { PROJECT_ROOT } from '../../contract/project.ts';
import { parseBuildConfig } from '../../templates-src/config.ts';
import { readConfig as readTagManagerConfig } from '../../lambda/tag-manager/config.ts';
import { readConfig as readActivationManagerConfig } from '../../lambda/activation-manager/config.ts';
import { bundleAllLambdas, type LambdaName } from '../../scripts/build/bundle.ts';
import { loadCode } from '../../testing/helpers/bundled.ts';

const SPECS: Record<LambdaName, EnvironmentSpec> = {
  'tag-manager': TAG_MANAGER_ENVIRONMENT,
  'activation-manager': ACTIVATION_MANAGER_ENVIRONMENT,
  collector: COLLECTOR_ENVIRONMENT,
  'fleet-lifecycle': LIFECYCLE_ENVIRONMENT,
};

interface FunctionResource {
  template: string;
  logicalId: string;
  code: string;
  variables: Record<string, unknown>;
}

/** Every AWS::Lambda::Function in the generated templates, with its code and Environment.Variables. */
function generatedFunctions(): FunctionResource[] {
  const out: FunctionResource[] = [];
  for (const template of ['central-manager', 'agency-permissions', 'agency-collector']) {
    const doc = JSON.parse(readFileSync(join(PROJECT_ROOT, 'generated', 'templates', `${template}.json`), 'utf8'));
    for (const [logicalId, r] of Object.entries<any>(doc.Resources)) {
      if (r.Type !== 'AWS::Lambda::Function') continue;
      out.push({
        template,
        logicalId,
        code: String(r.Properties.Code.ZipFile).trimEnd(),
        variables: r.Properties.Environment?.Variables ?? {},
      });
    }
  }
  return out;
}

/** Values for the variables a template sets through an intrinsic (resolved only at deploy time). */
const DEPLOY_TIME_SAMPLES: Record<string, string> = {
  SYNC_TABLE_NAME: 'ssm-hub-sync-state',
  ACTIVATION_KMS_KEY_ID: '11111111-2222-3333-4444-555555555555',
  MANAGED_NODE_ROLE_NAME: 'ssm-hub-managed-node',
  HUB_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:999999999999:function:ssm-hub-tag-manager:agency-111111111111',
  SWEEP_MODE: 'dry-run',
  MEMBERSHIP_MODE: 'enabled',
  AGENCY_OUS: 'ou-ab12-abcdefgh',
  AGENCY_ACCOUNTS: '111111111111',
  CENTRAL_STACK_NAME: 'ssm-hub-central-manager',
  STACK_ROLE_ARN: 'arn:aws:iam::999999999999:role/ssm-hub-agency-stacks',
};

/** An invocation that makes the handler read its configuration and then stop without reaching AWS. */
const CONFIG_ONLY_INVOCATION: Record<LambdaName, { event: unknown; context: unknown }> = {
  // No invokedFunctionArn: refused as Unauthorized right after the configuration is read.
  'tag-manager': { event: {}, context: { awsRequestId: 'env-test' } },
  // A scheduled rotation reads the configuration, then lists the records (at a closed port).
  'activation-manager': {
    event: { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} },
    context: { getRemainingTimeInMillis: () => 1_000 },
  },
  // An event the collector does not know: it reads its configuration and reports the kind.
  collector: { event: { source: 'test', 'detail-type': 'nothing' }, context: {} },
  // A sweep reads the configuration, then lists the activation records (at a closed port).
  'fleet-lifecycle': { event: { task: 'orphan-sweep' }, context: {} },
};

/**
 * Variables the Lambda runtime sets (Lambda Developer Guide, "Defined runtime environment
 * variables"); a template cannot set them, so a handler may read them without the template.
 */
const LAMBDA_RUNTIME_VARIABLES = ['AWS_REGION', 'AWS_LAMBDA_LOG_LEVEL', 'AWS_LAMBDA_FUNCTION_NAME', '_X_AMZN_TRACE_ID'];

/**
 * The names the handler's own code (not the AWS SDK it requires from node_modules) reads from
 * process.env during one invocation: each read is attributed by the stack frame that made it.
 */
async function namesReadBy(name: LambdaName, code: string, values: Record<string, string>): Promise<string[]> {
  const label = `env-${name}`;
  const mod = loadCode(code, label);
  (mod.setLogSink as ((s: (l: string) => void) => void) | undefined)?.(() => undefined);
  const read = new Set<string>();
  const original = process.env;
  const env = {
    ...original,
    ...values,
    // Nothing may leave the machine: any AWS call fails at once on a closed loopback port.
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    AWS_MAX_ATTEMPTS: '1',
  };
  process.env = new Proxy(env, {
    get(target, key) {
      // Frame 0 is this trap; frame 1 made the read.
      const caller = new Error().stack?.split('\n')[2] ?? '';
      if (typeof key === 'string' && caller.includes(`/${label}-`)) read.add(key);
      return Reflect.get(target, key);
    },
  });
  try {
    const { event, context } = CONFIG_ONLY_INVOCATION[name];
    await mod.handler(event, context).catch(() => undefined);
  } finally {
    process.env = original;
  }
  return [...read].sort();
}

/** The differences between what a template writes and what the handler reads; empty when they agree. */
export function environmentMismatch(written: string[], read: string[], notWritten: string[]): string[] {
  const problems: string[] = [];
  for (const w of written) if (!read.includes(w)) problems.push(`${w} is written but never read`);
  for (const r of read)
    if (!written.includes(r) && !notWritten.includes(r)) problems.push(`${r} is read but never written`);
  return problems;
}

describe('the environment contract between builders and handlers', () => {
  const functions = generatedFunctions();
  const bundleNames = Object.keys(SPECS) as LambdaName[];

  it('finds every function of the generated templates among the handler bundles', async () => {
    const all = await bundleAllLambdas();
    const bundles = bundleNames.map((n) => all[n].trimEnd());
    expect(functions.map((f) => bundleNames[bundles.indexOf(f.code)] ?? `${f.logicalId}: no bundle`).sort()).toEqual(
      [...bundleNames].sort(),
    );
  });

  it.each(bundleNames)(
    '%s: the template writes exactly the variables the bundled handler reads',
    async (name) => {
      const bundle = (await bundleAllLambdas())[name].trimEnd();
      const fn = functions.find((f) => f.code === bundle)!;
      const values = Object.fromEntries(
        Object.entries(fn.variables).map(([k, v]) => [k, typeof v === 'string' ? v : DEPLOY_TIME_SAMPLES[k]!]),
      );
      // The function's own Code.ZipFile, run as the Lambda runtime would.
      const read = await namesReadBy(name, fn.code, values);
      // Variables the template leaves out on purpose: set by Lambda itself, or operator tuning knobs.
      const notWritten = Object.values(SPECS[name])
        .filter((s) => !isTemplateSetting(s))
        .map((s) => s.name);
      expect(
        environmentMismatch(Object.keys(fn.variables), read, [...notWritten, ...LAMBDA_RUNTIME_VARIABLES]),
      ).toEqual([]);
      // The settings the template leaves out are read too (through the same contract).
      expect(read).toEqual(expect.arrayContaining(notWritten));
    },
    60_000,
  );

  it.each([
    { case: 'agreeing sides', written: ['A', 'B'], read: ['A', 'B', 'AWS_REGION'], expected: [] },
    {
      case: 'a written variable no one reads',
      written: ['A', 'EXTRA'],
      read: ['A'],
      expected: ['EXTRA is written but never read'],
    },
    {
      case: 'a read variable no one writes',
      written: ['A'],
      read: ['A', 'NEW'],
      expected: ['NEW is read but never written'],
    },
  ])('reports $case', ({ written, read, expected }) => {
    expect(environmentMismatch(written, read, ['AWS_REGION'])).toEqual(expected);
  });
});

describe('one definition of each range', () => {
  afterEach(() => vi.unstubAllEnvs());
  const good = JSON.parse(readFileSync(join(PROJECT_ROOT, 'build.config.json'), 'utf8'));
  const withActivation = (field: string, value: number) => ({
    ...good,
    activation: { ...good.activation, [field]: value },
  });
  const TM = TAG_MANAGER_ENVIRONMENT;
  const AM = ACTIVATION_MANAGER_ENVIRONMENT;
  const required = {
    tagManager: { [TM.syncTableName.name]: 't', [TM.activationParameterPrefix.name]: '/p' },
    activationManager: {
      [AM.activationParameterPrefix.name]: '/p',
      [AM.activationKmsKeyId.name]: 'k',
      [AM.managedNodeRoleName.name]: 'r',
      [AM.reservedTagPrefix.name]: 'central-it:',
      [AM.region.name]: 'us-east-1',
    },
  };

  it.each([
    {
      case: 'rotateDaysBeforeExpiry',
      setting: AM.rotateDaysBeforeExpiry,
      config: (n: number) => withActivation('rotateDaysBeforeExpiry', n),
      handler: (n: number) =>
        readActivationManagerConfig({ ...required.activationManager, [AM.rotateDaysBeforeExpiry.name]: String(n) }),
    },
    {
      case: 'rotateAtUsagePercent',
      setting: AM.rotateAtUsagePercent,
      config: (n: number) => withActivation('rotateAtUsagePercent', n),
      handler: (n: number) =>
        readActivationManagerConfig({ ...required.activationManager, [AM.rotateAtUsagePercent.name]: String(n) }),
    },
    {
      case: 'agencyRequestsPerMinute',
      setting: TM.agencyRequestsPerMinute,
      config: (n: number) => ({ ...good, agencyRequestsPerMinute: n }),
      handler: (n: number) =>
        readTagManagerConfig({ ...required.tagManager, [TM.agencyRequestsPerMinute.name]: String(n) }),
    },
  ])(
    '$case: the build configuration and the handler accept and refuse the same values',
    ({ setting, config, handler }) => {
      // rotateDaysBeforeExpiry must also stay below expiryDays; use the longest expiry for its edges.
      const longest = (c: any) => ({ ...c, activation: { ...c.activation, expiryDays: 30 } });
      const accepts = (n: number) => [
        (() => {
          try {
            parseBuildConfig(longest(config(n)));
            return true;
          } catch {
            return false;
          }
        })(),
        (() => {
          try {
            handler(n);
            return true;
          } catch {
            return false;
          }
        })(),
      ];
      expect(accepts(setting.min)).toEqual([true, true]);
      expect(accepts(setting.max)).toEqual([true, true]);
      expect(accepts(setting.min - 1)).toEqual([false, false]);
      expect(accepts(setting.max + 1)).toEqual([false, false]);
    },
  );

  it('writes a setting the template leaves to its default from the contract (SSM_CONCURRENCY)', () => {
    const written = environmentVariables(TM, {
      syncTableName: 't',
      activationParameterPrefix: '/p',
      reservedTagPrefix: 'central-it:',
      metricNamespace: 'SsmHub/x',
      agencyRequestsPerMinute: 600,
    });
    expect(written[TM.ssmConcurrency.name]).toBe(String(TM.ssmConcurrency.default));
  });

  it.each([
    {
      case: 'a value out of range',
      values: { agencyRequestsPerMinute: 5 },
      error: /AGENCY_REQUESTS_PER_MINUTE must be an integer from 10 to 100000/,
    },
    {
      case: 'a value that breaks its rule',
      values: { activationParameterPrefix: 'no-slash' },
      error: /ACTIVATION_PARAMETER_PREFIX is invalid/,
    },
    {
      case: 'a setting the template may not write',
      values: { driftCheckHours: 1 },
      error: /not template settings of this function: driftCheckHours/,
    },
  ])('refuses to write $case', ({ values, error }) => {
    const base = {
      syncTableName: 't',
      activationParameterPrefix: '/p',
      reservedTagPrefix: 'central-it:',
      metricNamespace: 'm',
      agencyRequestsPerMinute: 600,
    };
    expect(() => environmentVariables(TM, { ...base, ...values } as any)).toThrow(error);
  });
});
