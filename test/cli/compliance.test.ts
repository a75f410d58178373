// compliance against mocked SSM and Tagging API clients with paginated answers (fleet-fixture.ts).
import { describe, expect, it } from 'vitest';
import {
  DescribeInstanceInformationCommand,
  DescribeInstancePatchStatesCommand,
  ListResourceComplianceSummariesCommand,
  ListTagsForResourceCommand,
} from '@aws-sdk/client-ssm';
import { GetResourcesCommand } from '@aws-sdk/client-resource-groups-tagging-api';
import { main as compliance } from '../../scripts/ops/compliance.ts';
import { complianceRows, isStale } from '../../scripts/ops/compliance-model.ts';
import type { HubNode } from '../../scripts/ops/fleet.ts';
import { mocksEachTest, testContext } from './helpers.ts';
import { A, B, mi, mockFleet, NOW, OWN } from './fleet-fixture.ts';

const mocks = mocksEachTest(mockFleet);

const run = async (...argv: string[]) => {
  const ctx = testContext(NOW);
  const code = await compliance(argv, ctx);
  return { code, ctx, out: ctx.stdoutText() };
};
const json = async (...argv: string[]) => {
  const r = await run(...argv, '--json');
  expect(r.code, r.ctx.stderrText()).toBe(0);
  return JSON.parse(r.out);
};

describe('compliance', () => {
  it('counts each agency in each Region over every page of every API', async () => {
    const m = await json('--regions', 'us-east-1');
    expect(m.agencies).toEqual([
      {
        agency: A,
        region: 'us-east-1',
        nodes: 3,
        patch: { compliant: 1, nonCompliant: 1, unknown: 1 },
        association: { compliant: 1, nonCompliant: 1, unknown: 1 },
        criticalMissing: 2,
        securityMissing: 3,
        staleScans: 1,
        connectionLost: 0,
        notReporting: 1,
      },
      {
        agency: B,
        region: 'us-east-1',
        nodes: 2,
        patch: { compliant: 1, nonCompliant: 0, unknown: 1 },
        association: { compliant: 0, nonCompliant: 0, unknown: 2 },
        criticalMissing: 0,
        securityMissing: 0,
        staleScans: 1,
        connectionLost: 1,
        notReporting: 1,
      },
    ]);
    expect(m.totals).toMatchObject({ nodes: 5, criticalMissing: 2, notReporting: 2 });
    // The whole account, for scale: the outside node's non-compliant patch scan is counted there only.
    expect(m.account).toEqual([
      { region: 'us-east-1', complianceType: 'Association', compliant: 1, nonCompliant: 1 },
      { region: 'us-east-1', complianceType: 'Patch', compliant: 2, nonCompliant: 2 },
    ]);
    // Paged: 4 indexed nodes in 2 GetResources pages, 5 nodes in 3 DescribeInstanceInformation pages,
    // 6 summaries (the outside node's included) in 2 pages of 3.
    expect(mocks.tagging.commandCalls(GetResourcesCommand)).toHaveLength(2);
    expect(mocks.ssm.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(3);
    expect(mocks.ssm.commandCalls(ListResourceComplianceSummariesCommand)).toHaveLength(2);
  });

  it('never counts a node without the ownership tag, even when SSM reports it non-compliant', async () => {
    const m = await json();
    expect(m.totals.nodes).toBe(5);
    expect(m.totals.criticalMissing).toBe(2); // the outside node's 9 critical patches are not there
    const asked = mocks.ssm
      .commandCalls(DescribeInstancePatchStatesCommand)
      .flatMap((c) => c.args[0].input.InstanceIds);
    expect(asked).not.toContain(mi(0xfff));
  });

  it('reads a node the Tagging API has not indexed yet with ListTagsForResource', async () => {
    await json();
    expect(mocks.ssm.commandCalls(ListTagsForResourceCommand).map((c) => c.args[0].input.ResourceId)).toEqual([mi(5)]);
  });

  it('keeps to the agencies given with --agency, in the tag filters sent to AWS too', async () => {
    const m = await json('--agency', B);
    expect(m.agencies.map((a: { agency: string }) => a.agency)).toEqual([B]);
    expect(mocks.tagging.commandCalls(GetResourcesCommand)[0]!.args[0].input.TagFilters).toEqual([
      { Key: OWN, Values: [B] },
    ]);
    expect(mocks.ssm.commandCalls(DescribeInstanceInformationCommand)[0]!.args[0].input.Filters).toEqual([
      { Key: `tag:${OWN}`, Values: [B] },
    ]);
  });

  it('reads each Region given with --regions, and only the Region given with --region', async () => {
    const both = await json('--regions', 'us-east-1,us-west-2');
    expect(both.agencies.map((a: { agency: string; region: string }) => `${a.agency}/${a.region}`)).toEqual([
      `${A}/us-east-1`,
      `${B}/us-east-1`,
      `${B}/us-west-2`,
    ]);
    const west = await json('--region', 'us-west-2');
    expect(west.agencies).toEqual([expect.objectContaining({ agency: B, region: 'us-west-2', criticalMissing: 1 })]);
  });

  it('prints a table with one row per agency and Region and a total', async () => {
    const { code, out } = await run();
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^agency\s+region\s+nodes\s+patch ok\s+patch not ok/);
    expect(lines.find((l) => l.startsWith(A))).toMatch(/us-east-1\s+3\s+1 \(33%\)\s+1\s+1\s+1\s+2\s+3\s+1\s+0\s+1$/);
    expect(lines.find((l) => l.startsWith('total'))).toMatch(/\s5\s/);
    expect(out).toContain('whole account in us-east-1, hub or not: Patch 2 compliant, 2 non-compliant');
  });

  it('reports a Region it could not read and exits 1, with the other Regions still counted', async () => {
    mocks.ssm.on(DescribeInstanceInformationCommand).callsFake(async (_i, getClient) => {
      if ((await getClient().config.region()) === 'us-west-2')
        throw Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' });
      return { InstanceInformationList: [] };
    });
    const { code, out } = await run('--regions', 'us-east-1,us-west-2');
    expect(code).toBe(1);
    expect(out).toContain(
      'ERROR: could not read compliance in us-west-2: AccessDeniedException: User is not authorized',
    );
  });

  it.each([
    { argv: ['--agency', '12345'], error: '--agency: "12345" is not an AWS account ID' },
    { argv: ['--regions', 'mars-1'], error: '--regions: "mars-1" is not an AWS Region name' },
    { argv: ['--stale-hours', '0'], error: '--stale-hours: 0 is out of range' },
  ])('refuses $argv before any AWS call', async ({ argv, error }) => {
    const { code, ctx } = await run(...argv);
    expect(code).toBe(2);
    expect(ctx.stderrText()).toContain(error);
    expect(mocks.ssm.calls().length + mocks.tagging.calls().length).toBe(0);
  });
});

