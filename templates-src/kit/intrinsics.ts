// CloudFormation intrinsic functions as tiny typed constructors. Each one checks its own
// arguments and throws on a shape CloudFormation would reject, so mistakes surface at build
// time instead of during a deployment.
import { KitError } from './errors.ts';

/** Any value that can appear in a template: literals, arrays, objects and intrinsics. */
export type Value = string | number | boolean | null | Intrinsic | Value[] | { [key: string]: Value };

export type Intrinsic =
  | { Ref: string }
  | { 'Fn::GetAtt': [string, string] }
  | { 'Fn::Sub': string | [string, Record<string, Value>] }
  | { 'Fn::Join': [string, Value[] | Intrinsic] }
  | { 'Fn::If': [string, Value, Value] }
  | { 'Fn::Select': [number | Intrinsic, Value[] | Intrinsic] }
  | { 'Fn::Split': [string, Value] }
  | { 'Fn::ImportValue': Value }
  | { 'Fn::Equals': [Value, Value] }
  | { 'Fn::Not': [Condition] }
  | { 'Fn::And': Condition[] }
  | { 'Fn::Or': Condition[] }
  | { 'Fn::GetAZs': Value }
  | { 'Fn::EachMemberEquals': [Value, Value] }
  | { 'Fn::Contains': [Value[], Value] }
  | { Condition: string };

/** A condition expression: Fn::Equals/Not/And/Or or a reference to a named condition. */
export type Condition = Intrinsic;

/** Intrinsic errors name the function (`Sub`, `GetAtt(Queue)`) as the logical ID and the argument as the property. */
function fail(fn: string, argument: string, message: string): never {
  throw new KitError(fn, argument, message);
}

const LOGICAL_ID = /^[A-Za-z0-9]+$/;

export function requireLogicalId(fn: string, id: unknown): asserts id is string {
  if (typeof id !== 'string' || !LOGICAL_ID.test(id)) {
    fail(fn, 'logicalId', `${fn}: logical ID must be alphanumeric, got ${JSON.stringify(id)}`);
  }
}

/** Pseudo parameters CloudFormation defines; Ref accepts them like logical IDs. */
export const PSEUDO_PARAMETERS = [
  'AWS::AccountId',
  'AWS::NotificationARNs',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
] as const;

export function Ref(logicalId: string): Intrinsic {
  if (typeof logicalId === 'string' && (PSEUDO_PARAMETERS as readonly string[]).includes(logicalId))
    return { Ref: logicalId };
  requireLogicalId('Ref', logicalId);
  return { Ref: logicalId };
}

export function GetAtt(logicalId: string, attribute: string): Intrinsic {
  requireLogicalId('GetAtt', logicalId);
  if (typeof attribute !== 'string' || !/^[A-Za-z0-9.]+$/.test(attribute)) {
    fail(
      `GetAtt(${logicalId})`,
      'attribute',
      `GetAtt(${logicalId}): attribute must be a non-empty name such as Arn, got ${JSON.stringify(attribute)}`,
    );
  }
  return { 'Fn::GetAtt': [logicalId, attribute] };
}

/** The ${Name} and ${Name.Attr} variables a Sub string uses; ${!Literal} escapes are skipped. */
export function subVariables(template: string): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(/\$\{([^}]*)\}/g)) {
    const body = m[1]!;
    if (body.startsWith('!')) continue;
    out.push(body);
  }
  return out;
}

export function Sub(template: string, variables?: Record<string, Value>): Intrinsic {
  if (typeof template !== 'string' || template.length === 0) {
    fail('Sub', 'template', 'Sub: template must be a non-empty string');
  }
  for (const v of subVariables(template)) {
    if (!/^[A-Za-z0-9:]+(\.[A-Za-z0-9.]+)?$/.test(v)) {
      fail('Sub', 'template', `Sub: "\${${v}}" is not a valid variable in ${JSON.stringify(template)}`);
    }
  }
  if (variables === undefined) {
    if (subVariables(template).length === 0)
      fail('Sub', 'template', `Sub: ${JSON.stringify(template)} has no variables; use a plain string`);
    return { 'Fn::Sub': template };
  }
  const used = new Set(subVariables(template));
  for (const name of Object.keys(variables)) {
    if (!used.has(name)) fail('Sub', 'variables', `Sub: variable "${name}" is not used in ${JSON.stringify(template)}`);
  }
  return { 'Fn::Sub': [template, variables] };
}

