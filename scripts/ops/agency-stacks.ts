// Which stack is an agency's permissions stack, for status, onboard and offboard alike: one rule.
// By name (<prefix>-agency-<account>) or, for a stack named otherwise (the console's generic link
// lets people choose), by the template's Description, with the account read from its
// AgencyAccountId parameter (stacks.ts holds the check that a stack belongs to the agency it is
// used for, which every stack operation makes).
import { paginateListStacks, type CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { AGENCY_PERMISSIONS_DESCRIPTION } from '../../templates-src/builders/agency-permissions.ts';
import { ACCOUNT_ID_BODY, ACCOUNT_ID_PATTERN } from '../../contract/patterns.ts';
import { errorText, OperationError, progress, type Context } from '../kit/index.ts';
import { describeStack, stackAgency } from './stacks.ts';

export interface AgencyStack {
  stackName: string;
  status: string;
  /** More stacks that claim the same agency (each holds an activation): a mistake to put right. */
  others?: string[];
}

/** Matches a permissions stack's conventional name; group 1 is the account. */
export const agencyStackPattern = (stackNameOf: (a: string) => string): RegExp =>
  new RegExp(`^${stackNameOf('')}(${ACCOUNT_ID_BODY})$`);

/** Every agency's permissions stack in the Region (ListStacks; DescribeStacks for the otherwise-named). */
export async function agencyStacks(cfn: CloudFormationClient, pattern: RegExp): Promise<Map<string, AgencyStack>> {
  const found = new Map<string, AgencyStack>();
  const otherNames: AgencyStack[] = [];
  for await (const page of paginateListStacks({ client: cfn }, {})) {
    for (const s of page.StackSummaries ?? []) {
      if (s.StackStatus === 'DELETE_COMPLETE') continue;
      const m = pattern.exec(s.StackName ?? '');
      const here = { stackName: s.StackName ?? '', status: s.StackStatus ?? 'UNKNOWN' };
      if (m) claim(m[1]!, here);
      else if (s.TemplateDescription === AGENCY_PERMISSIONS_DESCRIPTION) otherNames.push(here);
    }
  }
  for (const o of otherNames) {
    const account = stackAgency((await describeStack(cfn, o.stackName))?.Parameters);
    if (account && ACCOUNT_ID_PATTERN.test(account)) claim(account, o);
  }
  return found;

  /**
   * The conventionally named stack is the agency's, unless it holds nothing and another does; any
   * further stack that holds resources is kept in `others` (with its status).
   */
  function claim(account: string, stack: AgencyStack) {
    const first = found.get(account);
    if (!first) found.set(account, stack);
    else if (holdsNothing(stack.status)) return;
    else if (holdsNothing(first.status)) found.set(account, stack);
    else (first.others ??= []).push(`${stack.stackName} (${stack.status})`);
  }
}

/**
 * A stack in one of these states holds no resource, so no activation: a failed creation rolled
 * back, a change set never executed, a deletion under way (CloudFormation user guide, stack status
 * codes). It is never a second claimant of an agency.
 */
export const holdsNothing = (status: string): boolean =>
  ['ROLLBACK_COMPLETE', 'REVIEW_IN_PROGRESS', 'DELETE_IN_PROGRESS', 'DELETE_COMPLETE'].includes(status);

/**
 * Each agency's permissions stack, whatever its name: the one finder status uses (agencyStacks),
 * the conventional name when none is found. A stack found under another name is said.
 */
export async function permissionsStackNames(
  ctx: Context,
  cfn: CloudFormationClient,
  stackNameOf: (a: string) => string,
  accounts: string[],
): Promise<(account: string) => string> {
  const found = await agencyStacks(cfn, agencyStackPattern(stackNameOf)).catch((err: unknown) => {
    // Without the list, a stack named otherwise would be reported absent: stop instead.
    throw new OperationError(`could not list the permissions stacks (CloudFormation ListStacks): ${errorText(err)}`);
  });
  const doubled = accounts.filter((a) => found.get(a)?.others);
  if (doubled.length)
    throw new OperationError(
      `more than one permissions stack claims ${doubled
        .map((a) => {
          const s = found.get(a)!;
          return `agency ${a} (${[`${s.stackName} (${s.status})`, ...s.others!].join(', ')})`;
        })
        .join(
          '; ',
        )}: each holds an activation; delete the extra one (aws cloudformation delete-stack --stack-name <name>), then run again; nothing done`,
    );
  for (const a of accounts) {
    const s = found.get(a);
    if (s && s.stackName !== stackNameOf(a))
      progress(ctx, `[${a}] permissions stack found under another name: ${s.stackName} (its AgencyAccountId is ${a})`);
  }
  return (a) => found.get(a)?.stackName ?? stackNameOf(a);
}
