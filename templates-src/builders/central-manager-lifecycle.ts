// central-manager, the automatic fleet lifecycle: the activation manager's view of the Region's
// node capacity (tier and per-agency quota), the orphan sweep and agency membership by OU. Kept
// apart from central-manager.ts, which calls each section in one line.
import { derivedNames, type BuildConfig } from '../config.ts';
import { Equals, GetAtt, If, Not, Or, Ref, Sub, type Value } from '../kit/intrinsics.ts';
import {
  allow,
  assumeRoleFor,
  deadLetterKey,
  policyDocument,
  sendDeadLetters,
  viaService,
  writeOwnLogs,
  type Statement,
} from '../kit/iam.ts';
import type { AddAlarm } from '../kit/monitoring.ts';
import { addFunction } from '../kit/shortcuts.ts';
import type { Template } from '../kit/template.ts';
import {
  ACTIVATION_TIER_SETTING_ID,
  AGENCY_ACCOUNTS_LIST_MAX_LENGTH,
  AGENCY_OUS_LIST_MAX_LENGTH,
} from '../../contract/limits.ts';
import { environmentVariables, LIFECYCLE_ENVIRONMENT, LIFECYCLE_MODES } from '../../contract/environment.ts';
import { ACCOUNT_ID_LIST_PATTERN, OU_ID_LIST_PATTERN } from '../../contract/patterns.ts';
import { buildAgencyPermissions } from './agency-permissions.ts';
import type { BuildContext } from './context.ts';

/** The activation manager's capacity settings (contract: ACTIVATION_MANAGER_ENVIRONMENT). */
export function activationCapacityEnvironment(config: BuildConfig) {
  return {
    agencyNodeQuota: config.lifecycle.agencyNodeQuota,
    quotaHeadroomPercent: config.lifecycle.quotaHeadroomPercent,
    standardTierNodeLimit: config.standardTierNodeLimit,
  };
}

/** Rotation reads the tier in force and counts the Region's and the agency's nodes. */
export function activationCapacityStatements(): Statement[] {
  return [
    allow(
      'ReadActivationTier',
      'ssm:GetServiceSetting',
      Sub(`arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:servicesetting${ACTIVATION_TIER_SETTING_ID}`),
    ),
    // DescribeInstanceInformation has no resource-level permissions.
    allow('CountManagedNodes', 'ssm:DescribeInstanceInformation', '*'),
  ];
}

/** The operator's switches: each lifecycle task on, reporting only, or off (its schedule disabled). */
function lifecycleParameters(t: Template, config: BuildConfig) {
  const mode = (id: string, task: string, dflt: string) =>
    t.parameter(id, {
      Type: 'String',
      Default: dflt,
      AllowedValues: [...LIFECYCLE_MODES],
      Description: `${task}: enabled, dry-run (log and count only) or disabled (schedule off)`,
    });
  const m = config.lifecycle.membership;
  return {
    sweep: mode('OrphanSweepMode', 'Orphan sweep', config.lifecycle.orphanSweep.mode),
    membership: mode('MembershipMode', 'Agency membership by OU', m.mode),
    ous: t.parameter('AgencyOrganizationalUnits', {
      Type: 'String',
      Default: m.organizationalUnits.join(','),
      AllowedPattern: OU_ID_LIST_PATTERN.source,
      MaxLength: AGENCY_OUS_LIST_MAX_LENGTH,
      Description: 'OUs (ou-…) or roots (r-…) whose ACTIVE accounts are the agencies, comma-separated',
      ConstraintDescription: `must be empty or a comma-separated list of OU or root IDs, at most ${AGENCY_OUS_LIST_MAX_LENGTH} characters (name parent OUs)`,
    }),
    accounts: t.parameter('AgencyAccounts', {
      Type: 'String',
      Default: m.accounts.join(','),
      AllowedPattern: ACCOUNT_ID_LIST_PATTERN.source,
      MaxLength: AGENCY_ACCOUNTS_LIST_MAX_LENGTH,
      Description: 'Agency accounts outside those OUs, comma-separated (at most 50: put more in an OU)',
      ConstraintDescription: 'must be empty or a comma-separated list of at most 50 12-digit account IDs',
    }),
  };
}

/** Membership on (or dry-run) with no OU and no account would read as "every agency left": refused. */
function membershipNeedsAgencies(t: Template, p: ReturnType<typeof lifecycleParameters>) {
  t.rule('MembershipNeedsAgencies', {
    RuleCondition: Not(Equals(p.membership, 'disabled')),
    Assertions: [
      {
        Assert: Or(Not(Equals(p.ous, '')), Not(Equals(p.accounts, ''))),
        AssertDescription: 'MembershipMode enabled or dry-run needs AgencyOrganizationalUnits or AgencyAccounts',
      },
    ],
  });
}

