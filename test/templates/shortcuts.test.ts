// The kit's shortcuts (function, trigger, alarm topic, statement presets) and the one error
// type they throw: each bad option names its logical ID and property.
import { describe, expect, it } from 'vitest';
import { KitError } from '../../templates-src/kit/errors.ts';
import { allow, policyDocument, sendDeadLetters, viaService, writeOwnLogs } from '../../templates-src/kit/iam.ts';
import { GetAtt, Ref, Sub } from '../../templates-src/kit/intrinsics.ts';
import { addNodeFunction } from '../../templates-src/kit/lambda.ts';
import {
  addAlarmTopic,
  addFunction,
  addToggle,
  addTrigger,
  type FunctionShortcutOptions,
  type TriggerOptions,
} from '../../templates-src/kit/shortcuts.ts';
import { Template } from '../../templates-src/kit/template.ts';

/** Runs `fn` and returns the KitError it throws (fails the test when it throws something else). */
function kitErrorOf(fn: () => unknown): KitError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KitError);
    return err as KitError;
  }
  throw new Error('expected a KitError, nothing was thrown');
}

const withQueue = () => {
  const t = new Template('t', 'd');
  t.resource('Dlq', 'AWS::SQS::Queue', {});
  return t;
};

const fnOptions = (over: Partial<FunctionShortcutOptions> = {}): FunctionShortcutOptions => ({
  name: 'Worker',
  role: { description: 'r', policyName: 'p', statements: [writeOwnLogs('WorkerFunction'), sendDeadLetters('Dlq')] },
  functionName: 'worker',
  description: 'd',
  code: 'exports.handler=async()=>1',
  runtime: 'nodejs22.x',
  architecture: 'arm64',
  memoryMb: 256,
  timeoutSeconds: 30,
  environment: {},
  logRetentionDays: 30,
  today: new Date('2026-11-26T00:00:00Z'),
  deadLetterQueueId: 'Dlq',
  ...over,
});

describe('function shortcut', () => {
  it('adds the function, its role, log group, async config and alarms under one base name', () => {
    const t = withQueue();
    const add = addAlarmTopic(t, { displayName: 'alarms', emailDescription: 'e-mail' });
    addFunction(t, fnOptions({ alarms: { add, errors: 'failed', throttles: 'throttled' } }));
    const r = t.render().template.Resources;
    expect(
      Object.keys(r)
        .filter((id) => id.startsWith('Worker'))
        .sort(),
    ).toEqual([
      'WorkerAsyncConfig',
      'WorkerErrorsAlarm',
      'WorkerFunction',
      'WorkerFunctionLogGroup',
      'WorkerRole',
      'WorkerThrottlesAlarm',
    ]);
    expect(r.WorkerAsyncConfig!.Properties).toMatchObject({
      FunctionName: Ref('WorkerFunction'),
      DestinationConfig: { OnFailure: { Destination: GetAtt('Dlq', 'Arn') } },
    });
  });
  it.each([
    ['a lowercase name', { name: 'worker' }, 'worker', 'name'],
    ['a name ending in Function', { name: 'WorkerFunction' }, 'WorkerFunction', 'name'],
    [
      'a dead-letter queue the role may not send to',
      { role: { description: 'r', policyName: 'p', statements: [writeOwnLogs('WorkerFunction')] } },
      'WorkerRole',
      'Policies',
    ],
    ['a deprecated runtime', { runtime: 'nodejs20.x' }, 'WorkerFunction', 'Runtime'],
    ['empty code', { code: '' }, 'WorkerFunction', 'Code.ZipFile'],
    ['a 901-second timeout', { timeoutSeconds: 901 }, 'WorkerFunction', 'Timeout'],
    ['64 MB of memory', { memoryMb: 64 }, 'WorkerFunction', 'MemorySize'],
  ] as const)('refuses %s, naming the logical ID and property', (_, over, logicalId, property) => {
    const err = kitErrorOf(() => addFunction(withQueue(), fnOptions(over as Partial<FunctionShortcutOptions>)));
    expect([err.logicalId, err.property]).toEqual([logicalId, property]);
  });
  it('refuses an empty alarm description', () => {
    const t = withQueue();
    const add = addAlarmTopic(t, { displayName: 'alarms', emailDescription: 'e-mail' });
    const err = kitErrorOf(() => addFunction(t, fnOptions({ alarms: { add, errors: ' ' } })));
    expect([err.logicalId, err.property]).toEqual(['WorkerErrorsAlarm', 'AlarmDescription']);
  });
  it('keeps addNodeFunction refusing a bad runtime with the kit error', () => {
    const err = kitErrorOf(() =>
      addNodeFunction(new Template('t', 'd'), { ...fnOptions(), id: 'Fn', roleId: 'Role', runtime: 'python3.13' }),
    );
    expect([err.logicalId, err.property]).toEqual(['Fn', 'Runtime']);
  });
});

