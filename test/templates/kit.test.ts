import { describe, expect, it } from 'vitest';
import {
  And,
  GetAtt,
  If,
  ImportValue,
  Join,
  Or,
  Ref,
  Select,
  Split,
  Sub,
  Equals,
} from '../../templates-src/kit/intrinsics.ts';
import { LIMITS, Template } from '../../templates-src/kit/template.ts';
import { addNodeFunction } from '../../templates-src/kit/lambda.ts';
import { onlyIf, policyDocument } from '../../templates-src/kit/iam.ts';
import { sortKeysDeep, toJson, toYaml } from '../../templates-src/kit/serialize.ts';

const queue = (t: Template, id = 'Queue', props: Record<string, unknown> = {}) =>
  t.resource(id, 'AWS::SQS::Queue', props as never);

describe('intrinsic helpers', () => {
  it('refuses a Ref to a logical ID with punctuation', () => {
    expect(() => Ref('My-Bucket')).toThrow('Ref: logical ID must be alphanumeric, got "My-Bucket"');
  });
  it('accepts pseudo parameters in Ref', () => {
    expect(Ref('AWS::Region')).toEqual({ Ref: 'AWS::Region' });
  });
  it('refuses a GetAtt without an attribute', () => {
    expect(() => GetAtt('Queue', '')).toThrow('GetAtt(Queue): attribute must be a non-empty name such as Arn, got ""');
  });
  it('refuses a Sub with a malformed variable', () => {
    expect(() => Sub('arn:${Bad Name}')).toThrow('Sub: "${Bad Name}" is not a valid variable');
  });
  it('refuses a Sub variable map entry that the string never uses', () => {
    expect(() => Sub('${A}', { A: 'x', B: 'y' })).toThrow('Sub: variable "B" is not used in "${A}"');
  });
  it('refuses a negative or out-of-range Select index', () => {
    expect(() => Select(-1, ['a'])).toThrow('Select: index must be a non-negative integer, got -1');
    expect(() => Select(2, ['a', 'b'])).toThrow('Select: index 2 is out of range for a list of 2');
  });
  it('refuses a Split with an empty delimiter', () => {
    expect(() => Split('', 'a,b')).toThrow('Split: delimiter must be a non-empty string');
  });
  it('refuses an empty ImportValue', () => {
    expect(() => ImportValue('')).toThrow('ImportValue: export name must not be empty');
  });
  it('refuses And/Or with fewer than two conditions', () => {
    expect(() => And(Equals('a', 'a'))).toThrow('And: needs 2 to 10 conditions, got 1');
    expect(() => Or(Equals('a', 'a'))).toThrow('Or: needs 2 to 10 conditions, got 1');
  });
  it('refuses a Join over something that is not a list', () => {
    expect(() => Join(',', 'abc' as never)).toThrow('Join: values must be a list or an intrinsic that returns a list');
  });
  it('builds the long-form shapes CloudFormation expects', () => {
    expect(If('C', 'a', 'b')).toEqual({ 'Fn::If': ['C', 'a', 'b'] });
    expect(Sub('${AWS::Region}')).toEqual({ 'Fn::Sub': '${AWS::Region}' });
  });
});

