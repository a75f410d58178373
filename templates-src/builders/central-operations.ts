// central-operations: the hub's baseline operations, deployed once in the central account next to
// central-manager (optional). A template of its own, because central IT changes its schedules and
// thresholds on a different rhythm from the hub's plumbing, and because it must stay deployable
// and removable without touching the tag manager or the activations.
//
// Every target carries the ownership tag key (the tag each agency's activation stamps on its nodes
// at registration; agencies cannot write reserved keys), so nothing outside the hub's agencies is
// touched. Patch baselines are AWS's defaults per OS family, unless central IT gives one here (one
// OS family, registered for the named patch groups only, never as an account default) or registers
// its own for a patch group. The stack creates no IAM role: the maintenance window task runs with
// Systems Manager's service-linked role.
import { And, ConditionRef, EachMemberEquals, Equals, If, Join, Not, Ref, Sub } from '../kit/intrinsics.ts';
import { Template } from '../kit/template.ts';
import { addToggle } from '../kit/shortcuts.ts';
import { provenanceKeys } from '../../lambda/shared/tag-rules.ts';
import {
  MAX_CONCURRENCY_PATTERN,
  MAX_ERRORS_PATTERN,
  SCHEDULE_EXPRESSION_ALLOWED_PATTERN,
} from '../../contract/patterns.ts';
import { RATE_CONTROL_MAX_LENGTH } from '../../contract/run-command.ts';
import {
  ASSOCIATION_SCHEDULE_ALLOWED_PATTERN,
  ASSOCIATION_SCHEDULE_RULE,
  integerStrings,
  MAINTENANCE_WINDOW_HOURS,
  TIME_ZONE_NAME_ALLOWED_PATTERN,
  TIME_ZONE_NAME_MAX_LENGTH,
} from '../../contract/operations.ts';
import { lessThanAssertions } from '../kit/rules.ts';
import { allow, policyDocument } from '../kit/iam.ts';
import { SSM_TAG_CHARACTERS } from '../../contract/patterns.ts';
import { SSM_MAX_KEY_LENGTH } from '../../contract/limits.ts';
import { parameterInterface } from '../kit/interface.ts';
import type { BuildContext } from './context.ts';
import { readerPolicy } from './central-operations-reader.ts';

const TAG_KEY_PATTERN = `^[${SSM_TAG_CHARACTERS}]{1,${SSM_MAX_KEY_LENGTH}}$`;

export function buildCentralOperations(ctx: BuildContext): Template {
  const t = new Template(
    'central-operations',
    "SSM central hub (central account, optional): software inventory and a daily patch scan on every hub node, and a maintenance window that installs patches on nodes the agencies put in a patch group. Targets always include the agencies' ownership tag.",
  );
  const ownershipKey = provenanceKeys(ctx.config.reservedTagPrefix).activationAgency;
  parameters(t);
  baselineParameters(t);
  inventory(t, ownershipKey);
  patchScan(t, ownershipKey);
  installWindow(t, ownershipKey);
  customBaseline(t);
  operatorPolicy(t, ownershipKey);
  readerPolicy(t, ctx);
  outputs(t);
  consoleGroups(t);
  return t;
}

/** How the console groups and labels the parameters. */
function consoleGroups(t: Template): void {
  parameterInterface(t, [
    {
      label: 'Inventory and daily patch scan (every hub node)',
      parameters: [
        ['EnableInventory', 'Gather software inventory'],
        ['InventorySchedule', 'Inventory schedule'],
        ['PatchScanSchedule', 'Patch scan schedule'],
        ['ScanMaxConcurrency', 'Scan concurrency'],
        ['ScanMaxErrors', 'Scan error threshold'],
      ],
    },
    {
      label: 'Patch installation (nodes in a patch group)',
      parameters: [
        ['EnableInstallWindow', 'Install window'],
        ['PatchGroupTagKey', 'Patch group tag key'],
        ['PatchGroupValues', 'Patch groups'],
        ['InstallSchedule', 'Install schedule'],
        ['InstallScheduleTimezone', 'Install schedule time zone'],
        ['InstallDurationHours', 'Window length (hours)'],
        ['InstallCutoffHours', 'Cutoff (hours)'],
        ['InstallMaxConcurrency', 'Install concurrency'],
        ['InstallMaxErrors', 'Install error threshold'],
        ['RebootOption', 'Reboot'],
      ],
    },
    {
      label: 'Optional custom patch baseline',
      parameters: [
        ['EnableCustomBaseline', 'Custom baseline'],
        ['CustomBaselineOperatingSystem', 'Operating system'],
        ['CustomBaselineApproveAfterDays', 'Approve after (days)'],
      ],
    },
    {
      label: 'Operator read policy (HubReaderPolicy)',
      parameters: [['CentralManagerStackName', 'Central-manager stack name']],
    },
  ]);
}

