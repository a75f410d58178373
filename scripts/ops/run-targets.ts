// Who a `run` may reach: pure rules, so each is tested from a table. A run is either tag targets
// (the ownership key first, with at most 5 agencies as its values, every other target ANDed with it
// by Run Command; more agencies make one command per group of 5) or node IDs alone (SendCommand's
// InstanceIds, checked live against the agencies before anything is sent). A target kind whose
// reach the hub cannot check is refused before any call.
import type { Target } from '@aws-sdk/client-ssm';
import { UsageError } from '../kit/index.ts';
import { ACCOUNT_ID } from '../kit/validate.ts';
import { SEND_COMMAND_LIMITS } from '../../contract/run-command.ts';
import type { FleetKeys } from './fleet.ts';

/** SendCommand takes at most 5 targets (SSM API reference, SendCommand Targets). */
export const MAX_TARGETS = SEND_COMMAND_LIMITS.targets;
/** Values of one tag target (Run Command user guide: "5 values for each key"). */
export const MAX_TAG_VALUES = SEND_COMMAND_LIMITS.valuesPerTagKey;
/** SendCommand InstanceIds: at most 50 (SSM API reference, SendCommand). */
export const MAX_INSTANCE_IDS = SEND_COMMAND_LIMITS.instanceIds;
/** Agencies in one run: ten commands of five; a longer list is more likely a mistake than a plan. */
export const MAX_AGENCIES = 50;
const NODE_ID = /^mi-[0-9a-f]{17}$/;
const isInstanceIds = (key: string) => key.toLowerCase() === 'instanceids';

export interface ParsedTarget {
  key: string;
  values: string[];
}

/** `KEY=V1,V2` as given to --target. */
export function parseTarget(raw: string): ParsedTarget {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new UsageError(`--target: "${raw}" must look like KEY=VALUE[,VALUE…] (such as tag:Env=prod)`);
  const key = raw.slice(0, eq);
  const values = raw
    .slice(eq + 1)
    .split(',')
    .map((s) => s.trim());
  if (values.some((s) => s === '')) throw new UsageError(`--target: "${raw}" has an empty value`);
  const max = isInstanceIds(key) ? MAX_INSTANCE_IDS : MAX_TAG_VALUES;
  const rule = isInstanceIds(key)
    ? 'SendCommand takes at most 50 node IDs'
    : 'Run Command takes at most 5 values for each tag key';
  if (values.length > max) throw new UsageError(`--target ${key}: ${values.length} values, refused: ${rule}`);
  return { key, values };
}

/**
 * Why a target is refused, or undefined when it stays inside the hub: tag targets are ANDed with
 * the ownership key; node IDs are checked here for form only (their owner is checked live in SSM);
 * anything else (resource groups, every instance, parameter values) could reach nodes no agency owns.
 */
export function targetProblem(t: ParsedTarget, keys: FleetKeys): string | undefined {
  if (t.key === 'tag-key' || t.key.startsWith('tag:')) {
    const tagKey = t.key === 'tag-key' ? undefined : t.key.slice(4);
    if (tagKey === '') return `"${t.key}" names no tag key`;
    if (tagKey === keys.ownership || (t.key === 'tag-key' && t.values.includes(keys.ownership)))
      return `the ownership key ${keys.ownership} is set by --agency, not --target`;
    return undefined;
  }
  if (isInstanceIds(t.key)) {
    for (const id of t.values) if (!NODE_ID.test(id)) return `"${id}" is not a managed node ID (mi- and 17 hex digits)`;
    return undefined;
  }
  return `"${t.key}" targets could reach nodes outside the hub's agencies; use tag:KEY, tag-key or InstanceIds`;
}

/** One SendCommand: tag targets (ownership first) for some agencies, or node IDs alone. */
export type RunBatch =
  | { kind: 'tags'; agencies?: string[]; targets: Target[] }
  | { kind: 'nodes'; agencies?: string[]; instanceIds: string[] };

/** Groups of at most `size`, in order. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function checkInput(keys: FleetKeys, agencies: readonly string[] | undefined, targets: readonly ParsedTarget[]) {
  if (!agencies?.length && !targets.length)
    throw new UsageError('give --agency, --target or both: a run never goes to the whole account');
  if ((agencies?.length ?? 0) > MAX_AGENCIES)
    throw new UsageError(
      `--agency: at most ${MAX_AGENCIES} agencies in one run (${MAX_AGENCIES / MAX_TAG_VALUES} commands of ${MAX_TAG_VALUES})`,
    );
  for (const a of agencies ?? [])
    if (!ACCOUNT_ID.test(a)) throw new UsageError(`--agency: "${a}" is not an AWS account ID (exactly 12 digits)`);
  if (targets.length > MAX_TARGETS - 1)
    throw new UsageError(
      `--target: at most ${MAX_TARGETS - 1} targets (SendCommand takes ${MAX_TARGETS}, one is ownership)`,
    );
  for (const t of targets) {
    const problem = targetProblem(t, keys);
    if (problem) throw new UsageError(`--target ${t.key}: refused: ${problem}`);
  }
}

/**
 * The SendCommands of a run. Node IDs go alone in InstanceIds (AWS documents InstanceIds or tag
 * targets, not both); tag targets go behind the ownership target, one command per group of at most
 * five agencies, each command's ownership target holding only its group.
 */
export function planBatches(
  keys: FleetKeys,
  agencies: readonly string[] | undefined,
  targets: readonly ParsedTarget[],
): RunBatch[] {
  checkInput(keys, agencies, targets);
  const ids = targets.filter((t) => isInstanceIds(t.key));
  const agencyList = agencies?.length ? [...agencies] : undefined;
  if (ids.length) {
    if (targets.length > 1)
      throw new UsageError(
        '--target InstanceIds: give it alone (SendCommand takes node IDs or tag targets, not both); --agency still checks the owner',
      );
    return [{ kind: 'nodes', agencies: agencyList, instanceIds: [...new Set(ids[0]!.values)] }];
  }
  const extra: Target[] = targets.map((t) => ({ Key: t.key, Values: [...t.values] }));
  if (!agencyList) return [{ kind: 'tags', targets: [{ Key: 'tag-key', Values: [keys.ownership] }, ...extra] }];
  return chunk(agencyList, MAX_TAG_VALUES).map((group) => ({
    kind: 'tags',
    agencies: group,
    targets: [{ Key: `tag:${keys.ownership}`, Values: group }, ...extra],
  }));
}
