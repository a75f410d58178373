// agency-collector: deployed in every agency account by a StackSet. It holds the collector
// that copies EC2 tags to the hub, the registration documents, the instance role, and the
// optional zero-touch association. One template serves every agency: the hub alias ARN is
// derived from the central account, the central Region and the agency's own account ID.
// The sections follow the agency half of the README's architecture diagram: collector,
// its EventBridge triggers, the activation parameters it keeps, the register document and
// zero-touch association, the instance role; then alarms and outputs.
import { SSM_MAX_KEY_LENGTH, SSM_MAX_VALUE_LENGTH } from '../../contract/limits.ts';
import { SCHEDULE_EXPRESSION_PATTERN, SSM_TAG_ASCII_CHARACTERS } from '../../contract/patterns.ts';
import { derivedNames, type BuildConfig } from '../config.ts';
import { Equals, GetAtt, Ref, Sub, type Value } from '../kit/intrinsics.ts';
import {
  allow,
  assumeRoleFor,
  deny,
  ownInstanceTagging,
  policyDocument,
  sendDeadLetters,
  writeOwnLogs,
} from '../kit/iam.ts';
import { addDeadLetterQueue, addLogKey, queueDepthMetric, type AddAlarm } from '../kit/monitoring.ts';
import { logGroupIdOf } from '../kit/lambda.ts';
import { addAlarmTopic, addFunction, addTrigger } from '../kit/shortcuts.ts';
import { Template } from '../kit/template.ts';
import { COLLECTOR_ENVIRONMENT, environmentVariables } from '../../contract/environment.ts';
import {
  COLLECTOR_TIMEOUT_SECONDS,
  MANAGED_INSTANCE_ID_TAG,
  PROVENANCE_TAG_SUFFIXES,
} from '../../lambda/shared/names.ts';
import { registrationDocument } from '../../documents/index.ts';
import { SCHEDULE_EXPRESSION_ALLOWED_PATTERN, SCHEDULE_EXPRESSION_RULE } from '../../contract/patterns.ts';
import { parameterInterface } from '../kit/interface.ts';
import { ACCOUNT_ID_ALLOWED_PATTERN, REGION_ALLOWED_PATTERN, type BuildContext } from './context.ts';

export function buildAgencyCollector(ctx: BuildContext): Template {
  const t = new Template(
    'agency-collector',
    'SSM central hub, agency account: tag collector, registration document, instance role, zero-touch registration.',
  );
  parameters(t, ctx.config);
  // CloudWatch cannot publish to a topic encrypted with the AWS managed SNS key, and alarm
  // names are not secret, so this topic uses no custom key.
  const alarm = addAlarmTopic(t, {
    displayName: 'SSM central hub: agency collector alarms',
    emailDescription: 'Optional e-mail address for collector alarms',
  });
  collector(t, ctx, alarm);
  collectorTriggers(t);
  registration(t, ctx.config);
  instanceRole(t, ctx.config);
  collectorAlarms(t, ctx.config, alarm);
  outputs(t, ctx.config);
  // Terse: this template has a byte budget (TemplateBody).
  parameterInterface(t, [
    {
      label: 'Hub',
      parameters: [
        ['CentralAccountId', 'Account'],
        ['CentralRegion', 'Region'],
      ],
    },
    {
      label: 'Registration',
      parameters: [
        ['EnableZeroTouchRegistration', 'Zero-touch'],
        ['OptInTagKey', 'Tag key'],
        ['OptInTagValue', 'Tag value'],
      ],
    },
    {
      label: 'Ops',
      parameters: [
        ['ReconcileSchedule', 'Schedule'],
        ['AlarmEmail', 'E-mail'],
      ],
    },
  ]);

  return t;
}