/**
 * The role CloudFormation assumes for the agency stacks the lifecycle creates and deletes: the
 * alias and its invoke permission on the tag manager, and the activation custom resource.
 */
function agencyStackRole(t: Template): void {
  const tagManager = GetAtt('TagManagerFunction', 'Arn');
  t.resource('AgencyStackRole', 'AWS::IAM::Role', {
    Description: 'Assumed by CloudFormation for agency-permissions stacks the fleet lifecycle creates',
    AssumeRolePolicyDocument: assumeRoleFor('cloudformation.amazonaws.com', {
      StringEquals: { 'aws:SourceAccount': Ref('AWS::AccountId') },
    }),
    Policies: [
      {
        PolicyName: 'agency-stack',
        PolicyDocument: policyDocument(
          allow(
            'AgencyAliases',
            ['lambda:CreateAlias', 'lambda:DeleteAlias', 'lambda:GetAlias', 'lambda:UpdateAlias'],
            [tagManager, Sub('${Fn}:agency-*', { Fn: tagManager })],
          ),
          allow(
            'AgencyInvokePermissions',
            ['lambda:AddPermission', 'lambda:RemovePermission'],
            Sub('${Fn}:agency-*', { Fn: tagManager }),
          ),
          allow('AgencyActivation', 'lambda:InvokeFunction', GetAtt('ActivationManagerFunction', 'Arn')),
        ),
      },
    ],
  });
}

function lifecycleStatements(config: BuildConfig): Statement[] {
  const names = derivedNames(config);
  const inAccount = (rest: string) => Sub(`arn:\${AWS::Partition}:${rest}`);
  const agencyStacks = inAccount(
    `cloudformation:\${AWS::Region}:\${AWS::AccountId}:stack/${names.agencyPermissionsStackName('')}*/*`,
  );
  const tableArn = GetAtt('SyncStateTable', 'Arn');
  return [
    writeOwnLogs('FleetLifecycleFunction'),
    // The OUs and roots of the organization (the management account's ARNs; its ID is not known here).
    allow(
      'ReadOrganization',
      ['organizations:ListAccountsForParent', 'organizations:ListChildren'],
      [inAccount('organizations::*:ou/o-*/ou-*'), inAccount('organizations::*:root/o-*/r-*')],
    ),
    allow('ListStacks', 'cloudformation:ListStacks', '*'),
    allow(
      'AgencyStacks',
      // Both carry cloudformation:RoleArn: only with the agency stack role, never the caller's own rights.
      ['cloudformation:CreateStack', 'cloudformation:DeleteStack'],
      agencyStacks,
      {
        StringEquals: { 'cloudformation:RoleArn': GetAtt('AgencyStackRole', 'Arn') },
      },
    ),
    allow('PassAgencyStackRole', 'iam:PassRole', GetAtt('AgencyStackRole', 'Arn'), {
      StringEquals: { 'iam:PassedToService': 'cloudformation.amazonaws.com' },
    }),
    allow(
      'ReadActivationRecords',
      'ssm:GetParametersByPath',
      inAccount(`ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${config.centralActivationParameterPrefix}`),
    ),
    allow('DecryptActivationRecordsAndTable', 'kms:Decrypt', GetAtt('DataKey', 'Arn'), viaService('ssm', 'dynamodb')),
    allow(
      'EncryptTableItems',
      ['kms:GenerateDataKey', 'kms:Encrypt'],
      GetAtt('DataKey', 'Arn'),
      viaService('dynamodb'),
    ),
    allow('ListAgencyNodes', 'ssm:DescribeInstanceInformation', '*'),
    allow(
      'DeregisterOrphans',
      'ssm:DeregisterManagedInstance',
      inAccount('ssm:${AWS::Region}:${AWS::AccountId}:managed-instance/*'),
    ),
    allow(
      'SyncState',
      ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Query'],
      [tableArn, Sub('${Table}/index/*', { Table: tableArn })],
    ),
    sendDeadLetters('DeadLetterQueue'),
    deadLetterKey('DataKey'),
  ];
}

/** The agency-permissions template as `onboard` deploys it, without console-only metadata. */
export function embeddedAgencyTemplate(ctx: BuildContext): string {
  const template = buildAgencyPermissions(ctx).render().template as unknown as Record<string, unknown>;
  const { Metadata: _metadata, ...rest } = template;
  return JSON.stringify(rest);
}

