// Shortcuts both stacks use the same way: the dead-letter queue of failed asynchronous
// invocations (TLS only), and alarms of one shape (any occurrence in five minutes notifies).
import { GetAtt, Ref, Sub, type Value } from './intrinsics.ts';
import { policyDocument, type Statement } from './iam.ts';
import type { Template } from './template.ts';

/** Fourteen days, SQS's longest retention: dead letters wait for a person. */
const DLQ_RETENTION_SECONDS = 1_209_600;

/** Adds `id` (an SQS queue) and its policy refusing plain-HTTP access. Encryption is the caller's choice. */
export function addDeadLetterQueue(
  t: Template,
  id: string,
  encryption: { KmsMasterKeyId: Value } | { SqsManagedSseEnabled: true },
): string {
  t.resource(
    id,
    'AWS::SQS::Queue',
    // A dead-letter queue passes CT.SQS.PR.1 with a RedriveAllowPolicy; allowAll is SQS's default.
    {
      ...encryption,
      MessageRetentionPeriod: DLQ_RETENTION_SECONDS,
      RedriveAllowPolicy: { redrivePermission: 'allowAll' },
    },
    { DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' },
  );
  t.resource(`${id}Policy`, 'AWS::SQS::QueuePolicy', {
    Queues: [Ref(id)],
    PolicyDocument: policyDocument({
      Sid: 'DenyInsecureTransport',
      Effect: 'Deny',
      Principal: '*',
      Action: 'sqs:*',
      Resource: GetAtt(id, 'Arn'),
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    }),
  });
  return id;
}

export type AddAlarm = (id: string, description: string, metric: Record<string, Value>) => string;

/** Returns a function that adds alarms firing on any occurrence within five minutes, sent to `topicId`. */
export function alarmsTo(t: Template, topicId: string): AddAlarm {
  return (id, description, metric) =>
    t.resource(id, 'AWS::CloudWatch::Alarm', {
      AlarmDescription: description,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      Threshold: 1,
      Period: 300,
      Statistic: 'Sum',
      TreatMissingData: 'notBreaching',
      AlarmActions: [Ref(topicId)],
      ...metric,
    });
}

/** The depth of a dead-letter queue: any message at all is worth a look. */
export function queueDepthMetric(queueId: string): Record<string, Value> {
  return {
    Namespace: 'AWS/SQS',
    MetricName: 'ApproximateNumberOfMessagesVisible',
    Dimensions: [{ Name: 'QueueName', Value: GetAtt(queueId, 'QueueName') }],
    Statistic: 'Maximum',
  };
}

/** Key policy statement: the account (its IAM policies) administers the key. */
export const KEY_ADMINISTERED_BY_ACCOUNT: Statement = {
  Effect: 'Allow',
  Principal: { AWS: Sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:root') },
  Action: 'kms:*',
  Resource: '*',
};

/** Key policy statement: no grant unless it is for an AWS service (CT.KMS.PR.3). */
export const GRANTS_ONLY_FOR_AWS_SERVICES: Statement = {
  Effect: 'Deny',
  Principal: { AWS: '*' },
  Action: 'kms:CreateGrant',
  Resource: '*',
  Condition: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
};

/** Key policy statement: CloudWatch Logs may use the key for these log groups of this stack only. */
export function logsMayUseKeyFor(logGroupIds: string[]): Statement {
  return {
    Effect: 'Allow',
    Principal: { Service: Sub('logs.${AWS::Region}.amazonaws.com') },
    Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'],
    Resource: '*',
    Condition: {
      ArnLike: {
        'kms:EncryptionContext:aws:logs:arn': logGroupIds.map((g) =>
          Sub(`arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:\${AWS::StackName}-${g}-*`),
        ),
      },
    },
  };
}

/**
 * A customer managed key for this stack's log groups (CT.CLOUDWATCH.PR.3 wants KmsKeyId to name a
 * key of the template). CloudWatch Logs may use it only for the named log groups, which
 * CloudFormation names stack-logicalId-suffix.
 */
export function addLogKey(t: Template, id: string, logGroupIds: string[]): string {
  t.resource(
    id,
    'AWS::KMS::Key',
    {
      EnableKeyRotation: true,
      KeyPolicy: policyDocument(
        KEY_ADMINISTERED_BY_ACCOUNT,
        // CT.KMS.PR.3: grants only for AWS services.
        GRANTS_ONLY_FOR_AWS_SERVICES,
        logsMayUseKeyFor(logGroupIds),
      ),
    },
    { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' },
  );
  return id;
}
