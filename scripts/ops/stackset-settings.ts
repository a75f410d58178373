// An agency StackSet's settings besides its template and parameters: the roles of a self-managed
// StackSet and the automatic deployment of a service-managed one. A new StackSet gets defaults; an
// update changes only what the operator names and keeps the StackSet's current values otherwise.
// Pure: rollout reads the StackSet (DescribeStackSet) and decides here.
import type { AutoDeployment, StackSet } from '@aws-sdk/client-cloudformation';

/** The settings rollout manages, named as CreateStackSet / UpdateStackSet / StackSet name them. */
export interface StackSetSettings {
  AdministrationRoleARN?: string;
  ExecutionRoleName?: string;
  AutoDeployment?: AutoDeployment;
}

/**
 * --auto-deployment's values and the AutoDeployment each sends (AutoDeployment data type, API
 * reference: RetainStacksOnAccountRemoval is "Specify only if Enabled is set to True").
 */
export const AUTO_DEPLOYMENT_CHOICES = {
  enabled: { Enabled: true, RetainStacksOnAccountRemoval: false },
  'enabled-retain-stacks': { Enabled: true, RetainStacksOnAccountRemoval: true },
  disabled: { Enabled: false },
} as const satisfies Record<string, AutoDeployment>;
export type AutoDeploymentChoice = keyof typeof AUTO_DEPLOYMENT_CHOICES;
export const AUTO_DEPLOYMENT_VALUES = Object.keys(AUTO_DEPLOYMENT_CHOICES) as AutoDeploymentChoice[];

/** A StackSet's AutoDeployment in --auto-deployment's words (undefined when it has none). */
export function autoDeploymentText(a: AutoDeployment | undefined): string | undefined {
  if (!a) return undefined;
  if (!a.Enabled) return 'disabled';
  return a.RetainStacksOnAccountRemoval ? 'enabled-retain-stacks' : 'enabled';
}

/**
 * What an existing StackSet's settings are inherited as by a new StackSet beside it (the
 * registration StackSet next to the collector's): its roles and whether it deploys automatically,
 * not the StackSets its auto-deployment depends on.
 */
export function inheritedSettings(s: StackSet | undefined): StackSetSettings {
  if (!s) return {};
  const auto = s.AutoDeployment?.Enabled === undefined ? undefined : autoDeploymentText(s.AutoDeployment);
  return {
    ...(s.AdministrationRoleARN ? { AdministrationRoleARN: s.AdministrationRoleARN } : {}),
    ...(s.ExecutionRoleName ? { ExecutionRoleName: s.ExecutionRoleName } : {}),
    ...(auto ? { AutoDeployment: { ...AUTO_DEPLOYMENT_CHOICES[auto as AutoDeploymentChoice] } } : {}),
  };
}

/**
 * The settings an UpdateStackSet sends: those the operator named, else the StackSet's current ones.
 * UpdateStackSet API reference: a StackSet created with a customized administrator role must name
 * one on every update, even the same one, so the current AdministrationRoleARN is sent. For an
 * omitted ExecutionRoleName the reference says both "uses AWSCloudFormationStackSetExecutionRole"
 * and "the role previously associated with the StackSet", so the current one is sent as well. An
 * AutoDeployment left out keeps the StackSet's; one named keeps the StackSet's DependsOn.
 */
export function updateSettings(existing: StackSet, given: StackSetSettings, selfManaged: boolean): StackSetSettings {
  if (selfManaged) {
    const admin = given.AdministrationRoleARN ?? existing.AdministrationRoleARN;
    const exec = given.ExecutionRoleName ?? existing.ExecutionRoleName;
    return { ...(admin ? { AdministrationRoleARN: admin } : {}), ...(exec ? { ExecutionRoleName: exec } : {}) };
  }
  if (!given.AutoDeployment) return {};
  const dependsOn = existing.AutoDeployment?.DependsOn;
  return { AutoDeployment: { ...given.AutoDeployment, ...(dependsOn?.length ? { DependsOn: dependsOn } : {}) } };
}

export interface SettingChange {
  key: keyof StackSetSettings;
  /** Absent for a StackSet that does not exist yet, or a setting it does not report. */
  from?: string;
  to: string;
}

const shown = (s: StackSetSettings): Record<keyof StackSetSettings, string | undefined> => ({
  AdministrationRoleARN: s.AdministrationRoleARN,
  ExecutionRoleName: s.ExecutionRoleName,
  AutoDeployment: autoDeploymentText(s.AutoDeployment),
});

/** Each setting `sent` changes on `existing` (every one it sets, for a new StackSet), old and new. */
export function settingChanges(existing: StackSet | undefined, sent: StackSetSettings): SettingChange[] {
  const before = existing ? shown(existing) : undefined;
  const after = shown(sent);
  return (Object.keys(after) as Array<keyof StackSetSettings>).flatMap((key) => {
    const to = after[key];
    const from = before?.[key];
    if (to === undefined || to === from) return [];
    return [{ key, ...(from !== undefined ? { from } : {}), to }];
  });
}
