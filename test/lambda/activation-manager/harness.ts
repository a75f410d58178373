// Shared set-up for the activation manager tests: the SSM fake, a loopback server standing in
// for CloudFormation's pre-signed ResponseURL, the real bundled handler and captured log lines.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { afterEach, beforeEach, vi } from 'vitest';
import type { CfnResponse } from '../../../lambda/shared/cfn-response.ts';
import type { AddressInfo } from 'node:net';
import { loadBundledHandler, lambdaContext } from '../../../testing/helpers/bundled.ts';
import { startSsmActivationsFake, type SsmActivationsFake } from '../../../testing/fakes/ssm-activations-fake.ts';
import { type FakeActivation } from '../../../testing/fakes/ssm-activations-fake.ts';
import { CloudFormationFake } from '../../../testing/fakes/cloudformation-fake.ts';
import { ACTIVATION_MANAGER_ENV as ENV } from '../../../lambda/shared/names.ts';
import { activationRecordSchema, type ActivationRecord } from '../../../lambda/shared/activation-record.ts';

// Not /ssm-hub/…: Parameter Store refuses names prefixed with "ssm" or "aws" (the fake enforces it).
export const PREFIX = '/central-hub/agencies';
export const ROLE_NAME = 'ssm-hub-managed-node';
export const KMS_KEY = 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
export const TAG_PREFIX = 'central-it:';
export const NAMESPACE = 'SsmHubTest';
export const DAY = 86_400_000;
export const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:111111111111:function:ssm-hub-activation-manager';

export interface RecordedResponse {
  headers: IncomingHttpHeaders;
  method: string;
  raw: string;
  body: CfnResponse;
}

export interface ResponseServer {
  url: string;
  responses: RecordedResponse[];
  close(): Promise<void>;
}