/** The ownership target: every node that carries the stamp key, whatever agency it names. */
export const ownershipTarget = (ownershipKey: string) => ({ Key: 'tag-key', Values: [ownershipKey] });

/** A rate control (MaxConcurrency / MaxErrors): SSM's pattern and its 1-7 characters. */
function rateControl(Default: string, Description: string, errors = false) {
  return {
    Type: 'String' as const,
    Default,
    Description,
    AllowedPattern: errors ? MAX_ERRORS_PATTERN : MAX_CONCURRENCY_PATTERN,
    MaxLength: RATE_CONTROL_MAX_LENGTH,
    ConstraintDescription: `must be a number of nodes (such as 10) or a percentage (such as 10%), at most ${RATE_CONTROL_MAX_LENGTH} characters${errors ? '; 0 stops at the first error' : ''}`,
  };
}

function parameters(t: Template): void {
  // Associations take fewer schedules than EventBridge (contract/operations.ts).
  const schedule = (Default: string, Description: string) => ({
    Type: 'String' as const,
    Default,
    Description,
    AllowedPattern: ASSOCIATION_SCHEDULE_ALLOWED_PATTERN,
    ConstraintDescription: ASSOCIATION_SCHEDULE_RULE,
  });
  t.parameter('InventorySchedule', schedule('rate(1 day)', 'How often every hub node reports its software inventory'));
  t.parameter(
    'PatchScanSchedule',
    schedule('cron(0 2 ? * * *)', 'When every hub node scans for missing patches (UTC)'),
  );
  t.parameter('ScanMaxConcurrency', rateControl('10%', 'Nodes scanning at once (inventory and patch scan)'));
  t.parameter('ScanMaxErrors', rateControl('10%', 'Failed nodes after which a scan run stops', true));
  addToggle(t, 'EnableInventory', {
    default: true,
    description:
      'Create the inventory association (false when another one, such as Quick Setup, already covers these nodes)',
    condition: 'CreateInventory',
  });
  addToggle(t, 'EnableInstallWindow', {
    default: true,
    description: 'Create the maintenance window that installs patches',
    condition: 'CreateInstallWindow',
  });
  t.parameter('PatchGroupTagKey', {
    Type: 'String',
    Default: 'PatchGroup',
    Description: 'Tag key the agencies set on instances to put them in a patch group',
    AllowedPattern: TAG_KEY_PATTERN,
    ConstraintDescription: 'must be a tag key SSM accepts (1-128 characters)',
  });
  t.parameter('PatchGroupValues', {
    Type: 'CommaDelimitedList',
    Default: '',
    Description: 'Patch groups the window installs on; empty: every node that has the tag key',
  });
  installParameters(t);
  t.condition('AnyPatchGroup', Equals(Join(',', Ref('PatchGroupValues')), ''));
}

const DURATION = { name: 'InstallDurationHours', range: MAINTENANCE_WINDOW_HOURS.duration };
const CUTOFF = { name: 'InstallCutoffHours', range: MAINTENANCE_WINDOW_HOURS.cutoff };

