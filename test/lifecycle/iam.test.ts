// IAM table tests of the lifecycle's roles, evaluated by @cloud-copilot/iam-simulate with AWS's
// own action and condition-key data: the fleet-lifecycle role, the role CloudFormation assumes
// for agency stacks, and the activation manager's new capacity reads. Policies are read from the
// generated central-manager template, with intrinsics resolved to fixed ARNs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { PROJECT_ROOT } from '../../contract/project.ts';

const ACCOUNT = '999999999999';
const REGION = 'us-east-1';
const arn = (service: string, rest: string, region = REGION, account = ACCOUNT) =>
  `arn:aws:${service}:${region}:${account}:${rest}`;
const GETATT: Record<string, string> = {
  'TagManagerFunction.Arn': arn('lambda', 'function:ssm-hub-tag-manager'),
  'ActivationManagerFunction.Arn': arn('lambda', 'function:ssm-hub-activation-manager'),
  'AgencyStackRole.Arn': `arn:aws:iam::${ACCOUNT}:role/central-AgencyStackRole-ABC`,
  'SyncStateTable.Arn': arn('dynamodb', 'table/central-SyncStateTable-ABC'),
  'DataKey.Arn': arn('kms', 'key/1234abcd-12ab-34cd-56ef-1234567890ab'),
  'DeadLetterQueue.Arn': arn('sqs', 'central-DeadLetterQueue-ABC'),
  'FleetLifecycleFunctionLogGroup.Arn': arn('logs', 'log-group:/aws/lambda/ssm-hub-fleet-lifecycle:*'),
  'ActivationManagerFunctionLogGroup.Arn': arn('logs', 'log-group:/aws/lambda/ssm-hub-activation-manager:*'),
  'ManagedNodeRole.Arn': `arn:aws:iam::${ACCOUNT}:role/central-ManagedNodeRole-ABC`,
};
const PSEUDO: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT };

function resolve(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(resolve);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if ('Ref' in o) return PSEUDO[o.Ref as string] ?? `ref-${String(o.Ref)}`;
  if ('Fn::GetAtt' in o) {
    const key = (o['Fn::GetAtt'] as string[]).join('.');
    if (!GETATT[key]) throw new Error(`no sample ARN for GetAtt ${key}`);
    return GETATT[key];
  }
  if ('Fn::Sub' in o) {
    const a = o['Fn::Sub'];
    const [text, locals] = typeof a === 'string' ? [a, {}] : (a as [string, Record<string, unknown>]);
    return text.replace(/\$\{([^}]+)\}/g, (_, n: string) =>
      n in locals ? String(resolve(locals[n])) : (PSEUDO[n] ?? `ref-${n}`),
    );
  }
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolve(x)]));
}

const template = JSON.parse(
  readFileSync(join(PROJECT_ROOT, 'generated', 'templates', 'central-manager.json'), 'utf8'),
) as { Resources: Record<string, { Properties: Record<string, any> }> };
const policiesOf = (roleId: string) =>
  (template.Resources[roleId]!.Properties.Policies as Array<{ PolicyName: string; PolicyDocument: unknown }>).map(
    (p) => ({ name: p.PolicyName, policy: resolve(p.PolicyDocument) as any }),
  );

async function decide(roleId: string, action: string, resource: string, context: Record<string, string> = {}) {
  const result = await runSimulation(
    {
      identityPolicies: policiesOf(roleId),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: undefined,
      request: {
        principal: `arn:aws:iam::${ACCOUNT}:role/${roleId}`,
        action,
        resource: { resource, accountId: ACCOUNT },
        contextVariables: context,
      },
    },
    {},
  );
  if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
  return result.overallResult;
}

const AGENCY_STACK = arn('cloudformation', 'stack/ssm-hub-agency-222222222222/1a2b3c4d-0000-1111-2222-333344445555');
const CENTRAL_STACK = arn('cloudformation', 'stack/ssm-hub-central-manager/1a2b3c4d-0000-1111-2222-333344445555');
const STACK_ROLE = GETATT['AgencyStackRole.Arn']!;
const TAG_MANAGER = GETATT['TagManagerFunction.Arn']!;

