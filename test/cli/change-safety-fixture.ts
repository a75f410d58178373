// A stack that exists and an UPDATE change set with the given resource changes, on the mocked
// CloudFormation client. Shapes follow the CloudFormation API reference: DescribeStacks (Stack:
// StackId, StackStatus, Parameters), CreateChangeSet (Id, StackId), DescribeChangeSet (Status
// CREATE_COMPLETE once ready, Changes[].ResourceChange with Action Add | Modify | Remove and
// Replacement True | False | Conditional), ExecuteChangeSet (empty result), DescribeStackEvents,
// GetTemplate (TemplateBody of the deployed template).
import {
  CreateChangeSetCommand,
  DescribeChangeSetCommand,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import { DescribeStackEventsCommand, ExecuteChangeSetCommand, type Parameter } from '@aws-sdk/client-cloudformation';
import { GetTemplateCommand } from '@aws-sdk/client-cloudformation';
import type { mockAll } from './helpers.ts';

export const STACK_ID = 'arn:aws:cloudformation:us-east-1:999999999999:stack/x/1';
export const CHANGE_SET_ID = 'arn:aws:cloudformation:us-east-1:999999999999:changeSet/ssm-hub-update/1';

export const resourceChange = (
  id: string,
  type: string,
  // ResourceChange Action (API reference): Add | Modify | Remove | Import | Dynamic | SyncWithActual.
  action: 'Add' | 'Modify' | 'Remove' | 'Import' | 'Dynamic' | 'SyncWithActual',
  replacement?: string,
) => ({
  Type: 'Resource' as const,
  ResourceChange: {
    LogicalResourceId: id,
    ResourceType: type,
    Action: action,
    // Replacement is only present on a Modify (API reference, ResourceChange).
    ...(action === 'Modify' ? { Replacement: replacement as 'True' | 'False' | 'Conditional' } : {}),
  },
});

/** UPDATE_COMPLETE stack; after ExecuteChangeSet it reads UPDATE_IN_PROGRESS once, then UPDATE_COMPLETE. */
export function existingStackWithChangeSet(
  cfn: ReturnType<typeof mockAll>['cfn'],
  parameters: Parameter[],
  changes: ReturnType<typeof resourceChange>[],
  deployedTemplate: object = { Resources: {} },
) {
  cfn.on(GetTemplateCommand).resolves({ TemplateBody: JSON.stringify(deployedTemplate) });
  let executed = false;
  let polls = 0;
  cfn.on(DescribeStacksCommand).callsFake(async () => ({
    Stacks: [
      {
        StackId: STACK_ID,
        StackName: 'x',
        StackStatus: executed && polls++ === 0 ? 'UPDATE_IN_PROGRESS' : 'UPDATE_COMPLETE',
        Parameters: parameters,
        CreationTime: new Date(),
      },
    ],
  }));
  cfn.on(CreateChangeSetCommand).resolves({ Id: CHANGE_SET_ID, StackId: STACK_ID });
  cfn.on(DescribeChangeSetCommand).resolves({ Status: 'CREATE_COMPLETE', Changes: changes });
  cfn.on(ExecuteChangeSetCommand).callsFake(async () => {
    executed = true;
    return {};
  });
  cfn.on(DescribeStackEventsCommand).resolves({ StackEvents: [] });
}