/** The install window's schedule, hours and rate controls. */
function installParameters(t: Template): void {
  t.parameter('InstallSchedule', {
    Type: 'String',
    Default: 'cron(0 3 ? * SUN *)',
    Description: 'When the install window opens',
    // Maintenance windows take every cron and rate expression (the SSM cron and rate reference).
    AllowedPattern: SCHEDULE_EXPRESSION_ALLOWED_PATTERN,
    ConstraintDescription: 'must be a rate() or cron() expression',
  });
  t.parameter('InstallScheduleTimezone', {
    Type: 'String',
    Default: 'UTC',
    Description: 'IANA time zone of InstallSchedule, such as Australia/Sydney',
    AllowedPattern: TIME_ZONE_NAME_ALLOWED_PATTERN,
    MaxLength: TIME_ZONE_NAME_MAX_LENGTH,
    ConstraintDescription: `must be an IANA time zone name such as UTC, Europe/Berlin or America/Argentina/Buenos_Aires (at most ${TIME_ZONE_NAME_MAX_LENGTH} characters)`,
  });
  // Strings from a list, not Numbers: the rule below compares the text given, so 02 or 2.0 must
  // not get past it (AllowedValues match exactly).
  t.parameter(DURATION.name, {
    Type: 'String',
    Default: '4',
    AllowedValues: integerStrings(DURATION.range),
    Description: `How long the install window stays open (${DURATION.range.min}-${DURATION.range.max} hours)`,
  });
  t.parameter(CUTOFF.name, {
    Type: 'String',
    Default: '1',
    AllowedValues: integerStrings(CUTOFF.range),
    Description: `Hours before the window closes after which no new install starts (${CUTOFF.range.min}-${CUTOFF.range.max}, smaller than ${DURATION.name})`,
  });
  t.parameter('InstallMaxConcurrency', rateControl('10%', 'Nodes installing patches at once'));
  t.parameter('InstallMaxErrors', rateControl('5%', 'Failed nodes after which the install task stops', true));
  t.parameter('RebootOption', {
    Type: 'String',
    Default: 'RebootIfNeeded',
    AllowedValues: ['RebootIfNeeded', 'NoReboot'],
    Description: 'Whether nodes reboot after installing patches that need it',
  });
  // A cutoff of the duration or more leaves no hour in which a task may start (CreateMaintenanceWindow).
  t.rule('InstallCutoffBelowDuration', {
    RuleCondition: Equals(Ref('EnableInstallWindow'), 'true'),
    Assertions: lessThanAssertions(CUTOFF, DURATION),
  });
}

/** Software inventory from every hub node (AWS-GatherSoftwareInventory). */
function inventory(t: Template, ownershipKey: string): void {
  // A node takes one inventory association: a second one that covers it fails.
  t.resource(
    'InventoryAssociation',
    'AWS::SSM::Association',
    {
      AssociationName: Sub('${AWS::StackName}-inventory'),
      Name: 'AWS-GatherSoftwareInventory',
      Targets: [ownershipTarget(ownershipKey)],
      ScheduleExpression: Ref('InventorySchedule'),
      MaxConcurrency: Ref('ScanMaxConcurrency'),
      MaxErrors: Ref('ScanMaxErrors'),
    },
    { Condition: 'CreateInventory' },
  );
}

/** A scan that installs nothing: it reports missing patches to Patch Manager compliance. */
function patchScan(t: Template, ownershipKey: string): void {
  t.resource('PatchScanAssociation', 'AWS::SSM::Association', {
    AssociationName: Sub('${AWS::StackName}-patch-scan'),
    Name: 'AWS-RunPatchBaseline',
    Parameters: { Operation: ['Scan'] },
    Targets: [ownershipTarget(ownershipKey)],
    ScheduleExpression: Ref('PatchScanSchedule'),
    MaxConcurrency: Ref('ScanMaxConcurrency'),
    MaxErrors: Ref('ScanMaxErrors'),
    ComplianceSeverity: 'HIGH',
  });
}