describe('the fleet-lifecycle role', () => {
  it.each([
    {
      case: 'lists an OU',
      action: 'organizations:ListChildren',
      resource: `arn:aws:organizations::111122223333:ou/o-abc123defg/ou-ab12-abcdefgh`,
      ctx: {},
      out: 'Allowed',
    },
    {
      case: 'lists a root',
      action: 'organizations:ListAccountsForParent',
      resource: `arn:aws:organizations::111122223333:root/o-abc123defg/r-ab12`,
      ctx: {},
      out: 'Allowed',
    },
    {
      case: 'moves no account',
      action: 'organizations:MoveAccount',
      resource: `arn:aws:organizations::111122223333:account/o-abc123defg/222222222222`,
      ctx: {},
      out: 'ImplicitlyDenied',
    },
    {
      case: 'creates an agency stack through the stack role',
      action: 'cloudformation:CreateStack',
      resource: AGENCY_STACK,
      ctx: { 'cloudformation:RoleArn': STACK_ROLE },
      out: 'Allowed',
    },
    {
      case: 'creates no agency stack with its own rights',
      action: 'cloudformation:CreateStack',
      resource: AGENCY_STACK,
      ctx: {},
      out: 'ImplicitlyDenied',
    },
    {
      case: 'creates no agency stack through another role',
      action: 'cloudformation:CreateStack',
      resource: AGENCY_STACK,
      ctx: { 'cloudformation:RoleArn': `arn:aws:iam::${ACCOUNT}:role/Admin` },
      out: 'ImplicitlyDenied',
    },
    {
      case: 'deletes an agency stack through the stack role',
      action: 'cloudformation:DeleteStack',
      resource: AGENCY_STACK,
      ctx: { 'cloudformation:RoleArn': STACK_ROLE },
      out: 'Allowed',
    },
    {
      case: 'never deletes the central stack',
      action: 'cloudformation:DeleteStack',
      resource: CENTRAL_STACK,
      ctx: { 'cloudformation:RoleArn': STACK_ROLE },
      out: 'ImplicitlyDenied',
    },
    {
      case: 'updates no agency stack',
      action: 'cloudformation:UpdateStack',
      resource: AGENCY_STACK,
      ctx: { 'cloudformation:RoleArn': STACK_ROLE },
      out: 'ImplicitlyDenied',
    },
    {
      case: 'passes the stack role to CloudFormation',
      action: 'iam:PassRole',
      resource: STACK_ROLE,
      ctx: { 'iam:PassedToService': 'cloudformation.amazonaws.com' },
      out: 'Allowed',
    },
    {
      case: 'passes the stack role to no other service',
      action: 'iam:PassRole',
      resource: STACK_ROLE,
      ctx: { 'iam:PassedToService': 'lambda.amazonaws.com' },
      out: 'ImplicitlyDenied',
    },
    {
      case: 'deregisters a managed node',
      action: 'ssm:DeregisterManagedInstance',
      resource: arn('ssm', 'managed-instance/mi-0123456789abcdef0'),
      ctx: {},
      out: 'Allowed',
    },
    {
      case: 'tags no managed node',
      action: 'ssm:AddTagsToResource',
      resource: arn('ssm', 'managed-instance/mi-0123456789abcdef0'),
      ctx: {},
      out: 'ImplicitlyDenied',
    },
    {
      case: 'lists the activation records',
      action: 'ssm:GetParametersByPath',
      resource: arn('ssm', 'parameter/central-hub/agencies'),
      ctx: {},
      out: 'Allowed',
    },
    {
      case: 'lists no other parameters',
      action: 'ssm:GetParametersByPath',
      resource: arn('ssm', 'parameter/central-hub/shared'),
      ctx: {},
      out: 'ImplicitlyDenied',
    },
    {
      case: 'writes no activation record',
      action: 'ssm:PutParameter',
      resource: arn('ssm', 'parameter/central-hub/agencies/222222222222'),
      ctx: {},
      out: 'ImplicitlyDenied',
    },
    { case: 'creates no activation', action: 'ssm:CreateActivation', resource: '*', ctx: {}, out: 'ImplicitlyDenied' },
    {
      case: 'deletes sync rows',
      action: 'dynamodb:DeleteItem',
      resource: GETATT['SyncStateTable.Arn']!,
      ctx: {},
      out: 'Allowed',
    },
    {
      case: 'scans no table',
      action: 'dynamodb:Scan',
      resource: GETATT['SyncStateTable.Arn']!,
      ctx: {},
      out: 'ImplicitlyDenied',
    },
  ])('$case: $out', async ({ action, resource, ctx, out }) => {
    expect(await decide('FleetLifecycleRole', action, resource, ctx as Record<string, string>)).toBe(out);
  });
});

