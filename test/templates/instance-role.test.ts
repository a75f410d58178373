// Evaluates the agency instance role as IAM would: the inline policy plus the managed
// AmazonSSMManagedInstanceCore policy it attaches. An instance may tag only itself, only with
// the registration keys, and read only the two activation parameters.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBuildConfig } from '../../templates-src/config.ts';
import { renderAll } from '../../scripts/build/index.ts';
import { PROJECT_ROOT } from '../../scripts/build/bundle.ts';
import { AMAZON_SSM_MANAGED_INSTANCE_CORE, evaluate, resolve } from '../../testing/helpers/iam-eval.ts';

const pseudo = { partition: 'aws', region: 'eu-west-2', accountId: '111122223333' };
const self = 'arn:aws:ec2:eu-west-2:111122223333:instance/i-0aaaaaaaaaaaaaaaa';
const other = 'arn:aws:ec2:eu-west-2:111122223333:instance/i-0bbbbbbbbbbbbbbbb';
const param = (name: string) => `arn:aws:ssm:eu-west-2:111122223333:parameter${name}`;
let statements: Parameters<typeof evaluate>[0];
let path: string;
let errorKey: string;

beforeAll(async () => {
  const config = loadBuildConfig(join(PROJECT_ROOT, 'build.config.json'));
  path = config.agencyActivationParameterPath;
  errorKey = `${config.reservedTagPrefix}registration-error`;
  const out = await renderAll(config);
  const role = (out.templates['agency-collector'] as any).Resources.InstanceRole.Properties;
  expect(role.ManagedPolicyArns).toEqual([
    { 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore' },
  ]);
  const inline = role.Policies.flatMap((p: any) => (resolve(p.PolicyDocument, pseudo) as any).Statement);
  statements = [...AMAZON_SSM_MANAGED_INSTANCE_CORE, ...inline];
});

// IAM resolves ${ec2:InstanceID} per target instance and ec2:SourceInstanceARN from the caller.
const tag = (action: string, resource: string, keys: string[] | undefined) =>
  evaluate(statements, {
    action,
    resource,
    context: {
      'ec2:SourceInstanceARN': self,
      'ec2:InstanceID': resource.split('/').pop()!,
      ...(keys ? { 'aws:TagKeys': keys } : {}),
    },
  });

describe('agency instance role', () => {
  it('lets an instance tag itself with managedinstanceid', () => {
    expect(tag('ec2:CreateTags', self, ['managedinstanceid'])).toBe('Allow');
    expect(tag('ec2:DeleteTags', self, ['managedinstanceid'])).toBe('Allow');
  });
  it('lets an instance record its registration error and its opt-out under the reserved prefix', () => {
    expect(tag('ec2:CreateTags', self, [errorKey])).toBe('Allow');
    expect(tag('ec2:CreateTags', self, [errorKey.replace('registration-error', 'registration-opt-out')])).toBe('Allow');
  });
  it('does not rely on the aws:ARN key, which IAM never supplies', () => {
    expect(JSON.stringify(statements)).not.toContain('aws:ARN');
  });
  it('cannot tag another instance, even with the allowed key', () => {
    expect(tag('ec2:CreateTags', other, ['managedinstanceid'])).toBe('ImplicitDeny');
    expect(tag('ec2:DeleteTags', other, ['managedinstanceid'])).toBe('ImplicitDeny');
  });
  it('cannot write another key on itself, alone or mixed with an allowed one', () => {
    expect(tag('ec2:CreateTags', self, ['Name'])).toBe('ImplicitDeny');
    expect(tag('ec2:CreateTags', self, ['managedinstanceid', 'Owner'])).toBe('ImplicitDeny');
  });
  it('cannot delete all of its tags by naming no key', () => {
    expect(tag('ec2:DeleteTags', self, undefined)).toBe('ImplicitDeny');
  });
  it('reads the two activation parameters', () => {
    for (const name of ['id', 'code']) {
      expect(evaluate(statements, { action: 'ssm:GetParameter', resource: param(`${path}/${name}`) })).toBe('Allow');
      expect(evaluate(statements, { action: 'ssm:GetParameters', resource: param(`${path}/${name}`) })).toBe('Allow');
    }
  });
  it('cannot read any other parameter, although AmazonSSMManagedInstanceCore would allow it', () => {
    expect(
      evaluate(AMAZON_SSM_MANAGED_INSTANCE_CORE, {
        action: 'ssm:GetParameter',
        resource: param('/payroll/db-password'),
      }),
    ).toBe('Allow');
    for (const resource of [param('/payroll/db-password'), param(`${path}/other`), param(`${path}`)]) {
      expect(evaluate(statements, { action: 'ssm:GetParameter', resource })).toBe('ExplicitDeny');
      expect(evaluate(statements, { action: 'ssm:GetParameters', resource })).toBe('ExplicitDeny');
      expect(evaluate(statements, { action: 'ssm:GetParametersByPath', resource })).toBe('ExplicitDeny');
    }
  });
  it("can still read AWS's public parameters", () => {
    const publicParam =
      'arn:aws:ssm:eu-west-2::parameter/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
    expect(evaluate(statements, { action: 'ssm:GetParameter', resource: publicParam })).toBe('Allow');
  });
  it('cannot write the activation parameters', () => {
    expect(evaluate(statements, { action: 'ssm:PutParameter', resource: param(`${path}/code`) })).toBe('ImplicitDeny');
  });
});
