// agency-collector: deployed in every agency account by a StackSet. It holds the collector
// that copies EC2 tags to the hub and the instance role. One template serves every agency: the
// hub alias ARN is derived from the central account, the central Region and the agency's own
// account ID. The register document and the zero-touch association are in agency-registration
// (a second StackSet), so each template fits a TemplateBody; the instance role and profile stay
// here, because moving them would delete the profile attached to running instances on upgrade.
// The sections follow the agency half of the README's architecture diagram: collector, its
// EventBridge triggers, the activation parameters it keeps, the instance role; then alarms and outputs.
import { derivedNames, type BuildConfig } from '../config.ts';
import { GetAtt, Ref, Sub, type Value } from '../kit/intrinsics.ts';
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
import { SCHEDULE_EXPRESSION_ALLOWED_PATTERN, SCHEDULE_EXPRESSION_RULE } from '../../contract/patterns.ts';
import { parameterInterface } from '../kit/interface.ts';
import { ACCOUNT_ID_ALLOWED_PATTERN, type BuildContext } from './context.ts';
import { agencyNames, centralRegionParameter } from './agency-names.ts';

export function buildAgencyCollector(ctx: BuildContext): Template {
  const t = new Template(
    'agency-collector',
    'SSM central hub, agency account: tag collector and instance role (registration: agency-registration).',
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
  centralRegionParameter(t);
  t.parameter('ReconcileSchedule', {
    Type: 'String',
    Default: config.reconcileSchedule,
    Description: 'Full reconcile and activation refresh schedule',
    AllowedPattern: SCHEDULE_EXPRESSION_ALLOWED_PATTERN,
    ConstraintDescription: SCHEDULE_EXPRESSION_RULE,
  });
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

/** Hub refusals of single nodes, duplicate node claims and dead-lettered events (the collector's own errors come with it). */
function collectorAlarms(t: Template, config: BuildConfig, alarm: AddAlarm): void {
  alarm('HubRefusalsAlarm', 'The hub refused this agency or some of its nodes', {
    Namespace: derivedNames(config).metricNamespace,
    MetricName: 'HubRefusals',
  });
  // Held back reports pause this agency's orphan sweep until the duplicate is gone.
  alarm('DuplicateClaimsAlarm', 'Several live instances claim one managed node (names in the collector log)', {
    Namespace: derivedNames(config).metricNamespace,
    MetricName: 'DuplicateClaims',
  });
  alarm(
    'DeadLetterQueueDepthAlarm',
    'Events for the collector failed and were dead-lettered',
    queueDepthMetric('DeadLetterQueue'),
  );
}

function outputs(t: Template, config: BuildConfig): void {
  t.output('InstanceProfileName', {
    Description: 'Attach this instance profile to agency instances',
    Value: Ref('InstanceProfile'),
  });
  t.output('HubAliasArn', { Description: 'The hub alias this agency invokes', Value: agencyNames(config).hubAliasArn });
}
