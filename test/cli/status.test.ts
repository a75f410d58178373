// status against a real DynamoDB API (dynalite) for the sync-state table, and mocked
// CloudFormation and SSM clients.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CloudFormationClient,
  DescribeStacksCommand,
  ListStackInstancesCommand,
  ListStacksCommand,
} from '@aws-sdk/client-cloudformation';
import {
  DescribeActivationsCommand,
  DescribeInstanceInformationCommand,
  ListNodesSummaryCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { BatchWriteCommand, DeleteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

import { registrationErrorRecord } from '../../lambda/tag-manager/report.ts';
import { rejectionRecord } from '../../lambda/tag-manager/rejections.ts';
import { main as status } from '../../scripts/ops/status.ts';
import { testContext } from './helpers.ts';
import { startDynalite, type DynaliteHandle } from '../../testing/helpers/dynalite.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;
const A = '111111111111';
const B = '222222222222';
const TABLE = 'ssm-hub-sync-state';

let db: DynaliteHandle;
let endpoint: string;

beforeAll(async () => {
  db = await startDynalite(TABLE);
  endpoint = db.endpoint;
  const ddb = db.client;
  const doc = DynamoDBDocumentClient.from(ddb);
  // Agency A: 30 nodes, two with errors; agency B: none synced.
  const items = Array.from({ length: 30 }, (_, i) => ({
    managedInstanceId: `mi-${String(i).padStart(17, '0')}`,
    agencyAccountId: A,
    ec2InstanceId: `i-${String(i).padStart(17, '0')}`,
    lastSyncAt: new Date(NOW.getTime() - (i + 1) * 60_000).toISOString(),
    ...(i === 4 ? { lastError: 'TooManyTagsError: 51 tags' } : {}),
    ...(i === 9 ? { lastError: 'InvalidResourceId: node was deregistered' } : {}),
  }));
  for (let i = 0; i < items.length; i += 25) {
    await doc.send(
      new BatchWriteCommand({
        RequestItems: { [TABLE]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
      }),
    );
  }
});
afterAll(() => db.close());

const cfn = mockClient(CloudFormationClient);
const ssm = mockClient(SSMClient);
beforeEach(() => {
  cfn.reset();
  ssm.reset();
  cfn.on(DescribeStacksCommand, { StackName: 'ssm-hub-central-manager' }).resolves({
    Stacks: [
      {
        StackName: 'ssm-hub-central-manager',
        StackStatus: 'UPDATE_COMPLETE',
        CreationTime: NOW,
        Outputs: [
          { OutputKey: 'SyncTableName', OutputValue: TABLE },
          { OutputKey: 'ManagedNodeRoleName', OutputValue: 'ssm-hub-managed-node' },
          { OutputKey: 'TagManagerFunctionName', OutputValue: 'ssm-hub-tag-manager' },
        ],
      },
    ],
  });
  cfn.on(ListStacksCommand).callsFake(async (input) =>
    input.NextToken
      ? { StackSummaries: [{ StackName: `ssm-hub-agency-${B}`, StackStatus: 'CREATE_COMPLETE', CreationTime: NOW }] }
      : {
          StackSummaries: [
            { StackName: `ssm-hub-agency-${A}`, StackStatus: 'UPDATE_COMPLETE', CreationTime: NOW },
            { StackName: 'ssm-hub-agency-999', StackStatus: 'CREATE_COMPLETE', CreationTime: NOW },
            { StackName: 'unrelated', StackStatus: 'CREATE_COMPLETE', CreationTime: NOW },
          ],
          NextToken: 'p2',
        },
  );
  // The registration StackSet is still being deployed to agency A.
  cfn.on(ListStackInstancesCommand, { StackSetName: 'ssm-hub-agency-registration' }).resolves({
    Summaries: [
      {
        StackSetId: 'r',
        Account: A,
        Region: 'us-east-1',
        Status: 'OUTDATED',
        StackInstanceStatus: { DetailedStatus: 'RUNNING' },
      },
    ],
  });
  cfn.on(ListStackInstancesCommand, { StackSetName: 'ssm-hub-agency-collector' }).resolves({
    Summaries: [
      {
        StackSetId: 's',
        Account: A,
        Region: 'us-east-1',
        Status: 'CURRENT',
        StackInstanceStatus: { DetailedStatus: 'SUCCEEDED' },
      },
      {
        StackSetId: 's',
        Account: B,
        Region: 'us-east-1',
        Status: 'OUTDATED',
        StatusReason: 'Role already exists',
        StackInstanceStatus: { DetailedStatus: 'FAILED' },
      },
    ],
  });
  ssm.on(DescribeActivationsCommand).callsFake(async (input) => {
    const tag = (acct: string) => [{ Key: 'central-it:activation-agency', Value: acct }];
    return input.NextToken
      ? {
          ActivationList: [
            // B's current activation: 20 days left, lightly used.
            {
              ActivationId: 'b-1',
              ExpirationDate: new Date(NOW.getTime() + 20 * DAY),
              Expired: false,
              RegistrationsCount: 10,
              RegistrationLimit: 1000,
              Tags: tag(B),
            },
          ],
        }
      : {
          ActivationList: [
            {
              ActivationId: 'a-old',
              ExpirationDate: new Date(NOW.getTime() - DAY),
              Expired: true,
              RegistrationsCount: 1000,
              RegistrationLimit: 1000,
              Tags: tag(A),
            },
            {
              ActivationId: 'a-cur',
              ExpirationDate: new Date(NOW.getTime() + 3 * DAY),
              Expired: false,
              RegistrationsCount: 312,
              RegistrationLimit: 1000,
              Tags: tag(A),
            },
          ],
          NextToken: 'n2',
        };
  });
  const nodes: Record<string, number> = { 'us-east-1': 850, 'us-west-2': 120 };
  // ListNodesSummary answers one count per aggregated value (SSM API reference, ListNodesSummary).
  ssm.on(ListNodesSummaryCommand).callsFake(async (_input, getClient) => {
    const region = await (getClient() as SSMClient).config.region();
    return { Summary: [{ ResourceType: 'ManagedInstance', Count: String(nodes[region]) }] };
  });
  ssm.on(DescribeInstanceInformationCommand).callsFake(async (input, getClient) => {
    const region = await (getClient() as SSMClient).config.region();
    const total = nodes[region]!;
    const start = Number(input.NextToken ?? 0);
    const size = Math.min(input.MaxResults ?? 50, total - start);
    return {
      InstanceInformationList: Array.from({ length: size }, (_, i) => ({
        InstanceId: `mi-${String(start + i).padStart(17, '0')}`,
        ResourceType: 'ManagedInstance',
      })),
      NextToken: start + size < total ? String(start + size) : undefined,
    };
  });
});
afterEach(() => undefined);
afterAll(() => {
  cfn.restore();
  ssm.restore();
});

describe('status', () => {
  it('warns about an activation 3 days from expiry and a Region at 850 of 1,000 nodes, and reports sync state per agency', async () => {
    const ctx = testContext(NOW);
    ctx.awsConfig = { dynamodb: { endpoint } };
    const code = await status(['--regions', 'us-east-1,us-west-2', '--json'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const report = JSON.parse(ctx.stdoutText());

    expect(report.agencies.map((a: { account: string }) => a.account)).toEqual([A, B]);
    const a = report.agencies[0];
    expect(a.permissionsStack).toBe('UPDATE_COMPLETE');
    expect(a.activation).toMatchObject({ activationId: 'a-cur', daysLeft: 3, registrations: 312, limit: 1000 });
    expect(a.syncedNodes).toBe(30);
    expect(a.lastSyncAt).toBe(new Date(NOW.getTime() - 60_000).toISOString());
    expect(a.errorNodes).toBe(2);
    // The latest error is the one on the most recently synced node (i = 4 synced after i = 9).
    expect(a.latestError).toMatchObject({
      managedInstanceId: 'mi-00000000000000004',
      error: 'TooManyTagsError: 51 tags',
    });
    const b = report.agencies[1];
    expect(b.activation).toMatchObject({ activationId: 'b-1', daysLeft: 20 });
    expect(b.syncedNodes).toBe(0);
    expect(b.stackInstances).toEqual([{ region: 'us-east-1', status: 'FAILED', detail: 'Role already exists' }]);
    expect(b.registrationInstances).toEqual([]);
    expect(a.registrationInstances).toEqual([{ region: 'us-east-1', status: 'RUNNING' }]);

    expect(report.regions).toEqual([
      { region: 'us-east-1', managedNodes: 850, limit: 1000, percent: 85, syncedNodes: 30, tier: 'standard' },
      { region: 'us-west-2', managedNodes: 120, limit: 1000, percent: 12, tier: 'standard' },
    ]);
    const warnings: string[] = report.warnings;
    expect(warnings.filter((w) => w.includes('expires in'))).toEqual([
      `agency ${A}: activation a-cur expires in 3 days (${new Date(NOW.getTime() + 3 * DAY).toISOString()}); rotation should have replaced it`,
    ]);
    expect(warnings.filter((w) => w.includes('standard-tier'))).toEqual([
      'us-east-1: 850 managed nodes is 85% of the 1000-node standard-tier limit',
    ]);
    expect(warnings).toContain(`agency ${B}: stack instance in us-east-1 is FAILED: Role already exists`);
    expect(warnings).toContain(`agency ${A}: registration stack instance in us-east-1 is RUNNING`);
    // B's collector has no registration stack instance beside it; A's has one.
    expect(warnings.filter((w) => w.includes('has no registration stack instance'))).toEqual([
      `agency ${B}: the collector in us-east-1 has no registration stack instance (re-run \`ssm-hub rollout\`)`,
    ]);

    // Activations were listed by the hub's node role, every page was read, and nothing was decrypted.
    const listed = ssm.commandCalls(DescribeActivationsCommand).map((c) => c.args[0].input);
    expect(listed).toHaveLength(2);
    expect(listed[0]!.Filters).toEqual([{ FilterKey: 'IamRole', FilterValues: ['ssm-hub-managed-node'] }]);
    // Nodes were counted by SSM's summary, one call per Region, never node by node.
    expect(ssm.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(0);
    expect(ssm.commandCalls(ListNodesSummaryCommand).map((c) => c.args[0].input)).toEqual([
      {
        Aggregators: [{ AggregatorType: 'Count', TypeName: 'Instance', AttributeName: 'ResourceType' }],
        Filters: [{ Key: 'ResourceType', Values: ['ManagedInstance'], Type: 'Equal' }],
        NextToken: undefined,
      },
      expect.objectContaining({ Filters: [{ Key: 'ResourceType', Values: ['ManagedInstance'], Type: 'Equal' }] }),
    ]);
  });

  it('reads the node rows once: one scan without --agencies, one query per agency with it', async () => {
    const targets: string[] = [];
    class CountingHandler extends NodeHttpHandler {
      override handle(...[request, options]: Parameters<NodeHttpHandler['handle']>) {
        targets.push(String(request.headers['x-amz-target']).replace(/^DynamoDB_\d+\./, ''));
        return super.handle(request, options);
      }
    }
    const run = async (args: string[]) => {
      targets.length = 0;
      const ctx = testContext(NOW);
      ctx.awsConfig = { dynamodb: { endpoint, requestHandler: new CountingHandler() } };
      expect(await status([...args, '--json'], ctx), ctx.stderrText()).toBe(0);
      return JSON.parse(ctx.stdoutText()) as { agencies: Array<{ account: string; syncedNodes?: number }> };
    };

    const all = await run([]);
    expect(targets.filter((t) => t === 'Scan')).toHaveLength(1);
    expect(targets.filter((t) => t === 'Query')).toHaveLength(0);
    expect(all.agencies.find((a) => a.account === A)?.syncedNodes).toBe(30);

    const one = await run(['--agencies', A]);
    expect(targets.filter((t) => t === 'Scan')).toHaveLength(0);
    expect(targets.filter((t) => t === 'Query')).toHaveLength(1);
    expect(one.agencies.find((a) => a.account === A)?.syncedNodes).toBe(30);
  });

  it('reports where SSM counts more nodes than the sync-state table tracks (orphans)', async () => {
    const ctx = testContext(NOW);
    ctx.awsConfig = { dynamodb: { endpoint } };
    const code = await status(['--json'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const report = JSON.parse(ctx.stdoutText());
    // The table tracks A's 30 nodes and none of B's; SSM counts 850 in the hub's Region.
    expect(report.regions).toEqual([
      { region: 'us-east-1', managedNodes: 850, limit: 1000, percent: 85, syncedNodes: 30, tier: 'standard' },
    ]);
    expect(report.warnings).toContain(
      'us-east-1: SSM counts 850 hybrid nodes, the sync-state table 30: 820 node(s) not synced by the hub (registered but not yet synced, orphaned, or not from an agency)',
    );
  });

  it("counts neither an agency's registration-error row nor its rejection row as a node", async () => {
    // The rows as the tag manager writes them (its own record functions): keyed regerr#/rejected#<account>.
    const doc = DynamoDBDocumentClient.from(db.client);
    const at = NOW.toISOString();
    const refused = { managedInstanceId: 'mi-0000000000000000a', reason: 'refused', at };
    const perAgency = [
      registrationErrorRecord(A, [{ ec2InstanceId: 'i-1', error: 'agent missing' }], at),
      registrationErrorRecord(
        B,
        [
          { ec2InstanceId: 'i-2', error: 'agent missing' },
          { ec2InstanceId: 'i-3', error: 'activation expired' },
        ],
        at,
      ),
      rejectionRecord(A, [refused], 1),
      rejectionRecord(B, [refused, { ...refused, managedInstanceId: 'mi-0000000000000000b' }], 1),
    ];
    for (const Item of perAgency) await doc.send(new PutCommand({ TableName: TABLE, Item }));
    try {
      const ctx = testContext(NOW);
      ctx.awsConfig = { dynamodb: { endpoint } };
      expect(await status(['--json'], ctx), ctx.stderrText()).toBe(0);
      const report = JSON.parse(ctx.stdoutText());
      const byAccount = Object.fromEntries(report.agencies.map((a: { account: string }) => [a.account, a]));
      // The rows are read (B's registration errors are counted) but never counted as nodes.
      expect(byAccount[B]).toMatchObject({ syncedNodes: 0, registrationErrors: 2 });
      expect(byAccount[A]).toMatchObject({ syncedNodes: 30, errorNodes: 2, registrationErrors: 1 });
      expect(report.regions[0]).toMatchObject({ managedNodes: 850, syncedNodes: 30 });
      expect(report.warnings).toContain(
        'us-east-1: SSM counts 850 hybrid nodes, the sync-state table 30: 820 node(s) not synced by the hub (registered but not yet synced, orphaned, or not from an agency)',
      );
    } finally {
      for (const Item of perAgency)
        await doc.send(new DeleteCommand({ TableName: TABLE, Key: { managedInstanceId: Item.managedInstanceId } }));
    }
  });

  it('lists an agency that has node rows but no permissions stack (offboarded, nodes kept) and counts its nodes', async () => {
    // Its nodes still carry the ownership tag, so run and the patch window still reach them.
    const C = '333333333333';
    const doc = DynamoDBDocumentClient.from(db.client);
    const rows = Array.from({ length: 5 }, (_, i) => ({
      managedInstanceId: `mi-c${String(i).padStart(16, '0')}`,
      agencyAccountId: C,
      lastSyncAt: NOW.toISOString(),
    }));
    for (const Item of rows) await doc.send(new PutCommand({ TableName: TABLE, Item }));
    try {
      const ctx = testContext(NOW);
      ctx.awsConfig = { dynamodb: { endpoint } };
      expect(await status(['--json'], ctx), ctx.stderrText()).toBe(0);
      const report = JSON.parse(ctx.stdoutText());
      expect(report.agencies.map((a: { account: string }) => a.account)).toEqual([A, B, C]);
      const c = report.agencies.find((a: { account: string }) => a.account === C);
      expect(c).toMatchObject({ permissionsStack: 'NOT_FOUND', syncedNodes: 5 });
      expect(report.regions[0]).toMatchObject({ managedNodes: 850, syncedNodes: 35 });
      expect(report.warnings).toContain(
        `agency ${C}: no permissions stack, but 5 node(s) in the sync-state table (offboarded? its nodes are still managed and tagged as its own; see \`ssm-hub nodes --agencies ${C}\`)`,
      );
    } finally {
      for (const { managedInstanceId } of rows)
        await doc.send(new DeleteCommand({ TableName: TABLE, Key: { managedInstanceId } }));
    }
  });

  it('counts page by page, with a warning, where ListNodesSummary is refused', async () => {
    ssm
      .on(ListNodesSummaryCommand)
      .rejects(Object.assign(new Error('not supported here'), { name: 'UnsupportedOperationException' }));
    const ctx = testContext(NOW);
    ctx.awsConfig = { dynamodb: { endpoint } };
    const code = await status(['--agencies', A, '--regions', 'us-west-2', '--json'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    const report = JSON.parse(ctx.stdoutText());
    expect(report.regions[0].managedNodes).toBe(120);
    expect(ssm.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(3);
    expect(report.warnings).toContain(
      'ListNodesSummary in us-west-2 failed (UnsupportedOperationException: not supported here); counted node by node instead',
    );
  });

  it('prints the same findings for people, with WARNING lines', async () => {
    const ctx = testContext(NOW);
    ctx.awsConfig = { dynamodb: { endpoint } };
    const code = await status(['--agencies', A], ctx);
    expect(code, ctx.stdoutText()).toBe(0);
    const out = ctx.stdoutText();
    expect(out).toMatch(
      new RegExp(
        `${A}\\s+UPDATE_COMPLETE\\s+2026-06-04 12:00 \\(3d\\)\\s+312/1000\\s+us-east-1:SUCCEEDED\\s+us-east-1:RUNNING\\s+30\\s+2026-06-01T11:59:00.000Z\\s+2`,
      ),
    );
    expect(out).toMatch(/us-east-1\s+850\s+-\s+1000\s+85%/);
    expect(out).toContain(`WARNING: agency ${A}: activation a-cur expires in 3 days`);
    expect(out).toContain('WARNING: us-east-1: 850 managed nodes is 85% of the 1000-node standard-tier limit');
    expect(out).toContain(`last error for ${A} (mi-00000000000000004`);
    expect(out).not.toContain(B);
  });

  it('exits 1 and says what it could not read when an AWS call is denied', async () => {
    ssm.on(DescribeActivationsCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: ssm:DescribeActivations'), {
        name: 'AccessDeniedException',
      }),
    );
    const ctx = testContext(NOW);
    ctx.awsConfig = { dynamodb: { endpoint } };
    const code = await status(['--agencies', A], ctx);
    expect(code).toBe(1);
    expect(ctx.stdoutText()).toContain(
      'ERROR: could not read activations (access-denied): AccessDeniedException: User is not authorized to perform: ssm:DescribeActivations',
    );
  });

  it('does not claim a collector has no registration instance when the registration StackSet could not be read or does not exist', async () => {
    const denied = Object.assign(new Error('User is not authorized to perform: cloudformation:ListStackInstances'), {
      name: 'AccessDeniedException',
      $metadata: { httpStatusCode: 403 },
    });
    const missing = Object.assign(new Error('StackSet ssm-hub-agency-registration not found'), {
      name: 'StackSetNotFoundException',
      $metadata: { httpStatusCode: 404 },
    });
    for (const answer of [denied, missing]) {
      cfn.on(ListStackInstancesCommand, { StackSetName: 'ssm-hub-agency-registration' }).rejects(answer);
      const ctx = testContext(NOW);
      ctx.awsConfig = { dynamodb: { endpoint } };
      await status(['--regions', 'us-east-1', '--json'], ctx);
      const report = JSON.parse(ctx.stdoutText());
      expect([...report.errors, ...report.warnings].join('\n')).toContain('ssm-hub-agency-registration');
      expect(report.warnings.filter((w: string) => w.includes('has no registration stack instance'))).toEqual([]);
    }
  });
});
