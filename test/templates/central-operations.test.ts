// The optional operations stack: every target it creates is limited to nodes that carry the
// ownership key the agencies' activations stamp, and its thresholds are parameters.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBuildConfig } from '../../templates-src/config.ts';
import { buildCentralOperations } from '../../templates-src/builders/central-operations.ts';
import { MAX_CONCURRENCY_PATTERN, MAX_ERRORS_PATTERN } from '../../contract/patterns.ts';
import { PROJECT_ROOT } from '../../scripts/build/bundle.ts';
import { LIMITS } from '../../templates-src/kit/template.ts';
import type { BuildContext } from '../../templates-src/builders/context.ts';

const config = loadBuildConfig(join(PROJECT_ROOT, 'build.config.json'));
const render = (prefix = config.reservedTagPrefix) => {
  const ctx: BuildContext = {
    config: { ...config, reservedTagPrefix: prefix },
    bundles: { 'tag-manager': '', 'activation-manager': '', collector: '', 'fleet-lifecycle': '' },
    today: new Date(),
  };
  return buildCentralOperations(ctx).render().template as any;
};
let t: any;
beforeAll(() => {
  t = render();
});
const OWNED = { Key: 'tag-key', Values: ['central-it:activation-agency'] };

describe('central-operations', () => {
  it('refuses at deploy time a custom baseline without patch groups (it would silently make none)', () => {
    expect(t.Rules.CustomBaselineNeedsPatchGroups).toEqual({
      RuleCondition: { 'Fn::Equals': [{ Ref: 'EnableCustomBaseline' }, 'true'] },
      Assertions: [
        {
          Assert: { 'Fn::Not': [{ 'Fn::EachMemberEquals': [{ Ref: 'PatchGroupValues' }, ''] }] },
          AssertDescription: expect.stringMatching(/^EnableCustomBaseline true needs PatchGroupValues/),
        },
      ],
    });
    // The baseline's own condition agrees: without patch groups it is not created.
    expect(t.Conditions.CreateCustomBaseline['Fn::And']).toContainEqual({
      'Fn::Not': [{ Condition: 'AnyPatchGroup' }],
    });
  });
  it('gathers software inventory from every node that carries the ownership key, and nothing else', () => {
    const a = t.Resources.InventoryAssociation.Properties;
    expect(a.Name).toBe('AWS-GatherSoftwareInventory');
    expect(a.Targets).toEqual([OWNED]);
  });
  it('scans (never installs) for missing patches on a schedule, on owned nodes only', () => {
    const a = t.Resources.PatchScanAssociation.Properties;
    expect(a).toMatchObject({ Name: 'AWS-RunPatchBaseline', Parameters: { Operation: ['Scan'] } });
    expect(a.Targets).toEqual([OWNED]);
    expect(t.Parameters.PatchScanSchedule.Default).toMatch(/^cron\(0 2 \? \* \* \*\)$/);
  });
  it('installs only on nodes in a patch group that also carry the ownership key', () => {
    const targets = t.Resources.InstallTargets.Properties.Targets;
    expect(targets).toHaveLength(2);
    expect(targets[1]).toEqual(OWNED);
    expect(targets[0]['Fn::If'][0]).toBe('AnyPatchGroup');
    expect(targets[0]['Fn::If'][1]).toEqual({ Key: 'tag-key', Values: [{ Ref: 'PatchGroupTagKey' }] });
    expect(targets[0]['Fn::If'][2]).toEqual({
      Key: { 'Fn::Sub': 'tag:${PatchGroupTagKey}' },
      Values: { Ref: 'PatchGroupValues' },
    });
    const task = t.Resources.InstallTask.Properties;
    expect(task.Targets).toEqual([{ Key: 'WindowTargetIds', Values: [{ Ref: 'InstallTargets' }] }]);
    expect(task.TaskInvocationParameters.MaintenanceWindowRunCommandParameters.Parameters.Operation).toEqual([
      'Install',
    ]);
  });
  it('takes concurrency and error thresholds from parameters', () => {
    const task = t.Resources.InstallTask.Properties;
    expect(task.MaxConcurrency).toEqual({ Ref: 'InstallMaxConcurrency' });
    expect(task.MaxErrors).toEqual({ Ref: 'InstallMaxErrors' });
    expect(t.Resources.PatchScanAssociation.Properties.MaxErrors).toEqual({ Ref: 'ScanMaxErrors' });
    expect(t.Parameters.PatchGroupTagKey.Default).toBe('PatchGroup');
  });
  it('creates no IAM role: the window task runs with the service-linked role', () => {
    const types = Object.values(t.Resources).map((r: any) => r.Type);
    expect(types.filter((x) => x.startsWith('AWS::IAM::'))).toEqual([
      'AWS::IAM::ManagedPolicy',
      'AWS::IAM::ManagedPolicy',
    ]);
    expect(t.Resources.InstallTask.Properties.ServiceRoleArn).toBeUndefined();
  });
  it("leaves baselines to AWS's defaults unless one is asked for, and then only for named patch groups", () => {
    const baselines = Object.entries(t.Resources).filter(([, r]: any) => r.Type === 'AWS::SSM::PatchBaseline');
    expect(baselines.map(([id]) => id)).toEqual(['CustomBaseline']);
    const b = t.Resources.CustomBaseline;
    expect(b.Condition).toBe('CreateCustomBaseline');
    expect(t.Parameters.EnableCustomBaseline.Default).toBe('false');
    expect(t.Conditions.CreateCustomBaseline).toEqual({
      'Fn::And': [
        { 'Fn::Equals': [{ Ref: 'EnableCustomBaseline' }, 'true'] },
        { 'Fn::Not': [{ Condition: 'AnyPatchGroup' }] },
      ],
    });
    expect(b.Properties.PatchGroups).toEqual({ Ref: 'PatchGroupValues' });
    expect(b.Properties.DefaultBaseline).toBeUndefined(); // never the account's default for an OS
    const filters = b.Properties.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters['Fn::If'];
    expect(filters[0]).toBe('WindowsBaseline');
    expect(filters[2]).toContainEqual({ Key: 'CLASSIFICATION', Values: ['Security'] });
  });
  it('leaves out the inventory association when EnableInventory is false (a node takes one inventory association)', () => {
    expect(t.Resources.InventoryAssociation.Condition).toBe('CreateInventory');
    expect(t.Outputs.InventoryAssociationId.Condition).toBe('CreateInventory');
    expect(t.Resources.PatchScanAssociation.Condition).toBeUndefined();
  });
  it('leaves out the install window when EnableInstallWindow is false', () => {
    for (const id of ['InstallWindow', 'InstallTargets', 'InstallTask'])
      expect(t.Resources[id].Condition).toBe('CreateInstallWindow');
    expect(t.Conditions.CreateInstallWindow).toEqual({ 'Fn::Equals': [{ Ref: 'EnableInstallWindow' }, 'true'] });
  });
  it('follows the configured reserved prefix for the ownership key', () => {
    expect(render('hub-it:').Resources.InventoryAssociation.Properties.Targets).toEqual([
      { Key: 'tag-key', Values: ['hub-it:activation-agency'] },
    ]);
  });
  it('fits in a TemplateBody', () => {
    expect(Buffer.byteLength(JSON.stringify(t))).toBeLessThan(LIMITS.templateBodyBytes);
  });
  it.each([
    { value: '10', concurrency: true, errors: true },
    { value: '10%', concurrency: true, errors: true },
    { value: '100%', concurrency: true, errors: true },
    { value: '1%', concurrency: true, errors: true },
    { value: '0', concurrency: false, errors: true },
    { value: '0%', concurrency: false, errors: true },
    { value: '101%', concurrency: false, errors: false },
    { value: '-1', concurrency: false, errors: false },
    { value: 'ten', concurrency: false, errors: false },
    { value: '', concurrency: false, errors: false },
  ])('reads $value as MaxConcurrency: $concurrency, as MaxErrors: $errors', ({ value, concurrency, errors }) => {
    expect(new RegExp(MAX_CONCURRENCY_PATTERN).test(value)).toBe(concurrency);
    expect(new RegExp(MAX_ERRORS_PATTERN).test(value)).toBe(errors);
  });
});
