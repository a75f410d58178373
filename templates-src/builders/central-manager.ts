// central-manager: deployed once, in the central IT account. It holds the tag manager that
// agencies invoke through their own aliases, the activation manager that issues and rotates
// each agency's hybrid activation, the sync-state table, and the alarms. The sections follow
// the architecture diagram in the README: tag manager, activation manager, sync-state table,
// the key that encrypts the records, the nodes' role; then the shared plumbing.
import { derivedNames, type BuildConfig } from '../config.ts';
import { GetAtt, Ref, Sub, type Value } from '../kit/intrinsics.ts';
import {
  allow,
  assumeRoleFor,
  deadLetterKey,
  hybridNodeStatements,
  onlyTagKeys,
  policyDocument,
  sendDeadLetters,
  SSM_TAGGABLE_RESOURCES,
  viaService,
  writeOwnLogs,
  onlyIf,
} from '../kit/iam.ts';
import { addDeadLetterQueue, queueDepthMetric, type AddAlarm } from '../kit/monitoring.ts';
import { GRANTS_ONLY_FOR_AWS_SERVICES, KEY_ADMINISTERED_BY_ACCOUNT, logsMayUseKeyFor } from '../kit/monitoring.ts';
import { addAlarmTopic, addFunction, addToggle, addTrigger } from '../kit/shortcuts.ts';
import { Template } from '../kit/template.ts';
import { logGroupIdOf } from '../kit/lambda.ts';
import {
  ACTIVATION_MANAGER_ENVIRONMENT,
  environmentVariables,
  TAG_MANAGER_ENVIRONMENT,
} from '../../contract/environment.ts';
import {
  MANAGED_INSTANCE_ID_TAG,
  TAG_MANAGER_TIMEOUT_SECONDS,
  PROVENANCE_TAG_SUFFIXES,
  SYNC_TABLE,
} from '../../lambda/shared/names.ts';
import { deregistrationDocument } from '../../documents/index.ts';
import type { BuildContext } from './context.ts';
import { parameterInterface } from '../kit/interface.ts';
import {
  activationCapacityEnvironment,
  activationCapacityStatements,
  fleetLifecycle,
} from './central-manager-lifecycle.ts';

export function buildCentralManager(ctx: BuildContext): Template {
  const t = new Template(
    'central-manager',
    'SSM central hub (central account): tag manager, per-agency activation manager, sync-state table and alarms. Deploy once per hub Region.',
    // Two Lambda bundles make it larger than a TemplateBody; publish puts it in S3 (1 MB limit).
    false,
  );
  const alarm = addAlarmTopic(t, {
    displayName: 'SSM central hub alarms',
    emailDescription: 'Optional e-mail address subscribed to the alarm topic. Leave empty to subscribe later.',
    kmsMasterKeyId: Ref('DataKey'),
  });
  tagManager(t, ctx, alarm);
  activationManager(t, ctx, alarm);
  syncStateTable(t);
  dataKey(t, ctx.config);
  managedNodeRole(t, ctx.config);
  addDeadLetterQueue(t, 'DeadLetterQueue', { KmsMasterKeyId: Ref('DataKey') });
  hubAlarms(t, ctx.config, alarm);
  fleetLifecycle(t, ctx, alarm);
  wayBack(t, ctx.config);
  outputs(t);
  parameterInterface(t, [
    { label: 'Notifications', parameters: [['AlarmEmail', 'Alarm e-mail address']] },
    { label: 'Hub nodes', parameters: [['BindNodeReports', 'Refuse reports about another node']] },
    {
      label: 'Fleet lifecycle (automatic membership and orphan sweep)',
      parameters: [
        ['MembershipMode', 'Agency membership from the organization'],
        ['AgencyOrganizationalUnits', 'Agency OUs'],
        ['AgencyAccounts', 'Agency accounts (explicit list)'],
        ['OrphanSweepMode', 'Orphaned node sweep'],
      ],
    },
  ]);
  return t;
}

/** ARNs every section names the same way. */
function arns(config: BuildConfig) {
  const inAccount = (rest: string) => Sub(`arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:${rest}`);
  return {
    managedNodes: inAccount('managed-instance/*'),
    activationRecords: inAccount(`parameter${config.centralActivationParameterPrefix}/*`),
    activationRecordsPath: inAccount(`parameter${config.centralActivationParameterPrefix}`),
  };
}

