// agency-collector: deployed in every agency account by a StackSet. It holds the collector
// that copies EC2 tags to the hub, the registration documents, the instance role, and the
// optional zero-touch association. One template serves every agency: the hub alias ARN is
// derived from the central account, the central Region and the agency's own account ID.
import { derivedNames } from '../config.ts';
import { Equals, GetAtt, Not, Ref, Sub, type Value } from '../kit/intrinsics.ts';
import { allow, assumeRoleFor, deny, policyDocument } from '../kit/iam.ts';
import { addNodeFunction, logGroupIdOf } from '../kit/lambda.ts';
import { addDeadLetterQueue, alarmsTo, queueDepthMetric } from '../kit/monitoring.ts';
import { Template } from '../kit/template.ts';
import {
  COLLECTOR_ENV,
  COLLECTOR_TIMEOUT_SECONDS,
  MANAGED_INSTANCE_ID_TAG,
  PROVENANCE_TAG_SUFFIXES,
} from '../../lambda/shared/names.ts';
import { registrationDocument } from '../../documents/index.ts';
import { ACCOUNT_ID_ALLOWED_PATTERN, REGION_ALLOWED_PATTERN, type BuildContext } from './context.ts';

export function buildAgencyCollector(ctx: BuildContext): Template {
  const { config } = ctx;
  const names = derivedNames(config);
  const t = new Template(
    'agency-collector',
    'SSM central hub, agency account: tag collector, registration document, instance role, zero-touch registration.',
  );

  t.parameter('CentralAccountId', {
    Type: 'String',
    Description: 'The central IT account that runs the hub',
    AllowedPattern: ACCOUNT_ID_ALLOWED_PATTERN,
    ConstraintDescription: 'must be a 12-digit AWS account ID',
  });
  t.parameter('CentralRegion', {
    Type: 'String',
    Description: 'Region of the central-manager stack',
    AllowedPattern: REGION_ALLOWED_PATTERN,
    ConstraintDescription: 'must be a Region name such as us-east-1',
  });
  t.parameter('ReconcileSchedule', {
    Type: 'String',
    Default: config.reconcileSchedule,
    Description: 'Full reconcile and activation refresh schedule',
    AllowedPattern: '^(rate\\(\\d+ (minute|minutes|hour|hours|day|days)\\)|cron\\(.+\\))$',
    ConstraintDescription: 'must be rate(…) or cron(…)',
  });
  const zeroTouch = t.parameter('EnableZeroTouchRegistration', {
    Type: 'String',
    Default: config.zeroTouch.enabledByDefault ? 'true' : 'false',
    AllowedValues: ['true', 'false'],
    Description: 'Register instances with the opt-in tag automatically',
  });
  t.parameter('OptInTagKey', {
    Type: 'String',
    Default: config.zeroTouch.optInTagKey,
    Description: 'Opt-in tag key for zero-touch registration',
    AllowedPattern: '^[A-Za-z0-9 _.:/=+@-]{1,128}$',
    ConstraintDescription: 'must be 1–128 letters, digits, spaces or _ . : / = + - @',
  });
  t.parameter('OptInTagValue', {
    Type: 'String',
    Default: config.zeroTouch.optInTagValue,
    Description: 'Value of the opt-in tag',
    AllowedPattern: '^[A-Za-z0-9 _.:/=+@-]{0,256}$',
    ConstraintDescription: 'must be up to 256 letters, digits, spaces or _ . : / = + - @',
  });
  const alarmEmail = t.parameter('AlarmEmail', {
    Type: 'String',
    Default: '',
    Description: 'Optional e-mail address for collector alarms',
    AllowedPattern: '^$|^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$',
    ConstraintDescription: 'must be empty or an e-mail address',
  });
  const zeroTouchOn = t.condition('ZeroTouchEnabled', Equals(zeroTouch, 'true'));
  const hasAlarmEmail = t.condition('HasAlarmEmail', Not(Equals(alarmEmail, '')));

  const hubAliasArn = Sub(
    `arn:\${AWS::Partition}:lambda:\${CentralRegion}:\${CentralAccountId}:function:${names.tagManagerFunctionName}:agency-\${AWS::AccountId}`,
  );
  const paramPath = config.agencyActivationParameterPath;
  const activationParamArn = (suffix: string) =>
    Sub(`arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${paramPath}/${suffix}`);

  addDeadLetterQueue(t, 'DeadLetterQueue', { SqsManagedSseEnabled: true });

  t.resource('CollectorRole', 'AWS::IAM::Role', {
    Description: 'Agency collector',
    AssumeRolePolicyDocument: assumeRoleFor('lambda.amazonaws.com'),
    Policies: [
      {
        PolicyName: 'collector',
        PolicyDocument: policyDocument(
          allow(
            'WriteOwnLogs',
            ['logs:CreateLogStream', 'logs:PutLogEvents'],
            GetAtt(logGroupIdOf('CollectorFunction'), 'Arn'),
          ),
          // DescribeInstances has no resource-level permissions.
          allow('ReadInstances', 'ec2:DescribeInstances', '*'),
          allow('InvokeOwnHubAlias', 'lambda:InvokeFunction', hubAliasArn),
          allow(
            'KeepActivation',
            ['ssm:GetParameters', 'ssm:PutParameter'],
            [activationParamArn('id'), activationParamArn('code')],
          ),
          allow('DeadLetters', 'sqs:SendMessage', GetAtt('DeadLetterQueue', 'Arn')),
        ),
      },
    ],
  });
  addNodeFunction(t, {
    id: 'CollectorFunction',
    functionName: names.collectorFunctionName,
    description: 'Copies EC2 tags of hub-registered instances to the hub',
    code: ctx.bundles.collector,
    runtime: config.runtime,
    architecture: config.architecture,
    roleId: 'CollectorRole',
    memoryMb: 256,
    timeoutSeconds: COLLECTOR_TIMEOUT_SECONDS,
    logRetentionDays: config.logRetentionDays,
    today: ctx.today,
    environment: {
      [COLLECTOR_ENV.hubFunctionArn]: hubAliasArn,
      [COLLECTOR_ENV.activationParameterPath]: paramPath,
      [COLLECTOR_ENV.reservedTagPrefix]: config.reservedTagPrefix,
      [COLLECTOR_ENV.metricNamespace]: names.metricNamespace,
    },
  });
  t.resource('CollectorAsyncConfig', 'AWS::Lambda::EventInvokeConfig', {
    FunctionName: Ref('CollectorFunction'),
    Qualifier: '$LATEST',
    MaximumRetryAttempts: 2,
    DestinationConfig: { OnFailure: { Destination: GetAtt('DeadLetterQueue', 'Arn') } },
  });

  const trigger = (id: string, description: string, source: Record<string, Value>) => {
    t.resource(id, 'AWS::Events::Rule', {
      Description: description,
      State: 'ENABLED',
      Targets: [{ Id: 'Collector', Arn: GetAtt('CollectorFunction', 'Arn') }],
      ...source,
    });
    t.resource(`${id}Permission`, 'AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: Ref('CollectorFunction'),
      Principal: 'events.amazonaws.com',
      SourceArn: GetAtt(id, 'Arn'),
      SourceAccount: Ref('AWS::AccountId'),
    });
  };
  trigger('TagChangeRule', 'EC2 tag changes reach the hub within seconds', {
    EventPattern: {
      source: ['aws.tag'],
      'detail-type': ['Tag Change on Resource'],
      detail: { service: ['ec2'], 'resource-type': ['instance'] },
    },
  });
  trigger('TerminationRule', 'Terminated instances are deregistered from the hub', {
    EventPattern: {
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['terminated'] },
    },
  });
  trigger('ReconcileRule', 'Full reconcile, because events are best effort; also refreshes the activation', {
    ScheduleExpression: Ref('ReconcileSchedule'),
  });

  // Alarms: the collector failing (including every refusal by the hub), hub refusals of single
  // nodes, and dead-lettered events. CloudWatch cannot publish to a topic encrypted with the
  // AWS managed SNS key, and alarm names are not secret, so this topic uses no custom key.
  t.resource('AlarmTopic', 'AWS::SNS::Topic', { DisplayName: 'SSM central hub: agency collector alarms' });
  t.resource(
    'AlarmEmailSubscription',
    'AWS::SNS::Subscription',
    { TopicArn: Ref('AlarmTopic'), Protocol: 'email', Endpoint: alarmEmail },
    { Condition: hasAlarmEmail },
  );
  const alarm = alarmsTo(t, 'AlarmTopic');
  alarm('CollectorErrorsAlarm', 'The collector failed or the hub refused it', {
    Namespace: 'AWS/Lambda',
    MetricName: 'Errors',
    Dimensions: [{ Name: 'FunctionName', Value: Ref('CollectorFunction') }],
  });
  alarm('HubRefusalsAlarm', 'The hub refused this agency or some of its nodes', {
    Namespace: names.metricNamespace,
    MetricName: 'HubRefusals',
  });
  alarm(
    'DeadLetterQueueDepthAlarm',
    'Events for the collector failed and were dead-lettered',
    queueDepthMetric('DeadLetterQueue'),
  );

  const docOptions = {
    hubRegion: Ref('CentralRegion'),
    activationParameterPath: paramPath,
    reservedTagPrefix: config.reservedTagPrefix,
    managedInstanceIdTagKey: MANAGED_INSTANCE_ID_TAG,
  };
  t.resource('RegisterDocument', 'AWS::SSM::Document', {
    DocumentType: 'Command',
    Content: registrationDocument(docOptions) as unknown as Value,
  });
  // The deregistration document lives in central-manager: once registered, an instance's agent
  // answers only the hub's Run Command, so only the hub can send it the way back.

  // Agency instances: the SSM core policy, read of the two activation parameters only, and
  // tagging of the instance itself with the managedinstanceid key and the error key only.
  const instanceArn = Sub('arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*');
  // The caller's instance (ec2:SourceInstanceARN) must be the instance being tagged
  // (${ec2:InstanceID}, a policy variable resolved per target). `${!…}` keeps it literal in Sub.
  const ownInstanceOnly = {
    ArnEquals: {
      'ec2:SourceInstanceARN': Sub(
        'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/${!ec2:InstanceID}',
      ),
    },
  };
  const tagKeys = [
    MANAGED_INSTANCE_ID_TAG,
    `${config.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.registrationError}`,
    `${config.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.registrationOptOut}`,
  ];
  t.resource('InstanceRole', 'AWS::IAM::Role', {
    Description: 'Agency instances registered with the hub',
    AssumeRolePolicyDocument: assumeRoleFor('ec2.amazonaws.com'),
    ManagedPolicyArns: [Sub('arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore')],
    Policies: [
      {
        PolicyName: 'hub-registration',
        PolicyDocument: policyDocument(
          // Get-SSMParameterValue (Windows) calls GetParameters; the AWS CLI (Linux) calls GetParameter.
          allow(
            'ReadActivation',
            ['ssm:GetParameter', 'ssm:GetParameters'],
            [activationParamArn('id'), activationParamArn('code')],
          ),
          // AmazonSSMManagedInstanceCore allows ssm:GetParameter(s) on every parameter; this
          // instance role may read the two activation parameters and nothing else.
          // AWS's public parameters (/aws/service/…, e.g. AMI IDs for agent tooling) stay readable.
          deny(
            'DenyOtherParameters',
            ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath', 'ssm:GetParameterHistory'],
            [
              activationParamArn('id'),
              activationParamArn('code'),
              Sub('arn:${AWS::Partition}:ssm:${AWS::Region}::parameter/aws/service/*'),
            ],
          ),
          allow('TagSelfWithRegistration', ['ec2:CreateTags', 'ec2:DeleteTags'], instanceArn, {
            ...ownInstanceOnly,
            'ForAllValues:StringEquals': { 'aws:TagKeys': tagKeys },
            Null: { 'aws:TagKeys': 'false' },
          }),
          // DescribeTags has no resource-level permissions; it only reads.
          allow('ReadOwnTags', 'ec2:DescribeTags', '*'),
        ),
      },
    ],
  });
  t.resource('InstanceProfile', 'AWS::IAM::InstanceProfile', {
    InstanceProfileName: Sub(`${config.namePrefix}-agency-instance-\${AWS::Region}`),
    Roles: [Ref('InstanceRole')],
  });

  t.resource(
    'ZeroTouchAssociation',
    'AWS::SSM::Association',
    {
      AssociationName: `${config.namePrefix}-zero-touch-registration`,
      Name: Ref('RegisterDocument'),
      Targets: [{ Key: Sub('tag:${OptInTagKey}'), Values: [Ref('OptInTagValue')] }],
      Parameters: { HubRegion: [Ref('CentralRegion')], ActivationParameterPath: [paramPath] },
      // Retries hourly, like the collector that writes the activation: an instance that launched
      // before the activation arrived registers within the hour (registered ones exit at once).
      ScheduleExpression: 'rate(1 hour)',
      ComplianceSeverity: 'HIGH',
    },
    { Condition: zeroTouchOn },
  );

  t.output('RegisterDocumentName', {
    Description: 'Run this document to register instances with the hub',
    Value: Ref('RegisterDocument'),
  });
  t.output('InstanceProfileName', {
    Description: 'Attach this instance profile to agency instances',
    Value: Ref('InstanceProfile'),
  });
  t.output('HubAliasArn', { Description: 'The hub alias this agency invokes', Value: hubAliasArn });
  return t;
}
