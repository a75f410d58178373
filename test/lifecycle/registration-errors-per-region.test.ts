// An agency with collectors in several Regions: each Region's report replaces only its own list.
// The real tag manager handler writes the rows (through the harness's dynalite table); status and
// nodes read them back with their own readers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { LEGACY_REGISTRATION_ERRORS_MAX_AGE_HOURS } from '../../contract/names.ts';
import { AGENCY_A, AGENCY_B, ec2Id, startHarness, type Harness } from '../lambda/tag-manager/harness.ts';
import { registrationErrorSummary, registrationErrorRegionsText } from '../../scripts/ops/lifecycle-status.ts';
import { viewsOf } from '../../scripts/ops/nodes.ts';
import { guardReportedAt } from '../../lambda/fleet-lifecycle/sweep-rules.ts';

let hub: Harness;
beforeAll(async () => {
  hub = await startHarness();
});
afterAll(async () => {
  await hub.close();
});

const report = (agency: string, errors: Array<[number, string]>, region?: string) =>
  hub.invokeAs(agency, {
    op: 'report',
    ...(region ? { region } : {}),
    registrationErrors: errors.map(([n, error]) => ({ ec2InstanceId: ec2Id(n), error })),
  });
const summary = (agency: string) =>
  registrationErrorSummary(DynamoDBDocumentClient.from(hub.db.client), hub.db.tableName, agency);
const registrationErrorLines = async (agency: string) =>
  viewsOf(await hub.allItems(), new Date(), 24)
    .filter((v) => v.agency === agency && v.state === 'registration-error')
    .map((v) => [v.region ?? '(none)', v.ec2InstanceId, v.reason]);

describe('registration errors of an agency with collectors in more than one Region', () => {
  it("keeps us-east-1's errors when us-west-2 reports none, and status counts both Regions", async () => {
    expect(await report(AGENCY_A, [[1, 'agent not found']], 'us-east-1')).toEqual({ recorded: 1 });
    expect(await report(AGENCY_A, [], 'us-west-2')).toEqual({ recorded: 0 });
    const s = await summary(AGENCY_A);
    expect(s.registrationErrors).toBe(1);
    expect(s.registrationErrorsByRegion).toMatchObject([
      { region: 'us-east-1', count: 1 },
      { region: 'us-west-2', count: 0 },
    ]);
    expect(registrationErrorRegionsText(s.registrationErrorsByRegion)).toBe('us-east-1: 1');
    expect(await registrationErrorLines(AGENCY_A)).toEqual([['us-east-1', ec2Id(1), 'agent not found']]);
  });

  it("adds the Regions' errors up and shows each line with its Region", async () => {
    await report(
      AGENCY_A,
      [
        [2, 'activation expired'],
        [3, 'agent not found'],
      ],
      'us-west-2',
    );
    expect((await summary(AGENCY_A)).registrationErrors).toBe(3);
    expect(await registrationErrorLines(AGENCY_A)).toEqual([
      ['us-east-1', ec2Id(1), 'agent not found'],
      ['us-west-2', ec2Id(2), 'activation expired'],
      ['us-west-2', ec2Id(3), 'agent not found'],
    ]);
  });

  it("replaces a Region's own list on its next report (a fixed instance drops out)", async () => {
    await report(AGENCY_A, [], 'us-east-1');
    const s = await summary(AGENCY_A);
    expect(s.registrationErrors).toBe(2);
    expect(registrationErrorRegionsText(s.registrationErrorsByRegion)).toBe('us-west-2: 2');
  });

  it('keeps a collector that names no Region (an earlier release) in its own slot, replaced by its own reports', async () => {
    await report(AGENCY_A, [[7, 'old collector error']]);
    await report(AGENCY_A, [[8, 'old collector error 2']]);
    const s = await summary(AGENCY_A);
    expect(s.registrationErrors).toBe(3);
    expect(registrationErrorRegionsText(s.registrationErrorsByRegion)).toBe('us-west-2: 2, Region not named: 1');
    expect(await registrationErrorLines(AGENCY_A)).toContainEqual(['(none)', ec2Id(8), 'old collector error 2']);
    expect(await registrationErrorLines(AGENCY_A)).not.toContainEqual(['(none)', ec2Id(7), 'old collector error']);
  });

  it("keeps the orphan sweep's guard on the oldest Region's report", async () => {
    const row = (await hub.allItems()).find((r) => r.managedInstanceId === `regerr#${AGENCY_A}`);
    const times = [row!['reportedAt#us-east-1'], row!['reportedAt#us-west-2']].map((t) => Date.parse(t));
    expect(guardReportedAt(row)!.getTime()).toBe(Math.min(...times));
  });

  it("never touches another agency's lists", async () => {
    await report(AGENCY_B, [[9, 'b error']], 'us-east-1');
    await report(AGENCY_B, [], 'us-east-1');
    expect((await summary(AGENCY_A)).registrationErrors).toBe(3);
    expect((await summary(AGENCY_B)).registrationErrors).toBe(0);
  });
});

describe('the list of a collector that names no Region, once every collector names its Region', () => {
  const HOUR = 3_600_000;
  // The agency row as a collector of an earlier release left it: its list, and (from this hub on) its time.
  const plantLegacyList = async (legacyReportedAt?: Date) => {
    await DynamoDBDocumentClient.from(hub.db.client).send(
      new PutCommand({
        TableName: hub.db.tableName,
        Item: {
          managedInstanceId: `regerr#${AGENCY_B}`,
          reportedBy: AGENCY_B,
          registrationErrors: { [ec2Id(20)]: 'old collector error' },
          registrationErrorCount: 1,
          reportedAt: new Date().toISOString(),
          ...(legacyReportedAt ? { legacyReportedAt: legacyReportedAt.toISOString() } : {}),
        },
      }),
    );
  };
  it.each([
    { case: 'written by the earlier hub (no time of its own)', age: undefined, kept: false },
    { case: `older than ${LEGACY_REGISTRATION_ERRORS_MAX_AGE_HOURS} hours`, age: 25, kept: false },
    { case: 'reported within the day (the old collector still runs)', age: 23, kept: true },
  ])('is dropped by a Region report when $case: kept $kept', async ({ age, kept }) => {
    await plantLegacyList(age === undefined ? undefined : new Date(Date.now() - age * HOUR));
    await report(AGENCY_B, [[21, 'new error']], 'eu-west-1');
    const s = await summary(AGENCY_B);
    expect(registrationErrorRegionsText(s.registrationErrorsByRegion)).toBe(
      kept ? 'eu-west-1: 1, Region not named: 1' : 'eu-west-1: 1',
    );
  });
});