function parameters(t: Template, config: BuildConfig): void {
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
    AllowedPattern: SCHEDULE_EXPRESSION_ALLOWED_PATTERN,
    ConstraintDescription: SCHEDULE_EXPRESSION_RULE,
  });
  const zeroTouch = t.parameter('EnableZeroTouchRegistration', {
    Type: 'String',
    Default: config.zeroTouch.enabledByDefault ? 'true' : 'false',
    AllowedValues: ['true', 'false'],
    Description: "true: tagged instances move to the central account's SSM",
  });
  t.condition('ZeroTouchEnabled', Equals(zeroTouch, 'true'));
  t.parameter('OptInTagKey', {
    Type: 'String',
    Default: config.zeroTouch.optInTagKey,
    Description: 'Opt-in tag key for zero-touch registration',
    AllowedPattern: `^[${SSM_TAG_ASCII_CHARACTERS}]{1,${SSM_MAX_KEY_LENGTH}}$`,
    ConstraintDescription: `must be 1–${SSM_MAX_KEY_LENGTH} letters, digits, spaces or _ . : / = + - @`,
  });
  t.parameter('OptInTagValue', {
    Type: 'String',
    Default: config.zeroTouch.optInTagValue,
    Description: 'Value of the opt-in tag',
    AllowedPattern: `^[${SSM_TAG_ASCII_CHARACTERS}]{0,${SSM_MAX_VALUE_LENGTH}}$`,
    ConstraintDescription: `must be up to ${SSM_MAX_VALUE_LENGTH} letters, digits, spaces or _ . : / = + - @`,
  });
}

/** The ARNs and paths every section names the same way. */
function agencyNames(config: BuildConfig) {
  const paramPath = config.agencyActivationParameterPath;
  return {
    paramPath,
    hubAliasArn: Sub(
      `arn:\${AWS::Partition}:lambda:\${CentralRegion}:\${CentralAccountId}:function:${derivedNames(config).tagManagerFunctionName}:agency-\${AWS::AccountId}`,
    ),
    activationParamArn: (suffix: string) =>
      Sub(`arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${paramPath}/${suffix}`),
  };
}

/** Collector: reads instances, invokes its own hub alias, keeps the activation parameters. */
function collector(t: Template, ctx: BuildContext, alarm: AddAlarm): void {
  const { config } = ctx;
  const { paramPath, hubAliasArn, activationParamArn } = agencyNames(config);
  addDeadLetterQueue(t, 'DeadLetterQueue', { SqsManagedSseEnabled: true });
  addLogKey(t, 'LogKey', [logGroupIdOf('CollectorFunction')]);
  addFunction(t, {
    name: 'Collector',
    role: {
      description: 'Agency collector',
      policyName: 'collector',
      statements: [
        writeOwnLogs('CollectorFunction'),
        // DescribeInstances has no resource-level permissions.
        allow('ReadInstances', 'ec2:DescribeInstances', '*'),
        allow('InvokeOwnHubAlias', 'lambda:InvokeFunction', hubAliasArn),
        allow(
          'KeepActivation',
          ['ssm:GetParameters', 'ssm:PutParameter'],
          [activationParamArn('id'), activationParamArn('code')],
        ),
        sendDeadLetters('DeadLetterQueue'),
      ],
    },
    functionName: derivedNames(config).collectorFunctionName,
    description: 'Copies EC2 tags of hub-registered instances to the hub',
    code: ctx.bundles.collector,
    runtime: config.runtime,
    architecture: config.architecture,
    memoryMb: 256,
    timeoutSeconds: COLLECTOR_TIMEOUT_SECONDS,
    logRetentionDays: config.logRetentionDays,
    logKmsKeyArn: GetAtt('LogKey', 'Arn'),
    today: ctx.today,
    environment: environmentVariables<typeof COLLECTOR_ENVIRONMENT, Value>(COLLECTOR_ENVIRONMENT, {
      hubFunctionArn: hubAliasArn,
      activationParameterPath: paramPath,
      reservedTagPrefix: config.reservedTagPrefix,
      metricNamespace: derivedNames(config).metricNamespace,
    }),
    deadLetterQueueId: 'DeadLetterQueue',
    alarms: { add: alarm, errors: 'The collector failed or the hub refused it' },
  });
}

