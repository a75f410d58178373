// Reads nodes' current SSM tags for the drift pass and for first syncs: in bulk through the
// Tagging API, then node by node (ListTagsForResource) for every node the bulk read did not
// return or whose bulk answer disagrees with what the table says was last applied (bulk answers
// can lag behind changes), so nothing is ever written on a possibly stale answer.
import { log } from '../shared/log.ts';
import { agreesWithLastApplied, type Tags } from '../shared/tag-rules.ts';
import type { OpContext } from './context.ts';
import { mapPool } from '../shared/pool.ts';
import { errorName, errorReason, listTags } from './ssm-io.ts';
import { bulkNodeTags } from './tagging-io.ts';

/** A node's current tags (undefined: SSM does not know the node), or why they could not be read. */
export type CurrentTags = { ok: true; tags: Tags | undefined } | { ok: false; reason: string };

export interface CurrentTagsWanted {
  managedInstanceId: string;
  /** The fingerprint the table records as last applied; undefined when nothing was applied yet. */
  lastAppliedFingerprint: string | undefined;
}

export async function readCurrentTags(
  ctx: OpContext,
  wanted: readonly CurrentTagsWanted[],
): Promise<Map<string, CurrentTags>> {
  const result = new Map<string, CurrentTags>();
  if (wanted.length === 0) return result;
  let bulk = new Map<string, Tags>();
  try {
    bulk = await bulkNodeTags(
      ctx.tagging,
      ctx.hub,
      wanted.map((w) => w.managedInstanceId),
    );
  } catch (err) {
    // The bulk read is an optimisation: without it (throttled, not permitted) every node is read alone.
    log('WARN', 'bulk tag read failed; reading node by node', { error: errorName(err), requestId: ctx.requestId });
  }
  const oneByOne: string[] = [];
  for (const w of wanted) {
    const tags = bulk.get(w.managedInstanceId);
    if (tags && agreesWithLastApplied(tags, w.lastAppliedFingerprint, ctx.config.reservedTagPrefix))
      result.set(w.managedInstanceId, { ok: true, tags });
    else oneByOne.push(w.managedInstanceId);
  }
  await mapPool(oneByOne, ctx.config.ssmConcurrency, async (id) => {
    try {
      result.set(id, { ok: true, tags: await listTags(ctx.ssm, id) });
    } catch (err) {
      result.set(id, { ok: false, reason: errorReason(err) });
    }
  });
  return result;
}
