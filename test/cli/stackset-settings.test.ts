// A StackSet's roles and automatic deployment (scripts/ops/stackset-settings.ts): what an update
// sends and what it changes, rule by rule. The roles' rules are the UpdateStackSet API reference's
// (AdministrationRoleARN, ExecutionRoleName); the StackSet shapes are DescribeStackSet's.
import type { StackSet } from '@aws-sdk/client-cloudformation';
import { describe, expect, it } from 'vitest';
import {
  autoDeploymentText,
  inheritedSettings,
  settingChanges,
  updateSettings,
  type StackSetSettings,
} from '../../scripts/ops/stackset-settings.ts';

const ADMIN = 'arn:aws:iam::999999999999:role/HubStackSetAdmin';
const DEFAULT_ADMIN = 'arn:aws:iam::999999999999:role/AWSCloudFormationStackSetAdministrationRole';
const customRoles: StackSet = {
  PermissionModel: 'SELF_MANAGED',
  AdministrationRoleARN: ADMIN,
  ExecutionRoleName: 'HubStackSetExec',
};
const autoOn: StackSet = {
  PermissionModel: 'SERVICE_MANAGED',
  AutoDeployment: { Enabled: true, RetainStacksOnAccountRemoval: false, DependsOn: ['arn:aws:cfn:other'] },
};

describe('what an UpdateStackSet sends', () => {
  it.each<{ case: string; existing: StackSet; given: StackSetSettings; selfManaged: boolean; sent: StackSetSettings }>([
    {
      case: 'no flag: the current custom roles, so the custom administrator role is named as the reference requires',
      existing: customRoles,
      given: {},
      selfManaged: true,
      sent: { AdministrationRoleARN: ADMIN, ExecutionRoleName: 'HubStackSetExec' },
    },
    {
      case: 'a named execution role replaces only that one',
      existing: customRoles,
      given: { ExecutionRoleName: 'Other' },
      selfManaged: true,
      sent: { AdministrationRoleARN: ADMIN, ExecutionRoleName: 'Other' },
    },
    {
      case: 'a named administration role replaces only that one',
      existing: customRoles,
      given: { AdministrationRoleARN: DEFAULT_ADMIN },
      selfManaged: true,
      sent: { AdministrationRoleARN: DEFAULT_ADMIN, ExecutionRoleName: 'HubStackSetExec' },
    },
    {
      case: 'a StackSet that reports no roles and no flag: nothing',
      existing: { PermissionModel: 'SELF_MANAGED' },
      given: {},
      selfManaged: true,
      sent: {},
    },
    {
      case: 'service-managed, no flag: no AutoDeployment, so it keeps its value',
      existing: autoOn,
      given: {},
      selfManaged: false,
      sent: {},
    },
    {
      case: 'service-managed, --auto-deployment named: that value, with the StackSet’s DependsOn kept',
      existing: autoOn,
      given: { AutoDeployment: { Enabled: false } },
      selfManaged: false,
      sent: { AutoDeployment: { Enabled: false, DependsOn: ['arn:aws:cfn:other'] } },
    },
  ])('$case', ({ existing, given, selfManaged, sent }) => {
    expect(updateSettings(existing, given, selfManaged)).toEqual(sent);
  });
});

describe('what a change of settings shows', () => {
  it.each<{ case: string; existing?: StackSet; sent: StackSetSettings; changes: ReturnType<typeof settingChanges> }>([
    { case: 'the current roles sent again: no change', existing: customRoles, sent: customRoles, changes: [] },
    {
      case: 'a new execution role: old and new',
      existing: customRoles,
      sent: { AdministrationRoleARN: ADMIN, ExecutionRoleName: 'Other' },
      changes: [{ key: 'ExecutionRoleName', from: 'HubStackSetExec', to: 'Other' }],
    },
    {
      case: 'auto-deployment switched off',
      existing: autoOn,
      sent: { AutoDeployment: { Enabled: false } },
      changes: [{ key: 'AutoDeployment', from: 'enabled', to: 'disabled' }],
    },
    {
      case: 'auto-deployment told to keep stacks',
      existing: autoOn,
      sent: { AutoDeployment: { Enabled: true, RetainStacksOnAccountRemoval: true } },
      changes: [{ key: 'AutoDeployment', from: 'enabled', to: 'enabled-retain-stacks' }],
    },
    { case: 'AutoDeployment left out: no change', existing: autoOn, sent: {}, changes: [] },
    {
      case: 'a new StackSet: every setting it gets',
      sent: { AdministrationRoleARN: DEFAULT_ADMIN, ExecutionRoleName: 'AWSCloudFormationStackSetExecutionRole' },
      changes: [
        { key: 'AdministrationRoleARN', to: DEFAULT_ADMIN },
        { key: 'ExecutionRoleName', to: 'AWSCloudFormationStackSetExecutionRole' },
      ],
    },
  ])('$case', ({ existing, sent, changes }) => {
    expect(settingChanges(existing, sent)).toEqual(changes);
  });
});

describe('auto-deployment in --auto-deployment words', () => {
  it.each([
    [undefined, undefined],
    [{ Enabled: false }, 'disabled'],
    [{ Enabled: false, RetainStacksOnAccountRemoval: true }, 'disabled'],
    [{ Enabled: true }, 'enabled'],
    [{ Enabled: true, RetainStacksOnAccountRemoval: false }, 'enabled'],
    [{ Enabled: true, RetainStacksOnAccountRemoval: true }, 'enabled-retain-stacks'],
  ])('%j is %s', (auto, text) => {
    expect(autoDeploymentText(auto)).toBe(text);
  });
});

describe('what a new StackSet inherits from the one before it', () => {
  it.each<{ case: string; from?: StackSet; inherited: StackSetSettings }>([
    { case: 'nothing when there is none', inherited: {} },
    {
      case: 'its custom roles',
      from: customRoles,
      inherited: { AdministrationRoleARN: ADMIN, ExecutionRoleName: 'HubStackSetExec' },
    },
    {
      case: 'whether it deploys automatically, not what it depends on',
      from: autoOn,
      inherited: { AutoDeployment: { Enabled: true, RetainStacksOnAccountRemoval: false } },
    },
    {
      case: 'auto-deployment off',
      from: { AutoDeployment: { Enabled: false } },
      inherited: { AutoDeployment: { Enabled: false } },
    },
  ])('$case', ({ from, inherited }) => {
    expect(inheritedSettings(from)).toEqual(inherited);
  });
});