describe('trigger shortcut', () => {
  const base = { id: 'Rule', functionId: 'Fn', targetId: 'Fn', description: 'd' };
  it('adds the rule and a permission for that rule in this account only', () => {
    const t = new Template('t', 'd');
    t.resource('Fn', 'AWS::Lambda::Function', {});
    addTrigger(t, { ...base, schedule: 'rate(1 hour)' });
    const r = t.render().template.Resources;
    expect(r.Rule!.Properties).toMatchObject({ ScheduleExpression: 'rate(1 hour)', State: 'ENABLED' });
    expect(r.RulePermission!.Properties).toMatchObject({
      SourceArn: GetAtt('Rule', 'Arn'),
      SourceAccount: Ref('AWS::AccountId'),
    });
  });
  it.each([
    ['neither a schedule nor an event pattern', {}, 'ScheduleExpression'],
    [
      'both a schedule and an event pattern',
      { schedule: 'rate(1 hour)', eventPattern: { source: ['x'] } },
      'ScheduleExpression',
    ],
    ['a target Id with a space', { schedule: 'rate(1 hour)', targetId: 'my fn' }, 'Targets'],
  ] as const)('refuses %s', (_, over, property) => {
    const err = kitErrorOf(() => addTrigger(new Template('t', 'd'), { ...base, ...(over as Partial<TriggerOptions>) }));
    expect([err.logicalId, err.property]).toEqual(['Rule', property]);
  });
});

describe('alarm topic shortcut', () => {
  it('subscribes the optional e-mail only when one is given', () => {
    const t = new Template('t', 'd');
    addAlarmTopic(t, { displayName: 'alarms', emailDescription: 'e-mail' });
    const { template } = t.render();
    expect(template.Parameters!.AlarmEmail!.Default).toBe('');
    expect(template.Resources.AlarmEmailSubscription!.Condition).toBe('HasAlarmEmail');
  });
  it.each([
    ['an empty display name', ''],
    ['a display name over 100 characters', 'x'.repeat(101)],
  ])('refuses %s', (_, displayName) => {
    const err = kitErrorOf(() => addAlarmTopic(new Template('t', 'd'), { displayName, emailDescription: 'e' }));
    expect([err.logicalId, err.property]).toEqual(['AlarmTopic', 'DisplayName']);
  });
});

describe('statement presets', () => {
  it('limits a key to the named services in this Region', () => {
    expect(viaService('ssm', 'dynamodb')).toEqual({
      StringEquals: {
        'kms:ViaService': [Sub('ssm.${AWS::Region}.amazonaws.com'), Sub('dynamodb.${AWS::Region}.amazonaws.com')],
      },
    });
  });
  it('refuses a via-service condition with no service', () => {
    expect(kitErrorOf(() => viaService()).property).toBe('kms:ViaService');
  });
  it('names the statement and Action when an action is malformed', () => {
    const err = kitErrorOf(() => policyDocument(allow('Bad', 'AddTags', '*')));
    expect([err.logicalId, err.property]).toEqual(['Bad', 'Action']);
  });
  it('refuses an empty policy', () => {
    expect(kitErrorOf(() => policyDocument()).property).toBe('Statement');
  });
});

describe('intrinsics and templates throw the kit error', () => {
  it.each([
    ['Ref to a bad logical ID', () => Ref('My-Bucket'), 'Ref', 'logicalId'],
    ['Sub with an unused variable', () => Sub('${A}', { A: 'x', B: 'y' }), 'Sub', 'variables'],
    [
      'duplicate logical ID',
      () => {
        const t = new Template('t', 'd');
        t.resource('Q', 'AWS::SQS::Queue');
        t.resource('Q', 'AWS::SQS::Queue');
      },
      'Q',
      'logicalId',
    ],
    ['resource with an invalid type', () => new Template('t', 'd').resource('Q', 'SQS::Queue'), 'Q', 'Type'],
  ] as const)('%s', (_, fn, logicalId, property) => {
    const err = kitErrorOf(fn);
    expect([err.logicalId, err.property]).toEqual([logicalId, property]);
  });
});

describe('toggle shortcut', () => {
  it("adds a 'true' | 'false' parameter with its default, and the condition that holds while it is 'true'", () => {
    const t = new Template('t', 'toggle');
    expect(
      addToggle(t, 'EnableThing', { default: false, description: 'Create the thing', condition: 'ThingOn' }),
    ).toEqual(Ref('EnableThing'));
    addToggle(t, 'EnableOther', { default: true, description: 'No condition' });
    t.resource('Q', 'AWS::SQS::Queue', { SqsManagedSseEnabled: true }, { Condition: 'ThingOn' });
    const out = t.render().template;
    expect(out.Parameters?.EnableThing).toEqual({
      Type: 'String',
      Default: 'false',
      AllowedValues: ['true', 'false'],
      Description: 'Create the thing',
    });
    expect(out.Parameters?.EnableOther?.Default).toBe('true');
    expect(out.Conditions).toEqual({ ThingOn: { 'Fn::Equals': [{ Ref: 'EnableThing' }, 'true'] } });
  });
});
