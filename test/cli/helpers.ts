// Shared test fixtures for the operator CLI: a generated/ folder with a valid manifest, and a
// context that captures output and makes every wait instant (the clock advances on sleep).
import { afterEach, beforeEach } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudFormationClient, ListStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { Context } from '../../scripts/kit/index.ts';
import { PROJECT_ROOT } from '../../scripts/kit/index.ts';

export const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

export const TEMPLATES = {
  'central-manager': {
    AWSTemplateFormatVersion: '2010-09-09',
    Parameters: { AlarmTopicArn: { Type: 'String', Default: '' } },
    Resources: { Topic: { Type: 'AWS::SNS::Topic' } },
  },
  'agency-permissions': {
    AWSTemplateFormatVersion: '2010-09-09',
    Parameters: {
      AgencyAccountId: { Type: 'String', AllowedPattern: '^\\d{12}$' },
      CentralManagerStackName: { Type: 'String', Default: 'ssm-hub-central-manager' },
      RegistrationLimit: { Type: 'Number', Default: 1000 },
      ActivationExpiryDays: { Type: 'Number', Default: 30 },
    },
    Resources: { Alias: { Type: 'AWS::Lambda::Alias' } },
  },
  'agency-collector': {
    AWSTemplateFormatVersion: '2010-09-09',
    Parameters: {
      CentralAccountId: { Type: 'String' },
      CentralRegion: { Type: 'String' },
      ReconcileSchedule: { Type: 'String', Default: 'rate(1 hour)' },
      AlarmEmail: { Type: 'String', Default: '' },
    },
    Resources: { Fn: { Type: 'AWS::Lambda::Function' } },
  },
  'agency-registration': {
    AWSTemplateFormatVersion: '2010-09-09',
    Parameters: {
      CentralRegion: { Type: 'String' },
      EnableZeroTouchRegistration: { Type: 'String', Default: 'true', AllowedValues: ['true', 'false'] },
      OptInTagKey: { Type: 'String', Default: 'ssm-hub-register' },
      OptInTagValue: { Type: 'String', Default: 'true' },
    },
    Resources: { RegisterDocument: { Type: 'AWS::SSM::Document' } },
  },
  'central-operations': {
    AWSTemplateFormatVersion: '2010-09-09',
    Parameters: { PatchGroupTagKey: { Type: 'String', Default: 'PatchGroup' } },
    Resources: { Scan: { Type: 'AWS::SSM::Association' } },
  },
} as const;

/** Writes a complete generated/ folder (templates, documents, manifest) into a temp dir. */
export function makeGenerated(overrides: Partial<Record<keyof typeof TEMPLATES, object>> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'ssm-hub-gen-'));
  const artifacts: Array<{ path: string; kind: string; bytes: number; sha256: string }> = [];
  const write = (path: string, kind: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
    artifacts.push({ path, kind, bytes: Buffer.byteLength(text), sha256: sha256(text) });
  };
  for (const [name, t] of Object.entries({ ...TEMPLATES, ...overrides })) {
    write(`templates/${name}.json`, 'template', `${JSON.stringify(t, null, 2)}\n`);
    write(`templates/${name}.yaml`, 'template', `# ${name}\nAWSTemplateFormatVersion: '2010-09-09'\n`);
  }
  for (const d of ['register-instance', 'deregister-instance']) {
    write(`documents/${d}.json`, 'document', JSON.stringify({ schemaVersion: '2.2', description: d }));
    write(`documents/${d}.yaml`, 'document', `schemaVersion: '2.2'\ndescription: ${d}\n`);
  }
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify({ artifacts, lambdaBundles: [{ name: 'tag-manager', bytes: 1, sha256: sha256('x') }] }),
  );
  return dir;
}

export interface TestContext extends Context {
  out: string[];
  err: string[];
  sleeps: number;
  stdoutText(): string;
  stderrText(): string;
}

export function testContext(start = new Date('2026-06-01T12:00:00Z')): TestContext {
  let now = start.getTime();
  const ctx: TestContext = {
    out: [],
    err: [],
    sleeps: 0,
    stdout: (t) => void ctx.out.push(t),
    stderr: (t) => void ctx.err.push(t),
    sleep: async (ms) => {
      ctx.sleeps++;
      now += ms;
    },
    now: () => new Date(now),
    env: { AWS_REGION: 'us-east-1' },
    root: PROJECT_ROOT,
    cwd: PROJECT_ROOT,
    pollMs: 5_000,
    stdoutText: () => ctx.out.join(''),
    stderrText: () => ctx.err.join(''),
  };
  return ctx;
}

export const CALLER_ACCOUNT = '999999999999';

/** Mocks every SDK client the CLI uses, so a test can assert that none was called. */
export function mockAll() {
  const m = {
    cfn: mockClient(CloudFormationClient),
    s3: mockClient(S3Client),
    sts: mockClient(STSClient),
    org: mockClient(OrganizationsClient),
    ssm: mockClient(SSMClient),
    ddb: mockClient(DynamoDBClient),
    doc: mockClient(DynamoDBDocumentClient),
  };
  // No stack yet (ListStacks, API reference: StackSummaries); tests that need stacks set their own.
  m.cfn.on(ListStacksCommand).resolves({ StackSummaries: [] });
  // Every mutating command names its account first (aws://ACCOUNT/REGION); tests may override it.
  m.sts
    .on(GetCallerIdentityCommand)
    .resolves({ Account: CALLER_ACCOUNT, Arn: `arn:aws:iam::${CALLER_ACCOUNT}:user/op` });
  return {
    ...m,
    /** Names of every command sent to any client, in the order they were sent. */
    commandNames: () =>
      Object.values(m)
        .flatMap((x) => x.calls() as unknown as Array<{ callId: number; args: unknown[] }>)
        // sinon numbers every call across all stubs (callId), so this is the order they were sent in.
        .sort((a, b) => a.callId - b.callId)
        .map((c) => (c.args[0] as object).constructor.name),
    totalCalls: () => Object.values(m).reduce((n, x) => n + x.calls().length, 0),
    restore: () => Object.values(m).forEach((x) => x.restore()),
  };
}

export const awsError = (name: string, message: string, status = 400) =>
  Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: status } });

/**
 * Fresh mocked clients around every test of the file (made before each, restored after):
 * `const mocks = mocksEachTest(mockAll);` always reads the current test's set.
 */
export function mocksEachTest<M extends { restore(): void }>(make: () => M): M {
  let current: M | undefined;
  beforeEach(() => {
    current = make();
  });
  afterEach(() => current?.restore());
  return new Proxy({} as M, { get: (_, key) => Reflect.get(current as object, key) });
}