describe('template checks', () => {
  it('refuses a non-alphanumeric logical ID', () => {
    const t = new Template('t', 'd');
    expect(() => queue(t, 'my_queue')).toThrow(
      't: resource logical ID "my_queue" must be alphanumeric (A-Z, a-z, 0-9)',
    );
  });
  it('refuses a logical ID longer than 255 characters', () => {
    const t = new Template('t', 'd');
    expect(() => queue(t, 'Q'.repeat(256))).toThrow('is longer than 255 characters');
  });
  it('refuses a duplicate logical ID across sections', () => {
    const t = new Template('t', 'd');
    t.parameter('Name', { Type: 'String', Description: 'x' });
    expect(() => queue(t, 'Name')).toThrow('t: duplicate logical ID Name (already used by a parameter)');
  });
  it('refuses an invalid resource type', () => {
    const t = new Template('t', 'd');
    expect(() => t.resource('Q', 'SQS::Queue')).toThrow('t: resource Q has an invalid type "SQS::Queue"');
  });
  it('refuses a Ref to a resource or parameter that does not exist', () => {
    const t = new Template('t', 'd');
    queue(t, 'Queue', { QueueName: Ref('Missing') });
    expect(() => t.render()).toThrow('resource Queue: Ref Missing refers to something that does not exist');
  });
  it('refuses a GetAtt to a resource that does not exist', () => {
    const t = new Template('t', 'd');
    queue(t, 'Queue', { RedrivePolicy: { deadLetterTargetArn: GetAtt('Dlq', 'Arn') } });
    expect(() => t.render()).toThrow('resource Queue: GetAtt Dlq.Arn refers to resource Dlq which does not exist');
  });
  it('refuses a Sub variable that names nothing, but accepts its own local variables', () => {
    const t = new Template('t', 'd');
    queue(t, 'Queue', { QueueName: Sub('${Prefix}-${Local}', { Local: 'x' }) });
    expect(() => t.render()).toThrow('resource Queue: Sub Prefix refers to something that does not exist');
    const ok = new Template('ok', 'd');
    queue(ok, 'Queue', { QueueName: Sub('${AWS::StackName}-${Local}', { Local: 'x' }) });
    expect(() => ok.render()).not.toThrow();
  });
  it('refuses a Sub attribute of a resource that does not exist', () => {
    const t = new Template('t', 'd');
    queue(t, 'Queue', { QueueName: Sub('${Other.QueueName}') });
    expect(() => t.render()).toThrow(
      'resource Queue: Sub Other.QueueName refers to resource Other which does not exist',
    );
  });
  it('refuses an Fn::If or resource Condition naming an undefined condition', () => {
    const t = new Template('t', 'd');
    queue(t, 'Queue', { DelaySeconds: If('IsProd', 1, 0) });
    expect(() => t.render()).toThrow('resource Queue: Condition IsProd is not defined');
    const t2 = new Template('t2', 'd');
    t2.resource('Queue', 'AWS::SQS::Queue', {}, { Condition: 'Nope' });
    expect(() => t2.render()).toThrow('resource Queue: Condition Nope is not defined');
  });
  it('refuses a DependsOn on a resource that does not exist', () => {
    const t = new Template('t', 'd');
    t.resource('Queue', 'AWS::SQS::Queue', {}, { DependsOn: ['Ghost'] });
    expect(() => t.render()).toThrow('resource Queue: DependsOn Ghost which does not exist');
  });
  it('refuses an output that refers to nothing', () => {
    const t = new Template('t', 'd');
    queue(t);
    t.output('Out', { Description: 'x', Value: GetAtt('Nothing', 'Arn') });
    expect(() => t.render()).toThrow('output Out: GetAtt Nothing.Arn refers to resource Nothing which does not exist');
  });
  it(`refuses more than ${LIMITS.resources} resources`, () => {
    const t = new Template('t', 'd');
    for (let i = 0; i <= LIMITS.resources; i++) queue(t, `Q${i}`);
    expect(() => t.render()).toThrow('501 resources is more than the 500 allowed');
  });
  it(`refuses more than ${LIMITS.parameters} parameters`, () => {
    const t = new Template('t', 'd');
    queue(t);
    for (let i = 0; i <= LIMITS.parameters; i++) t.parameter(`P${i}`, { Type: 'String', Description: 'x' });
    expect(() => t.render()).toThrow('201 parameters is more than the 200 allowed');
  });
  it(`refuses more than ${LIMITS.outputs} outputs`, () => {
    const t = new Template('t', 'd');
    queue(t);
    for (let i = 0; i <= LIMITS.outputs; i++) t.output(`O${i}`, { Description: 'x', Value: 'v' });
    expect(() => t.render()).toThrow('201 outputs is more than the 200 allowed');
  });
  it('refuses a template without resources', () => {
    expect(() => new Template('t', 'd').render()).toThrow('a template needs at least one resource');
  });
  it('refuses a template over 1 MB and warns over the 51,200-byte TemplateBody limit', () => {
    const big = new Template('big', 'd');
    queue(big, 'Queue', { QueueName: 'x'.repeat(LIMITS.templateUrlBytes) });
    expect(() => big.render()).toThrow(/over the 1048576-byte limit for a TemplateURL/);
    const medium = new Template('medium', 'd');
    queue(medium, 'Queue', { QueueName: 'x'.repeat(60_000) });
    const { warnings } = medium.render();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/over the 51200-byte TemplateBody limit; deploy it from S3/);
    const fromS3 = new Template('from-s3', 'd', false);
    queue(fromS3, 'Queue', { QueueName: 'x'.repeat(60_000) });
    expect(fromS3.render().warnings).toEqual([]);
    const small = new Template('small', 'd');
    queue(small);
    expect(small.render().warnings).toEqual([]);
  });
  it('refuses a parameter default outside its AllowedValues or AllowedPattern', () => {
    const t = new Template('t', 'd');
    expect(() =>
      t.parameter('A', { Type: 'String', Description: 'x', Default: 'maybe', AllowedValues: ['true', 'false'] }),
    ).toThrow('parameter A default "maybe" is not in AllowedValues');
    expect(() =>
      t.parameter('B', {
        Type: 'String',
        Description: 'x',
        Default: 'abc',
        AllowedPattern: '^\\d+$',
        ConstraintDescription: 'digits',
      }),
    ).toThrow('parameter B default "abc" does not match its AllowedPattern');
  });
  it('refuses an AllowedPattern with no ConstraintDescription', () => {
    const t = new Template('t', 'd');
    expect(() => t.parameter('A', { Type: 'String', Description: 'x', AllowedPattern: '^a$' })).toThrow(
      'parameter A has an AllowedPattern but no ConstraintDescription to explain it',
    );
  });
  it('refuses a description over 1,024 bytes', () => {
    expect(() => new Template('t', 'd'.repeat(1025))).toThrow('Description is longer than 1024 bytes');
  });
});

