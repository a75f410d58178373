// A small stateful stand-in for CloudFormation's stack and change-set API, installed on the real
// SDK client through aws-sdk-client-mock. It enforces the rules the CLI relies on: unknown stacks
// raise ValidationError "does not exist", UPDATE change sets need an existing stack, an update
// with nothing to change yields a FAILED change set, and execution passes through IN_PROGRESS.
import {
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  GetTemplateCommand,
  DescribeStackSetCommand,
  ListStackInstancesCommand,
  ListStackResourcesCommand,
  ListStacksCommand,
  type Parameter,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';
import type { mockAll } from './helpers.ts';
import { awsError } from './helpers.ts';

export type Outcome = 'succeed' | 'fail';

interface FakeStack {
  id: string;
  name: string;
  status: string;
  parameters: Parameter[];
  template?: string;
  /** Status to reach after one more DescribeStacks while IN_PROGRESS. */
  pending?: string;
  events: StackEvent[];
  outputs?: Array<{ OutputKey: string; OutputValue: string }>;
  /** The template's Description, when the test gives no template body. */
  description?: string;
}

type Resources = Record<string, { Type: string }>;
const resourcesOf = (body?: string): Resources =>
  ((body ? JSON.parse(body) : {}) as { Resources?: Resources }).Resources ?? {};

/**
 * DescribeChangeSet's Changes: one ResourceChange per added, removed or modified resource, with
 * Replacement on modifications (API reference, ResourceChange). This fake never replaces.
 */
function resourceChanges(current: string | undefined, next: string | undefined) {
  const before = resourcesOf(current);
  const after = resourcesOf(next);
  const change = (Action: 'Add' | 'Remove' | 'Modify', id: string, r: { Type: string }) => ({
    Type: 'Resource' as const,
    ResourceChange: {
      Action,
      LogicalResourceId: id,
      ResourceType: r.Type,
      ...(Action === 'Modify' ? { Replacement: 'False' as const } : {}),
    },
  });
  return [
    ...Object.entries(after)
      .filter(([id, r]) => !(id in before) || JSON.stringify(before[id]) !== JSON.stringify(r))
      .map(([id, r]) => change(id in before ? 'Modify' : 'Add', id, r)),
    ...Object.entries(before)
      .filter(([id]) => !(id in after))
      .map(([id, r]) => change('Remove', id, r)),
  ];
}

export function fakeCloudFormation(
  cfn: ReturnType<typeof mockAll>['cfn'],
  opts: {
    now: () => Date;
    outcome?: (stackName: string) => Outcome;
    failureEvents?: (stackName: string) => StackEvent[];
  },
) {
  const stacks = new Map<string, FakeStack>();
  const changeSets = new Map<
    string,
    { stack: FakeStack; type: string; status: string; reason?: string; template?: string; parameters: Parameter[] }
  >();
  let seq = 0;
  const find = (nameOrId: string) => stacks.get(nameOrId) ?? [...stacks.values()].find((s) => s.id === nameOrId);
  const notFound = (name: string) => awsError('ValidationError', `Stack with id ${name} does not exist`);

  const add = (name: string, status: string, parameters: Parameter[] = [], template?: string) => {
    const s: FakeStack = {
      id: `arn:aws:cloudformation:us-east-1:999999999999:stack/${name}/${++seq}`,
      name,
      status,
      parameters,
      template,
      events: [],
    };
    stacks.set(name, s);
    return s;
  };

  cfn.on(DescribeStacksCommand).callsFake(async (input) => {
    const s = find(input.StackName!);
    if (!s || (s.status === 'DELETE_COMPLETE' && input.StackName === s.name)) throw notFound(input.StackName!);
    const out = {
      Stacks: [
        {
          StackId: s.id,
          StackName: s.name,
          StackStatus: s.status,
          Parameters: s.parameters,
          Outputs: s.outputs,
          CreationTime: new Date(),
        },
      ],
    };
    if (s.pending) {
      s.status = s.pending;
      s.pending = undefined;
    }
    return out;
  });
  cfn.on(CreateChangeSetCommand).callsFake(async (input) => {
    let s = stacks.get(input.StackName!);
    if (input.ChangeSetType === 'UPDATE' && (!s || s.status === 'REVIEW_IN_PROGRESS')) throw notFound(input.StackName!);
    if (input.ChangeSetType === 'CREATE') {
      if (s && s.status !== 'REVIEW_IN_PROGRESS' && s.status !== 'DELETE_COMPLETE')
        throw awsError('AlreadyExistsException', `Stack [${input.StackName}] already exists`);
      s = add(input.StackName!, 'REVIEW_IN_PROGRESS');
    }
    const parameters = (input.Parameters ?? []).map((p: Parameter) =>
      p.UsePreviousValue
        ? {
            ParameterKey: p.ParameterKey,
            ParameterValue: s!.parameters.find((q: Parameter) => q.ParameterKey === p.ParameterKey)?.ParameterValue,
          }
        : p,
    );
    const same =
      input.ChangeSetType === 'UPDATE' &&
      s!.template === input.TemplateBody &&
      JSON.stringify(parameters) === JSON.stringify(s!.parameters);
    const id = `arn:aws:cloudformation:us-east-1:999999999999:changeSet/${input.ChangeSetName}/${++seq}`;
    changeSets.set(id, {
      stack: s!,
      type: input.ChangeSetType!,
      status: same ? 'FAILED' : 'CREATE_COMPLETE',
      reason: same
        ? "The submitted information didn't contain changes. Submit different information to create a change set."
        : undefined,
      template: input.TemplateBody,
      parameters,
    });
    return { Id: id, StackId: s!.id };
  });
  cfn.on(DescribeChangeSetCommand).callsFake(async (input) => {
    const cs = changeSets.get(input.ChangeSetName!);
    if (!cs) throw awsError('ChangeSetNotFoundException', 'ChangeSet does not exist');
    return {
      Status: cs.status,
      StatusReason: cs.reason,
      ExecutionStatus: cs.status === 'FAILED' ? 'UNAVAILABLE' : 'AVAILABLE',
      Changes: cs.status === 'FAILED' ? [] : resourceChanges(cs.stack.template, cs.template),
    };
  });
  cfn.on(DeleteChangeSetCommand).callsFake(async (input) => {
    changeSets.delete(input.ChangeSetName!);
    return {};
  });
  cfn.on(ExecuteChangeSetCommand).callsFake(async (input) => {
    const cs = changeSets.get(input.ChangeSetName!);
    if (!cs || cs.status !== 'CREATE_COMPLETE')
      throw awsError('InvalidChangeSetStatusException', 'ChangeSet is not executable');
    const s = cs.stack;
    const fail = (opts.outcome?.(s.name) ?? 'succeed') === 'fail';
    const verb = cs.type === 'CREATE' ? 'CREATE' : 'UPDATE';
    s.status = `${verb}_IN_PROGRESS`;
    s.pending = fail ? (verb === 'CREATE' ? 'ROLLBACK_COMPLETE' : 'UPDATE_ROLLBACK_COMPLETE') : `${verb}_COMPLETE`;
    s.parameters = cs.parameters;
    s.template = cs.template;
    const t = opts.now();
    // Newest first, as DescribeStackEvents returns them. This operation's events carry its token;
    // the clocks disagree on purpose (AWS's events look older than the caller's start, the earlier
    // attempt's look newer), so only the token can tell them apart.
    const token = input.ClientRequestToken;
    s.events = [
      ...(fail
        ? []
        : [
            {
              StackId: s.id,
              StackName: s.name,
              EventId: `done-${++seq}`,
              LogicalResourceId: s.name,
              ResourceStatus: `${verb}_COMPLETE` as const,
              ClientRequestToken: token,
              Timestamp: t,
            },
          ]),
      ...(fail
        ? (opts.failureEvents?.(s.name) ?? []).map((e) => ({
            ...e,
            ClientRequestToken: token,
            Timestamp: new Date(t.getTime() - 600_000),
          }))
        : []),
      {
        StackId: s.id,
        StackName: s.name,
        EventId: 'old',
        LogicalResourceId: 'OldThing',
        ResourceStatus: 'CREATE_FAILED',
        ResourceStatusReason: 'from an earlier attempt',
        Timestamp: new Date(t.getTime() + 3_600_000),
        ClientRequestToken: 'earlier-operation',
      },
    ];
    changeSets.delete(input.ChangeSetName!);
    return {};
  });
  // GetTemplate returns the body the stack was last deployed with (API reference, GetTemplate).
  cfn.on(GetTemplateCommand).callsFake(async (input) => {
    const s = find(input.StackName!);
    if (!s) throw notFound(input.StackName!);
    return { TemplateBody: s.template, StagesAvailable: ['Original', 'Processed'] };
  });
  // ListStackResources: one summary per resource of the deployed template.
  cfn.on(ListStackResourcesCommand).callsFake(async (input) => {
    const s = find(input.StackName!);
    if (!s) throw notFound(input.StackName!);
    const resources = (JSON.parse(s.template ?? '{}') as { Resources?: Record<string, { Type: string }> }).Resources;
    return {
      StackResourceSummaries: Object.entries(resources ?? {}).map(([id, r]) => ({
        LogicalResourceId: id,
        ResourceType: r.Type,
        ResourceStatus: 'CREATE_COMPLETE',
        LastUpdatedTimestamp: new Date(0),
      })),
    };
  });
  // No StackSet unless a test sets one up: ListStackInstances answers StackSetNotFoundException
  // (CloudFormation API reference, ListStackInstances errors).
  cfn
    .on(ListStackInstancesCommand)
    .rejects(awsError('StackSetNotFoundException', 'StackSet ssm-hub-agency-collector not found'));
  // DescribeStackSet answers the same for a StackSet that does not exist (API reference, errors).
  cfn.on(DescribeStackSetCommand).rejects(awsError('StackSetNotFoundException', 'StackSet not found'));
  cfn.on(DescribeStackEventsCommand).callsFake(async (input) => {
    const s = find(input.StackName!);
    if (!s) throw notFound(input.StackName!);
    return { StackEvents: s.events };
  });
  // ListStacks: one StackSummary per stack, deleted ones included (API reference, ListStacks:
  // "deleted stacks ... for 90 days"), with the template's Description as TemplateDescription.
  cfn.on(ListStacksCommand).callsFake(async () => ({
    StackSummaries: [...stacks.values()].map((s) => ({
      StackId: s.id,
      StackName: s.name,
      StackStatus: s.status as never,
      CreationTime: new Date(),
      TemplateDescription:
        s.description ?? (s.template ? (JSON.parse(s.template) as { Description?: string }).Description : undefined),
    })),
  }));
  cfn.on(DeleteStackCommand).callsFake(async (input) => {
    const s = find(input.StackName!);
    if (s) {
      const fail = (opts.outcome?.(s.name) ?? 'succeed') === 'fail';
      s.status = 'DELETE_IN_PROGRESS';
      s.pending = fail ? 'DELETE_FAILED' : 'DELETE_COMPLETE';
      if (fail)
        s.events = (opts.failureEvents?.(s.name) ?? []).map((e) => ({
          ...e,
          ClientRequestToken: input.ClientRequestToken,
        }));
    }
    return {};
  });
  return { stacks, add };
}
