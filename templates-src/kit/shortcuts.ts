// Shortcuts in the manner of mapbox/cloudfriend's lib/shortcuts: one call adds a group of
// resources that always go together, and refuses options that would give a broken group.
import { KitError } from './errors.ts';
import { Equals, GetAtt, Not, Ref, type Value } from './intrinsics.ts';
import { assumeRoleFor, policyDocument, type Statement } from './iam.ts';
import { addNodeFunction, type NodeFunctionOptions } from './lambda.ts';
import { alarmsTo, type AddAlarm } from './monitoring.ts';
import type { Template } from './template.ts';

/** Lambda's retries of a failed asynchronous invocation before it goes to the destination. */
const ASYNC_RETRIES = 2;

export interface FunctionShortcutOptions extends Omit<NodeFunctionOptions, 'id' | 'roleId'> {
  /** PascalCase base name: `TagManager` gives TagManagerFunction, TagManagerRole, TagManagerAsyncConfig. */
  name: string;
  role: { description: string; policyName: string; statements: Statement[] };
  /** Failed asynchronous invocations go to this queue; the role must be allowed to send to it. */
  deadLetterQueueId?: string;
  /** Alarms on Lambda's own Errors (and optionally Throttles) metrics. */
  alarms?: { add: AddAlarm; errors: string; throttles?: string };
}

/** A function with its role, log group, asynchronous-invoke config and error alarms. Returns the function ID. */
export function addFunction(t: Template, o: FunctionShortcutOptions): string {
  if (!/^[A-Z][A-Za-z0-9]*$/.test(o.name) || o.name.endsWith('Function')) {
    throw new KitError(
      o.name,
      'name',
      `addFunction: name ${JSON.stringify(o.name)} must be PascalCase without "Function"`,
    );
  }
  const functionId = `${o.name}Function`;
  const roleId = `${o.name}Role`;
  if (o.deadLetterQueueId !== undefined && !grantsSendTo(o.role.statements, o.deadLetterQueueId)) {
    throw new KitError(
      roleId,
      'Policies',
      `${roleId}: the role must allow sqs:SendMessage on ${o.deadLetterQueueId}, the function's failure destination`,
    );
  }
  t.resource(roleId, 'AWS::IAM::Role', {
    Description: o.role.description,
    AssumeRolePolicyDocument: assumeRoleFor('lambda.amazonaws.com'),
    Policies: [{ PolicyName: o.role.policyName, PolicyDocument: policyDocument(...o.role.statements) }],
  });
  const { name: _name, role: _role, deadLetterQueueId, alarms, ...fn } = o;
  addNodeFunction(t, { ...fn, id: functionId, roleId });
  if (deadLetterQueueId !== undefined) {
    t.resource(`${o.name}AsyncConfig`, 'AWS::Lambda::EventInvokeConfig', {
      FunctionName: Ref(functionId),
      Qualifier: '$LATEST',
      MaximumRetryAttempts: ASYNC_RETRIES,
      DestinationConfig: { OnFailure: { Destination: GetAtt(deadLetterQueueId, 'Arn') } },
    });
  }
  if (alarms) addFunctionAlarms(o.name, functionId, alarms);
  return functionId;
}

function addFunctionAlarms(name: string, functionId: string, alarms: NonNullable<FunctionShortcutOptions['alarms']>) {
  const metric = (metricName: string) => ({
    Namespace: 'AWS/Lambda',
    MetricName: metricName,
    Dimensions: [{ Name: 'FunctionName', Value: Ref(functionId) }],
  });
  for (const [kind, description] of [
    ['Errors', alarms.errors],
    ['Throttles', alarms.throttles],
  ] as const) {
    if (description === undefined) continue;
    if (description.trim() === '') {
      throw new KitError(`${name}${kind}Alarm`, 'AlarmDescription', `${name}${kind}Alarm: description is empty`);
    }
    alarms.add(`${name}${kind}Alarm`, description, metric(kind));
  }
}

/** True when a statement allows sqs:SendMessage on GetAtt(queueId, 'Arn'). */
function grantsSendTo(statements: Statement[], queueId: string): boolean {
  const target = JSON.stringify(GetAtt(queueId, 'Arn'));
  return statements.some((s) => {
    const actions = Array.isArray(s.Action) ? s.Action : [s.Action];
    const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
    return (
      s.Effect === 'Allow' && actions.includes('sqs:SendMessage') && resources.some((r) => JSON.stringify(r) === target)
    );
  });
}

