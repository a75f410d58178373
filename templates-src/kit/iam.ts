// IAM policy shortcuts. Statements are plain data; the guard rules and tests read them back.
import { KitError } from './errors.ts';
import { GetAtt, Sub, type Value } from './intrinsics.ts';
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

export function policyDocument(...statements: Statement[]): Record<string, Value> {
  if (statements.length === 0)
    throw new KitError('PolicyDocument', 'Statement', 'policyDocument: needs at least one statement');
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
  return { Version: '2012-10-17', Statement: statements as unknown as Value[] };
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
