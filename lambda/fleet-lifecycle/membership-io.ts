// Organizations reads, agency permissions stacks (the same stack and template `ssm-hub onboard`
// deploys), and the marks of agencies that left, kept in one sync-table row (lifecycle#membership).
import {
  CreateStackCommand,
  DeleteStackCommand,
  paginateListStacks,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import { paginateListAccountsForParent, paginateListChildren } from '@aws-sdk/client-organizations';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { SYNC_TABLE } from '../shared/names.ts';
import { cfn, ddb, orgs } from './clients.ts';
import type { LifecycleConfig } from './config.ts';
import { ACCOUNT_ID_BODY } from '../../contract/patterns.ts';
import { accountsUnder as walkAccounts, type AccountsUnder } from '../../contract/organization.ts';

/** Every account under the OUs or roots, child OUs included, ACTIVE or not. */
export async function accountsUnder(parents: readonly string[]): Promise<AccountsUnder> {
  return walkAccounts(parents, {
    async *accounts(parent) {
      for await (const page of paginateListAccountsForParent({ client: orgs() }, { ParentId: parent }))
        yield (page.Accounts ?? []) as { Id?: string; State?: string; Status?: string }[];
    },
    async *childOus(parent) {
      const children = { ParentId: parent, ChildType: 'ORGANIZATIONAL_UNIT' as const };
      for await (const page of paginateListChildren({ client: orgs() }, children))
        yield (page.Children ?? []).flatMap((c) => (c.Id ? [c.Id] : []));
    },
  });
}

const LIVE_STATUSES: StackStatus[] = [
  'CREATE_IN_PROGRESS',
  'CREATE_FAILED',
  'CREATE_COMPLETE',
  'ROLLBACK_IN_PROGRESS',
  'ROLLBACK_FAILED',
  'ROLLBACK_COMPLETE',
  'DELETE_IN_PROGRESS',
  'DELETE_FAILED',
  'UPDATE_IN_PROGRESS',
  'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS',
  'UPDATE_COMPLETE',
  'UPDATE_FAILED',
  'UPDATE_ROLLBACK_IN_PROGRESS',
  'UPDATE_ROLLBACK_FAILED',
  'UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS',
  'UPDATE_ROLLBACK_COMPLETE',
  'IMPORT_IN_PROGRESS',
  'IMPORT_COMPLETE',
  'IMPORT_ROLLBACK_IN_PROGRESS',
  'IMPORT_ROLLBACK_FAILED',
  'IMPORT_ROLLBACK_COMPLETE',
];

/** Agencies with a permissions stack (<prefix><account>), onboarded by this function or the CLI. */
export async function onboardedAgencies(prefix: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const name = new RegExp(`^${prefix.replace(/[-]/g, '\\-')}(${ACCOUNT_ID_BODY})$`);
  for await (const page of paginateListStacks({ client: cfn() }, { StackStatusFilter: LIVE_STATUSES })) {
    for (const s of page.StackSummaries ?? []) {
      const m = name.exec(s.StackName ?? '');
      if (m) found.set(m[1]!, s.StackStatus ?? 'UNKNOWN');
    }
  }
  return found;
}

/** Creates the agency's permissions stack: its alias, invoke permission and activation. */
export async function createAgencyStack(cfg: LifecycleConfig, account: string): Promise<void> {
  try {
    await sendCreate(cfg, account);
  } catch (err) {
    // Created meanwhile (by `onboard`, or a pass that listed the stacks earlier): nothing to do.
    if ((err as { name?: string }).name !== 'AlreadyExistsException') throw err;
  }
}

async function sendCreate(cfg: LifecycleConfig, account: string): Promise<void> {
  await cfn().send(
    new CreateStackCommand({
      StackName: `${cfg.agencyStackPrefix}${account}`,
      TemplateBody: cfg.agencyTemplateBody,
      Parameters: [
        { ParameterKey: 'AgencyAccountId', ParameterValue: account },
        { ParameterKey: 'CentralManagerStackName', ParameterValue: cfg.centralStackName },
      ],
      RoleARN: cfg.stackRoleArn,
      // Kept for the next run to see, report and retry (a deleted failure would hide the reason).
      OnFailure: 'ROLLBACK',
    }),
  );
}

/** Deletes the agency's permissions stack: its activations and record go with it. */
export async function deleteAgencyStack(cfg: LifecycleConfig, account: string): Promise<void> {
  await cfn().send(
    new DeleteStackCommand({ StackName: `${cfg.agencyStackPrefix}${account}`, RoleARN: cfg.stackRoleArn }),
  );
}

/** One row, key lifecycle#membership, maps each agency gone from the OUs to when it was first missed. */
const MARKS_KEY = 'lifecycle#membership';
/**
 * Dry-run keeps its own marks, so its preview follows the grace period too, while a later switch
 * to enabled starts every grace period afresh instead of acting at once on marks it never made.
 */
const DRY_RUN_MARKS_KEY = 'lifecycle#membership-dry-run';
const marksKey = (dryRun: boolean) => ({ [SYNC_TABLE.partitionKey]: dryRun ? DRY_RUN_MARKS_KEY : MARKS_KEY });

export async function readMarks(table: string, dryRun = false): Promise<Map<string, Date>> {
  const out = await ddb().send(new GetCommand({ TableName: table, Key: marksKey(dryRun), ConsistentRead: true }));
  const raw = (out.Item?.missingSince ?? {}) as Record<string, unknown>;
  const marks = new Map<string, Date>();
  for (const [account, at] of Object.entries(raw))
    if (typeof at === 'string' && !Number.isNaN(Date.parse(at))) marks.set(account, new Date(at));
  return marks;
}

export async function writeMarks(table: string, marks: ReadonlyMap<string, Date>, dryRun = false): Promise<void> {
  const missingSince = Object.fromEntries([...marks].map(([a, d]) => [a, d.toISOString()]));
  await ddb().send(new PutCommand({ TableName: table, Item: { ...marksKey(dryRun), missingSince } }));
}
