// A small IAM policy evaluator for tests: explicit deny wins, then any allow, else implicit
// deny. It supports what our templates use: Action/Resource/NotResource with wildcards, policy
// variables, and the condition operators String*, Arn*, Bool, Null and ForAllValues/ForAnyValue.
// CloudFormation intrinsics are resolved first with fixed pseudo parameters.

export type Decision = 'Allow' | 'ImplicitDeny' | 'ExplicitDeny';

export interface Request {
  action: string;
  resource: string;
  /** Condition keys of the request, e.g. { 'aws:TagKeys': ['managedinstanceid'], 'ec2:SourceInstanceARN': '…' }. */
  context?: Record<string, string | string[]>;
}

export interface Pseudo {
  partition: string;
  region: string;
  accountId: string;
  refs?: Record<string, string>;
}

/** Resolves Ref / Sub / GetAtt with fixed values, so ARNs in the template become plain strings. */
export function resolve(value: unknown, p: Pseudo): unknown {
  const pseudo: Record<string, string> = {
    'AWS::Partition': p.partition,
    'AWS::Region': p.region,
    'AWS::AccountId': p.accountId,
    ...(p.refs ?? {}),
  };
  if (Array.isArray(value)) return value.map((v) => resolve(v, p));
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  if ('Ref' in obj) return pseudo[obj.Ref as string] ?? `<ref:${String(obj.Ref)}>`;
  if ('Fn::GetAtt' in obj) return `<getatt:${(obj['Fn::GetAtt'] as string[]).join('.')}>`;
  if ('Fn::Sub' in obj) {
    const arg = obj['Fn::Sub'];
    const [text, locals] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
    return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      if (name.startsWith('!')) return `\${${name.slice(1)}}`;
      if (locals && name in locals) return String(resolve(locals[name], p));
      return pseudo[name] ?? `<ref:${name}>`;
    });
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, resolve(v, p)]));
}

const asList = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

function globToRegExp(pattern: string, caseInsensitive = false): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, caseInsensitive ? 'i' : '');
}

function substituteVariables(text: string, ctx: Record<string, string | string[]>): string {
  return text.replace(/\$\{([^}]+)\}/g, (_, key: string) => {
    const v = ctx[key];
    return typeof v === 'string' ? v : `<unset:${key}>`;
  });
}

function compare(op: string, actual: string, expected: string): boolean {
  switch (op) {
    case 'StringEquals':
      return actual === expected;
    case 'StringNotEquals':
      return actual !== expected;
    // IAM's Arn operators match each ARN component with * and ? wildcards, Equals and Like alike.
    case 'ArnEquals':
      return globToRegExp(expected).test(actual);
    case 'ArnNotEquals':
      return !globToRegExp(expected).test(actual);
    case 'StringEqualsIgnoreCase':
      return actual.toLowerCase() === expected.toLowerCase();
    case 'StringLike':
    case 'ArnLike':
      return globToRegExp(expected).test(actual);
    case 'StringNotLike':
    case 'ArnNotLike':
      return !globToRegExp(expected).test(actual);
    case 'Bool':
      return actual === expected;
    default:
      throw new Error(`iam-eval: condition operator ${op} is not supported`);
  }
}

function conditionsHold(
  condition: Record<string, Record<string, unknown>> | undefined,
  req: Request,
  ctx: Record<string, string | string[]>,
): boolean {
  if (!condition) return true;
  for (const [rawOp, entries] of Object.entries(condition)) {
    for (const [key, expectedRaw] of Object.entries(entries)) {
      const expected = asList(expectedRaw).map((e) => substituteVariables(e, ctx));
      // aws:ARN is not a key IAM supplies (Access Analyzer calls it unsupported): never present.
      const actualValue = key === 'aws:ARN' ? undefined : ctx[key];
      if (rawOp === 'Null') {
        const isNull = actualValue === undefined || (Array.isArray(actualValue) && actualValue.length === 0);
        if (String(isNull) !== expected[0]) return false;
        continue;
      }
      const [qualifier, op] = rawOp.includes(':') ? (rawOp.split(':') as [string, string]) : [undefined, rawOp];
      const actual = asList(actualValue);
      if (qualifier === 'ForAllValues') {
        if (!actual.every((a) => expected.some((e) => compare(op, a, e)))) return false;
      } else if (qualifier === 'ForAnyValue') {
        if (!actual.some((a) => expected.some((e) => compare(op, a, e)))) return false;
      } else {
        if (actual.length === 0) return false;
        if (!actual.some((a) => expected.some((e) => compare(op, a, e)))) return false;
      }
    }
  }
  return true;
}

interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

export function evaluate(statements: Statement[], req: Request): Decision {
  const ctx = req.context ?? {};
  let allowed = false;
  for (const s of statements) {
    const actionMatch = asList(s.Action).some((a) => globToRegExp(a, true).test(req.action));
    if (!actionMatch) continue;
    const resourceMatch = s.NotResource
      ? !asList(s.NotResource).some((r) => globToRegExp(substituteVariables(r, ctx)).test(req.resource))
      : asList(s.Resource).some((r) => globToRegExp(substituteVariables(r, ctx)).test(req.resource));
    if (!resourceMatch) continue;
    if (!conditionsHold(s.Condition, req, ctx)) continue;
    if (s.Effect === 'Deny') return 'ExplicitDeny';
    allowed = true;
  }
  return allowed ? 'Allow' : 'ImplicitDeny';
}

/** The statements of AmazonSSMManagedInstanceCore that matter here (it allows reading every parameter). */
export const AMAZON_SSM_MANAGED_INSTANCE_CORE: Statement[] = [
  {
    Effect: 'Allow',
    Action: [
      'ssm:DescribeAssociation',
      'ssm:GetDeployablePatchSnapshotForInstance',
      'ssm:GetDocument',
      'ssm:DescribeDocument',
      'ssm:GetManifest',
      'ssm:GetParameter',
      'ssm:GetParameters',
      'ssm:ListAssociations',
      'ssm:ListInstanceAssociations',
      'ssm:PutInventory',
      'ssm:PutComplianceItems',
      'ssm:PutConfigurePackageResult',
      'ssm:UpdateAssociationStatus',
      'ssm:UpdateInstanceAssociationStatus',
      'ssm:UpdateInstanceInformation',
    ],
    Resource: '*',
  },
  {
    Effect: 'Allow',
    Action: [
      'ssmmessages:CreateControlChannel',
      'ssmmessages:CreateDataChannel',
      'ssmmessages:OpenControlChannel',
      'ssmmessages:OpenDataChannel',
    ],
    Resource: '*',
  },
  {
    Effect: 'Allow',
    Action: [
      'ec2messages:AcknowledgeMessage',
      'ec2messages:DeleteMessage',
      'ec2messages:FailMessage',
      'ec2messages:GetEndpoint',
      'ec2messages:GetMessages',
      'ec2messages:SendReply',
    ],
    Resource: '*',
  },
];
