// central-manager: deployed once, in the central IT account. It holds the tag manager that
// agencies invoke through their own aliases, the activation manager that issues and rotates
// each agency's hybrid activation, the sync-state table, and the alarms.
import { derivedNames } from '../config.ts';
import { Equals, GetAtt, Not, Ref, Sub, type Value } from '../kit/intrinsics.ts';
import { allow, assumeRoleFor, deny, policyDocument } from '../kit/iam.ts';
import { addNodeFunction, logGroupIdOf } from '../kit/lambda.ts';
import { addDeadLetterQueue, alarmsTo, queueDepthMetric } from '../kit/monitoring.ts';
import { Template } from '../kit/template.ts';
import {
  ACTIVATION_MANAGER_ENV,
  MANAGED_INSTANCE_ID_TAG,
  TAG_MANAGER_TIMEOUT_SECONDS,
  PROVENANCE_TAG_SUFFIXES,
  SYNC_TABLE,
  TAG_MANAGER_ENV,
} from '../../lambda/shared/names.ts';
import { deregistrationDocument } from '../../documents/index.ts';
import type { BuildContext } from './context.ts';

export function buildCentralManager(ctx: BuildContext): Template {
  const { config } = ctx;
  const names = derivedNames(config);
  const t = new Template(
    'central-manager',
    'SSM central hub (central account): tag manager, per-agency activation manager, sync-state table and alarms. Deploy once per hub Region.',
    // Two Lambda bundles make it larger than a TemplateBody; publish puts it in S3 (1 MB limit).
    false,
  );

  const alarmEmail = t.parameter('AlarmEmail', {
    Type: 'String',
    Default: '',
    Description: 'Optional e-mail address subscribed to the alarm topic. Leave empty to subscribe later.',
    AllowedPattern: '^$|^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$',
    ConstraintDescription: 'must be empty or an e-mail address',
  });
  const hasAlarmEmail = t.condition('HasAlarmEmail', Not(Equals(alarmEmail, '')));

  // One customer managed key encrypts the activation codes, the sync-state table and the DLQ.
  t.resource(
    'DataKey',
    'AWS::KMS::Key',
    {
      Description: Sub('${AWS::StackName}: activation codes, sync-state table and dead-letter queue'),
      EnableKeyRotation: true,
      PendingWindowInDays: 30,
      KeyPolicy: policyDocument(
        {
          Sid: 'AccountAdministers',
          Effect: 'Allow',
          Principal: { AWS: Sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:root') },
          Action: 'kms:*',
          Resource: '*',
        },
        {
          Sid: 'GrantsOnlyForAwsServices',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 'kms:CreateGrant',
          Resource: '*',
          Condition: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
        },
        {
          Sid: 'LogsEncryptThisStacksLogGroups',
          Effect: 'Allow',
          Principal: { Service: Sub('logs.${AWS::Region}.amazonaws.com') },
          Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
          Resource: '*',
          Condition: {
            ArnLike: {
              'kms:EncryptionContext:aws:logs:arn': Sub(
                'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*',
              ),
            },
          },
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

  addDeadLetterQueue(t, 'DeadLetterQueue', { KmsMasterKeyId: Ref('DataKey') });

  // The role every hybrid-registered node assumes. The trust is pinned to this account's SSM.
  t.resource('ManagedNodeRole', 'AWS::IAM::Role', {
    Description: 'Assumed by agency instances registered to this hub through a hybrid activation',
    AssumeRolePolicyDocument: assumeRoleFor('ssm.amazonaws.com', {
      StringEquals: { 'aws:SourceAccount': Ref('AWS::AccountId') },
      ArnLike: { 'aws:SourceArn': Sub('arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:*') },
    }),
    ManagedPolicyArns: [Sub('arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore')],
    // Anyone with root on an agency instance can use these credentials. The managed policy lets
    // them read every parameter of the central account; they may read only AWS's public
    // parameters and the path central IT shares with nodes on purpose (e.g. agent configs).
    Policies: [
      {
        PolicyName: 'node-parameter-boundary',
        PolicyDocument: policyDocument(
          deny(
            'ReadOnlySharedParameters',
            ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath', 'ssm:GetParameterHistory'],
            [
              Sub('arn:${AWS::Partition}:ssm:${AWS::Region}::parameter/aws/service/*'),
              Sub(
                `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${config.nodeReadableParameterPath}/*`,
              ),
            ],
          ),
        ),
      },
    ],
  });

  const managedNodeArn = Sub('arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:managed-instance/*');
  const activationParams = Sub(
    `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${config.centralActivationParameterPrefix}/*`,
  );
  const tableArn = GetAtt('SyncStateTable', 'Arn');
  const viaSsm = { StringEquals: { 'kms:ViaService': Sub('ssm.${AWS::Region}.amazonaws.com') } };

  t.resource('TagManagerRole', 'AWS::IAM::Role', {
    Description: 'Tag manager: copies agency EC2 tags to the SSM managed nodes they own',
    AssumeRolePolicyDocument: assumeRoleFor('lambda.amazonaws.com'),
    Policies: [
      {
        PolicyName: 'tag-manager',
        PolicyDocument: policyDocument(
          allow(
            'WriteOwnLogs',
            ['logs:CreateLogStream', 'logs:PutLogEvents'],
            GetAtt(logGroupIdOf('TagManagerFunction'), 'Arn'),
          ),
          allow(
            'TagManagedNodes',
            [
              'ssm:AddTagsToResource',
              'ssm:RemoveTagsFromResource',
              'ssm:ListTagsForResource',
              'ssm:DeregisterManagedInstance',
            ],
            managedNodeArn,
          ),
          // DescribeInstanceInformation has no resource-level permissions.
          allow('ProveNodeOwnership', 'ssm:DescribeInstanceInformation', '*'),
          allow('ReadActivationRecords', 'ssm:GetParameter', activationParams),
          allow('DecryptActivationRecordsAndTable', 'kms:Decrypt', GetAtt('DataKey', 'Arn')),
          allow('EncryptTableItems', ['kms:GenerateDataKey', 'kms:Encrypt'], GetAtt('DataKey', 'Arn'), {
            StringEquals: { 'kms:ViaService': Sub('dynamodb.${AWS::Region}.amazonaws.com') },
          }),
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
          allow('DeadLetters', 'sqs:SendMessage', GetAtt('DeadLetterQueue', 'Arn')),
          allow('DeadLettersKey', ['kms:GenerateDataKey', 'kms:Decrypt'], GetAtt('DataKey', 'Arn'), {
            StringEquals: { 'kms:ViaService': Sub('sqs.${AWS::Region}.amazonaws.com') },
          }),
        ),
      },
    ],
  });

  addNodeFunction(t, {
    id: 'TagManagerFunction',
    functionName: names.tagManagerFunctionName,
    description: 'Applies agency EC2 tags to owned SSM managed nodes; invoked only through agency-<account> aliases',
    code: ctx.bundles['tag-manager'],
    runtime: config.runtime,
    architecture: config.architecture,
    roleId: 'TagManagerRole',
    memoryMb: 512,
    timeoutSeconds: TAG_MANAGER_TIMEOUT_SECONDS,
    logRetentionDays: config.logRetentionDays,
    logKmsKeyArn: GetAtt('DataKey', 'Arn'),
    today: ctx.today,
    environment: {
      [TAG_MANAGER_ENV.syncTableName]: Ref('SyncStateTable'),
      [TAG_MANAGER_ENV.reservedTagPrefix]: config.reservedTagPrefix,
      [TAG_MANAGER_ENV.activationParameterPrefix]: config.centralActivationParameterPrefix,
      [TAG_MANAGER_ENV.metricNamespace]: names.metricNamespace,
      [TAG_MANAGER_ENV.ssmConcurrency]: '5',
      [TAG_MANAGER_ENV.agencyRequestsPerMinute]: String(config.agencyRequestsPerMinute),
    },
  });
  t.resource('TagManagerAsyncConfig', 'AWS::Lambda::EventInvokeConfig', {
    FunctionName: Ref('TagManagerFunction'),
    Qualifier: '$LATEST',
    MaximumRetryAttempts: 2,
    DestinationConfig: { OnFailure: { Destination: GetAtt('DeadLetterQueue', 'Arn') } },
  });

  t.resource('ActivationManagerRole', 'AWS::IAM::Role', {
    Description: 'Activation manager: creates, stores, rotates and deletes per-agency hybrid activations',
    AssumeRolePolicyDocument: assumeRoleFor('lambda.amazonaws.com'),
    Policies: [
      {
        PolicyName: 'activation-manager',
        PolicyDocument: policyDocument(
          allow(
            'WriteOwnLogs',
            ['logs:CreateLogStream', 'logs:PutLogEvents'],
            GetAtt(logGroupIdOf('ActivationManagerFunction'), 'Arn'),
          ),
          // Activations have no resource-level permissions.
          allow('ManageActivations', ['ssm:CreateActivation', 'ssm:DeleteActivation', 'ssm:DescribeActivations'], '*'),
          // CreateActivation with Tags also authorizes ssm:AddTagsToResource, and SSM has no
          // activation resource type; the condition limits it to the one key the activation stamps.
          allow('TagNewActivations', 'ssm:AddTagsToResource', '*', {
            'ForAllValues:StringEquals': {
              'aws:TagKeys': [`${config.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.activationAgency}`],
            },
            Null: { 'aws:TagKeys': 'false' },
          }),
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
            [
              activationParams,
              Sub(
                `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${config.centralActivationParameterPrefix}`,
              ),
            ],
          ),
          allow(
            'EncryptActivationRecords',
            ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
            GetAtt('DataKey', 'Arn'),
            viaSsm,
          ),
          // Its failed asynchronous runs (rotation) go to the dead-letter queue; Lambda checks this
          // permission when the on-failure destination is configured.
          allow('DeadLetters', 'sqs:SendMessage', GetAtt('DeadLetterQueue', 'Arn')),
          allow('DeadLettersKey', ['kms:GenerateDataKey', 'kms:Decrypt'], GetAtt('DataKey', 'Arn'), {
            StringEquals: { 'kms:ViaService': Sub('sqs.${AWS::Region}.amazonaws.com') },
          }),
          // Its tagging right exists for new activations only: it must never relabel a node's owner.
          {
            Sid: 'NeverTagManagedNodes',
            Effect: 'Deny',
            Action: ['ssm:AddTagsToResource', 'ssm:RemoveTagsFromResource'],
            Resource: managedNodeArn,
          },
        ),
      },
    ],
  });

  addNodeFunction(t, {
    id: 'ActivationManagerFunction',
    functionName: names.activationManagerFunctionName,
    description: 'Creates, stores encrypted, rotates and deletes per-agency hybrid activations',
    code: ctx.bundles['activation-manager'],
    runtime: config.runtime,
    architecture: config.architecture,
    roleId: 'ActivationManagerRole',
    memoryMb: 256,
    timeoutSeconds: 300,
    logRetentionDays: config.logRetentionDays,
    logKmsKeyArn: GetAtt('DataKey', 'Arn'),
    today: ctx.today,
    environment: {
      [ACTIVATION_MANAGER_ENV.activationParameterPrefix]: config.centralActivationParameterPrefix,
      [ACTIVATION_MANAGER_ENV.activationKmsKeyId]: Ref('DataKey'),
      [ACTIVATION_MANAGER_ENV.managedNodeRoleName]: Ref('ManagedNodeRole'),
      [ACTIVATION_MANAGER_ENV.reservedTagPrefix]: config.reservedTagPrefix,
      [ACTIVATION_MANAGER_ENV.rotateDaysBeforeExpiry]: String(config.activation.rotateDaysBeforeExpiry),
      [ACTIVATION_MANAGER_ENV.rotateAtUsagePercent]: String(config.activation.rotateAtUsagePercent),
      [ACTIVATION_MANAGER_ENV.metricNamespace]: names.metricNamespace,
    },
  });
  t.resource('ActivationManagerAsyncConfig', 'AWS::Lambda::EventInvokeConfig', {
    FunctionName: Ref('ActivationManagerFunction'),
    Qualifier: '$LATEST',
    MaximumRetryAttempts: 2,
    DestinationConfig: { OnFailure: { Destination: GetAtt('DeadLetterQueue', 'Arn') } },
  });
  t.resource('ActivationRotationSchedule', 'AWS::Events::Rule', {
    Description: 'Rotates agency activations before they expire or run out of registrations',
    ScheduleExpression: config.rotationSchedule,
    State: 'ENABLED',
    Targets: [{ Id: 'ActivationManager', Arn: GetAtt('ActivationManagerFunction', 'Arn') }],
  });
  t.resource('ActivationRotationPermission', 'AWS::Lambda::Permission', {
    Action: 'lambda:InvokeFunction',
    FunctionName: Ref('ActivationManagerFunction'),
    Principal: 'events.amazonaws.com',
    SourceArn: GetAtt('ActivationRotationSchedule', 'Arn'),
    SourceAccount: Ref('AWS::AccountId'),
  });

  // Alarms: errors and throttles of both functions, dead letters, refused callers and nodes.
  t.resource('AlarmTopic', 'AWS::SNS::Topic', {
    DisplayName: 'SSM central hub alarms',
    KmsMasterKeyId: Ref('DataKey'),
  });
  t.resource(
    'AlarmEmailSubscription',
    'AWS::SNS::Subscription',
    { TopicArn: Ref('AlarmTopic'), Protocol: 'email', Endpoint: alarmEmail },
    { Condition: hasAlarmEmail },
  );
  const alarm = alarmsTo(t, 'AlarmTopic');
  const lambdaMetric = (metricName: string, fn: string) => ({
    Namespace: 'AWS/Lambda',
    MetricName: metricName,
    Dimensions: [{ Name: 'FunctionName', Value: Ref(fn) }],
  });
  alarm('TagManagerErrorsAlarm', 'The tag manager failed', lambdaMetric('Errors', 'TagManagerFunction'));
  alarm('TagManagerThrottlesAlarm', 'The tag manager was throttled', lambdaMetric('Throttles', 'TagManagerFunction'));
  alarm(
    'ActivationManagerErrorsAlarm',
    'Activation creation, rotation or deletion failed',
    lambdaMetric('Errors', 'ActivationManagerFunction'),
  );
  alarm(
    'DeadLetterQueueDepthAlarm',
    'Asynchronous invocations failed and were dead-lettered',
    queueDepthMetric('DeadLetterQueue'),
  );
  // Application metrics (EMF): the tag manager emits them with the dimension Service=TagManager,
  // the activation manager with none; an alarm matches a metric only with the same dimensions.
  const tagManagerMetric = (metricName: string) => ({
    Namespace: names.metricNamespace,
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
    Namespace: names.metricNamespace,
    MetricName: 'RotationFailures',
  });

  // The way back: central IT runs this on hub-managed nodes to return them to their own
  // account's Systems Manager (the agent listens only to the hub once registered).
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

  const exportName = (suffix: string) => Sub(`\${AWS::StackName}-${suffix}`);
  t.output('TagManagerFunctionName', {
    Description: 'Name of the tag manager function',
    Value: Ref('TagManagerFunction'),
    Export: exportName('TagManagerFunctionName'),
  });
  t.output('TagManagerFunctionArn', {
    Description: 'ARN of the tag manager function',
    Value: GetAtt('TagManagerFunction', 'Arn'),
    Export: exportName('TagManagerFunctionArn'),
  });
  t.output('ActivationManagerFunctionArn', {
    Description: 'Service token of the Custom::AgencyActivation resource',
    Value: GetAtt('ActivationManagerFunction', 'Arn'),
    Export: exportName('ActivationManagerFunctionArn'),
  });
  t.output('SyncTableName', {
    Description: 'Sync-state table (inventory read by `status`)',
    Value: Ref('SyncStateTable'),
    Export: exportName('SyncTableName'),
  });
  t.output('ManagedNodeRoleName', {
    Description: 'IAM role assumed by hybrid-registered nodes',
    Value: Ref('ManagedNodeRole'),
    Export: exportName('ManagedNodeRoleName'),
  });
  t.output('DeregisterDocumentName', {
    Description: 'Run on hub-managed nodes to return them to their own account, then deregister the node',
    Value: Ref('DeregisterDocument'),
  });
  t.output('AlarmTopicArn', { Description: 'SNS topic that receives every hub alarm', Value: Ref('AlarmTopic') });
  t.output('DeadLetterQueueUrl', {
    Description: 'Dead-letter queue of failed asynchronous invocations',
    Value: Ref('DeadLetterQueue'),
  });
  return t;
}