/** What every central function shares: the configured runtime and architecture, and logs encrypted with the data key. */
function centralFunctionDefaults(ctx: BuildContext) {
  return {
    runtime: ctx.config.runtime,
    architecture: ctx.config.architecture,
    logRetentionDays: ctx.config.logRetentionDays,
    logKmsKeyArn: GetAtt('DataKey', 'Arn'),
    today: ctx.today,
  };
}

/** Tag manager: agencies invoke it through their own aliases; it proves ownership and tags nodes. */
function tagManager(t: Template, ctx: BuildContext, alarm: AddAlarm): void {
  const { config } = ctx;
  const names = derivedNames(config);
  addFunction(t, {
    name: 'TagManager',
    role: {
      description: 'Tag manager: copies agency EC2 tags to the SSM managed nodes they own',
      policyName: 'tag-manager',
      statements: tagManagerStatements(config),
    },
    functionName: names.tagManagerFunctionName,
    description: 'Applies agency EC2 tags to owned SSM managed nodes; invoked only through agency-<account> aliases',
    code: ctx.bundles['tag-manager'],
    memoryMb: 512,
    timeoutSeconds: TAG_MANAGER_TIMEOUT_SECONDS,
    ...centralFunctionDefaults(ctx),
    // Written from the handler's own contract; SSM_CONCURRENCY takes the contract's default.
    environment: environmentVariables<typeof TAG_MANAGER_ENVIRONMENT, Value>(TAG_MANAGER_ENVIRONMENT, {
      syncTableName: Ref('SyncStateTable'),
      reservedTagPrefix: config.reservedTagPrefix,
      activationParameterPrefix: config.centralActivationParameterPrefix,
      metricNamespace: names.metricNamespace,
      agencyRequestsPerMinute: config.agencyRequestsPerMinute,
    }),
    deadLetterQueueId: 'DeadLetterQueue',
    alarms: { add: alarm, errors: 'The tag manager failed', throttles: 'The tag manager was throttled' },
  });
}

function tagManagerStatements(config: BuildConfig) {
  const tableArn = GetAtt('SyncStateTable', 'Arn');
  const ownershipKey = `${config.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.activationAgency}`;
  const tagging = ['ssm:AddTagsToResource', 'ssm:RemoveTagsFromResource'];
  return [
    writeOwnLogs('TagManagerFunction'),
    // Only nodes an activation stamped with an owning agency: never a node registered otherwise.
    allow('TagOwnedNodes', tagging, arns(config).managedNodes, {
      Null: { [`aws:ResourceTag/${ownershipKey}`]: 'false' },
    }),
    // The ownership proof rests on this key: the tag manager may never write or remove it.
    {
      Sid: 'NeverWriteOwnershipKey',
      Effect: 'Deny' as const,
      Action: tagging,
      Resource: '*',
      Condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': [ownershipKey] } },
    },
    allow(
      'ReadAndDeregisterNodes',
      ['ssm:ListTagsForResource', 'ssm:DeregisterManagedInstance'],
      arns(config).managedNodes,
    ),
    // DescribeInstanceInformation has no resource-level permissions.
    allow('ProveNodeOwnership', 'ssm:DescribeInstanceInformation', '*'),
    // The drift pass's bulk read (Tagging API GetResources) names no resource; it only reads.
    allow('BulkReadTags', 'tag:GetResources', '*'),
    allow('ReadActivationRecords', 'ssm:GetParameter', arns(config).activationRecords),
    // Only through SSM (SecureString records) and DynamoDB (the table's key): never a direct Decrypt.
    allow('DecryptRecordsAndTable', 'kms:Decrypt', GetAtt('DataKey', 'Arn'), viaService('ssm', 'dynamodb')),
    // DynamoDB calls GenerateDataKey and Decrypt for the table key, never Encrypt.
    allow('TableKey', 'kms:GenerateDataKey', GetAtt('DataKey', 'Arn'), viaService('dynamodb')),
    allow(
      'SyncState',
      [
        'dynamodb:BatchGetItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:Query',
      ],
      [tableArn, Sub('${Table}/index/*', { Table: tableArn })],
    ),
    sendDeadLetters('DeadLetterQueue'),
    deadLetterKey('DataKey'),
  ];
}