describe('a node deregistered while the fleet is read', () => {
  it('is left out, and the rest of the Region is reported', async () => {
    // mi(5) is the fixture's node the bulk tag index has not seen; SSM answers InvalidResourceId
    // for a node deregistered since DescribeInstanceInformation listed it (ListTagsForResource API reference).
    mocks.ssm
      .on(ListTagsForResourceCommand, { ResourceId: mi(5) })
      .rejects(Object.assign(new Error('The resource ID is not valid.'), { name: 'InvalidResourceId' }));
    const ctx = testContext(NOW);
    const code = await compliance(['--regions', 'us-east-1', '--json'], ctx);
    expect(code, ctx.stderrText()).toBe(0);
    // The whole fixture counts 5 hub nodes (the first test); the gone one is not among them now.
    expect(JSON.parse(ctx.stdoutText()).totals).toMatchObject({ nodes: 4 });
  });
});

describe('compliance rules', () => {
  it.each([
    { case: 'no scan at all', last: undefined, stale: true },
    { case: 'a scan an hour ago', last: '2026-06-01T11:00:00Z', stale: false },
    { case: 'exactly at the limit', last: '2026-05-30T12:00:00Z', stale: false },
    { case: 'just over the limit', last: '2026-05-30T11:59:00Z', stale: true },
    { case: 'an unreadable time', last: 'yesterday', stale: true },
  ])('calls $case stale: $stale', ({ last, stale }) => {
    expect(isStale(last, NOW, 48)).toBe(stale);
  });

  it('counts a node that is both stale and ConnectionLost once as not reporting', () => {
    const node: HubNode = { id: mi(1), region: 'r', agency: A, pingStatus: 'ConnectionLost' };
    const [row] = complianceRows([node], [], [], NOW, 48);
    expect(row).toMatchObject({ staleScans: 1, connectionLost: 1, notReporting: 1, patch: { unknown: 1 } });
  });

  it('treats an agency whose tag value is __proto__ as data', () => {
    const node: HubNode = { id: mi(1), region: 'r', agency: '__proto__', pingStatus: 'Online' };
    expect(complianceRows([node], [], [], NOW, 48)[0]!.agency).toBe('__proto__');
  });
});

describe('fleet filters', () => {
  it('reads by the ownership key and keeps the agencies afterwards when more agencies are asked for than a filter holds', async () => {
    const many = Array.from({ length: 21 }, (_, i) => String(300000000000 + i));
    const ctx = testContext(NOW);
    expect(await compliance(['--agency', [B, ...many].join(','), '--json'], ctx)).toBe(0);
    expect(mocks.tagging.commandCalls(GetResourcesCommand)[0]!.args[0].input.TagFilters).toEqual([{ Key: OWN }]);
    const m = JSON.parse(ctx.stdoutText());
    expect(m.agencies.map((a: { agency: string }) => a.agency)).toEqual([B]);
  });
});