export interface TriggerOptions {
  /** The rule's logical ID. */
  id: string;
  /** The permission's logical ID; `${id}Permission` by default. */
  permissionId?: string;
  functionId: string;
  /** The rule target's Id (unique within the rule). */
  targetId: string;
  description: string;
  /** Exactly one of a schedule expression or an event pattern. */
  schedule?: Value;
  eventPattern?: Record<string, Value>;
}

/** An EventBridge rule invoking a function, and the permission that lets only that rule (in this account) do it. */
export function addTrigger(t: Template, o: TriggerOptions): string {
  if ((o.schedule === undefined) === (o.eventPattern === undefined)) {
    throw new KitError(o.id, 'ScheduleExpression', `${o.id}: give exactly one of a schedule and an event pattern`);
  }
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(o.targetId)) {
    throw new KitError(
      o.id,
      'Targets',
      `${o.id}: target Id ${JSON.stringify(o.targetId)} must be 1–64 of A-Z a-z 0-9 _ . -`,
    );
  }
  t.resource(o.id, 'AWS::Events::Rule', {
    Description: o.description,
    State: 'ENABLED',
    Targets: [{ Id: o.targetId, Arn: GetAtt(o.functionId, 'Arn') }],
    ...(o.schedule !== undefined ? { ScheduleExpression: o.schedule } : { EventPattern: o.eventPattern! }),
  });
  t.resource(o.permissionId ?? `${o.id}Permission`, 'AWS::Lambda::Permission', {
    Action: 'lambda:InvokeFunction',
    FunctionName: Ref(o.functionId),
    Principal: 'events.amazonaws.com',
    SourceArn: GetAtt(o.id, 'Arn'),
    SourceAccount: Ref('AWS::AccountId'),
  });
  return o.id;
}

/** SNS topic display names hold at most 100 characters (SNS API reference, SetTopicAttributes). */
const DISPLAY_NAME_MAX = 100;

export interface AlarmTopicOptions {
  displayName: string;
  /** Description of the optional AlarmEmail parameter. */
  emailDescription: string;
  kmsMasterKeyId?: Value;
}

/** The AlarmTopic, an optional AlarmEmail parameter subscribed to it, and a function that adds alarms sent to it. */
export function addAlarmTopic(t: Template, o: AlarmTopicOptions): AddAlarm {
  if (o.displayName.length === 0 || o.displayName.length > DISPLAY_NAME_MAX) {
    throw new KitError(
      'AlarmTopic',
      'DisplayName',
      `AlarmTopic: display name must be 1–${DISPLAY_NAME_MAX} characters`,
    );
  }
  const alarmEmail = t.parameter('AlarmEmail', {
    Type: 'String',
    Default: '',
    Description: o.emailDescription,
    AllowedPattern: '^$|^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$',
    ConstraintDescription: 'must be empty or an e-mail address',
  });
  const hasAlarmEmail = t.condition('HasAlarmEmail', Not(Equals(alarmEmail, '')));
  t.resource('AlarmTopic', 'AWS::SNS::Topic', {
    DisplayName: o.displayName,
    ...(o.kmsMasterKeyId !== undefined ? { KmsMasterKeyId: o.kmsMasterKeyId } : {}),
  });
  t.resource(
    'AlarmEmailSubscription',
    'AWS::SNS::Subscription',
    { TopicArn: Ref('AlarmTopic'), Protocol: 'email', Endpoint: alarmEmail },
    { Condition: hasAlarmEmail },
  );
  return alarmsTo(t, 'AlarmTopic');
}

export interface ToggleOptions {
  description: string;
  default: boolean;
  /** The condition that holds while the parameter is 'true'. */
  condition?: string;
}

/** A 'true' | 'false' parameter, and optionally the condition that holds while it is 'true'. Returns its Ref. */
export function addToggle(t: Template, id: string, o: ToggleOptions): Value {
  const ref = t.parameter(id, {
    Type: 'String',
    Default: o.default ? 'true' : 'false',
    AllowedValues: ['true', 'false'],
    Description: o.description,
  });
  if (o.condition) t.condition(o.condition, Equals(ref, 'true'));
  return ref;
}
