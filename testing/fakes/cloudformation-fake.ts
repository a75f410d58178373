// A loopback fake of the CloudFormation stack API subset the fleet lifecycle calls, on the real
// wire protocol (awsQuery: form-encoded POST, XML answers), pointed at by
// AWS_ENDPOINT_URL_CLOUDFORMATION. From the CloudFormation API reference:
// - CreateStack: StackName, TemplateBody, Parameters.member.N, RoleARN, OnFailure, Tags.member.N;
//   answers StackId; AlreadyExistsException for a live stack of that name; a parameter without a
//   value or default is ValidationError. The stack is CREATE_IN_PROGRESS, then CREATE_COMPLETE, or
//   with OnFailure ROLLBACK (the default) ROLLBACK_COMPLETE after a resource fails.
// - DeleteStack: succeeds for an unknown stack too; the stack becomes DELETE_COMPLETE.
// - ListStacks: StackStatusFilter.member.N, NextToken; StackSummaries with StackName, StackId,
//   StackStatus, CreationTime.
// - DescribeStacks: StackName; ValidationError "Stack with id X does not exist". Given the unique
//   stack ID (an ARN) instead of a name, a deleted stack is described too, DELETE_COMPLETE.
// Deployment runs the resources the agency-permissions template holds, through the test's hooks:
// AWS::Lambda::Alias, AWS::Lambda::Permission and a custom resource (its service token is called
// with a CloudFormation request whose ResponseURL is this fake's own, as CloudFormation does).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackFake, readBody } from './loopback.ts';

export interface DeployHooks {
  /** Values of Fn::ImportValue by export name. */
  exports: Record<string, string>;
  alias(action: 'create' | 'delete', name: string, functionName: string): Promise<void>;
  permission(action: 'create' | 'delete', functionName: string, principal: string): Promise<void>;
  /** Sends a custom-resource request to its service token (the test invokes the function). */
  customResource(serviceToken: string, event: Record<string, unknown>): Promise<void>;
}

interface FakeStack {
  id: string;
  name: string;
  status: string;
  created: Date;
  roleArn?: string;
  template: Record<string, any>;
  parameters: Record<string, string>;
  physical: Record<string, string>;
}

export class CloudFormationFake extends LoopbackFake {
  readonly stacks: FakeStack[] = [];

  /** Puts a stack in place as if deployed earlier (only its ID, name and status matter). */
  seedStack(id: string, status = 'CREATE_COMPLETE'): void {
    const name = /:stack\/([^/]+)\//.exec(id)?.[1] ?? id;
    this.stacks.push({ id, name, status, created: new Date(), template: {}, parameters: {}, physical: {} });
  }
  calls: Array<{ action: string; params: URLSearchParams }> = [];
  private pending = new Set<Promise<void>>();
  private waiters = new Map<string, (body: { Status: string; Reason?: string; PhysicalResourceId?: string }) => void>();

  constructor(private readonly hooks: DeployHooks) {
    super();
  }

  /** Waits until every stack operation started so far has finished. */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  live(name: string): FakeStack | undefined {
    return this.stacks.find((s) => s.name === name && s.status !== 'DELETE_COMPLETE');
  }