/** Orphan sweep and agency membership by OU: one function, two schedules, Organizations events. */
export function fleetLifecycle(t: Template, ctx: BuildContext, alarm: AddAlarm): void {
  const { config } = ctx;
  const names = derivedNames(config);
  const p = lifecycleParameters(t, config);
  membershipNeedsAgencies(t, p);
  agencyStackRole(t);
  addFunction(t, {
    name: 'FleetLifecycle',
    role: {
      description: 'Fleet lifecycle: onboards and offboards agencies by OU, sweeps orphaned managed nodes',
      policyName: 'fleet-lifecycle',
      statements: lifecycleStatements(config),
    },
    functionName: `${config.namePrefix}-fleet-lifecycle`,
    description: 'Keeps agencies equal to the configured OUs and deregisters orphaned managed nodes',
    code: ctx.bundles['fleet-lifecycle'],
    runtime: config.runtime,
    architecture: config.architecture,
    memoryMb: 256,
    timeoutSeconds: 900,
    // One pass at a time: a schedule and an Organizations event never race on one agency's stack.
    reservedConcurrency: 1,
    logRetentionDays: config.logRetentionDays,
    logKmsKeyArn: GetAtt('DataKey', 'Arn'),
    today: ctx.today,
    environment: environmentVariables<typeof LIFECYCLE_ENVIRONMENT, Value>(LIFECYCLE_ENVIRONMENT, {
      syncTableName: Ref('SyncStateTable'),
      activationParameterPrefix: config.centralActivationParameterPrefix,
      metricNamespace: names.metricNamespace,
      sweepMode: p.sweep,
      unclaimedHours: config.lifecycle.orphanSweep.unclaimedHours,
      connectionLostDays: config.lifecycle.orphanSweep.connectionLostDays,
      membershipMode: p.membership,
      agencyOus: p.ous,
      agencyAccounts: p.accounts,
      graceHours: config.lifecycle.membership.graceHours,
      leaverNodes: config.lifecycle.membership.leaverNodes,
      agencyStackPrefix: names.agencyPermissionsStackName(''),
      centralStackName: Ref('AWS::StackName'),
      agencyTemplateBody: embeddedAgencyTemplate(ctx),
      stackRoleArn: GetAtt('AgencyStackRole', 'Arn'),
      reservedTagPrefix: config.reservedTagPrefix,
    }),
    deadLetterQueueId: 'DeadLetterQueue',
    alarms: { add: alarm, errors: 'The fleet lifecycle (orphan sweep or membership pass) failed' },
  });
  lifecycleTriggers(t, config);
  const metric = (name: string) => ({
    Namespace: names.metricNamespace,
    MetricName: name,
    Dimensions: [{ Name: 'Service', Value: 'FleetLifecycle' }],
  });
  alarm('MembershipFailuresAlarm', 'An agency could not be onboarded or offboarded', metric('MembershipFailures'));
  alarm(
    'AgenciesNotActiveAlarm',
    'An onboarded agency account is suspended or closed: it is kept, with its nodes, until it leaves the OUs or is offboarded',
    metric('AgenciesNotActive'),
  );
  alarm(
    'SweepFailuresAlarm',
    'The orphan sweep could not deregister a node or read an agency',
    metric('SweepFailures'),
  );
}

/** A rule runs the function with a constant task; it is DISABLED while its mode is disabled. */
function lifecycleTriggers(t: Template, config: BuildConfig): void {
  t.condition('OrphanSweepOn', Not(Equals(Ref('OrphanSweepMode'), 'disabled')));
  t.condition('MembershipOn', Not(Equals(Ref('MembershipMode'), 'disabled')));
  const rule = (id: string, on: string, description: string, trigger: Record<string, Value>, input?: string) => {
    t.resource(id, 'AWS::Events::Rule', {
      Description: description,
      State: If(on, 'ENABLED', 'DISABLED'),
      Targets: [
        { Id: 'FleetLifecycle', Arn: GetAtt('FleetLifecycleFunction', 'Arn'), ...(input ? { Input: input } : {}) },
      ],
      ...trigger,
    });
    t.resource(`${id}Permission`, 'AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: Ref('FleetLifecycleFunction'),
      Principal: 'events.amazonaws.com',
      SourceArn: GetAtt(id, 'Arn'),
      SourceAccount: Ref('AWS::AccountId'),
    });
  };
  const { orphanSweep, membership } = config.lifecycle;
  rule(
    'OrphanSweepSchedule',
    'OrphanSweepOn',
    'Sweeps orphaned managed nodes',
    { ScheduleExpression: orphanSweep.schedule },
    '{"task":"orphan-sweep"}',
  );
  rule(
    'MembershipSchedule',
    'MembershipOn',
    'Keeps agencies equal to the configured OUs',
    { ScheduleExpression: membership.schedule },
    '{"task":"membership"}',
  );
  // Delivered only in the management account (or a delegated administrator) and its home Region.
  rule('MembershipOrganizationsEvents', 'MembershipOn', 'Runs a membership pass when accounts move', {
    EventPattern: {
      source: ['aws.organizations'],
      'detail-type': ['AWS API Call via CloudTrail'],
      detail: {
        eventName: [
          'MoveAccount',
          'CreateAccountResult',
          'AcceptHandshake',
          'RemoveAccountFromOrganization',
          'CloseAccount',
        ],
      },
    },
  });
}