/** Tag changes and terminations within seconds; the schedule catches what events miss. */
function collectorTriggers(t: Template): void {
  const trigger = { functionId: 'CollectorFunction', targetId: 'Collector' };
  addTrigger(t, {
    ...trigger,
    id: 'TagChangeRule',
    description: 'EC2 tag changes reach the hub within seconds',
    eventPattern: {
      source: ['aws.tag'],
      'detail-type': ['Tag Change on Resource'],
      detail: { service: ['ec2'], 'resource-type': ['instance'] },
    },
  });
  addTrigger(t, {
    ...trigger,
    id: 'TerminationRule',
    description: 'Terminated instances are deregistered from the hub',
    eventPattern: {
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['terminated'] },
    },
  });
  addTrigger(t, {
    ...trigger,
    id: 'ReconcileRule',
    description: 'Full reconcile, because events are best effort; also refreshes the activation',
    schedule: Ref('ReconcileSchedule'),
  });
}

/** The register document, and the zero-touch association that runs it on opted-in instances. */
function registration(t: Template, config: BuildConfig): void {
  const { paramPath } = agencyNames(config);
  t.resource('RegisterDocument', 'AWS::SSM::Document', {
    DocumentType: 'Command',
    Content: registrationDocument({
      hubRegion: Ref('CentralRegion'),
      activationParameterPath: paramPath,
      reservedTagPrefix: config.reservedTagPrefix,
      managedInstanceIdTagKey: MANAGED_INSTANCE_ID_TAG,
    }) as unknown as Value,
  });
  // The deregistration document lives in central-manager: once registered, an instance's agent
  // answers only the hub's Run Command, so only the hub can send it the way back.
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
    { Condition: 'ZeroTouchEnabled' },
  );
}

/**
 * Agency instances: the SSM core policy, read of the two activation parameters only, and
 * tagging of the instance itself with the managedinstanceid key and the registration keys only.
 */
function instanceRole(t: Template, config: BuildConfig): void {
  const { activationParamArn } = agencyNames(config);
  const errorKey = `${config.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.registrationError}`;
  const optOutKey = `${config.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.registrationOptOut}`;
  const readable = ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath', 'ssm:GetParameterHistory'];
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
          deny('DenyOtherParameters', readable, [
            activationParamArn('id'),
            activationParamArn('code'),
            Sub('arn:${AWS::Partition}:ssm:${AWS::Region}::parameter/aws/service/*'),
          ]),
          ...ownInstanceTagging([MANAGED_INSTANCE_ID_TAG, errorKey, optOutKey]),
          // DescribeTags has no resource-level permissions; it only reads, in this Region only.
          allow('ReadOwnTags', 'ec2:DescribeTags', '*', { StringEquals: { 'ec2:Region': Ref('AWS::Region') } }),
        ),
      },
    ],
  });
  t.resource('InstanceProfile', 'AWS::IAM::InstanceProfile', {
    InstanceProfileName: Sub(`${config.namePrefix}-agency-instance-\${AWS::Region}`),
    Roles: [Ref('InstanceRole')],
  });
}

/** Hub refusals of single nodes and dead-lettered events (the collector's own errors come with it). */
function collectorAlarms(t: Template, config: BuildConfig, alarm: AddAlarm): void {
  alarm('HubRefusalsAlarm', 'The hub refused this agency or some of its nodes', {
    Namespace: derivedNames(config).metricNamespace,
    MetricName: 'HubRefusals',
  });
  alarm(
    'DeadLetterQueueDepthAlarm',
    'Events for the collector failed and were dead-lettered',
    queueDepthMetric('DeadLetterQueue'),
  );
}

function outputs(t: Template, config: BuildConfig): void {
  t.output('RegisterDocumentName', {
    Description: 'Run this document to register instances with the hub',
    Value: Ref('RegisterDocument'),
  });
  t.output('InstanceProfileName', {
    Description: 'Attach this instance profile to agency instances',
    Value: Ref('InstanceProfile'),
  });
  t.output('HubAliasArn', { Description: 'The hub alias this agency invokes', Value: agencyNames(config).hubAliasArn });
}
