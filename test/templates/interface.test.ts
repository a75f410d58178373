// Console users see labels and groups, not raw parameter names: every parameter of every
// generated template is in one AWS::CloudFormation::Interface group, with a label and a description.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TEMPLATE_NAMES } from '../../contract/names.ts';
import { PROJECT_ROOT } from '../../contract/project.ts';

interface Interface {
  ParameterGroups: Array<{ Label: { default: string }; Parameters: string[] }>;
  ParameterLabels: Record<string, { default: string }>;
}
interface TemplateJson {
  Parameters: Record<string, { Description?: string }>;
  Metadata?: { 'AWS::CloudFormation::Interface'?: Interface };
}
const read = (name: string) =>
  JSON.parse(readFileSync(join(PROJECT_ROOT, 'generated', 'templates', `${name}.json`), 'utf8')) as TemplateJson;

describe.each(TEMPLATE_NAMES)('%s parameters in the console', (name) => {
  const t = read(name);
  const ui = t.Metadata?.['AWS::CloudFormation::Interface'];
  const params = Object.keys(t.Parameters).sort();

  it('puts every parameter in exactly one labelled group, and names no other', () => {
    expect(ui).toBeDefined();
    const grouped = ui!.ParameterGroups.flatMap((g) => g.Parameters);
    expect([...grouped].sort()).toEqual(params);
    expect(new Set(grouped).size).toBe(grouped.length);
    for (const g of ui!.ParameterGroups) expect(g.Label.default.trim()).not.toBe('');
  });

  it.each(params)('gives %s a label and a description', (p) => {
    expect(ui!.ParameterLabels[p]?.default.trim()).toBeTruthy();
    expect(t.Parameters[p]!.Description?.trim()).toBeTruthy();
  });
});

describe('descriptions a console user understands', () => {
  it("says zero-touch registration moves instances to the central account's SSM", () => {
    expect(read('agency-registration').Parameters.EnableZeroTouchRegistration!.Description).toMatch(
      /central account's SSM/,
    );
  });

  it('says at what share of RegistrationLimit a new activation is issued', () => {
    expect(read('agency-permissions').Parameters.RegistrationLimit!.Description).toMatch(
      /A new activation is issued when \d+% of them are used/,
    );
  });
});
