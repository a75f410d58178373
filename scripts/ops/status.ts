// `ssm-hub status`: one view of every agency: permissions stack, activation expiry and usage,
// StackSet instances, synced nodes and errors, and managed-node counts against the standard-tier
// limit. It reads only: no activation is decrypted (DescribeActivations never returns codes).
import {
  DescribeStacksCommand,
  ListStackInstancesCommand,
  ListStacksCommand,
  type CallAs,
  type StackInstanceSummary,
} from '@aws-sdk/client-cloudformation';
import { DescribeActivationsCommand, DescribeInstanceInformationCommand, type Activation } from '@aws-sdk/client-ssm';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { SYNC_TABLE } from '../../lambda/shared/names.ts';
import { PROVENANCE_TAG_SUFFIXES } from '../../lambda/shared/names.ts';
import { makeClients, resolveRegion, type Clients } from './aws.ts';
import {
  defaultContext,
  mapLimit,
  progress,
  runCommand,
  str,
  table,
  type CommandSpec,
  type Context,
} from './cli-kit.ts';
import { loadConfig } from './common.ts';
import { describeError, EXIT } from './errors.ts';
import * as v from './validate.ts';

export const spec: CommandSpec = {
  name: 'status',
  summary:
    'Per agency: permissions stack, activation expiry and usage, StackSet instances, synced nodes, last sync and last error; managed nodes per Region against the standard-tier limit.',
  usage: ['[--agencies 111111111111,…] [--regions r1,r2] [options]'],
  options: [
    {
      name: 'agencies',
      type: 'string',
      arg: 'ACCOUNT,…',
      help: 'agencies to report (default: every <namePrefix>-agency-<account> stack)',
    },
    {
      name: 'regions',
      type: 'string',
      arg: 'r1,r2',
      help: 'Regions whose managed nodes are counted (default: --region)',
    },
    {
      name: 'central-stack',
      type: 'string',
      arg: 'NAME',
      help: 'central stack name (default: <namePrefix>-central-manager)',
    },
    { name: 'call-as', type: 'string', arg: 'SELF|DELEGATED_ADMIN', help: 'how to read the StackSet (default SELF)' },
  ],
  notes: [
    'Warnings: activation expiring within 7 days, registrations near the limit, a Region at 80% of the standard-tier node limit.',
  ],
};

const EXPIRY_WARN_DAYS = 7;
const NODE_WARN_RATIO = 0.8;
const DAY = 86_400_000;

export interface ActivationView {
  activationId: string;
  expiresAt: string;
  daysLeft: number;
  registrations: number;
  limit: number;
}

export interface AgencyView {
  account: string;
  permissionsStack: string;
  activation?: ActivationView;
  stackInstances: Array<{ region: string; status: string; detail?: string }>;
  syncedNodes?: number;
  lastSyncAt?: string;
  errorNodes?: number;
  latestError?: { managedInstanceId: string; at?: string; error: string };
}

/** Picks the agency's current activation: the unexpired one that lasts longest. */
export function currentActivation(
  all: Activation[],
  tagKey: string,
  account: string,
  now: Date,
): ActivationView | undefined {
  const mine = all.filter((a) => a.Tags?.some((t) => t.Key === tagKey && t.Value === account));
  const live = mine.filter((a) => !a.Expired && (a.ExpirationDate?.getTime() ?? 0) > now.getTime());
  const pick = (live.length ? live : mine).sort(
    (a, b) => (b.ExpirationDate?.getTime() ?? 0) - (a.ExpirationDate?.getTime() ?? 0),
  )[0];
  if (!pick) return undefined;
  const exp = pick.ExpirationDate ?? now;
  return {
    activationId: pick.ActivationId ?? '',
    expiresAt: exp.toISOString(),
    daysLeft: Math.floor(((exp.getTime() - now.getTime()) / DAY) * 10) / 10,
    registrations: pick.RegistrationsCount ?? 0,
    limit: pick.RegistrationLimit ?? 0,
  };
}

