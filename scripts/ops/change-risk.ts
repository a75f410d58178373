// Which rows of a change set destroy something, and what that means for the operator. A row is
// destructive when its Action is Remove (or Dynamic, or unknown), or Modify with Replacement True or Conditional
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

export const allowReplacementOption = (what: string, even = '') =>
  flag(
    ALLOW_REPLACEMENT_FLAG,
    `execute a change set that replaces or removes ${what}; without this flag it is not executed${even}`,
  );

/** Actions that never destroy (ResourceChange Action: Add | Modify | Remove | Import | Dynamic | SyncWithActual). */
const HARMLESS_ACTIONS = new Set(['Add', 'Import', 'SyncWithActual']);

/**
 * True for a row that removes a resource or (maybe) replaces it with a new one. Refused by default:
 * `Dynamic` ("exact action for the resource can't be determined") or any action AWS adds later
 * counts as destructive; only Add, Import, SyncWithActual and Modify with Replacement False do not.
 */
export const isDestructive = (c: Pick<ChangeRow, 'action' | 'replacement'>): boolean =>
  !(HARMLESS_ACTIONS.has(c.action) || (c.action === 'Modify' && c.replacement === 'False'));

/** What a replacement of a resource that holds state starts from; pure data. */
const STATEFUL: Record<string, string> = {
  'AWS::DynamoDB::Table': 'a new, empty table',
  'AWS::KMS::Key': 'a new key (data encrypted under the old key still needs the old key)',
  'AWS::Logs::LogGroup': 'a new, empty log group',
  'AWS::SQS::Queue': 'a new, empty queue',
  'AWS::S3::Bucket': 'a new, empty bucket',
  // The old resource's Delete handler deletes the agency's activation record and its activations.
  'Custom::AgencyActivation': "a new activation; the old one's Delete deletes the agency's activations",
};

/**
 * Whether a destructive row loses something: a removal, an undetermined action, or a replacement of
 * a resource that holds state. Replacing a stateless resource (a Lambda permission or alias) does
 * not, and CloudFormation reports it as Conditional whenever a property refers to another resource.
 */
export const losesState = (c: Pick<ChangeRow, 'action' | 'replacement' | 'type'>): boolean =>
  isDestructive(c) && (c.action !== 'Modify' || Object.hasOwn(STATEFUL, c.type));

/** Per logical ID, whether the deployed template retains it on removal (DeletionPolicy) and on replacement (UpdateReplacePolicy). */
export type Retention = Map<string, { onRemove: boolean; onReplace: boolean }>;

/**
 * The deployed template's retention policies (CloudFormation User Guide: DeletionPolicy applies
 * when a resource is removed from the template or the stack is deleted; UpdateReplacePolicy
 * applies to the old physical resource when an update replaces it). Pure; an unreadable body gives none.
 */
export function retentionOf(templateBody: string | undefined): Retention {
  const found: Retention = new Map();
  let resources: Record<string, { DeletionPolicy?: unknown; UpdateReplacePolicy?: unknown }> = {};
  try {
    resources = (JSON.parse(templateBody ?? '{}') as { Resources?: typeof resources }).Resources ?? {};
  } catch {
    return found; // not JSON (our templates are): no policy is assumed
  }
  for (const [id, r] of Object.entries(resources))
    found.set(id, { onRemove: r.DeletionPolicy === 'Retain', onReplace: r.UpdateReplacePolicy === 'Retain' });
  return found;
}

/**
 * Destructive rows on resources that hold state (a known stateful type, or one the deployed
 * template retains), each with what happens; pure, table-tested.
 */
export function statefulRisks(
  rows: ChangeRow[],
  retention: Retention = new Map(),
): Array<ChangeRow & { effect: string }> {
  const risks: Array<ChangeRow & { effect: string }> = [];
  for (const r of rows) {
    if (!isDestructive(r)) continue;
    const removed = r.action === 'Remove';
    const policy = retention.get(r.resource);
    const retained = removed ? policy?.onRemove : policy?.onReplace;
    const stateful = Object.hasOwn(STATEFUL, r.type);
    if (!stateful && !retained) continue;
    const effect = removed
      ? `removed from the stack: ${retained ? 'it is retained (not deleted), outside the stack' : 'it is deleted with its data'}`
      : `replaced (Replacement ${r.replacement}): ${stateful ? STATEFUL[r.type] : 'a new resource'}; ` +
        (retained
          ? 'the old one is retained (not deleted), outside the stack'
          : 'the old one is deleted with its data');
    risks.push({ ...r, effect });
  }
  return risks;
}

/** "A (T), B (T)": the destructive rows named for a refusal. */
export const nameRows = (rows: ChangeRow[]): string =>
  rows
    .map((r) => `${r.resource} (${r.type}, ${r.action === 'Modify' ? `Replacement ${r.replacement}` : r.action})`)
    .join(', ');