/** Installs patches in a window, on owned nodes in a patch group. */
function installWindow(t: Template, ownershipKey: string): void {
  t.resource(
    'InstallWindow',
    'AWS::SSM::MaintenanceWindow',
    {
      Name: Sub('${AWS::StackName}-install'),
      Description: 'Installs patches on hub nodes that agencies put in a patch group',
      Schedule: Ref('InstallSchedule'),
      ScheduleTimezone: Ref('InstallScheduleTimezone'),
      Duration: Ref('InstallDurationHours'),
      Cutoff: Ref('InstallCutoffHours'),
      AllowUnassociatedTargets: false,
    },
    { Condition: 'CreateInstallWindow' },
  );
  // Both entries must match: a node in the patch group that does not carry the ownership key is
  // not the hub's and is left alone.
  const groupTarget = If(
    'AnyPatchGroup',
    { Key: 'tag-key', Values: [Ref('PatchGroupTagKey')] },
    { Key: Sub('tag:${PatchGroupTagKey}'), Values: Ref('PatchGroupValues') },
  );
  t.resource(
    'InstallTargets',
    'AWS::SSM::MaintenanceWindowTarget',
    {
      WindowId: Ref('InstallWindow'),
      ResourceType: 'INSTANCE',
      Name: 'hub-nodes-in-patch-group',
      Targets: [groupTarget, ownershipTarget(ownershipKey)],
    },
    { Condition: 'CreateInstallWindow' },
  );
  t.resource(
    'InstallTask',
    'AWS::SSM::MaintenanceWindowTask',
    {
      WindowId: Ref('InstallWindow'),
      Name: 'install-patches',
      TaskType: 'RUN_COMMAND',
      TaskArn: 'AWS-RunPatchBaseline',
      Priority: 1,
      Targets: [{ Key: 'WindowTargetIds', Values: [Ref('InstallTargets')] }],
      MaxConcurrency: Ref('InstallMaxConcurrency'),
      MaxErrors: Ref('InstallMaxErrors'),
      TaskInvocationParameters: {
        MaintenanceWindowRunCommandParameters: {
          Parameters: { Operation: ['Install'], RebootOption: [Ref('RebootOption')] },
        },
      },
    },
    { Condition: 'CreateInstallWindow' },
  );
}

/** OS families whose baselines filter on CLASSIFICATION and a severity key (PatchFilter reference). */
export const BASELINE_FILTERS: Record<'WINDOWS' | 'LINUX', Array<{ Key: string; Values: string[] }>> = {
  WINDOWS: [
    { Key: 'CLASSIFICATION', Values: ['CriticalUpdates', 'SecurityUpdates'] },
    { Key: 'MSRC_SEVERITY', Values: ['Critical', 'Important'] },
  ],
  LINUX: [
    { Key: 'CLASSIFICATION', Values: ['Security'] },
    { Key: 'SEVERITY', Values: ['Critical', 'Important'] },
  ],
};
const BASELINE_OS = [
  'WINDOWS',
  'AMAZON_LINUX_2',
  'AMAZON_LINUX_2023',
  'REDHAT_ENTERPRISE_LINUX',
  'ROCKY_LINUX',
  'ALMA_LINUX',
  'ORACLE_LINUX',
];

function baselineParameters(t: Template): void {
  addToggle(t, 'EnableCustomBaseline', {
    default: false,
    description:
      "false: AWS's default baselines. true: a baseline of critical and important security patches for one OS family, registered for PatchGroupValues (needs them; SSM maps baselines by the PatchGroup tag key)",
  });
  t.parameter('CustomBaselineOperatingSystem', {
    Type: 'String',
    Default: 'WINDOWS',
    AllowedValues: BASELINE_OS,
    Description: 'OS family of the custom baseline',
  });
  t.parameter('CustomBaselineApproveAfterDays', {
    Type: 'Number',
    Default: 7,
    MinValue: 0,
    MaxValue: 360,
    Description: 'Days after release before the custom baseline approves a patch',
  });
  t.condition(
    'CreateCustomBaseline',
    And(Equals(Ref('EnableCustomBaseline'), 'true'), Not(ConditionRef('AnyPatchGroup'))),
  );
  t.condition('WindowsBaseline', Equals(Ref('CustomBaselineOperatingSystem'), 'WINDOWS'));
  // Without patch groups no baseline would be made, silently: refused at deploy time instead.
  t.rule('CustomBaselineNeedsPatchGroups', {
    RuleCondition: Equals(Ref('EnableCustomBaseline'), 'true'),
    Assertions: [
      {
        Assert: Not(EachMemberEquals(Ref('PatchGroupValues'), '')),
        AssertDescription:
          'EnableCustomBaseline true needs PatchGroupValues (SSM maps a custom baseline to patch groups)',
      },
    ],
  });
}