/** Activation manager: the agency-permissions custom resource and the rotation schedule call it. */
function activationManager(t: Template, ctx: BuildContext, alarm: AddAlarm): void {
  const { config } = ctx;
  const names = derivedNames(config);
  addFunction(t, {
    ...centralFunctionDefaults(ctx),
    name: 'ActivationManager',
    role: {
      description: 'Activation manager: creates, stores, rotates and deletes per-agency hybrid activations',
      policyName: 'activation-manager',
      statements: activationManagerStatements(config),
    },
    functionName: names.activationManagerFunctionName,
    description: 'Creates, stores encrypted, rotates and deletes per-agency hybrid activations',
    code: ctx.bundles['activation-manager'],
    memoryMb: 256,
    timeoutSeconds: 300,
    environment: environmentVariables<typeof ACTIVATION_MANAGER_ENVIRONMENT, Value>(ACTIVATION_MANAGER_ENVIRONMENT, {
      activationParameterPrefix: config.centralActivationParameterPrefix,
      activationKmsKeyId: Ref('DataKey'),
      managedNodeRoleName: Ref('ManagedNodeRole'),
      reservedTagPrefix: config.reservedTagPrefix,
      rotateDaysBeforeExpiry: config.activation.rotateDaysBeforeExpiry,
      rotateAtUsagePercent: config.activation.rotateAtUsagePercent,
      metricNamespace: names.metricNamespace,
      ...activationCapacityEnvironment(config),
    }),
    deadLetterQueueId: 'DeadLetterQueue',
    alarms: { add: alarm, errors: 'Activation creation, rotation or deletion failed' },
  });
  addTrigger(t, {
    id: 'ActivationRotationSchedule',
    permissionId: 'ActivationRotationPermission',
    functionId: 'ActivationManagerFunction',
    targetId: 'ActivationManager',
    description: 'Rotates agency activations before they expire or run out of registrations',
    schedule: config.rotationSchedule,
  });
}

function activationManagerStatements(config: BuildConfig) {
  const { activationRecords, activationRecordsPath } = arns(config);
  const stampKey = `${config.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.activationAgency}`;
  return [
    writeOwnLogs('ActivationManagerFunction'),
    // Activations have no resource-level permissions. Every activation carries the owner stamp.
    allow('CreateStampedActivations', 'ssm:CreateActivation', '*', onlyTagKeys([stampKey])),
    allow('ManageActivations', ['ssm:DeleteActivation', 'ssm:DescribeActivations'], '*'),
    // CreateActivation with Tags also authorizes ssm:AddTagsToResource, and SSM has no
    // activation resource type; the condition limits it to the one key the activation stamps,
    // and NeverTagResources refuses it on every resource type that can be tagged.
    allow('TagNewActivations', 'ssm:AddTagsToResource', '*', onlyTagKeys([stampKey])),
    allow('PassManagedNodeRole', 'iam:PassRole', GetAtt('ManagedNodeRole', 'Arn'), {
      StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' },
    }),
    allow(
      'StoreActivationRecords',
      // GetParameterHistory: a write folds in versions a concurrent writer stored meanwhile.
      [
        'ssm:PutParameter',
        'ssm:GetParameter',
        'ssm:GetParameterHistory',
        'ssm:GetParametersByPath',
        'ssm:DeleteParameter',
      ],
      [activationRecords, activationRecordsPath],
    ),
    allow(
      'EncryptActivationRecords',
      ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
      GetAtt('DataKey', 'Arn'),
      viaService('ssm'),
    ),
    ...activationCapacityStatements(),
    // A Create for an agency whose record another stack owns goes ahead only when that stack is deleted.
    allow(
      'ReadOwnerStackStatus',
      'cloudformation:DescribeStacks',
      Sub(`arn:\${AWS::Partition}:cloudformation:\${AWS::Region}:\${AWS::AccountId}:stack/*`),
    ),
    // Its failed asynchronous runs (rotation) go to the dead-letter queue.
    sendDeadLetters('DeadLetterQueue'),
    deadLetterKey('DataKey'),
    // Its tagging right exists for new activations only: no node, parameter, document or other resource.
    {
      Sid: 'NeverTagResources',
      Effect: 'Deny' as const,
      Action: ['ssm:AddTagsToResource', 'ssm:RemoveTagsFromResource'],
      Resource: SSM_TAGGABLE_RESOURCES.map((arn) => Sub(arn)),
    },
  ];
}

