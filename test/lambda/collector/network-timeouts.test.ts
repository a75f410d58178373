// The bundled collector against endpoints that accept a connection and never answer (EC2, SSM,
// the hub's Lambda Invoke), on a fake clock: each call ends with an error naming it, after its
// own timeout and before the invocation would be killed.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { COLLECTOR_ENV, COLLECTOR_TIMEOUT_SECONDS, TAG_MANAGER_TIMEOUT_SECONDS } from '../../../lambda/shared/names.ts';
import { AWS_CALL_TIMEOUTS, HUB_INVOKE_TIMEOUTS } from '../../../contract/network.ts';
import { loadBundledHandler } from '../../../testing/helpers/bundled.ts';
import { settleOnFakeClock } from '../../../testing/helpers/fake-clock.ts';
import { startSilentEndpoint, type SilentEndpoint } from '../../../testing/helpers/silent-endpoint.ts';
import { Ec2Fake } from '../../../testing/fakes/ec2-fake.ts';
import { LambdaFake, type InvokeHandler } from '../../../testing/fakes/lambda-fake.ts';
import { SsmParametersFake } from '../../../testing/fakes/ssm-parameters-fake.ts';

const AGENCY = '111122223333';
const HUB_ARN = `arn:aws:lambda:eu-west-1:999988887777:function:ssm-hub-tag-manager:agency-${AGENCY}`;
const ENV = {
  [COLLECTOR_ENV.hubFunctionArn]: HUB_ARN,
  [COLLECTOR_ENV.activationParameterPath]: '/central-hub/activation',
  [COLLECTOR_ENV.reservedTagPrefix]: 'central-it:',
  [COLLECTOR_ENV.metricNamespace]: 'SsmHub/ssm-hub',
};
const ec2Id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const miId = (n: number) => `mi-${(n + 0xabc).toString(16).padStart(17, '0')}`;
const scheduled = { version: '0', source: 'aws.events', 'detail-type': 'Scheduled Event', resources: [], detail: {} };
const tagChange = {
  version: '0',
  source: 'aws.tag',
  'detail-type': 'Tag Change on Resource',
  account: AGENCY,
  resources: [`arn:aws:ec2:us-east-1:${AGENCY}:instance/${ec2Id(2)}`],
  detail: { service: 'ec2', 'resource-type': 'instance', tags: { managedinstanceid: miId(2) } },
};
const applies: InvokeHandler = async (payload) => {
  const p = payload as { op: string; instances?: Array<{ ec2InstanceId: string; managedInstanceId: string }> };
  if (p.op === 'activation')
    return {
      activationId: 'act-1',
      activationCode: 'PLANTED-X',
      region: 'eu-west-1',
      expiresAt: '2099-01-01T00:00:00Z',
    };
  if (p.op === 'report') return { recorded: 0 };
  return { results: (p.instances ?? []).map((i) => ({ ...i, status: 'applied' })) };
};

const ec2 = new Ec2Fake();
const hub = new LambdaFake();
const ssm = new SsmParametersFake();
const urls: Record<'ec2' | 'lambda' | 'ssm', string> = { ec2: '', lambda: '', ssm: '' };
let silent: SilentEndpoint;
let lines: string[] = [];

/** A fresh collector whose `service` endpoint never answers (the others are the loopback fakes). */
async function collectorWithSilent(service: keyof typeof urls) {
  for (const [s, url] of Object.entries(urls)) vi.stubEnv(`AWS_ENDPOINT_URL_${s.toUpperCase()}`, url);
  vi.stubEnv(`AWS_ENDPOINT_URL_${service.toUpperCase()}`, silent.url);
  const collector = await loadBundledHandler('collector');
  (collector['setLogSink'] as (s: (l: string) => void) => void)((l) => lines.push(l));
  return collector;
}
/** A Lambda context whose remaining time runs down with the (fake) clock. */
const contextWith = (ms: number) => {
  const started = Date.now();
  return { getRemainingTimeInMillis: () => ms - (Date.now() - started) };
};
const errors = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 'ERROR');