describe('the role CloudFormation assumes for agency stacks', () => {
  it.each([
    { case: 'creates an agency alias', action: 'lambda:CreateAlias', resource: TAG_MANAGER, out: 'Allowed' },
    {
      case: "adds an agency alias's invoke permission",
      action: 'lambda:AddPermission',
      resource: `${TAG_MANAGER}:agency-222222222222`,
      out: 'Allowed',
    },
    {
      case: 'adds no permission on the function itself',
      action: 'lambda:AddPermission',
      resource: TAG_MANAGER,
      out: 'ImplicitlyDenied',
    },
    {
      case: 'adds no permission on another alias',
      action: 'lambda:AddPermission',
      resource: `${TAG_MANAGER}:live`,
      out: 'ImplicitlyDenied',
    },
    { case: 'changes no code', action: 'lambda:UpdateFunctionCode', resource: TAG_MANAGER, out: 'ImplicitlyDenied' },
    {
      case: 'invokes the activation manager (the custom resource)',
      action: 'lambda:InvokeFunction',
      resource: GETATT['ActivationManagerFunction.Arn']!,
      out: 'Allowed',
    },
    {
      case: 'invokes no tag manager alias',
      action: 'lambda:InvokeFunction',
      resource: `${TAG_MANAGER}:agency-222222222222`,
      out: 'ImplicitlyDenied',
    },
    {
      case: 'passes no role',
      action: 'iam:PassRole',
      resource: GETATT['ManagedNodeRole.Arn']!,
      out: 'ImplicitlyDenied',
    },
  ])('$case: $out', async ({ action, resource, out }) => {
    expect(await decide('AgencyStackRole', action, resource)).toBe(out);
  });

  it('trusts CloudFormation of this account only', () => {
    const trust = resolve(template.Resources.AgencyStackRole!.Properties.AssumeRolePolicyDocument) as any;
    expect(trust.Statement).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'cloudformation.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'aws:SourceAccount': ACCOUNT } },
      },
    ]);
  });
});

describe("the activation manager's capacity reads", () => {
  const setting = (id: string) => arn('ssm', `servicesetting${id}`);
  it.each([
    {
      case: 'reads the activation tier',
      action: 'ssm:GetServiceSetting',
      resource: setting('/ssm/managed-instance/activation-tier'),
      out: 'Allowed',
    },
    {
      case: 'reads no other setting',
      action: 'ssm:GetServiceSetting',
      resource: setting('/ssm/parameter-store/high-throughput-enabled'),
      out: 'ImplicitlyDenied',
    },
    {
      case: 'changes no tier',
      action: 'ssm:UpdateServiceSetting',
      resource: setting('/ssm/managed-instance/activation-tier'),
      out: 'ImplicitlyDenied',
    },
    { case: 'counts managed nodes', action: 'ssm:DescribeInstanceInformation', resource: '*', out: 'Allowed' },
  ])('$case: $out', async ({ action, resource, out }) => {
    expect(await decide('ActivationManagerRole', action, resource)).toBe(out);
  });
});