/** Sync-state table: what the hub last applied to each node, and the agency index `status` reads. */
function syncStateTable(t: Template): void {
  const a = SYNC_TABLE.attributes;
  t.resource(
    'SyncStateTable',
    'AWS::DynamoDB::Table',
    {
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: a.managedInstanceId, AttributeType: 'S' },
        { AttributeName: a.agencyAccountId, AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: SYNC_TABLE.partitionKey, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: SYNC_TABLE.agencyIndexName,
          KeySchema: [
            { AttributeName: SYNC_TABLE.agencyIndexPartitionKey, KeyType: 'HASH' },
            { AttributeName: a.managedInstanceId, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [a.ec2InstanceId, a.lastSyncAt, a.lastError] },
        },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Ref('DataKey') },
      DeletionProtectionEnabled: true,
    },
    { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' },
  );
}

/** One customer managed key encrypts the activation codes, the sync-state table, the logs and the DLQ. */
function dataKey(t: Template, config: BuildConfig): void {
  t.resource(
    'DataKey',
    'AWS::KMS::Key',
    {
      Description: Sub('${AWS::StackName}: activation codes, sync-state table and dead-letter queue'),
      EnableKeyRotation: true,
      PendingWindowInDays: 30,
      KeyPolicy: policyDocument(
        { Sid: 'AccountAdministers', ...KEY_ADMINISTERED_BY_ACCOUNT },
        { Sid: 'GrantsOnlyForAwsServices', ...GRANTS_ONLY_FOR_AWS_SERVICES },
        // Only the log groups this stack creates (CloudFormation names them stack-logicalId-suffix).
        // Logs never needs kms:Describe* here: DescribeKey carries no encryption context.
        {
          Sid: 'LogsEncryptThisStacksLogGroups',
          ...logsMayUseKeyFor(
            ['TagManagerFunction', 'ActivationManagerFunction', 'FleetLifecycleFunction'].map((id) => logGroupIdOf(id)),
          ),
        },
        {
          Sid: 'CloudWatchAlarmsPublishToEncryptedTopic',
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: '*',
          Condition: { StringEquals: { 'aws:SourceAccount': Ref('AWS::AccountId') } },
        },
      ),
    },
    { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' },
  );
  t.resource('DataKeyAlias', 'AWS::KMS::Alias', {
    AliasName: `alias/${config.namePrefix}-central`,
    TargetKeyId: Ref('DataKey'),
  });
}

/** The role every hybrid-registered node assumes. The trust is pinned to this account's SSM. */
function managedNodeRole(t: Template, config: BuildConfig): void {
  // The node-binding Deny rests on two things no document states (README, assumptions): a switch
  // lets central IT turn it off at once if the live check shows a node refused its own reports.
  addToggle(t, 'BindNodeReports', {
    default: true,
    description: "true: a node's compliance and state reports are refused for any other node (see README)",
    condition: 'NodeReportBindingOn',
  });
  t.resource('ManagedNodeRole', 'AWS::IAM::Role', {
    Description: 'Assumed by agency instances registered to this hub through a hybrid activation',
    AssumeRolePolicyDocument: assumeRoleFor('ssm.amazonaws.com', {
      StringEquals: { 'aws:SourceAccount': Ref('AWS::AccountId') },
      ArnLike: { 'aws:SourceArn': Sub('arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:*') },
    }),
    // Anyone with root on an agency instance can use these credentials: a written policy instead
    // of AmazonSSMManagedInstanceCore. Parameters: AWS's public ones and the path central IT
    // shares with nodes on purpose (e.g. agent configs); nothing else, and no key of this stack.
    Policies: [
      {
        PolicyName: 'hybrid-node',
        PolicyDocument: policyDocument(
          ...hybridNodeStatements(
            [
              Sub('arn:${AWS::Partition}:ssm:${AWS::Region}::parameter/aws/service/*'),
              Sub(
                `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${config.nodeReadableParameterPath}/*`,
              ),
            ],
            `${config.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.nodeArn}`,
            (deny) => onlyIf('NodeReportBindingOn', deny),
          ),
        ),
      },
    ],
  });
}

/** Alarms beyond the functions' own: dead letters, refused callers and nodes, rotation failures. */
function hubAlarms(t: Template, config: BuildConfig, alarm: AddAlarm): void {
  const { metricNamespace } = derivedNames(config);
  alarm(
    'DeadLetterQueueDepthAlarm',
    'Asynchronous invocations failed and were dead-lettered',
    queueDepthMetric('DeadLetterQueue'),
  );
  // Application metrics (EMF): the tag manager emits them with the dimension Service=TagManager,
  // the activation manager with none; an alarm matches a metric only with the same dimensions.
  const tagManagerMetric = (metricName: string) => ({
    Namespace: metricNamespace,
    MetricName: metricName,
    Dimensions: [{ Name: 'Service', Value: 'TagManager' }],
  });
  alarm(
    'RejectedNodesAlarm',
    'An agency tried to tag or deregister a managed node it does not own',
    tagManagerMetric('RejectedNodes'),
  );
  alarm(
    'UnauthorizedCallsAlarm',
    'The tag manager was invoked without a valid agency alias',
    tagManagerMetric('UnauthorizedCalls'),
  );
  // The tag manager answers every failure instead of throwing, so Lambda's Errors metric stays flat.
  alarm('TagManagerInternalErrorsAlarm', 'The tag manager failed a whole request', tagManagerMetric('InternalErrors'));
  alarm('TagManagerFailedNodesAlarm', 'The tag manager could not apply tags to some nodes', tagManagerMetric('Failed'));
  alarm(
    'AgencyThrottledAlarm',
    'An agency went over its hub request limit per minute',
    tagManagerMetric('ThrottledRequests'),
  );
  alarm('RotationFailuresAlarm', 'An activation rotation failed; the current activation is still in use', {
    Namespace: metricNamespace,
    MetricName: 'RotationFailures',
  });
}

/**
 * The way back: central IT runs this on hub-managed nodes to return them to their own
 * account's Systems Manager (the agent listens only to the hub once registered).
 */
function wayBack(t: Template, config: BuildConfig): void {
  t.resource('DeregisterDocument', 'AWS::SSM::Document', {
    DocumentType: 'Command',
    DocumentFormat: 'JSON',
    Content: deregistrationDocument({
      hubRegion: Ref('AWS::Region'),
      activationParameterPath: config.agencyActivationParameterPath,
      reservedTagPrefix: config.reservedTagPrefix,
      managedInstanceIdTagKey: MANAGED_INSTANCE_ID_TAG,
    }) as unknown as Value,
  });
}

function outputs(t: Template): void {
  const exported = (id: string, description: string, value: Value) =>
    t.output(id, { Description: description, Value: value, Export: Sub(`\${AWS::StackName}-${id}`) });
  exported('TagManagerFunctionName', 'Name of the tag manager function', Ref('TagManagerFunction'));
  exported('TagManagerFunctionArn', 'ARN of the tag manager function', GetAtt('TagManagerFunction', 'Arn'));
  exported(
    'ActivationManagerFunctionArn',
    'Service token of the Custom::AgencyActivation resource',
    GetAtt('ActivationManagerFunction', 'Arn'),
  );
  exported('SyncTableName', 'Sync-state table (inventory read by `status`)', Ref('SyncStateTable'));
  exported('ManagedNodeRoleName', 'IAM role assumed by hybrid-registered nodes', Ref('ManagedNodeRole'));
  t.output('DeregisterDocumentName', {
    Description: 'Run on hub-managed nodes to return them to their own account, then deregister the node',
    Value: Ref('DeregisterDocument'),
  });
  t.output('AlarmTopicArn', { Description: 'SNS topic that receives every hub alarm', Value: Ref('AlarmTopic') });
  t.output('DeadLetterQueueUrl', {
    Description: 'Dead-letter queue of failed asynchronous invocations',
    Value: Ref('DeadLetterQueue'),
  });
}
