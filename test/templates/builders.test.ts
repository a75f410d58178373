// What the three builders must always produce, checked on the real build output.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBuildConfig } from '../../templates-src/config.ts';
import { renderAll, type BuildOutput } from '../../scripts/build/index.ts';
import { PROJECT_ROOT } from '../../scripts/build/bundle.ts';
import { LIMITS } from '../../templates-src/kit/template.ts';
import { AGENCY_TEMPLATE_MAX_BYTES } from '../../contract/limits.ts';

let out: BuildOutput;
const template = (name: string) =>
  out.templates[name as 'central-manager'] as {
    Parameters?: Record<string, any>;
    Resources: Record<string, any>;
    Outputs?: Record<string, any>;
  };
const bytes = (path: string) => out.manifest.artifacts.find((a) => a.path === path)!.bytes;

beforeAll(async () => {
  out = await renderAll(loadBuildConfig(join(PROJECT_ROOT, 'build.config.json')));
});

describe('template sizes', () => {
  // Issue 14: each agency template keeps 10% headroom under the 51,200-byte TemplateBody limit, so
  // `rollout` sends both StackSets inline and needs no bucket. Compact JSON is what the build writes.
  it('budgets each agency template at 46,080 bytes, 10% under the TemplateBody limit', () => {
    expect(AGENCY_TEMPLATE_MAX_BYTES).toBe(46_080);
    expect(AGENCY_TEMPLATE_MAX_BYTES).toBe(Math.floor(LIMITS.templateBodyBytes * 0.9));
  });
  it.each(['agency-collector', 'agency-registration'])(
    'keeps %s within the agency template budget as compact JSON',
    (name) => {
      const compact = Buffer.byteLength(JSON.stringify(out.templates[name as 'agency-collector']));
      expect(compact).toBeLessThanOrEqual(AGENCY_TEMPLATE_MAX_BYTES);
      expect(bytes(`templates/${name}.json`)).toBeLessThanOrEqual(AGENCY_TEMPLATE_MAX_BYTES);
    },
  );
  it('keeps agency-permissions within the TemplateBody limit, so onboarding needs no S3', () => {
    expect(bytes('templates/agency-permissions.json')).toBeLessThanOrEqual(LIMITS.templateBodyBytes);
  });
  it('keeps every SSM document under 64 KB', () => {
    for (const a of out.manifest.artifacts.filter((x) => x.kind === 'document'))
      expect(a.bytes).toBeLessThan(64 * 1024);
  });
});

