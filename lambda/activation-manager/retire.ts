// Retiring replaced activations, which keeps the record bounded however often the agency rotates:
// each replaced activation is deleted once its grace period is over (or it expired, or too many
// wait), and its ID stays in knownActivationIds only while a node registered with it exists (the
// tag manager's ownership proof, the orphan sweep, offboarding and the quota count find the
// agency's nodes by those IDs). Used by the scheduled rotation and by a stack's new activation.
import type { ActivationRecord } from '../shared/activation-record.ts';
import { log } from '../shared/log.ts';
import { step } from './errors.ts';
import { droppableKnownIds, previousToDelete, withoutKnown, withoutPrevious } from './rules.ts';
import { activationIdsInUse, deleteActivation, type CallOptions } from './ssm-io.ts';

export interface Retired {
  record: ActivationRecord;
  /** Activations deleted now (one SSM no longer knew is dropped from the record but not counted). */
  deleted: number;
  /** Dropped from `previous` in this call: their nodes may not be listed yet, so their IDs stay. */
  removed: ReadonlySet<string>;
  /** Why a deletion failed; that activation stays in `previous` for the next run. */
  errors: string[];
}

/** Deletes the previous activations that are due (rules.previousToDelete) and drops them from `previous`. */
export async function retireReplaced(
  record: ActivationRecord,
  now: Date,
  describe: (err: unknown) => string,
  opts: CallOptions = {},
): Promise<Retired> {
  const agencyAccountId = record.agencyAccountId;
  const removed = new Set<string>();
  const errors: string[] = [];
  let deleted = 0;
  for (const activationId of previousToDelete(record, now)) {
    try {
      const result = await step('DeleteActivation', () => deleteActivation(activationId, opts));
      removed.add(activationId);
      if (result === 'deleted') deleted++;
      log('INFO', result === 'deleted' ? 'replaced activation deleted' : 'replaced activation already gone', {
        agencyAccountId,
        activationId,
      });
    } catch (err) {
      const error = describe(err);
      errors.push(error);
      log('ERROR', 'could not delete a replaced activation', { agencyAccountId, activationId, error });
    }
  }
  return { record: removed.size > 0 ? withoutPrevious(record, removed) : record, deleted, removed, errors };
}

/**
 * Drops the known IDs of deleted activations that no registered node carries any more. `keep`:
 * IDs to hold on to regardless (activations deleted in this run). When SSM cannot be asked, the
 * record is kept as it is (a WARN): pruning waits for the next write.
 */
export async function pruneKnownIds(
  record: ActivationRecord,
  keep: ReadonlySet<string>,
  describe: (err: unknown) => string,
  opts: CallOptions = {},
): Promise<ActivationRecord> {
  const candidates = droppableKnownIds(record, keep);
  if (candidates.length === 0) return record;
  try {
    const inUse = await step('DescribeInstanceInformation', () => activationIdsInUse(candidates, opts));
    const unused = candidates.filter((id) => !inUse.has(id));
    return unused.length > 0 ? withoutKnown(record, new Set(unused)) : record;
  } catch (err) {
    log('WARN', 'could not check which old activations still have nodes; their IDs are kept', {
      agencyAccountId: record.agencyAccountId,
      error: describe(err),
    });
    return record;
  }
}
