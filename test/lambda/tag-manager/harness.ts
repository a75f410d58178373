// Test harness: the real bundled tag manager, talking through the real SDK clients to the SSM
// fake, the Tagging API fake (over the same nodes) and to dynalite. Log lines (EMF metrics included) are captured through the bundle's own sink.
import { DynamoDBDocumentClient, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, vi } from 'vitest';
import { TAG_MANAGER_ENVIRONMENT as T } from '../../../contract/environment.ts';
import { loadBundledHandler, lambdaContext } from '../../../testing/helpers/bundled.ts';
import { startDynalite, type DynaliteHandle } from '../../../testing/helpers/dynalite.ts';
import { startSsmFake, type SsmFake, type SsmFakeOptions } from '../../../testing/fakes/ssm-fake.ts';
import { startTaggingFake, type TaggingFake } from '../../../testing/fakes/tagging-fake.ts';
import { agencyAliasName, centralActivationParameterName, SYNC_TABLE } from '../../../lambda/shared/names.ts';

export const HUB_ACCOUNT = '999999999999';
export const FUNCTION_ARN = `arn:aws:lambda:us-east-1:${HUB_ACCOUNT}:function:ssm-hub-tag-manager`;
export const PARAM_PREFIX = '/central-hub/agencies';
export const PREFIX = 'central-it:';
export const AGENCY_A = '111111111111';
export const AGENCY_B = '222222222222';

export const aliasArn = (agency: string) => `${FUNCTION_ARN}:${agencyAliasName(agency)}`;
export const miId = (n: number) => `mi-${n.toString(16).padStart(17, '0')}`;
export const ec2Id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
/** A node's ARN in the hub the harness runs (FUNCTION_ARN's partition, Region and account). */
export const nodeArnOf = (id: string) => `arn:aws:ssm:us-east-1:${HUB_ACCOUNT}:managed-instance/${id}`;
/** Every reserved tag a synced node of `agency` carries: the activation's stamp and sync's three provenance tags. */
export const provenanceTags = (agency: string, ec2: string, id: string): Record<string, string> => ({
  [`${PREFIX}activation-agency`]: agency,
  [`${PREFIX}agency-account`]: agency,
  [`${PREFIX}ec2-instance-id`]: ec2,
  [`${PREFIX}node-arn`]: nodeArnOf(id),
});

export interface Harness {
  ssm: SsmFake;
  tagging: TaggingFake;
  db: DynaliteHandle;
  logs: string[];
  invoke(arn: string, event: unknown): Promise<any>;
  /** Invokes with a hand-made context (e.g. one without an ARN). */
  invokeWithContext(event: unknown, context: unknown): Promise<any>;
  invokeAs(agency: string, event: unknown): Promise<any>;
  rows(): Promise<Record<string, any>[]>;
  /** Every item in the table, the per-agency request counters included. */
  allItems(): Promise<Record<string, any>[]>;
  plantActivation(
    agency: string,
    opts: { activationId: string; code: string; knownActivationIds?: string[]; expiresAt?: string },
  ): void;
  /** Registers a node in the fake as the agency's activation would: ActivationId plus the stamped tag. */
  registerNode(
    n: number,
    agency: string,
    activationId: string,
    opts?: { stamp?: boolean; tags?: Record<string, string> },
  ): string;
  metrics(name: string): number;
  close(): Promise<void>;
}

