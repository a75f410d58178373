// Agency membership follows the organization: a pass makes the onboarded agencies (their
// permissions stacks) equal to the ACTIVE accounts in the configured OUs plus the explicit list.
// Joins get the same stack `ssm-hub onboard` deploys; leavers are offboarded after the grace
// period, their nodes deregistered or kept and reported. Every change is logged and counted; any
// failure fails the run, so the function's Errors alarm (and MembershipFailures) fire.
import { emitMetrics, log } from '../shared/log.ts';
import { HandlerError } from '../shared/errors.ts';
import { listOf, type LifecycleConfig } from './config.ts';
import {
  accountsUnder,
  createAgencyStack,
  deleteAgencyStack,
  onboardedAgencies,
  readMarks,
  writeMarks,
} from './membership-io.ts';
import { membershipPlan, type MembershipPlan } from './membership-rules.ts';
import { deregister, listAgencyActivations, nodesOf, rowIdsOf } from './nodes-io.ts';

export class MembershipError extends HandlerError {
  override readonly name = 'MembershipError';
}

export interface MembershipSummary {
  dryRun: boolean;
  desired: number;
  plan: MembershipPlan;
  nodesDeregistered: number;
  nodesKept: number;
  failures: string[];
}

/** The accounts that should be agencies; refuses an empty answer for configured OUs. */
async function desiredAccounts(cfg: LifecycleConfig, hubAccount: string): Promise<Set<string>> {
  const ous = listOf(cfg.agencyOus);
  const desired = ous.length ? await accountsUnder(ous) : new Set<string>();
  // An empty OU answer is far likelier a wrong ID or a missing permission than an empty
  // organization: offboarding every agency on it would be a disaster.
  if (ous.length && desired.size === 0)
    throw new MembershipError(`no ACTIVE account under ${ous.join(', ')}; nothing changed`);
  for (const a of listOf(cfg.agencyAccounts)) desired.add(a);
  desired.delete(hubAccount);
  return desired;
}

/** A leaver's nodes: deregistered, or kept and reported, per the LEAVER_NODES setting. */
async function handleLeaverNodes(cfg: LifecycleConfig, account: string, s: MembershipSummary): Promise<void> {
  const agencies = await listAgencyActivations(cfg.activationParameterPrefix, () => undefined);
  const ids = agencies.find((a) => a.agencyAccountId === account)?.activationIds ?? [];
  const nodes = await nodesOf(ids);
  if (cfg.leaverNodes === 'keep') {
    s.nodesKept += nodes.length;
    log('WARN', 'agency offboarded; its managed nodes are kept', {
      agencyAccountId: account,
      nodes: nodes.length,
      managedInstanceIds: nodes.slice(0, 50).map((n) => n.managedInstanceId),
    });
    return;
  }
  // Rows of nodes already gone from SSM go too: the table keeps nothing of an offboarded agency.
  const gone = (await rowIdsOf(cfg.syncTableName, account)).filter(
    (id) => !nodes.some((n) => n.managedInstanceId === id),
  );
  for (const id of gone) await deregister(cfg.syncTableName, account, id);
  for (const n of nodes) {
    await deregister(cfg.syncTableName, account, n.managedInstanceId);
    s.nodesDeregistered++;
    log('INFO', 'node of an offboarded agency deregistered', {
      agencyAccountId: account,
      managedInstanceId: n.managedInstanceId,
      reason: 'agency-left',
    });
  }
}

/** Runs one change (or only logs it in dry-run); true when it was made. */
async function act(label: string, account: string, s: MembershipSummary, fn: () => Promise<unknown>): Promise<boolean> {
  if (s.dryRun) {
    log('INFO', `${label} (dry run: not done)`, { agencyAccountId: account });
    return false;
  }
  try {
    await fn();
    log('INFO', label, { agencyAccountId: account });
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

export async function runMembership(
  cfg: LifecycleConfig,
  hubAccount: string,
  now = new Date(),
): Promise<MembershipSummary> {
  const desired = await desiredAccounts(cfg, hubAccount);
  const onboarded = await onboardedAgencies(cfg.agencyStackPrefix);
  const marks = await readMarks(cfg.syncTableName);
  const plan = membershipPlan({ desired, onboarded, missingSince: marks }, now, cfg.graceHours);
  const s: MembershipSummary = {
    dryRun: cfg.membershipMode === 'dry-run',
    desired: desired.size,
    plan,
    nodesDeregistered: 0,
    nodesKept: 0,
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
  for (const a of plan.mark)
    log('WARN', 'agency left the OUs: offboarding after the grace period', {
      agencyAccountId: a,
      graceHours: cfg.graceHours,
    });
  for (const a of plan.leave) {
    const done = await act('agency gone for the grace period: offboarding', a, s, async () => {
      await handleLeaverNodes(cfg, a, s);
      await deleteAgencyStack(cfg, a);
    });
    if (done) offboarded++;
  }
  // A leaver keeps its mark until its stack is gone (the plan then unmarks it): a failed or
  // still-running delete is tried again without a new grace period.
  if (!s.dryRun && (plan.mark.length || plan.unmark.length)) {
    const next = new Map(marks);
    for (const a of plan.mark) next.set(a, now);
    for (const a of plan.unmark) next.delete(a);
    await writeMarks(cfg.syncTableName, next);
  }
  emitMetrics(
    cfg.metricNamespace,
    { Service: 'FleetLifecycle' },
    {
      AgenciesJoined: { value: joined },
      AgenciesMarkedGone: { value: plan.mark.length },
      AgenciesOffboarded: { value: offboarded },
      LeaverNodesDeregistered: { value: s.nodesDeregistered },
      LeaverNodesKept: { value: s.nodesKept },
      MembershipFailures: { value: s.failures.length },
    },
  );
  log(s.failures.length ? 'ERROR' : 'INFO', 'membership pass finished', { ...s, failures: s.failures.slice(0, 20) });
  if (s.failures.length)
    throw new MembershipError(`membership: ${s.failures.length} failure(s): ${s.failures.slice(0, 5).join('; ')}`);
  return s;
}