  private track(p: Promise<void>): void {
    const done = p.finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  private value(v: any, s: FakeStack): any {
    if (typeof v !== 'object' || v === null) return v;
    if (Array.isArray(v)) return v.map((x) => this.value(x, s));
    if ('Ref' in v) return s.parameters[v.Ref] ?? s.physical[v.Ref] ?? v.Ref;
    if ('Fn::Sub' in v)
      return String(v['Fn::Sub']).replace(/\$\{([^}]+)\}/g, (_, n: string) => s.parameters[n] ?? s.physical[n] ?? n);
    if ('Fn::ImportValue' in v) {
      const name = this.value(v['Fn::ImportValue'], s);
      if (!(name in this.hooks.exports)) throw new Error(`No export named ${name} found`);
      return this.hooks.exports[name];
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.value(x, s)]));
  }

  private async customResource(s: FakeStack, id: string, type: 'Create' | 'Delete', props: any): Promise<string> {
    const requestId = randomUUID();
    const answered = new Promise<{ Status: string; Reason?: string; PhysicalResourceId?: string }>((r) =>
      this.waiters.set(requestId, r),
    );
    await this.hooks.customResource(props.ServiceToken, {
      RequestType: type,
      ServiceToken: props.ServiceToken,
      ResponseURL: `${this.url}/cfn-response/${requestId}`,
      StackId: s.id,
      RequestId: requestId,
      LogicalResourceId: id,
      ResourceType: 'Custom::AgencyActivation',
      ResourceProperties: props,
      ...(type === 'Delete' ? { PhysicalResourceId: s.physical[id] } : {}),
    });
    const body = await answered;
    if (body.Status !== 'SUCCESS') throw new Error(body.Reason ?? 'custom resource failed');
    return body.PhysicalResourceId ?? id;
  }

  private async apply(s: FakeStack, id: string, r: any, action: 'create' | 'delete'): Promise<void> {
    const p = this.value(r.Properties ?? {}, s);
    if (r.Type === 'AWS::Lambda::Alias') {
      await this.hooks.alias(action, p.Name, p.FunctionName);
      s.physical[id] = `${p.FunctionName}:${p.Name}`;
    } else if (r.Type === 'AWS::Lambda::Permission') await this.hooks.permission(action, p.FunctionName, p.Principal);
    else if (r.Type.startsWith('Custom::'))
      s.physical[id] = await this.customResource(s, id, action === 'create' ? 'Create' : 'Delete', p);
    else throw new Error(`resource type ${r.Type} is not supported by this fake`);
  }

  private async deploy(s: FakeStack): Promise<void> {
    const done: string[] = [];
    try {
      for (const [id, r] of Object.entries<any>(s.template.Resources ?? {})) {
        await this.apply(s, id, r, 'create');
        done.push(id);
      }
      s.status = 'CREATE_COMPLETE';
    } catch {
      s.status = 'ROLLBACK_IN_PROGRESS';
      for (const id of done.reverse())
        await this.apply(s, id, s.template.Resources[id], 'delete').catch(() => undefined);
      s.status = 'ROLLBACK_COMPLETE';
    }
  }

  private async undeploy(s: FakeStack): Promise<void> {
    try {
      for (const id of Object.keys(s.template.Resources ?? {}).reverse())
        if (s.physical[id]) await this.apply(s, id, s.template.Resources[id], 'delete');
      s.status = 'DELETE_COMPLETE';
    } catch {
      s.status = 'DELETE_FAILED';
    }
  }

  private answer(action: string, q: URLSearchParams): string {
    if (action === 'CreateStack') {
      const name = q.get('StackName') ?? '';
      if (this.live(name)) throw new CfnError('AlreadyExistsException', `Stack [${name}] already exists`);
      const template = JSON.parse(q.get('TemplateBody') ?? '{}');
      const parameters: Record<string, string> = {};
      for (let i = 1; q.has(`Parameters.member.${i}.ParameterKey`); i++)
        parameters[q.get(`Parameters.member.${i}.ParameterKey`)!] =
          q.get(`Parameters.member.${i}.ParameterValue`) ?? '';
      for (const [k, spec] of Object.entries<any>(template.Parameters ?? {})) {
        if (!(k in parameters) && spec.Default === undefined)
          throw new CfnError('ValidationError', `Parameters: [${k}] must have values`);
        parameters[k] ??= String(spec.Default);
      }
      const s: FakeStack = {
        id: `arn:aws:cloudformation:us-east-1:999999999999:stack/${name}/${randomUUID()}`,
        name,
        status: 'CREATE_IN_PROGRESS',
        created: new Date(),
        roleArn: q.get('RoleARN') ?? undefined,
        template,
        parameters: { ...parameters, 'AWS::StackName': name },
        physical: {},
      };
      this.stacks.push(s);
      this.track(this.deploy(s));
      return `<CreateStackResult><StackId>${s.id}</StackId></CreateStackResult>`;
    }
    if (action === 'DeleteStack') {
      const s = this.live(q.get('StackName') ?? '');
      if (s && !s.status.endsWith('_IN_PROGRESS')) {
        s.status = 'DELETE_IN_PROGRESS';
        this.track(this.undeploy(s));
      }
      return '';
    }
    if (action === 'ListStacks') {
      const filter: string[] = [];
      for (let i = 1; q.has(`StackStatusFilter.member.${i}`); i++) filter.push(q.get(`StackStatusFilter.member.${i}`)!);
      const members = this.stacks
        .filter((s) => !filter.length || filter.includes(s.status))
        .map(
          (s) =>
            `<member><StackId>${s.id}</StackId><StackName>${s.name}</StackName><StackStatus>${s.status}</StackStatus><CreationTime>${s.created.toISOString()}</CreationTime></member>`,
        );
      return `<ListStacksResult><StackSummaries>${members.join('')}</StackSummaries></ListStacksResult>`;
    }
    if (action === 'DescribeStacks') {
      const name = q.get('StackName') ?? '';
      const s = name.startsWith('arn:') ? this.stacks.find((x) => x.id === name) : this.live(name);
      if (!s) throw new CfnError('ValidationError', `Stack with id ${name} does not exist`);
      return `<DescribeStacksResult><Stacks><member><StackId>${s.id}</StackId><StackName>${s.name}</StackName><StackStatus>${s.status}</StackStatus><CreationTime>${s.created.toISOString()}</CreationTime></member></Stacks></DescribeStacksResult>`;
    }
    throw new CfnError('InvalidAction', `${action} is not supported by this fake`);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = (await readBody(req)).toString('utf8');
    const response = /^\/cfn-response\/([^/?]+)/.exec(req.url ?? '');
    if (req.method === 'PUT' && response) {
      this.waiters.get(response[1]!)?.(JSON.parse(text));
      res.writeHead(200);
      res.end();
      return;
    }
    const q = new URLSearchParams(text);
    const action = q.get('Action') ?? '';
    this.calls.push({ action, params: q });
    const ns = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';
    try {
      const result = this.answer(action, q);
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<${action}Response xmlns="${ns}">${result}<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
      );
    } catch (err) {
      const e = err as CfnError;
      res.writeHead(400, { 'content-type': 'text/xml' });
      res.end(
        `<ErrorResponse xmlns="${ns}"><Error><Type>Sender</Type><Code>${e.code ?? 'InternalFailure'}</Code><Message>${e.message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
      );
    }
  }
}

class CfnError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