export async function startHarness(
  opts: { ssm?: SsmFakeOptions; env?: Record<string, string> } = {},
): Promise<Harness> {
  const ssm = await startSsmFake(opts.ssm);
  const tagging = await startTaggingFake({ ssm: ssm.state, region: 'us-east-1', account: HUB_ACCOUNT });
  const db = await startDynalite();
  // Stubbed, not assigned: close() restores the environment (vi.unstubAllEnvs).
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL_SSM: ssm.endpoint,
    AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API: tagging.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    [T.syncTableName.name]: db.tableName,
    [T.activationParameterPrefix.name]: PARAM_PREFIX,
    [T.reservedTagPrefix.name]: PREFIX,
    [T.metricNamespace.name]: 'SsmHub/test',
    [T.ssmConcurrency.name]: '5',
    [T.retryBaseDelayMs.name]: '2',
    ...opts.env,
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  const mod = await loadBundledHandler('tag-manager');
  const logs: string[] = [];
  (mod.setLogSink as (s: (line: string) => void) => void)((line) => logs.push(line));
  const invoke = (arn: string, event: unknown) => mod.handler(event, lambdaContext(arn));
  return {
    ssm,
    tagging,
    db,
    logs,
    invoke,
    invokeWithContext: (event, context) => mod.handler(event, context),
    invokeAs: (agency, event) => invoke(aliasArn(agency), event),
    async rows() {
      const out = await DynamoDBDocumentClient.from(db.client).send(
        new ScanCommand({ TableName: db.tableName, ConsistentRead: true }),
      );
      // Node rows only: the per-agency rows (request counters, registration errors, rejections) are not nodes.
      const perAgency = [
        SYNC_TABLE.rateKeyPrefix,
        SYNC_TABLE.registrationErrorKeyPrefix,
        SYNC_TABLE.rejectionKeyPrefix,
      ];
      return ((out.Items ?? []) as Record<string, any>[]).filter(
        (r) => !perAgency.some((p) => String(r.managedInstanceId).startsWith(p)),
      );
    },
    async allItems() {
      const out = await DynamoDBDocumentClient.from(db.client).send(
        new ScanCommand({ TableName: db.tableName, ConsistentRead: true }),
      );
      return (out.Items ?? []) as Record<string, any>[];
    },
    plantActivation(agency, { activationId, code, knownActivationIds, expiresAt }) {
      const record = {
        agencyAccountId: agency,
        current: {
          activationId,
          activationCode: code,
          region: 'us-east-1',
          expiresAt: expiresAt ?? '2030-01-31T00:00:00.000Z',
          createdAt: '2030-01-01T00:00:00.000Z',
          registrationLimit: 1000,
        },
        previous: [],
        knownActivationIds: knownActivationIds ?? [activationId],
      };
      ssm.state.parameters.set(centralActivationParameterName(PARAM_PREFIX, agency), {
        type: 'SecureString',
        value: JSON.stringify(record),
        version: 1,
      });
    },
    registerNode(n, agency, activationId, o = {}) {
      const id = miId(n);
      const stamp: Record<string, string> = o.stamp === false ? {} : { [`${PREFIX}activation-agency`]: agency };
      ssm.state.addNode(id, { activationId, tags: { ...stamp, ...o.tags } });
      return id;
    },
    metrics(name) {
      let total = 0;
      for (const line of logs) {
        const rec = JSON.parse(line) as Record<string, unknown>;
        if (rec._aws && typeof rec[name] === 'number') total += rec[name] as number;
      }
      return total;
    },
    async close() {
      vi.unstubAllEnvs();
      await tagging.close();
      await ssm.close();
      await db.close();
    },
  };
}

/**
 * One harness for the whole test file (vitest hooks), with agency A's activation planted; the
 * returned object is that harness.
 */
export function harnessForFile(): Harness {
  const h = {} as Harness;
  beforeAll(async () => {
    Object.assign(h, await startHarness());
    h.plantActivation(AGENCY_A, { activationId: 'act-aaaa', code: 'irrelevant-code' });
  });
  afterAll(async () => h.close?.());
  return h;
}

/** Makes a synced node's drift check due now: its row's lastDriftCheckAt far in the past. */
export async function makeDriftCheckDue(h: Harness, id: string): Promise<void> {
  await DynamoDBDocumentClient.from(h.db.client).send(
    new UpdateCommand({
      TableName: h.db.tableName,
      Key: { managedInstanceId: id },
      UpdateExpression: 'SET lastDriftCheckAt = :old',
      ExpressionAttributeValues: { ':old': '2020-01-01T00:00:00.000Z' },
    }),
  );
}
