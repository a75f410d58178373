// Which rows of a change set destroy something, and what that means for the operator. A row is
// destructive when its Action is Remove, or Modify with Replacement True or Conditional
// (CloudFormation API reference, ResourceChange: "Replacement: True | False | Conditional";
// Conditional means "depends on a property value only known at execution"). deploy and onboard
// refuse to execute such a change set unless --allow-replacement is given.
import { flag } from '../kit/index.ts';

export interface ChangeRow {
  resource: string;
  type: string;
  action: string;
  replacement: string;
}

export const ALLOW_REPLACEMENT_FLAG = 'allow-replacement';

export const allowReplacementOption = (what: string) =>
  flag(ALLOW_REPLACEMENT_FLAG, `execute a change set that replaces or removes ${what} (refused without it)`);

/** True for a row that removes a resource or (maybe) replaces it with a new one. */
export const isDestructive = (c: Pick<ChangeRow, 'action' | 'replacement'>): boolean =>
  c.action === 'Remove' || (c.action === 'Modify' && (c.replacement === 'True' || c.replacement === 'Conditional'));

/**
 * What replacing or removing a resource that holds state does. The central stack's table, key and
 * log groups carry DeletionPolicy and UpdateReplacePolicy Retain (templates-src), so the old one is
 * kept, outside the stack, and a replacement starts empty.
 */
const STATEFUL: Record<string, string> = {
  'AWS::DynamoDB::Table': 'a new, empty table; the old table and its rows are retained (not deleted) outside the stack',
  'AWS::KMS::Key':
    'a new key; the old key is retained (not deleted) outside the stack, and data encrypted under it needs it',
  'AWS::Logs::LogGroup': 'a new, empty log group; the old one and its logs are retained outside the stack',
  'AWS::SQS::Queue': 'a new, empty queue; messages in the old queue are lost',
  'AWS::S3::Bucket': 'a new, empty bucket; the old bucket is kept or deleted by its DeletionPolicy',
};

/** Destructive rows on resources that hold state, each with what happens; pure, table-tested. */
export function statefulRisks(rows: ChangeRow[]): Array<ChangeRow & { effect: string }> {
  return rows
    .filter((r) => isDestructive(r) && r.type in STATEFUL)
    .map((r) => ({
      ...r,
      effect: `${r.action === 'Remove' ? 'removed from the stack' : `replaced (Replacement ${r.replacement})`}: ${STATEFUL[r.type]}`,
    }));
}

/** "A (T), B (T)": the destructive rows named for a refusal. */
export const nameRows = (rows: ChangeRow[]): string =>
  rows
    .map((r) => `${r.resource} (${r.type}, ${r.action === 'Remove' ? 'Remove' : `Replacement ${r.replacement}`})`)
    .join(', ');
