// The lifecycle's part of the generated central-manager template: one source of truth with
// `ssm-hub onboard`, the switches that turn each task off, and the limits its function must meet.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../contract/project.ts';
import {
  AGENCY_ACCOUNTS_LIST_MAX_LENGTH,
  AGENCY_OUS_LIST_MAX_LENGTH,
  CLOUDFORMATION_LIMITS,
  LAMBDA_ENVIRONMENT_MAX_BYTES,
} from '../../contract/limits.ts';
import { HUB, ResolvedStack } from '../../testing/helpers/iam-sim.ts';

const read = (name: string) =>
  JSON.parse(readFileSync(join(PROJECT_ROOT, 'generated', 'templates', `${name}.json`), 'utf8'));
const central = read('central-manager');
const fn = central.Resources.FleetLifecycleFunction.Properties;

describe('the fleet-lifecycle section of central-manager', () => {
  it('deploys exactly the agency-permissions template that `onboard` deploys', () => {
    const { Metadata: _m, ...permissions } = read('agency-permissions');
    expect(JSON.parse(fn.Environment.Variables.AGENCY_TEMPLATE_BODY)).toEqual(permissions);
  });

  it("keeps the function's environment within Lambda's 4 KB in the worst case (the embedded template, the longest lists)", () => {
    // What each intrinsic can resolve to at most: a parameter its MaxLength or longest allowed
    // value; a stack name 128 characters; a generated IAM role name 64 (its ARN in the longest
    // partition); a generated DynamoDB table name 255 (CloudFormation user guide, name type).
    const longest = (v: Record<string, any>): number => {
      if (v.Ref === 'AWS::StackName') return CLOUDFORMATION_LIMITS.stackNameLength;
      if (v.Ref === 'SyncStateTable') return 255;
      if (v['Fn::GetAtt']?.[1] === 'Arn') return 'arn:aws-iso-b:iam::123456789012:role/'.length + 64;
      const p = central.Parameters[v.Ref];
      if (p?.MaxLength) return p.MaxLength;
      if (p?.AllowedValues) return Math.max(...p.AllowedValues.map((a: string) => a.length));
      throw new Error(`no worst case known for ${JSON.stringify(v)}: add one`);
    };
    const worst = Object.entries<unknown>(fn.Environment.Variables).reduce(
      (n, [k, v]) => n + Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : longest(v as object)),
      0,
    );
    expect(worst).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_MAX_BYTES);
    expect(central.Parameters.AgencyAccounts.MaxLength).toBe(AGENCY_ACCOUNTS_LIST_MAX_LENGTH);
    expect(central.Parameters.AgencyOrganizationalUnits.MaxLength).toBe(AGENCY_OUS_LIST_MAX_LENGTH);
  });

  it('takes 50 agency account IDs in AgencyAccounts, and refuses 51', () => {
    // As CloudFormation checks the parameter: its AllowedPattern and MaxLength in the template.
    const p = central.Parameters.AgencyAccounts;
    const ids = (n: number) => Array.from({ length: n }, (_, i) => String(100000000000 + i)).join(',');
    expect(new RegExp(p.AllowedPattern).test(ids(50))).toBe(true);
    expect(ids(50).length).toBeLessThanOrEqual(p.MaxLength);
    expect(ids(51).length).toBeGreaterThan(p.MaxLength);
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