/** Only when given, and only for the named patch groups: never an account-wide default. */
function customBaseline(t: Template): void {
  t.resource(
    'CustomBaseline',
    'AWS::SSM::PatchBaseline',
    {
      Name: Sub('${AWS::StackName}-${CustomBaselineOperatingSystem}'),
      Description: 'Critical and important security patches, for the hub patch groups named in the stack',
      OperatingSystem: Ref('CustomBaselineOperatingSystem'),
      PatchGroups: Ref('PatchGroupValues'),
      ApprovalRules: {
        PatchRules: [
          {
            ApproveAfterDays: Ref('CustomBaselineApproveAfterDays'),
            ComplianceLevel: 'CRITICAL',
            PatchFilterGroup: {
              PatchFilters: If('WindowsBaseline', BASELINE_FILTERS.WINDOWS, BASELINE_FILTERS.LINUX),
            },
          },
        ],
      },
    },
    { Condition: 'CreateCustomBaseline' },
  );
}

/**
 * For central IT's operator roles: Run Command only on managed nodes that carry the ownership tag,
 * enforced by IAM whatever tool sends the command (AWS's documented ssm:resourceTag pattern).
 * Reads without resource-level permissions (ListCommands, compliance summaries, tag:GetResources)
 * come from AmazonSSMReadOnlyAccess and a tag:GetResources grant, so this policy names every ARN.
 */
export function operatorStatements(ownershipKey: string) {
  const nodes = Sub('arn:${AWS::Partition}:ssm:*:${AWS::AccountId}:managed-instance/*');
  return [
    allow('RunOnHubNodesOnly', 'ssm:SendCommand', nodes, { Null: { [`ssm:resourceTag/${ownershipKey}`]: 'false' } }),
    allow('RunDocuments', 'ssm:SendCommand', [
      // AWS's own documents have no account in their ARN (arn:…:ssm:<region>::document/AWS-…);
      // the AWS- prefix is reserved, so no account can own a document by that name.
      Sub('arn:${AWS::Partition}:ssm:*:*:document/AWS-*'),
      Sub('arn:${AWS::Partition}:ssm:*:${AWS::AccountId}:document/*'),
    ]),
    allow('ReadHubNodes', ['ssm:ListTagsForResource', 'ssm:DescribeInstancePatchStates'], nodes),
  ];
}

function operatorPolicy(t: Template, ownershipKey: string): void {
  t.resource('HubOperatorPolicy', 'AWS::IAM::ManagedPolicy', {
    Description: 'Attach to central IT operator roles: Run Command on hub nodes (the ownership tag) only',
    PolicyDocument: policyDocument(...operatorStatements(ownershipKey)),
  });
}

function outputs(t: Template): void {
  t.output('InventoryAssociationId', {
    Description: 'Software inventory association',
    Value: Ref('InventoryAssociation'),
    Condition: 'CreateInventory',
  });
  t.output('PatchScanAssociationId', {
    Description: 'Daily patch scan association',
    Value: Ref('PatchScanAssociation'),
  });
  t.output('HubOperatorPolicyArn', {
    Description: 'Managed policy for operator roles: Run Command on hub nodes only',
    Value: Ref('HubOperatorPolicy'),
  });
  t.output('InstallWindowId', {
    Description: 'Maintenance window that installs patches',
    Value: Ref('InstallWindow'),
    Condition: 'CreateInstallWindow',
  });
}
