// status tells a failed read from an absent resource: not found, access denied, unreachable,
// credentials and service failures each keep their kind, in JSON and in text.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CloudFormationClient,
  DescribeStacksCommand,
  ListStackInstancesCommand,
  ListStacksCommand,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import { DescribeActivationsCommand, DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import { ListNodesSummaryCommand, SSMClient } from '@aws-sdk/client-ssm';
import { main as status } from '../../scripts/ops/status.ts';
import { AwsUnreachableError, awsFailureText, failureKind } from '../../scripts/ops/aws-errors.ts';
import { awsError, testContext } from './helpers.ts';
import { AGENCY_PERMISSIONS_DESCRIPTION } from '../../templates-src/builders/agency-permissions.ts';

const cfn = mockClient(CloudFormationClient);
const ssm = mockClient(SSMClient);
beforeEach(() => {
  cfn.reset();
  ssm.reset();
  cfn.on(ListStacksCommand).resolves({ StackSummaries: [] });
  cfn.on(ListStackInstancesCommand).resolves({ Summaries: [] });
  ssm.on(DescribeActivationsCommand).resolves({ ActivationList: [] });
  ssm.on(ListNodesSummaryCommand).resolves({ Summary: [{ ResourceType: 'ManagedInstance', Count: '3' }] });
});
afterAll(() => {
  cfn.restore();
  ssm.restore();
});

const unknown500 = Object.assign(new Error('Unknown'), {
  name: 'Unknown',
  $fault: 'server',
  $metadata: { httpStatusCode: 500 },
});

describe('failure kinds', () => {
  it.each([
    {
      case: 'a stack that does not exist',
      err: awsError('ValidationError', 'Stack with id x does not exist'),
      kind: 'not-found',
    },
    { case: 'IAM denial', err: awsError('AccessDenied', 'User is not authorized', 403), kind: 'access-denied' },
    {
      case: 'no credentials',
      err: Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
      kind: 'credentials',
    },
    {
      case: 'an expired session',
      err: awsError('ExpiredToken', 'The security token included in the request is expired'),
      kind: 'credentials',
    },
    {
      case: 'a socket timeout',
      err: Object.assign(new Error('socket timed out'), { name: 'TimeoutError' }),
      kind: 'unreachable',
    },
    {
      case: 'a refused connection',
      err: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      kind: 'unreachable',
    },
    {
      case: 'a named unreachable endpoint',
      err: new AwsUnreachableError('SSM', 'GetParameter', 'https://x', 'timeout'),
      kind: 'unreachable',
    },
    { case: 'throttling', err: awsError('ThrottlingException', 'Rate exceeded'), kind: 'throttled' },
    { case: 'an HTTP 500 without a code', err: unknown500, kind: 'service' },
    { case: 'an unrelated client error', err: awsError('InvalidParameterValue', 'bad'), kind: 'other' },
  ])('$case is $kind', ({ err, kind }) => {
    expect(failureKind(err)).toBe(kind);
  });

  it('says what an HTTP 500 without an error code was, instead of "Unknown: Unknown"', () => {
    expect(awsFailureText(unknown500)).toBe(
      'AWS answered HTTP 500 with no error code (a service-side failure: retry later)',
    );
  });
});

describe('status when the central stack cannot be read', () => {
  it.each([
    {
      case: 'access denied',
      err: awsError(
        'AccessDenied',
        'User: arn:aws:iam::1:user/x is not authorized to perform: cloudformation:DescribeStacks',
        403,
      ),
      kind: 'access-denied',
    },
    { case: 'an HTTP 500', err: unknown500, kind: 'service' },
  ])('reports $case as UNREADABLE with its kind, not as NOT_FOUND', async ({ err, kind }) => {
    cfn.on(DescribeStacksCommand).rejects(err);
    const ctx = testContext();
    const code = await status(['--json'], ctx);
    expect(code).toBe(1);
    const report = JSON.parse(ctx.stdoutText());
    expect(report.centralStack.status).toBe('UNREADABLE');
    expect(report.centralStack.error).toMatchObject({ kind });
    expect(report.warnings.join('\n')).not.toMatch(/not found/);
    expect(report.failures[0]).toMatchObject({ what: 'stack ssm-hub-central-manager', kind });
  });

  it('keeps a Region whose nodes could not be counted in regions, with the error, and counts the others', async () => {
    cfn
      .on(DescribeStacksCommand)
      .rejects(awsError('ValidationError', 'Stack with id ssm-hub-central-manager does not exist'));
    ssm.on(ListNodesSummaryCommand).callsFake(async (_input, getClient) => {
      const region = await (getClient() as SSMClient).config.region();
      if (region === 'us-west-2') throw awsError('AccessDeniedException', 'not authorized', 400);
      return { Summary: [{ ResourceType: 'ManagedInstance', Count: '3' }] };
    });
    // status then counts page by page (DescribeInstanceInformation), refused as well.
    ssm.on(DescribeInstanceInformationCommand).rejects(awsError('AccessDeniedException', 'not authorized', 400));
    const ctx = testContext();
    expect(await status(['--json', '--regions', 'us-east-1,us-west-2'], ctx)).toBe(1);
    const report = JSON.parse(ctx.stdoutText());
    expect(report.regions).toEqual([
      expect.objectContaining({ region: 'us-east-1', managedNodes: 3 }),
      { region: 'us-west-2', limit: 1000, error: 'access-denied: AccessDeniedException: not authorized' },
    ]);
    expect(report.errors).toContain(
      'could not read managed nodes in us-west-2 (access-denied): AccessDeniedException: not authorized',
    );
    const text = testContext();
    await status(['--regions', 'us-east-1,us-west-2'], text);
    expect(text.stdoutText()).toMatch(/us-west-2\s+not counted \(see ERROR\)/);
  });

  it('reports a stack CloudFormation says does not exist as NOT_FOUND', async () => {
    cfn
      .on(DescribeStacksCommand)
      .rejects(awsError('ValidationError', 'Stack with id ssm-hub-central-manager does not exist'));
    const ctx = testContext();
    const code = await status(['--json'], ctx);
    expect(code, ctx.stdoutText()).toBe(0);
    const report = JSON.parse(ctx.stdoutText());
    expect(report.centralStack.status).toBe('NOT_FOUND');
    expect(report.warnings).toContain('central stack ssm-hub-central-manager not found in us-east-1');
  });

  it('says in text which kind of failure it was', async () => {
    cfn.on(DescribeStacksCommand).rejects(awsError('AccessDenied', 'not authorized', 403));
    const ctx = testContext();
    expect(await status([], ctx)).toBe(1);
    expect(ctx.stdoutText()).toContain(
      'central stack ssm-hub-central-manager (us-east-1): could not be read (access-denied): AccessDenied: not authorized',
    );
    expect(ctx.stdoutText()).not.toContain('NOT FOUND');
  });

  it("marks the agencies' permissions stacks UNKNOWN when they cannot be listed", async () => {
    cfn.on(DescribeStacksCommand).rejects(awsError('ValidationError', 'Stack with id x does not exist'));
    cfn.on(ListStacksCommand).rejects(awsError('AccessDenied', 'not authorized', 403));
    const ctx = testContext();
    expect(await status(['--agencies', '111111111111', '--json'], ctx)).toBe(1);
    const report = JSON.parse(ctx.stdoutText());
    expect(report.agencies[0].permissionsStack).toBe('UNKNOWN');
    expect(report.warnings.join('\n')).not.toContain('no permissions stack');
  });
});

describe('status finds permissions stacks', () => {
  /** DescribeStacks knows one stack, named otherwise, serving agency 333333333333 (its AgencyAccountId). */
  function consoleNamedStack(status: StackStatus) {
    // DescribeStacks answers an unknown stack with ValidationError "Stack with id X does not exist".
    cfn.on(DescribeStacksCommand).rejects(awsError('ValidationError', 'Stack with id x does not exist'));
    cfn.on(DescribeStacksCommand, { StackName: 'agency-from-console' }).resolves({
      Stacks: [
        {
          StackName: 'agency-from-console',
          StackStatus: status,
          CreationTime: new Date(0),
          Parameters: [{ ParameterKey: 'AgencyAccountId', ParameterValue: '333333333333' }],
        },
      ],
    });
  }

  it('by the template description and AgencyAccountId parameter when the stack has another name', async () => {
    consoleNamedStack('CREATE_COMPLETE');
    cfn.on(ListStacksCommand).resolves({
      StackSummaries: [
        {
          StackName: 'agency-from-console',
          StackStatus: 'CREATE_COMPLETE',
          TemplateDescription: AGENCY_PERMISSIONS_DESCRIPTION,
          CreationTime: new Date(0),
        },
        {
          StackName: 'unrelated',
          StackStatus: 'CREATE_COMPLETE',
          TemplateDescription: 'other',
          CreationTime: new Date(0),
        },
      ],
    });
    const ctx = testContext();
    await status(['--json'], ctx);
    const report = JSON.parse(ctx.stdoutText());
    expect(
      report.agencies.map((a: { account: string; permissionsStack: string }) => [a.account, a.permissionsStack]),
    ).toEqual([['333333333333', 'CREATE_COMPLETE']]);
  });

  it('names every stack that claims one agency, and warns, when a second one holds resources', async () => {
    consoleNamedStack('UPDATE_COMPLETE');
    cfn.on(ListStacksCommand).resolves({
      StackSummaries: [
        { StackName: 'ssm-hub-agency-333333333333', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(0) },
        {
          StackName: 'agency-from-console',
          StackStatus: 'UPDATE_COMPLETE',
          TemplateDescription: AGENCY_PERMISSIONS_DESCRIPTION,
          CreationTime: new Date(0),
        },
      ],
    });
    const ctx = testContext();
    await status(['--json'], ctx);
    const report = JSON.parse(ctx.stdoutText());
    expect(report.agencies.map((a: { permissionsStack: string }) => a.permissionsStack)).toEqual([
      'CREATE_COMPLETE; also agency-from-console (UPDATE_COMPLETE)',
    ]);
    expect(report.warnings.join('\n')).toContain('agency 333333333333: more than one permissions stack');
  });
});
