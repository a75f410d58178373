// Agency membership follows the organization: a pass makes the onboarded agencies (their
// permissions stacks) equal to the ACTIVE accounts in the configured OUs plus the explicit list.
// Joins get the same stack `ssm-hub onboard` deploys; leavers are offboarded after the grace
// period, their nodes deregistered or kept and reported. Every change is logged and counted; any
// failure fails the run, so the function's Errors alarm (and MembershipFailures) fire.
import { emitMetrics, log } from '../shared/log.ts';
import { HandlerError } from '../shared/errors.ts';
import { listOf, type LifecycleConfig } from './config.ts';
import { LIFECYCLE_ENVIRONMENT } from '../../contract/environment.ts';
import {
  accountsUnder,
  createAgencyStack,
  deleteAgencyStack,
  onboardedAgencies,
  readMarks,
  writeMarks,
} from './membership-io.ts';
import { membershipPlan, type MembershipPlan } from './membership-rules.ts';
import { offboardNodes, type LeaverCounts } from './leaver-nodes.ts';

export class MembershipError extends HandlerError {
  override readonly name = 'MembershipError';
}

export interface MembershipSummary extends LeaverCounts {
  dryRun: boolean;
  desired: number;
  plan: MembershipPlan;
  failures: string[];
}

/**
 * The accounts that should be agencies, and those the OUs still hold that are not ACTIVE; refuses
 * no OUs and no accounts, and an empty answer for configured OUs.
 */
async function desiredAccounts(
  cfg: LifecycleConfig,
  hubAccount: string,
): Promise<{ desired: Set<string>; held: Set<string> }> {
  const ous = listOf(cfg.agencyOus);
  // Nothing configured is a set-up mistake, not an organization without agencies: read as
  // "no member", it would mark every agency as gone.
  if (!ous.length && !listOf(cfg.agencyAccounts).length)
    throw new MembershipError(
      `${LIFECYCLE_ENVIRONMENT.agencyOus.name} and ${LIFECYCLE_ENVIRONMENT.agencyAccounts.name} are both empty: no agency is configured; nothing changed`,
    );
  // The hub's own account is never an agency, so it counts for nothing in either check below.
  const listed = ous.length ? await accountsUnder(ous) : { active: new Set<string>(), inactive: new Set<string>() };
  const fromOus = listed.active;
  fromOus.delete(hubAccount);
  // An empty OU answer is far likelier a wrong ID or a missing permission than an empty
  // organization: refused whatever AGENCY_ACCOUNTS adds, or every OU agency would be marked gone.
  if (ous.length && fromOus.size === 0)
    throw new MembershipError(
      `no ACTIVE account under ${ous.join(', ')} other than the hub's ${hubAccount}; nothing changed`,
    );
  const desired = new Set([...fromOus, ...listOf(cfg.agencyAccounts)]);
  desired.delete(hubAccount);
  if (desired.size === 0)
    throw new MembershipError(
      `${LIFECYCLE_ENVIRONMENT.agencyAccounts.name} names no account other than the hub's ${hubAccount}; nothing changed`,
    );
  return { desired, held: listed.inactive };
}

/**
 * Runs one change; true when it was made. In dry-run only `preview` runs (reads, logs, counts) and
 * the change is logged as not done but still counted as what the pass would have done.
 */
async function act(
  label: string,
  account: string,
  s: MembershipSummary,
  fn: () => Promise<unknown>,
  preview?: () => Promise<unknown>,
): Promise<boolean> {
  try {
    if (s.dryRun) await preview?.();
    else await fn();
    log('INFO', s.dryRun ? `${label} (dry run: not done)` : label, { agencyAccountId: account });
    return true;
  } catch (err) {
    s.failures.push(`${label} ${account}: ${(err as Error).name}`);
    log('ERROR', `${label} failed`, {
      agencyAccountId: account,
      error: (err as Error).name,
      message: String((err as Error).message).slice(0, 300),
    });
    return false;
  }
}

