// Who a `run` may reach: pure rules, so each is tested from a table. The first target is always
// the ownership key (with the chosen agencies as its values), and every other target is ANDed with
// it by Run Command. A target kind whose reach the hub cannot check is refused before any call.
import type { Target } from '@aws-sdk/client-ssm';
import { UsageError } from '../kit/index.ts';
import { ACCOUNT_ID } from '../kit/validate.ts';
import type { FleetKeys } from './fleet.ts';

/** SendCommand takes at most 5 targets (SSM API reference, SendCommand Targets). */
export const MAX_TARGETS = 5;
/** SendCommand InstanceIds / a Targets value list: at most 50 entries. */
export const MAX_TARGET_VALUES = 50;
const NODE_ID = /^mi-[0-9a-f]{17}$/;

export interface ParsedTarget {
  key: string;
  values: string[];
}

/** `KEY=V1,V2` as given to --target. */
export function parseTarget(raw: string): ParsedTarget {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new UsageError(`--target: "${raw}" must look like KEY=VALUE[,VALUE…] (such as tag:Env=prod)`);
  const values = raw
    .slice(eq + 1)
    .split(',')
    .map((s) => s.trim());
  if (values.some((s) => s === '')) throw new UsageError(`--target: "${raw}" has an empty value`);
  if (values.length > MAX_TARGET_VALUES)
    throw new UsageError(`--target: "${raw.slice(0, eq)}" has ${values.length} values (at most ${MAX_TARGET_VALUES})`);
  return { key: raw.slice(0, eq), values };
}

/**
 * Why a target is refused, or undefined when it stays inside the hub: tag targets are ANDed with
 * the ownership key; node IDs must each be a hub node; anything else (resource groups, every
 * instance, parameter values) could reach nodes no agency owns.
 */
export function targetProblem(
  t: ParsedTarget,
  keys: FleetKeys,
  hubNodeIds: ReadonlySet<string> | undefined,
): string | undefined {
  if (t.key === 'tag-key' || t.key.startsWith('tag:')) {
    const tagKey = t.key === 'tag-key' ? undefined : t.key.slice(4);
    if (tagKey === '') return `"${t.key}" names no tag key`;
    if (tagKey === keys.ownership || (t.key === 'tag-key' && t.values.includes(keys.ownership)))
      return `the ownership key ${keys.ownership} is set by --agency, not --target`;
    return undefined;
  }
  if (t.key.toLowerCase() === 'instanceids') {
    for (const id of t.values) {
      if (!NODE_ID.test(id)) return `"${id}" is not a managed node ID (mi- and 17 hex digits)`;
      if (hubNodeIds && !hubNodeIds.has(id))
        return `${id} is not a node of the hub's agencies (no ownership tag, or another agency's)`;
    }
    return undefined;
  }
  return `"${t.key}" targets could reach nodes outside the hub's agencies; use tag:KEY, tag-key or InstanceIds`;
}

/**
 * The SendCommand targets: ownership first, then the checked targets. Without `hubNodeIds` (before
 * the hub's nodes are read) node IDs are checked for form only.
 */
export function runTargets(
  keys: FleetKeys,
  agencies: readonly string[] | undefined,
  targets: readonly ParsedTarget[],
  hubNodeIds?: ReadonlySet<string>,
): Target[] {
  if (!agencies?.length && !targets.length)
    throw new UsageError('give --agency, --target or both: a run never goes to the whole account');
  if ((agencies?.length ?? 0) > MAX_TARGET_VALUES)
    throw new UsageError(
      `--agency: at most ${MAX_TARGET_VALUES} agencies in one run (a target holds ${MAX_TARGET_VALUES} values)`,
    );
  for (const a of agencies ?? [])
    if (!ACCOUNT_ID.test(a)) throw new UsageError(`--agency: "${a}" is not an AWS account ID (exactly 12 digits)`);
  if (targets.length > MAX_TARGETS - 1)
    throw new UsageError(
      `--target: at most ${MAX_TARGETS - 1} targets (SendCommand takes ${MAX_TARGETS}, one is ownership)`,
    );
  for (const t of targets) {
    const problem = targetProblem(t, keys, hubNodeIds);
    if (problem) throw new UsageError(`--target ${t.key}: refused: ${problem}`);
  }
  const ownership: Target = agencies?.length
    ? { Key: `tag:${keys.ownership}`, Values: [...agencies] }
    : { Key: 'tag-key', Values: [keys.ownership] };
  return [ownership, ...targets.map((t) => ({ Key: t.key, Values: [...t.values] }))];
}
