// The two agency StackSets `rollout` manages, in order: agency-collector, then agency-registration
// (contract/names.ts AGENCY_TEMPLATE_NAMES). Each parameter a run sets goes to every agency
// template that declares it (CentralRegion to both); one that neither declares is a usage error.
import type { Parameter, StackInstanceSummary } from '@aws-sdk/client-cloudformation';
import { AGENCY_TEMPLATE_NAMES, type AgencyTemplateName } from '../../contract/names.ts';
import { UsageError } from '../kit/index.ts';
import { checkParameter, readTemplate, templateBodyOrUrl } from './generated.ts';
import type { InstanceTargets } from './stackset.ts';

/** One parameter value this run sets, with the flag that set it (for error messages). */
export interface Assignment {
  flag: string;
  name: string;
  value: string;
}

/** Each StackSet's Description when rollout creates it. */
export const STACKSET_DESCRIPTIONS: Record<AgencyTemplateName, string> = {
  'agency-collector': 'ssm-hub agency collector: copies EC2 tags to the central SSM hub',
  'agency-registration': 'ssm-hub agency registration: the register document and optional zero-touch registration',
};

/** Parameters rollout fills in itself, which each agency template must declare. */
const REQUIRED: Record<AgencyTemplateName, readonly string[]> = {
  'agency-collector': ['CentralAccountId', 'CentralRegion'],
  'agency-registration': ['CentralRegion'],
};

/** Which templates get each assignment: every agency template that declares its name. */
export function routeParameters(
  assignments: readonly Assignment[],
  declared: Record<AgencyTemplateName, ReadonlySet<string>>,
): Record<AgencyTemplateName, Assignment[]> {
  const routed = { 'agency-collector': [], 'agency-registration': [] } as Record<AgencyTemplateName, Assignment[]>;
  for (const a of assignments) {
    const targets = AGENCY_TEMPLATE_NAMES.filter((n) => declared[n].has(a.name));
    if (!targets.length) {
      const known = AGENCY_TEMPLATE_NAMES.map((n) => `${n}: ${[...declared[n]].join(', ') || 'none'}`).join('; ');
      throw new UsageError(`${a.flag}: no agency template declares a parameter ${a.name} (${known})`);
    }
    for (const n of targets) routed[n].push(a);
  }
  return routed;
}

export interface AgencyStackSet {
  template: AgencyTemplateName;
  source: { TemplateBody: string } | { TemplateURL: string };
  /** Parameter names the local build of this template declares: routing and create defaults. */
  declares: ReadonlySet<string>;
  /** The same, so an update drops parameters the template no longer has (body or URL of this build). */
  declaredKeys?: Set<string>;
  /** Parameter values this run names for this StackSet, in the order given. */
  given: Record<string, string>;
}

/**
 * Reads both local agency templates (routing needs their parameter lists even when a URL is
 * sent), routes the assignments, and checks each value against the template it goes to when the
 * local body is what is sent. No AWS call.
 */
export function planAgencyStackSets(
  generatedDir: string,
  urls: Partial<Record<AgencyTemplateName, string>>,
  assignments: readonly Assignment[],
): AgencyStackSet[] {
  const sources = AGENCY_TEMPLATE_NAMES.map((n) => templateBodyOrUrl(generatedDir, n, urls[n]));
  const local = AGENCY_TEMPLATE_NAMES.map((n) => readTemplate(generatedDir, n).json);
  const declared = Object.fromEntries(
    AGENCY_TEMPLATE_NAMES.map((n, i) => [n, new Set(Object.keys(local[i]!.Parameters ?? {}))]),
  ) as Record<AgencyTemplateName, Set<string>>;
  for (const n of AGENCY_TEMPLATE_NAMES)
    for (const p of REQUIRED[n])
      if (!declared[n].has(p))
        throw new UsageError(`${n} template declares no ${p} parameter: rebuild with \`npm run build\``);
  const routed = routeParameters(assignments, declared);
  return AGENCY_TEMPLATE_NAMES.map((template, i) => {
    const source = sources[i]!;
    const sendsLocal = 'TemplateBody' in source;
    if (sendsLocal) for (const a of routed[template]) checkParameter(a.flag, template, local[i]!, a.name, a.value);
    const given: Record<string, string> = {};
    for (const a of routed[template]) given[a.name] = a.value;
    return {
      template,
      source,
      declares: declared[template],
      // A URL names the published copy of this build: an update drops what the local build no
      // longer declares in both cases (CloudFormation refuses a parameter its template lacks).
      declaredKeys: declared[template],
      given,
    };
  });
}

/**
 * The values a StackSet holds after this run: what it held before (DescribeStackSet), with what
 * this run names on top. The next StackSet takes them as defaults when it is created.
 */
export function inheritedValues(
  existing: readonly Parameter[] | undefined,
  given: Record<string, string>,
): Record<string, string> {
  const held = (existing ?? [])
    .filter((p) => p.ParameterKey && p.ParameterValue !== undefined)
    .map((p) => [p.ParameterKey!, p.ParameterValue!] as const);
  return Object.fromEntries([...held, ...Object.entries(given)]);
}

/**
 * The stack instances (account/Region) of a StackSet that a run's targets do not reach. Used on
 * an upgrade from the single agency template: the collector's update reaches every instance it
 * has and removes its register document, so the registration StackSet must reach them all. A
 * service-managed instance records the OU it was deployed through; a root target reaches all. Pure.
 */
export function instancesOutsideTargets(
  instances: readonly StackInstanceSummary[],
  t: InstanceTargets,
  /** The accounts the run's OUs reach (child OUs included), when resolved through Organizations. */
  reachedThroughOus?: ReadonlySet<string>,
): string[] {
  const outside = instances.filter((i) => {
    const inRegion = i.Region !== undefined && t.regions.includes(i.Region);
    const inOus =
      !t.ous ||
      t.ous.some((ou) => ou.startsWith('r-') || ou === i.OrganizationalUnitId) ||
      (i.Account !== undefined && reachedThroughOus?.has(i.Account) === true);
    const inAccounts = !t.accounts || (i.Account !== undefined && t.accounts.includes(i.Account));
    return !(inRegion && inOus && inAccounts);
  });
  return outside.map((i) => `${i.Account ?? '?'}/${i.Region ?? '?'}`).sort();
}