beforeAll(async () => {
  [urls.ec2, urls.lambda, urls.ssm] = await Promise.all([ec2.start(), hub.start(), ssm.start()]);
  silent = await startSilentEndpoint();
  for (const [name, value] of Object.entries(ENV)) vi.stubEnv(name, value);
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all([ec2.stop(), hub.stop(), ssm.stop(), silent.close()]);
});
beforeEach(() => {
  ec2.reset();
  hub.reset(applies);
  ssm.reset();
  lines = [];
});

describe('an endpoint that accepts and never answers', () => {
  it('ends a reconcile whose EC2 never answers with an error naming EC2 DescribeInstances, after retrying', async () => {
    const collector = await collectorWithSilent('ec2');
    const before = silent.connections();
    const run = await settleOnFakeClock(() => collector.handler(scheduled, contextWith(900_000)), {
      maxMs: COLLECTOR_TIMEOUT_SECONDS * 1000,
    });
    expect(run.outcome.kind).toBe('rejected');
    expect((run.outcome as { error: Error }).error.message).toMatch(/reconcile failed: CallTimeoutError/);
    const failed = errors().find((l) => l['message'] === 'reconcile failed');
    // The log line's `message` was overwritten by the error text before (fields spread last).
    expect(failed).toMatchObject({ errorType: 'CallTimeoutError' });
    expect(failed?.['error']).toMatch(/^EC2 DescribeInstances got no answer \(6 attempt\(s\)/);
    // Six attempts, each abandoned after the request timeout; well inside the 900 s function.
    expect(silent.connections() - before).toBe(6);
    expect(run.elapsedMs).toBeGreaterThanOrEqual(6 * AWS_CALL_TIMEOUTS.requestTimeoutMs);
    expect(run.elapsedMs).toBeLessThan(COLLECTOR_TIMEOUT_SECONDS * 1000);
    // The activation half still ran (its endpoints answer).
    expect(hub.payloadsOf('activation')).toHaveLength(1);
  });

  it('ends an activation refresh whose SSM never answers with an error naming SSM GetParameters', async () => {
    const collector = await collectorWithSilent('ssm');
    const run = await settleOnFakeClock(() => collector.handler(scheduled, contextWith(900_000)), {
      maxMs: COLLECTOR_TIMEOUT_SECONDS * 1000,
    });
    expect((run.outcome as { error?: Error }).error?.message).toMatch(/activation refresh failed: CallTimeoutError/);
    expect(JSON.stringify(errors())).toMatch(/SSM GetParameters got no answer/);
    expect(run.elapsedMs).toBeLessThan(COLLECTOR_TIMEOUT_SECONDS * 1000);
  });

  it('waits for a silent hub as long as the tag manager may run, then gives up before the collector is killed', async () => {
    const collector = await collectorWithSilent('lambda');
    // 330 s left: enough to start a hub call (HUB_CALL_RESERVE_MS, 320 s).
    const run = await settleOnFakeClock(() => collector.handler(tagChange, contextWith(330_000)), {
      stepMs: 500,
      maxMs: 400_000,
    });
    expect(run.outcome.kind).toBe('rejected');
    expect((run.outcome as { error: Error }).error.message).toMatch(/hub invocation failed: CallTimeoutError/);
    // Not abandoned while the tag manager could still answer...
    expect(run.elapsedMs).toBeGreaterThanOrEqual(HUB_INVOKE_TIMEOUTS.requestTimeoutMs);
    expect(HUB_INVOKE_TIMEOUTS.requestTimeoutMs).toBeGreaterThan(TAG_MANAGER_TIMEOUT_SECONDS * 1000);
    // ...and over before the invocation's 330 s are up, with a line that names the call.
    expect(run.elapsedMs).toBeLessThan(330_000);
    expect(JSON.stringify(errors())).toMatch(/hub Lambda Invoke got no answer/);
  });
});