/** Stands in for the pre-signed S3 URL CloudFormation waits on. */
export async function startResponseServer(): Promise<ResponseServer> {
  const responses: RecordedResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      responses.push({
        headers: req.headers,
        method: req.method ?? '',
        raw,
        body: JSON.parse(raw) as RecordedResponse['body'],
      });
      res.writeHead(200);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/cfn-response?X-Amz-Signature=abc`,
    responses,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** The StackId cfnEvent puts in every request (a live stack in the CloudFormation fake). */
export const STACK_ID =
  'arn:aws:cloudformation:us-east-1:111111111111:stack/ssm-hub-agency-222222222222/1a2b3c4d-0000-1111-2222-333344445555';

export interface Harness {
  fake: SsmActivationsFake;
  /** DescribeStacks, for the owner check of an activation record. */
  stacks: CloudFormationFake;
  cfn: ResponseServer;
  logs: string[];
  invoke(event: unknown, contextOverrides?: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

/** The manager's environment, by the contract's names; stubbed, so close() restores it (vi.unstubAllEnvs). */
export function setManagerEnv(endpoint: string, extra: Record<string, string | undefined> = {}): void {
  const env: Record<string, string | undefined> = {
    AWS_ENDPOINT_URL_SSM: endpoint,
    [ENV.activationParameterPrefix]: PREFIX,
    [ENV.activationKmsKeyId]: KMS_KEY,
    [ENV.managedNodeRoleName]: ROLE_NAME,
    [ENV.reservedTagPrefix]: TAG_PREFIX,
    [ENV.metricNamespace]: NAMESPACE,
    [ENV.rotateDaysBeforeExpiry]: undefined,
    [ENV.rotateAtUsagePercent]: undefined,
    ...extra,
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
}

export async function startHarness(env: Record<string, string | undefined> = {}): Promise<Harness> {
  const fake = await startSsmActivationsFake();
  const cfn = await startResponseServer();
  const stacks = new CloudFormationFake({
    exports: {},
    alias: async () => undefined,
    permission: async () => undefined,
    customResource: async () => undefined,
  });
  stacks.seedStack(STACK_ID);
  setManagerEnv(fake.endpoint, { AWS_ENDPOINT_URL_CLOUDFORMATION: await stacks.start(), ...env });
  const mod = await loadBundledHandler('activation-manager');
  const logs: string[] = [];
  (mod.setLogSink as (sink: (line: string) => void) => void)((line) => logs.push(line));
  return {
    fake,
    cfn,
    stacks,
    logs,
    invoke: (event, overrides = {}) => mod.handler(event, lambdaContext(FUNCTION_ARN, overrides)),
    close: async () => {
      await fake.close();
      await cfn.close();
      await stacks.stop();
      vi.unstubAllEnvs();
    },
  };
}

/** A fresh harness for each test of the file (vitest hooks); the returned object is that harness. */
export function harnessPerTest(env: Record<string, string | undefined> = {}): Harness {
  const h = {} as Harness;
  beforeEach(async () => {
    Object.assign(h, await startHarness(env));
  });
  afterEach(async () => {
    await h.close();
  });
  return h;
}

let requestCounter = 0;

export function cfnEvent(
  responseUrl: string,
  requestType: 'Create' | 'Update' | 'Delete',
  props: Record<string, unknown>,
  extra: { PhysicalResourceId?: string; OldResourceProperties?: Record<string, unknown> } = {},
) {
  requestCounter++;
  return {
    RequestType: requestType,
    ServiceToken: FUNCTION_ARN,
    ResponseURL: responseUrl,
    StackId: STACK_ID,
    RequestId: `req-${requestCounter}-5d6e7f`,
    LogicalResourceId: 'AgencyActivation',
    ResourceType: 'Custom::AgencyActivation',
    ResourceProperties: { ServiceToken: FUNCTION_ARN, ...props },
    ...extra,
  };
}

export const props = (acct: string, limit: unknown = 100, days: unknown = 30) => ({
  AgencyAccountId: acct,
  RegistrationLimit: limit,
  ExpiryDays: days,
});

export function storedRecord(fake: SsmActivationsFake, acct: string): ActivationRecord | undefined {
  const p = fake.state.parameters.get(`${PREFIX}/${acct}`);
  return p ? activationRecordSchema.parse(JSON.parse(p.Value)) : undefined;
}

export const WRITE_OPS = ['CreateActivation', 'DeleteActivation', 'PutParameter', 'DeleteParameter'];

/**
 * Puts an agency in place as an earlier run would have left it: an activation in the fake and
 * its record in Parameter Store.
 */
export function seedAgency(
  fake: SsmActivationsFake,
  acct: string,
  opts: {
    expiresInMs: number;
    createdAgoMs?: number;
    limit?: number;
    registrations?: number;
    code?: string;
    previous?: { expiresInMs: number }[];
    lastRotationError?: string;
  },
): { current: FakeActivation; previous: FakeActivation[]; record: ActivationRecord } {
  const now = Date.now();
  const current = fake.seedActivation({
    ExpirationDate: new Date(now + opts.expiresInMs),
    CreatedDate: new Date(now - (opts.createdAgoMs ?? 0)),
    RegistrationLimit: opts.limit ?? 100,
    RegistrationsCount: opts.registrations ?? 0,
    DefaultInstanceName: `agency-${acct}`,
    Tags: [{ Key: `${TAG_PREFIX}activation-agency`, Value: acct }],
    ...(opts.code ? { ActivationCode: opts.code } : {}),
  });
  const previous = (opts.previous ?? []).map((p) =>
    fake.seedActivation({ ExpirationDate: new Date(now + p.expiresInMs), DefaultInstanceName: `agency-${acct}` }),
  );
  const record: ActivationRecord = {
    agencyAccountId: acct,
    current: {
      activationId: current.ActivationId,
      activationCode: current.ActivationCode,
      region: 'us-east-1',
      expiresAt: current.ExpirationDate.toISOString(),
      createdAt: current.CreatedDate.toISOString(),
      registrationLimit: current.RegistrationLimit,
    },
    previous: previous.map((p) => ({ activationId: p.ActivationId, expiresAt: p.ExpirationDate.toISOString() })),
    knownActivationIds: [current.ActivationId, ...previous.map((p) => p.ActivationId)],
    ...(opts.lastRotationError ? { lastRotationError: opts.lastRotationError } : {}),
  };
  fake.state.parameters.set(`${PREFIX}/${acct}`, {
    Name: `${PREFIX}/${acct}`,
    Value: JSON.stringify(record),
    Type: 'SecureString',
    KeyId: KMS_KEY,
    Tier: 'Standard',
    Version: 1,
    LastModifiedDate: new Date(now),
  });
  return { current, previous, record };
}

export const scheduledEvent = () => ({
  version: '0',
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '111111111111',
  time: new Date().toISOString(),
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:111111111111:rule/ssm-hub-rotation'],
  detail: {},
});

/** EMF records among the captured log lines. */
export function metricsIn(logs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of logs) {
    const rec = JSON.parse(line) as Record<string, unknown> & {
      _aws?: { CloudWatchMetrics: { Namespace: string; Metrics: { Name: string }[] }[] };
    };
    for (const m of rec._aws?.CloudWatchMetrics ?? []) {
      if (m.Namespace !== NAMESPACE) continue;
      for (const { Name } of m.Metrics) out[Name] = (out[Name] ?? 0) + Number(rec[Name]);
    }
  }
  return out;
}