describe('central-manager', () => {
  it('names the tag manager as the collector derives it, and gives agencies no permission on the function itself', () => {
    const r = template('central-manager').Resources;
    expect(r.TagManagerFunction.Properties.FunctionName).toBe('ssm-hub-tag-manager');
    const permissions = Object.values(r).filter((x: any) => x.Type === 'AWS::Lambda::Permission') as any[];
    expect([...new Set(permissions.map((p) => p.Properties.Principal))]).toEqual(['events.amazonaws.com']);
  });
  it('keeps the sync-state table pay-per-request, with point-in-time recovery and KMS encryption', () => {
    const table = template('central-manager').Resources.SyncStateTable;
    expect(table.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
    });
    expect(table.DeletionPolicy).toBe('Retain');
  });
  it('holds the deregistration document, because only the hub can reach a registered instance', () => {
    const r = template('central-manager').Resources;
    expect(r.DeregisterDocument.Properties.Content.mainSteps.map((s: any) => s.name)).toEqual([
      'DeregisterLinux',
      'DeregisterWindows',
    ]);
    expect(template('agency-collector').Resources.DeregisterDocument).toBeUndefined();
  });
  it('sends every alarm to the alarm topic', () => {
    const alarms = Object.values(template('central-manager').Resources).filter(
      (x: any) => x.Type === 'AWS::CloudWatch::Alarm',
    ) as any[];
    expect(alarms.length).toBeGreaterThanOrEqual(8);
    for (const a of alarms) expect(a.Properties.AlarmActions).toEqual([{ Ref: 'AlarmTopic' }]);
  });
  it('alarms on every membership pass that keeps a suspended or closed agency account (AgenciesNotActive)', () => {
    expect(template('central-manager').Resources.AgenciesNotActiveAlarm.Properties).toMatchObject({
      MetricName: 'AgenciesNotActive',
      Dimensions: [{ Name: 'Service', Value: 'FleetLifecycle' }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });
});

describe('agency-permissions', () => {
  it('puts the invoke permission on the agency alias, for the agency account only', () => {
    const r = template('agency-permissions').Resources;
    expect(r.AgencyAlias.Properties.Name).toEqual({ 'Fn::Sub': 'agency-${AgencyAccountId}' });
    expect(r.AgencyInvokePermission.Properties).toEqual({
      Action: 'lambda:InvokeFunction',
      FunctionName: { Ref: 'AgencyAlias' },
      Principal: { Ref: 'AgencyAccountId' },
    });
  });
  it('accepts only a 12-digit agency account', () => {
    const p = template('agency-permissions').Parameters!.AgencyAccountId;
    const re = new RegExp(p.AllowedPattern);
    expect(re.test('111122223333')).toBe(true);
    for (const bad of ['11112222333', '1111222233334', '*', 'o-abc123']) expect(re.test(bad)).toBe(false);
  });
});

describe('agency-collector', () => {
  it('alarms when several live instances claim one managed node (their report is held back, pausing the sweep)', () => {
    const alarm = template('agency-collector').Resources.DuplicateClaimsAlarm;
    expect(alarm.Type).toBe('AWS::CloudWatch::Alarm');
    expect(alarm.Properties).toMatchObject({
      MetricName: 'DuplicateClaims',
      Namespace: 'SsmHub/ssm-hub',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: 'AlarmTopic' }],
    });
  });
  it('invokes only its own agency alias, derived from its own account ID', () => {
    const r = template('agency-collector').Resources;
    const env = r.CollectorFunction.Properties.Environment.Variables;
    expect(env.HUB_FUNCTION_ARN).toEqual({
      'Fn::Sub':
        'arn:${AWS::Partition}:lambda:${CentralRegion}:${CentralAccountId}:function:ssm-hub-tag-manager:agency-${AWS::AccountId}',
    });
    const invoke = r.CollectorRole.Properties.Policies[0].PolicyDocument.Statement.find(
      (s: any) => s.Action === 'lambda:InvokeFunction',
    );
    expect(invoke.Resource).toEqual(env.HUB_FUNCTION_ARN);
  });
  it('no template or document declares a parameter or output that could carry an activation code', () => {
    const names: string[] = [];
    for (const n of ['central-manager', 'agency-permissions', 'agency-collector', 'agency-registration']) {
      const t = template(n);
      names.push(...Object.keys(t.Parameters ?? {}), ...Object.keys(t.Outputs ?? {}));
      for (const r of Object.values(t.Resources) as any[]) {
        if (r.Type === 'AWS::SSM::Document') names.push(...Object.keys(r.Properties.Content.parameters));
        // ServiceToken is CloudFormation's name for the provider function's ARN, not a secret.
        if (r.Type === 'Custom::AgencyActivation')
          names.push(...Object.keys(r.Properties).filter((k) => k !== 'ServiceToken'));
      }
    }
    expect(names.length).toBeGreaterThan(15);
    for (const name of names) expect(name).not.toMatch(/code|secret|password|token/i);
  });
});