async function listActivations(clients: Clients, region: string, roleName: string | undefined): Promise<Activation[]> {
  const out: Activation[] = [];
  let NextToken: string | undefined;
  do {
    const page = await clients.ssm(region).send(
      new DescribeActivationsCommand({
        Filters: roleName ? [{ FilterKey: 'IamRole', FilterValues: [roleName] }] : undefined,
        NextToken,
      }),
    );
    out.push(...(page.ActivationList ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
}

export async function countManagedNodes(clients: Clients, region: string): Promise<number> {
  let count = 0;
  let NextToken: string | undefined;
  do {
    const page = await clients.ssm(region).send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: 'ResourceType', Values: ['ManagedInstance'] }],
        MaxResults: 50,
        NextToken,
      }),
    );
    count += page.InstanceInformationList?.length ?? 0;
    NextToken = page.NextToken;
  } while (NextToken);
  return count;
}

async function syncSummary(clients: Clients, region: string, tableName: string, account: string) {
  const A = SYNC_TABLE.attributes;
  let nodes = 0;
  let errorNodes = 0;
  let lastSyncAt: string | undefined;
  let latestError: AgencyView['latestError'];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await clients.dynamodb(region).send(
      new QueryCommand({
        TableName: tableName,
        IndexName: SYNC_TABLE.agencyIndexName,
        KeyConditionExpression: '#agency = :agency',
        ExpressionAttributeNames: {
          '#agency': SYNC_TABLE.agencyIndexPartitionKey,
          '#id': A.managedInstanceId,
          '#sync': A.lastSyncAt,
          '#err': A.lastError,
        },
        ExpressionAttributeValues: { ':agency': account },
        ProjectionExpression: '#id, #sync, #err',
        ExclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? []) {
      nodes++;
      const at = typeof item[A.lastSyncAt] === 'string' ? (item[A.lastSyncAt] as string) : undefined;
      if (at && (!lastSyncAt || at > lastSyncAt)) lastSyncAt = at;
      const err = item[A.lastError];
      if (typeof err === 'string' && err !== '') {
        errorNodes++;
        if (!latestError || (at ?? '') > (latestError.at ?? ''))
          latestError = { managedInstanceId: String(item[A.managedInstanceId]), at, error: err };
      }
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return { nodes, errorNodes, lastSyncAt, latestError };
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (flags) => {
    const { config, names } = loadConfig(ctx, flags);
    const agenciesFlag = str(flags, 'agencies');
    const given = agenciesFlag ? v.accountIds('agencies', agenciesFlag) : undefined;
    const regionsFlag = str(flags, 'regions');
    const nodeRegions = regionsFlag ? v.regions('regions', regionsFlag) : undefined;
    const cs = str(flags, 'central-stack');
    const centralStack = cs ? v.stackName('central-stack', cs) : names.centralStackName;
    const callAs: CallAs = v.oneOf('call-as', str(flags, 'call-as') ?? 'SELF', ['SELF', 'DELEGATED_ADMIN'] as const);
    const profile = str(flags, 'profile');
    const region = await resolveRegion(ctx, str(flags, 'region'), profile);
    const clients = makeClients(ctx, profile);
    const cfn = clients.cloudformation(region);
    const now = ctx.now();
    const warnings: string[] = [];
    const errors: string[] = [];
    const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await fn();
      } catch (err) {
        errors.push(`could not read ${what}: ${describeError(err)}`);
        return undefined;
      }
    };

    progress(ctx, `reading central stack ${centralStack}`);
    const central = await attempt(`stack ${centralStack}`, async () => {
      try {
        return (await cfn.send(new DescribeStacksCommand({ StackName: centralStack }))).Stacks?.[0];
      } catch (err) {
        if (/does not exist/.test((err as Error).message)) return undefined;
        throw err;
      }
    });
    if (central === undefined && !errors.length) warnings.push(`central stack ${centralStack} not found in ${region}`);
    const outputs = Object.fromEntries((central?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));

    // Agencies and their permissions stacks.
    const stackPattern = new RegExp(`^${names.agencyPermissionsStackName('')}(\\d{12})$`);
    const stackStatus = new Map<string, string>();
    await attempt('agency stacks', async () => {
      let NextToken: string | undefined;
      do {
        const page = await cfn.send(new ListStacksCommand({ NextToken }));
        for (const s of page.StackSummaries ?? []) {
          const m = stackPattern.exec(s.StackName ?? '');
          if (m && s.StackStatus !== 'DELETE_COMPLETE' && !stackStatus.has(m[1]!))
            stackStatus.set(m[1]!, s.StackStatus ?? 'UNKNOWN');
        }
        NextToken = page.NextToken;
      } while (NextToken);
    });
    const agencies = given ?? [...stackStatus.keys()].sort();

    progress(ctx, 'reading activations');
    const activations =
      (await attempt('activations', () => listActivations(clients, region, outputs.ManagedNodeRoleName))) ?? [];
    const tagKey = `${config.reservedTagPrefix}${PROVENANCE_TAG_SUFFIXES.activationAgency}`;

    progress(ctx, `reading StackSet ${names.stackSetName}`);
    const instances = await attempt(`StackSet ${names.stackSetName}`, async () => {
      const all: StackInstanceSummary[] = [];
      let NextToken: string | undefined;
      try {
        do {
          const page = await cfn.send(
            new ListStackInstancesCommand({ StackSetName: names.stackSetName, CallAs: callAs, NextToken }),
          );
          all.push(...(page.Summaries ?? []));
          NextToken = page.NextToken;
        } while (NextToken);
      } catch (err) {
        if ((err as { name?: string }).name === 'StackSetNotFoundException') {
          warnings.push(`StackSet ${names.stackSetName} does not exist yet (run \`ssm-hub rollout\`)`);
          return all;
        }
        throw err;
      }
      return all;
    });

    const tableName = outputs.SyncTableName;
    if (!tableName && central) warnings.push(`central stack has no SyncTableName output: sync state not shown`);

    progress(ctx, `reading sync state of ${agencies.length} agencies`);
    const views: AgencyView[] = await mapLimit(agencies, 4, async (account) => {
      const view: AgencyView = {
        account,
        permissionsStack: stackStatus.get(account) ?? 'NOT_FOUND',
        activation: currentActivation(activations, tagKey, account, now),
        stackInstances: (instances ?? [])
          .filter((i) => i.Account === account)
          .map((i) => ({
            region: i.Region ?? '',
            status: i.StackInstanceStatus?.DetailedStatus ?? i.Status ?? 'UNKNOWN',
            detail: i.StatusReason,
          }))
          .sort((a, b) => a.region.localeCompare(b.region)),
      };
      if (tableName) {
        const s = await attempt(`sync state of ${account}`, () => syncSummary(clients, region, tableName, account));
        if (s)
          Object.assign(view, {
            syncedNodes: s.nodes,
            lastSyncAt: s.lastSyncAt,
            errorNodes: s.errorNodes,
            latestError: s.latestError,
          });
      }
      return view;
    });

    for (const a of views) {
      if (a.permissionsStack === 'NOT_FOUND')
        warnings.push(`agency ${a.account}: no permissions stack (run \`ssm-hub onboard --agencies ${a.account}\`)`);
      if (!a.activation) {
        if (activations.length || !errors.length) warnings.push(`agency ${a.account}: no activation found`);
      } else if (a.activation.daysLeft <= 0) {
        warnings.push(`agency ${a.account}: activation ${a.activation.activationId} has expired`);
      } else if (a.activation.daysLeft < EXPIRY_WARN_DAYS) {
        warnings.push(
          `agency ${a.account}: activation ${a.activation.activationId} expires in ${a.activation.daysLeft} days (${a.activation.expiresAt}); rotation should have replaced it`,
        );
      }
      if (
        a.activation &&
        a.activation.limit > 0 &&
        (a.activation.registrations / a.activation.limit) * 100 >= config.activation.rotateAtUsagePercent
      ) {
        warnings.push(
          `agency ${a.account}: activation used ${a.activation.registrations}/${a.activation.limit} registrations`,
        );
      }
      for (const i of a.stackInstances) {
        if (i.status !== 'SUCCEEDED' && i.status !== 'CURRENT')
          warnings.push(
            `agency ${a.account}: stack instance in ${i.region} is ${i.status}${i.detail ? `: ${i.detail}` : ''}`,
          );
      }
      if (a.errorNodes)
        warnings.push(
          `agency ${a.account}: ${a.errorNodes} node(s) with a sync error; latest: ${a.latestError?.error}`,
        );
    }

    progress(ctx, 'counting managed nodes');
    const limit = config.standardTierNodeLimit;
    const regionViews: Array<{ region: string; managedNodes: number; limit: number; percent: number }> = [];
    for (const r of nodeRegions ?? [region]) {
      const n = await attempt(`managed nodes in ${r}`, () => countManagedNodes(clients, r));
      if (n === undefined) continue;
      const percent = Math.round((n / limit) * 1000) / 10;
      regionViews.push({ region: r, managedNodes: n, limit, percent });
      if (n >= limit)
        warnings.push(
          `${r}: ${n} managed nodes reached the ${limit}-node standard-tier limit; new registrations fail until the advanced tier is enabled`,
        );
      else if (n >= limit * NODE_WARN_RATIO)
        warnings.push(`${r}: ${n} managed nodes is ${percent}% of the ${limit}-node standard-tier limit`);
    }

    if (flags['json'] === true) {
      ctx.stdout(
        `${JSON.stringify(
          {
            region,
            centralStack: { name: centralStack, status: central?.StackStatus ?? 'NOT_FOUND', outputs },
            agencies: views,
            regions: regionViews,
            warnings,
            errors,
          },
          null,
          2,
        )}\n`,
      );
    } else {
      ctx.stdout(`central stack ${centralStack} (${region}): ${central?.StackStatus ?? 'NOT FOUND'}\n\n`);
      ctx.stdout(
        `${table(
          [
            'agency',
            'permissions stack',
            'activation expires',
            'registrations',
            'stack instances',
            'nodes',
            'last sync',
            'errors',
          ],
          views.map((a) => [
            a.account,
            a.permissionsStack,
            a.activation ? `${a.activation.expiresAt.slice(0, 16).replace('T', ' ')} (${a.activation.daysLeft}d)` : '-',
            a.activation ? `${a.activation.registrations}/${a.activation.limit}` : '-',
            a.stackInstances.map((i) => `${i.region}:${i.status}`).join(' ') || '-',
            a.syncedNodes === undefined ? '-' : String(a.syncedNodes),
            a.lastSyncAt ?? '-',
            a.errorNodes === undefined ? '-' : String(a.errorNodes),
          ]),
        )}\n\n`,
      );
      ctx.stdout(
        `${table(
          ['region', 'managed nodes', 'standard-tier limit', 'used'],
          regionViews.map((r) => [r.region, String(r.managedNodes), String(r.limit), `${r.percent}%`]),
        )}\n`,
      );
      for (const a of views)
        if (a.latestError)
          ctx.stdout(
            `\nlast error for ${a.account} (${a.latestError.managedInstanceId}, ${a.latestError.at ?? 'time unknown'}): ${a.latestError.error}\n`,
          );
      if (warnings.length) ctx.stdout(`\n${warnings.map((w) => `WARNING: ${w}`).join('\n')}\n`);
      if (errors.length) ctx.stdout(`\n${errors.map((e) => `ERROR: ${e}`).join('\n')}\n`);
    }
    return errors.length ? EXIT.failed : EXIT.ok;
  });
}
