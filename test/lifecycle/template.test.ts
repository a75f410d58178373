// The lifecycle's part of the generated central-manager template: one source of truth with
// `ssm-hub onboard`, the switches that turn each task off, and the limits its function must meet.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../contract/project.ts';
import { HUB, ResolvedStack } from '../../testing/helpers/iam-sim.ts';

const read = (name: string) =>
  JSON.parse(readFileSync(join(PROJECT_ROOT, 'generated', 'templates', `${name}.json`), 'utf8'));
const central = read('central-manager');
const fn = central.Resources.FleetLifecycleFunction.Properties;
/** Lambda caps a function's environment at 4 KB (keys and values). */
const LAMBDA_ENVIRONMENT_MAX_BYTES = 4096;

describe('the fleet-lifecycle section of central-manager', () => {
  it('deploys exactly the agency-permissions template that `onboard` deploys', () => {
    const { Metadata: _m, ...permissions } = read('agency-permissions');
    expect(JSON.parse(fn.Environment.Variables.AGENCY_TEMPLATE_BODY)).toEqual(permissions);
  });

  it("keeps the function's environment within Lambda's 4 KB (the embedded template included)", () => {
    const literal = Object.entries<unknown>(fn.Environment.Variables).reduce(
      // An intrinsic resolves at deploy time: count a generous 100 bytes for it.
      (n, [k, v]) => n + Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : 100),
      0,
    );
    expect(literal).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_MAX_BYTES);
  });

  it.each([
    { rule: 'OrphanSweepSchedule', condition: 'OrphanSweepOn', input: '{"task":"orphan-sweep"}' },
    { rule: 'MembershipSchedule', condition: 'MembershipOn', input: '{"task":"membership"}' },
    { rule: 'MembershipOrganizationsEvents', condition: 'MembershipOn', input: undefined },
  ])('$rule is disabled while its mode parameter is disabled', ({ rule, condition, input }) => {
    const r = central.Resources[rule].Properties;
    expect(r.State).toEqual({ 'Fn::If': [condition, 'ENABLED', 'DISABLED'] });
    expect(r.Targets[0].Input).toBe(input);
    expect(central.Conditions[condition]['Fn::Not'][0]['Fn::Equals'][1]).toBe('disabled');
  });

  it('defaults to the build configuration: sweep on, membership off until OUs are chosen', () => {
    expect(central.Parameters.OrphanSweepMode).toMatchObject({
      Default: 'enabled',
      AllowedValues: ['enabled', 'dry-run', 'disabled'],
    });
    expect(central.Parameters.MembershipMode.Default).toBe('disabled');
    expect(fn.Environment.Variables.STACK_ROLE_ARN).toEqual({ 'Fn::GetAtt': ['AgencyStackRole', 'Arn'] });
  });

  it.each([
    ['enabled', '', '', ['MembershipMode enabled or dry-run needs AgencyOrganizationalUnits or AgencyAccounts']],
    ['dry-run', '', '', ['MembershipMode enabled or dry-run needs AgencyOrganizationalUnits or AgencyAccounts']],
    ['enabled', 'ou-ab12-cdef3456', '', []],
    ['enabled', '', '222222222222', []],
    ['disabled', '', '', []],
  ])('MembershipMode=%s with OUs %j and accounts %j: rules failing %j', (mode, ous, accounts, failing) => {
    const parameters = { MembershipMode: mode, AgencyOrganizationalUnits: ous, AgencyAccounts: accounts };
    expect(new ResolvedStack('central-manager', { ...HUB, parameters }).failedRules()).toEqual(failing);
  });
});