export function Join(delimiter: string, values: Value[] | Intrinsic): Intrinsic {
  if (typeof delimiter !== 'string') fail('Join', 'delimiter', 'Join: delimiter must be a string');
  if (!Array.isArray(values) && (typeof values !== 'object' || values === null)) {
    fail('Join', 'values', 'Join: values must be a list or an intrinsic that returns a list');
  }
  return { 'Fn::Join': [delimiter, values] };
}

export function If(conditionName: string, whenTrue: Value, whenFalse: Value): Intrinsic {
  requireLogicalId('If', conditionName);
  return { 'Fn::If': [conditionName, whenTrue, whenFalse] };
}

export function Select(index: number | Intrinsic, list: Value[] | Intrinsic): Intrinsic {
  if (typeof index === 'number') {
    if (!Number.isInteger(index) || index < 0)
      fail('Select', 'index', `Select: index must be a non-negative integer, got ${index}`);
    if (Array.isArray(list) && index >= list.length) {
      fail('Select', 'index', `Select: index ${index} is out of range for a list of ${list.length}`);
    }
  }
  return { 'Fn::Select': [index, list] };
}

export function Split(delimiter: string, source: Value): Intrinsic {
  if (typeof delimiter !== 'string' || delimiter.length === 0)
    fail('Split', 'delimiter', 'Split: delimiter must be a non-empty string');
  return { 'Fn::Split': [delimiter, source] };
}

export function ImportValue(exportName: Value): Intrinsic {
  if (exportName === '' || exportName === null || exportName === undefined) {
    fail('ImportValue', 'exportName', 'ImportValue: export name must not be empty');
  }
  return { 'Fn::ImportValue': exportName };
}

export function Equals(a: Value, b: Value): Condition {
  return { 'Fn::Equals': [a, b] };
}
export function Not(condition: Condition): Condition {
  return { 'Fn::Not': [condition] };
}
export function And(...conditions: Condition[]): Condition {
  if (conditions.length < 2 || conditions.length > 10)
    fail('And', 'conditions', `And: needs 2 to 10 conditions, got ${conditions.length}`);
  return { 'Fn::And': conditions };
}
export function Or(...conditions: Condition[]): Condition {
  if (conditions.length < 2 || conditions.length > 10)
    fail('Or', 'conditions', `Or: needs 2 to 10 conditions, got ${conditions.length}`);
  return { 'Fn::Or': conditions };
}
/** Rules only (CloudFormation Rules: rule-specific intrinsic functions): every member of a list parameter equals `value`. */
export function EachMemberEquals(list: Value, value: Value): Condition {
  return { 'Fn::EachMemberEquals': [list, value] };
}
/** Rules only (CloudFormation Rules: rule-specific intrinsic functions): `value` is one of the strings in `list`. */
export function Contains(list: string[], value: Value): Condition {
  if (list.length === 0) fail('Contains', 'list', 'Contains: the list must name at least one value');
  return { 'Fn::Contains': [list, value] };
}
/** Refers to a named condition inside another condition. */
export function ConditionRef(name: string): Condition {
  requireLogicalId('ConditionRef', name);
  return { Condition: name };
}

export const NoValue: Intrinsic = { Ref: 'AWS::NoValue' };
export const AccountId: Intrinsic = { Ref: 'AWS::AccountId' };
export const Region: Intrinsic = { Ref: 'AWS::Region' };
export const Partition: Intrinsic = { Ref: 'AWS::Partition' };
export const StackName: Intrinsic = { Ref: 'AWS::StackName' };
