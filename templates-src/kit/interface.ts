// AWS::CloudFormation::Interface: how the CloudFormation console groups, orders and labels a
// template's parameters (CloudFormation User Guide, "AWS::CloudFormation::Interface"). Groups are
// listed in the order the console shows them; within a group, parameters in their given order.
import type { Template } from './template.ts';

export interface ParameterGroup {
  label: string;
  /** [parameter ID, console label] in display order. */
  parameters: Array<[id: string, label: string]>;
}

export const INTERFACE_KEY = 'AWS::CloudFormation::Interface';

/** Adds the Interface metadata; a parameter named twice is a builder bug. */
export function parameterInterface(t: Template, groups: ParameterGroup[]): void {
  const labels: Record<string, { default: string }> = {};
  for (const g of groups)
    for (const [id, label] of g.parameters) {
      if (labels[id]) throw new Error(`${t.name}: parameter ${id} is in two Interface groups`);
      labels[id] = { default: label };
    }
  t.addMetadata(INTERFACE_KEY, {
    ParameterGroups: groups.map((g) => ({ Label: { default: g.label }, Parameters: g.parameters.map(([id]) => id) })),
    ParameterLabels: labels,
  });
}