/** What the pass starts from; a refusal or failed read stops it before any change, logged and counted. */
async function readState(cfg: LifecycleConfig, hubAccount: string) {
  try {
    const { desired, held } = await desiredAccounts(cfg, hubAccount);
    const onboarded = await onboardedAgencies(cfg.agencyStackPrefix);
    const marks = await readMarks(cfg.syncTableName, cfg.membershipMode === 'dry-run');
    return { desired, held, onboarded, marks };
  } catch (err) {
    const e = err as Error;
    log('ERROR', 'membership pass refused: nothing changed', {
      error: e.name,
      message: String(e.message).slice(0, 300),
    });
    emitMetrics(cfg.metricNamespace, { Service: 'FleetLifecycle' }, { MembershipFailures: { value: 1 } });
    throw err;
  }
}

export async function runMembership(
  cfg: LifecycleConfig,
  hubAccount: string,
  now = new Date(),
): Promise<MembershipSummary> {
  const { desired, held, onboarded, marks } = await readState(cfg, hubAccount);
  const plan = membershipPlan({ desired, held, onboarded, missingSince: marks }, now, cfg.graceHours);
  const s: MembershipSummary = {
    dryRun: cfg.membershipMode === 'dry-run',
    desired: desired.size,
    plan,
    nodesDeregistered: 0,
    nodesKept: 0,
    nodesLeftAlone: 0,
    rowsRemoved: 0,
    rowsKept: 0,
    failures: [],
  };
  let joined = 0;
  let offboarded = 0;
  for (const a of plan.join)
    if (await act('agency joined: onboarding', a, s, () => createAgencyStack(cfg, a))) joined++;
  for (const a of plan.retry) {
    // Onboarding failed (the stack's events say why): a failure of this pass, so the alarm fires.
    s.failures.push(`stack of agency ${a} is ${onboarded.get(a)}`);
    log('ERROR', 'agency stack failed', { agencyAccountId: a, stackStatus: onboarded.get(a) });
    await act('agency stack failed: deleting it to retry', a, s, () => deleteAgencyStack(cfg, a));
  }
  for (const a of plan.held)
    log('WARN', 'agency account is in the OUs but not ACTIVE (suspended or closing): kept, not offboarded', {
      agencyAccountId: a,
    });
  for (const a of plan.mark)
    log('WARN', 'agency left the OUs: offboarding after the grace period', {
      agencyAccountId: a,
      graceHours: cfg.graceHours,
    });
  for (const a of plan.leave) {
    const offboard = async () => {
      // Throws for an unreadable activation record: the stack then stays, the mark too (next pass).
      await offboardNodes(cfg, a, s, false);
      await deleteAgencyStack(cfg, a);
    };
    const done = await act('agency gone for the grace period: offboarding', a, s, offboard, () =>
      offboardNodes(cfg, a, s, true),
    );
    if (done) offboarded++;
  }
  // A leaver keeps its mark until its stack is gone (the plan then unmarks it): a failed or
  // still-running delete is tried again without a new grace period.
  // Dry-run writes its own marks (membership-io.ts), never the ones enabled mode acts on.
  if (plan.mark.length || plan.unmark.length) {
    const next = new Map(marks);
    for (const a of plan.mark) next.set(a, now);
    for (const a of plan.unmark) next.delete(a);
    await writeMarks(cfg.syncTableName, next, s.dryRun);
  }
  emitMetrics(
    cfg.metricNamespace,
    { Service: 'FleetLifecycle' },
    {
      AgenciesJoined: { value: joined },
      AgenciesMarkedGone: { value: plan.mark.length },
      AgenciesNotActive: { value: plan.held.length },
      AgenciesOffboarded: { value: offboarded },
      LeaverNodesDeregistered: { value: s.nodesDeregistered },
      LeaverNodesKept: { value: s.nodesKept },
      LeaverNodesLeftAlone: { value: s.nodesLeftAlone },
      LeaverRowsKept: { value: s.rowsKept },
      MembershipFailures: { value: s.failures.length },
    },
  );
  log(s.failures.length ? 'ERROR' : 'INFO', 'membership pass finished', { ...s, failures: s.failures.slice(0, 20) });
  if (s.failures.length)
    throw new MembershipError(`membership: ${s.failures.length} failure(s): ${s.failures.slice(0, 5).join('; ')}`);
  return s;
}