describe('agency-registration', () => {
  it('holds the register document and the zero-touch association, which agency-collector no longer holds', () => {
    const collector = template('agency-collector');
    const registration = template('agency-registration');
    expect(Object.keys(registration.Resources).sort()).toEqual(['RegisterDocument', 'ZeroTouchAssociation']);
    expect(collector.Resources.RegisterDocument).toBeUndefined();
    expect(collector.Resources.ZeroTouchAssociation).toBeUndefined();
    expect(Object.keys(registration.Outputs!)).toEqual(['RegisterDocumentName']);
    expect(Object.keys(collector.Outputs!).sort()).toEqual(['HubAliasArn', 'InstanceProfileName']);
  });
  it('declares the registration parameters, and the collector only the hub and operations ones', () => {
    expect(Object.keys(template('agency-registration').Parameters!).sort()).toEqual([
      'CentralRegion',
      'EnableZeroTouchRegistration',
      'OptInTagKey',
      'OptInTagValue',
    ]);
    expect(Object.keys(template('agency-collector').Parameters!).sort()).toEqual([
      'AlarmEmail',
      'CentralAccountId',
      'CentralRegion',
      'ReconcileSchedule',
    ]);
    expect(template('agency-registration').Parameters!.CentralRegion).toEqual(
      template('agency-collector').Parameters!.CentralRegion,
    );
  });
  it('keeps the instance role and profile in agency-collector, so an upgrade never deletes a profile in use', () => {
    const r = template('agency-collector').Resources;
    expect(r.InstanceRole.Type).toBe('AWS::IAM::Role');
    expect(r.InstanceProfile.Type).toBe('AWS::IAM::InstanceProfile');
  });
  it('points the register document and the association at the parameters the collector writes', () => {
    const r = template('agency-registration').Resources;
    const collectorEnv = template('agency-collector').Resources.CollectorFunction.Properties.Environment.Variables;
    const path = r.ZeroTouchAssociation.Properties.Parameters.ActivationParameterPath[0];
    expect(Object.values(collectorEnv)).toContain(path);
    expect(r.ZeroTouchAssociation.Properties.Parameters.HubRegion).toEqual([{ Ref: 'CentralRegion' }]);
  });
  it('makes the zero-touch association conditional on its parameter', () => {
    const r = template('agency-registration').Resources;
    expect(r.ZeroTouchAssociation.Condition).toBe('ZeroTouchEnabled');
    expect(r.ZeroTouchAssociation.Properties.Targets).toEqual([
      { Key: { 'Fn::Sub': 'tag:${OptInTagKey}' }, Values: [{ Ref: 'OptInTagValue' }] },
    ]);
  });
});

describe('every template', () => {
  it.each(['central-manager', 'agency-collector'])(
    '%s names no log group, so a re-created stack never collides with a retained one',
    (name) => {
      const r = template(name).Resources;
      const groups = Object.entries(r).filter(([, x]: [string, any]) => x.Type === 'AWS::Logs::LogGroup');
      expect(groups.length).toBeGreaterThan(0);
      for (const [, g] of groups as Array<[string, any]>) {
        expect(g.Properties.LogGroupName).toBeUndefined();
        expect(g.DeletionPolicy).toBe('Retain');
      }
    },
  );
  it.each(['central-manager', 'agency-collector'])('%s lets each function write only to its own log group', (name) => {
    const r = template(name).Resources;
    for (const [id, fn] of Object.entries(r).filter(
      ([, x]: [string, any]) => x.Type === 'AWS::Lambda::Function',
    ) as Array<[string, any]>) {
      expect(fn.Properties.LoggingConfig).toEqual({ LogFormat: 'JSON', LogGroup: { Ref: `${id}LogGroup` } });
      const role = r[fn.Properties.Role['Fn::GetAtt'][0]];
      const logs = role.Properties.Policies[0].PolicyDocument.Statement.find((st: any) => st.Sid === 'WriteOwnLogs');
      expect(logs.Resource).toEqual({ 'Fn::GetAtt': [`${id}LogGroup`, 'Arn'] });
    }
  });
});

describe('asynchronous failure destinations', () => {
  it.each(['central-manager', 'agency-collector'])(
    '%s: every function may send to its on-failure queue (Lambda checks it at deploy time)',
    (name) => {
      const r = template(name).Resources;
      const configs = Object.values(r).filter((x: any) => x.Type === 'AWS::Lambda::EventInvokeConfig') as any[];
      expect(configs.length).toBeGreaterThan(0);
      for (const c of configs) {
        const fnId = c.Properties.FunctionName.Ref;
        const queueArn = c.Properties.DestinationConfig.OnFailure.Destination;
        const role = r[r[fnId].Properties.Role['Fn::GetAtt'][0]];
        const statements = role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
        expect(
          statements.some(
            (st: any) =>
              st.Effect === 'Allow' &&
              st.Action === 'sqs:SendMessage' &&
              JSON.stringify(st.Resource) === JSON.stringify(queueArn),
          ),
        ).toBe(true);
        // An SQS queue encrypted with the stack's key needs the key too.
        const queue = r[queueArn['Fn::GetAtt'][0]];
        if (queue.Properties.KmsMasterKeyId) {
          expect(
            statements.some(
              (st: any) =>
                [].concat(st.Action).includes('kms:GenerateDataKey' as never) &&
                JSON.stringify(st.Condition ?? {}).includes('sqs.'),
            ),
          ).toBe(true);
        }
      }
    },
  );
});