describe('Lambda shortcut', () => {
  const base = {
    id: 'Fn',
    functionName: 'fn',
    description: 'd',
    code: 'exports.handler=async()=>1',
    runtime: 'nodejs22.x',
    architecture: 'arm64' as const,
    roleId: 'Role',
    memoryMb: 256,
    timeoutSeconds: 30,
    environment: {},
    logRetentionDays: 30,
    today: new Date('2026-11-26T00:00:00Z'),
  };
  it('refuses a deprecated runtime', () => {
    const t = new Template('t', 'd');
    expect(() => addNodeFunction(t, { ...base, runtime: 'nodejs20.x' })).toThrow(
      'Fn: runtime nodejs20.x was deprecated on 2026-04-30',
    );
  });
  it('refuses a runtime that is not a Node.js runtime', () => {
    expect(() => addNodeFunction(new Template('t', 'd'), { ...base, runtime: 'python3.13' })).toThrow(
      'Fn: runtime python3.13 is not a supported Node.js runtime',
    );
  });
  it('refuses code over the 4 MB Code.ZipFile limit and empty code', () => {
    expect(() => addNodeFunction(new Template('t', 'd'), { ...base, code: 'x'.repeat(4 * 1024 * 1024 + 1) })).toThrow(
      'over the 4 MB Code.ZipFile limit',
    );
    expect(() => addNodeFunction(new Template('t', 'd'), { ...base, code: '' })).toThrow('Fn: bundled code is empty');
  });
  it('emits inline code, index.handler, JSON logging and a log group', () => {
    const t = new Template('t', 'd');
    t.resource('Role', 'AWS::IAM::Role', {});
    addNodeFunction(t, base);
    const fn = t.render().template.Resources.Fn!;
    expect(fn.Properties).toMatchObject({
      Handler: 'index.handler',
      Code: { ZipFile: base.code },
      LoggingConfig: { LogFormat: 'JSON' },
    });
    expect(t.render().template.Resources.FnLogGroup!.Type).toBe('AWS::Logs::LogGroup');
  });
});

describe('IAM policy shortcut', () => {
  it('keeps a conditional statement as Fn::If with AWS::NoValue and still checks its actions', () => {
    const st = { Effect: 'Deny' as const, Action: 'ssm:PutInventory', Resource: '*' };
    expect(policyDocument(onlyIf('On', st)).Statement).toEqual([{ 'Fn::If': ['On', st, { Ref: 'AWS::NoValue' }] }]);
    expect(() => policyDocument(onlyIf('On', { ...st, Action: 'PutInventory' }))).toThrow(/service:Action/);
    expect(() => onlyIf('not a logical id', st)).toThrow(/onlyIf/);
  });
  it('refuses an action that is not service:Action', () => {
    expect(() => policyDocument({ Effect: 'Allow', Action: 'AddTags', Resource: '*' })).toThrow(
      '"AddTags" is not an action like service:Action',
    );
  });
});

describe('serialization', () => {
  it('sorts keys at every level but keeps the CloudFormation section order', () => {
    const sorted = sortKeysDeep(
      { Resources: { B: { z: 1, a: 2 }, A: {} }, Description: 'd', AWSTemplateFormatVersion: 'v' },
      ['AWSTemplateFormatVersion', 'Description', 'Resources'],
    ) as Record<string, Record<string, unknown>>;
    expect(Object.keys(sorted)).toEqual(['AWSTemplateFormatVersion', 'Description', 'Resources']);
    expect(Object.keys(sorted.Resources!)).toEqual(['A', 'B']);
    expect(Object.keys(sorted.Resources!.B as object)).toEqual(['a', 'z']);
  });
  it('gives the same bytes for the same template whatever the insertion order', () => {
    expect(toJson({ b: 1, a: [{ y: 1, x: 2 }] }, 'template')).toBe(toJson({ a: [{ x: 2, y: 1 }], b: 1 }, 'template'));
  });
  it('keeps YAML 1.1 booleans-as-words quoted', () => {
    expect(toYaml({ Resources: { Q: { Properties: { Flag: 'yes', Other: 'on' } } } }, 'template')).toMatch(
      /Flag: "yes"\n\s+Other: "on"/,
    );
  });
});
