// The lint wrapper must catch real mistakes: these tests plant them in copies of the generated
// templates and check that the right tool reports the right rule on the right resource.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBuildConfig } from '../../templates-src/config.ts';
import { renderAll, TEMPLATE_NAMES } from '../../scripts/build/index.ts';
import { PROJECT_ROOT } from '../../scripts/build/bundle.ts';
import { validateTemplates } from '../../scripts/lint/cfn-validate.ts';
import { runGuard } from '../../scripts/lint/guard.ts';
import { loadSuppressions } from '../../scripts/lint/index.ts';

type Template = { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };

let templates: Record<string, Template>;
const dir = mkdtempSync(join(tmpdir(), 'lint-'));
const cfnSuppressions = loadSuppressions(join(PROJECT_ROOT, 'lint', 'cfn-validate-suppressions.yaml'));
const guardExemptions = loadSuppressions(join(PROJECT_ROOT, 'lint', 'control-tower-exemptions.yaml'));
const projectRules = join(PROJECT_ROOT, 'lint', 'guard');

function write(name: string, template: unknown): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(template));
  return file;
}

beforeAll(async () => {
  const out = await renderAll(loadBuildConfig(join(PROJECT_ROOT, 'build.config.json')));
  templates = structuredClone(out.templates) as Record<string, Template>;
});

describe('lint over the generated templates', () => {
  it('finds no errors and no warnings in any of the generated templates', () => {
    const files = TEMPLATE_NAMES.map((n) => write(n, templates[n]));
    const { findings } = validateTemplates(files, cfnSuppressions);
    expect(findings.filter((f) => f.severity !== 'info')).toEqual([]);
    expect(runGuard(files, projectRules, guardExemptions)).toEqual([]);
  });

  it('exempts only CT.LAMBDA.PR.3 (functions in a VPC), with its reason', () => {
    expect(guardExemptions.map((e) => e.rule)).toEqual(['lambda_inside_vpc_check']);
  });

  it.each(['central-manager', 'agency-collector'])(
    'passes CT.SQS.PR.1 on the %s dead-letter queue through its RedriveAllowPolicy, and fails without it',
    (name) => {
      const t = structuredClone(templates[name]!);
      expect(runGuard([write(name, t)], projectRules, guardExemptions)).toEqual([]);
      delete t.Resources.DeadLetterQueue!.Properties.RedriveAllowPolicy;
      const rules = runGuard([write(name, t)], projectRules, guardExemptions).map((f) => f.rule);
      expect(rules).toContain('sqs_dlq_check');
    },
  );

  it("passes CT.CLOUDWATCH.PR.3 on the collector's log group through the stack's log key, and fails without it", () => {
    const t = structuredClone(templates['agency-collector']!);
    expect(t.Resources.CollectorFunctionLogGroup!.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': ['LogKey', 'Arn'] });
    delete t.Resources.CollectorFunctionLogGroup!.Properties.KmsKeyId;
    const rules = runGuard([write('agency-collector', t)], projectRules, guardExemptions).map((f) => f.rule);
    expect(rules).toContain('cloudwatch_log_group_encrypted_check');
  });

  it('fails on a typo in a property name (cfn-lint schema check)', () => {
    const t = structuredClone(templates['central-manager']!);
    const fn = t.Resources.TagManagerFunction!.Properties;
    fn.MemmorySize = fn.MemorySize;
    delete fn.MemorySize;
    const { findings } = validateTemplates([write('central-manager', t)], cfnSuppressions);
    const errors = findings.filter((f) => f.severity === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ tool: 'cfn-validate', location: expect.stringContaining('TagManagerFunction') });
    expect(errors[0]!.message).toContain("'MemmorySize' was unexpected");
  });

  it('fails on Resource "*" for ssm:AddTagsToResource (project guard rule)', () => {
    const t = structuredClone(templates['central-manager']!);
    const statements = t.Resources.TagManagerRole!.Properties.Policies[0].PolicyDocument.Statement as Array<
      Record<string, unknown>
    >;
    const tagging = statements.find((s) => s.Sid === 'TagOwnedNodes')!;
    tagging.Resource = '*';
    const findings = runGuard([write('central-manager', t)], projectRules, guardExemptions);
    expect(findings).toEqual([
      expect.objectContaining({
        tool: 'cfn-guard',
        rule: 'iam_wildcard_resource_only_without_resource_level_permissions',
        location: 'TagManagerRole',
        severity: 'error',
      }),
    ]);
  });

  it('fails on a deprecated runtime and on a Lambda permission open to everyone', () => {
    const t = structuredClone(templates['agency-collector']!);
    t.Resources.CollectorFunction!.Properties.Runtime = 'nodejs20.x';
    const permission = Object.values(t.Resources).find((r) => r.Type === 'AWS::Lambda::Permission')!;
    permission.Properties.Principal = '*';
    const rules = runGuard([write('agency-collector', t)], projectRules, guardExemptions).map((f) => f.rule);
    expect(rules).toContain('lambda_runtime_allow_list');
    expect(rules).toContain('lambda_permission_principal_restricted');
  });

  it('fails when an SSM document is not schema 2.2', () => {
    const t = structuredClone(templates['agency-registration']!);
    t.Resources.RegisterDocument!.Properties.Content.schemaVersion = '1.2';
    const rules = runGuard([write('agency-registration', t)], projectRules, guardExemptions).map((f) => f.rule);
    expect(rules).toEqual(['ssm_documents_are_command_schema_2_2']);
  });

  it('refuses a suppression without a written reason', () => {
    const file = join(dir, 'bad-suppressions.yaml');
    writeFileSync(file, 'suppressions:\n  - rule: W1030\n    reason: because\n');
    expect(() => loadSuppressions(file)).toThrow('suppressions.0.reason: every suppression needs a written reason');
  });
});
