// IAM policy shortcuts. Statements are plain data; the guard rules and tests read them back.
import type { Value } from './intrinsics.ts';

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
  if (statements.length === 0) throw new Error('policyDocument: needs at least one statement');
  for (const s of statements) {
    const actions = Array.isArray(s.Action) ? s.Action : [s.Action];
    if (actions.length === 0) throw new Error(`policyDocument: statement ${s.Sid ?? ''} has no actions`);
    for (const a of actions) {
      if (!/^[a-z0-9-]+:[A-Za-z0-9*]+$/.test(a))
        throw new Error(`policyDocument: "${a}" is not an action like service:Action`);
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
