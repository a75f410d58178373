// Every SDK client of the central functions (tag manager, fleet lifecycle, activation manager)
// against an endpoint that accepts and never answers, on a fake clock: each call ends after its
// retries with a CallTimeoutError naming the service and the operation. The collector's clients
// are covered through its bundle (test/lambda/collector/network-timeouts.test.ts).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DescribeInstanceInformationCommand, ListTagsForResourceCommand } from '@aws-sdk/client-ssm';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { ListAccountsCommand } from '@aws-sdk/client-organizations';
import { GetResourcesCommand } from '@aws-sdk/client-resource-groups-tagging-api';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { AWS_CALL_TIMEOUTS, HUB_CALL_END_MARGIN_MS, HUB_INVOKE_TIMEOUTS } from '../../contract/network.ts';
import { HUB_CALL_RESERVE_MS, TAG_MANAGER_TIMEOUT_SECONDS } from '../../contract/names.ts';
import { TAG_MANAGER_ENVIRONMENT } from '../../contract/environment.ts';
import * as tagManager from '../../lambda/tag-manager/clients.ts';
import * as lifecycle from '../../lambda/fleet-lifecycle/clients.ts';
import { activationTierSetting } from '../../lambda/activation-manager/ssm-io.ts';
import { stackStatus } from '../../lambda/activation-manager/stack-io.ts';
import { NODE_START_RESERVE_MS } from '../../lambda/tag-manager/context.ts';
import { ROTATION_TIME_RESERVE_MS } from '../../lambda/activation-manager/rotation.ts';
import { settleOnFakeClock } from '../../testing/helpers/fake-clock.ts';
import { startSilentEndpoint, type SilentEndpoint } from '../../testing/helpers/silent-endpoint.ts';

let silent: SilentEndpoint;
beforeAll(async () => {
  silent = await startSilentEndpoint();
  // Every service's endpoint (AWS SDK "Service-specific endpoints": AWS_ENDPOINT_URL is the fallback).
  vi.stubEnv('AWS_ENDPOINT_URL', silent.url);
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await silent.close();
});

describe('the timeouts fit the time each function keeps in reserve', () => {
  it.each([
    ["the tag manager's reserve for starting a node", NODE_START_RESERVE_MS],
    ["the rotation's reserve for starting an agency", ROTATION_TIME_RESERVE_MS],
  ])('one attempt of an AWS call is shorter than %s', (_what, reserveMs) => {
    expect(AWS_CALL_TIMEOUTS.connectionTimeoutMs).toBeLessThanOrEqual(AWS_CALL_TIMEOUTS.requestTimeoutMs);
    expect(AWS_CALL_TIMEOUTS.requestTimeoutMs).toBeLessThan(reserveMs);
  });

  it("waits for the hub longer than the tag manager's timeout, and ends within the collector's hub-call reserve", () => {
    expect(HUB_INVOKE_TIMEOUTS.requestTimeoutMs).toBeGreaterThan(TAG_MANAGER_TIMEOUT_SECONDS * 1000);
    expect(HUB_INVOKE_TIMEOUTS.requestTimeoutMs + HUB_CALL_END_MARGIN_MS).toBeLessThanOrEqual(HUB_CALL_RESERVE_MS);
  });
});

const tagManagerSettings = {
  ssmMaxAttempts: TAG_MANAGER_ENVIRONMENT.ssmMaxAttempts.default,
  retryBaseDelayMs: undefined,
};

describe('an endpoint that accepts and never answers', () => {
  it.each([
    [
      'tag manager',
      'SSM ListTagsForResource',
      tagManagerSettings.ssmMaxAttempts,
      () =>
        tagManager
          .ssmClient(tagManagerSettings)
          .send(
            new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: 'mi-0123456789abcdef0' }),
          ),
    ],
    [
      'tag manager',
      'DynamoDB GetItem',
      tagManagerSettings.ssmMaxAttempts,
      () => tagManager.tableClient(tagManagerSettings).send(new GetCommand({ TableName: 't', Key: { k: 'v' } })),
    ],
    [
      'tag manager',
      'Resource Groups Tagging API GetResources',
      tagManagerSettings.ssmMaxAttempts,
      () => tagManager.taggingClient(tagManagerSettings).send(new GetResourcesCommand({})),
    ],
    [
      'fleet lifecycle',
      'SSM DescribeInstanceInformation',
      6,
      () => lifecycle.ssm().send(new DescribeInstanceInformationCommand({})),
    ],
    [
      'fleet lifecycle',
      'DynamoDB Query',
      6,
      () =>
        lifecycle.ddb().send(
          new QueryCommand({
            TableName: 't',
            KeyConditionExpression: 'k = :v',
            ExpressionAttributeValues: { ':v': 'x' },
          }),
        ),
    ],
    ['fleet lifecycle', 'CloudFormation DescribeStacks', 6, () => lifecycle.cfn().send(new DescribeStacksCommand({}))],
    ['fleet lifecycle', 'Organizations ListAccounts', 6, () => lifecycle.orgs().send(new ListAccountsCommand({}))],
    [
      'activation manager',
      'SSM GetServiceSetting',
      6,
      () => activationTierSetting('/ssm/managed-instance/activation-tier'),
    ],
    [
      'activation manager',
      'CloudFormation DescribeStacks',
      6,
      () => stackStatus('arn:aws:cloudformation:us-east-1:111122223333:stack/s/0a1b2c3d-0000-0000-0000-000000000000'),
    ],
  ])('the %s ends %s with an error naming the call after %i attempts', async (_fn, call, attempts, start) => {
    const before = silent.connections();
    // At most the attempts' timeouts plus the SDK's longest retry delays (20 s each, @smithy/core retry).
    const bound = attempts * AWS_CALL_TIMEOUTS.requestTimeoutMs + (attempts - 1) * 20_000;
    const run = await settleOnFakeClock(start as () => Promise<unknown>, { stepMs: 500, maxMs: bound + 10_000 });
    expect(run.outcome.kind).toBe('rejected');
    const error = (run.outcome as { error: Error }).error;
    expect(error.name).toBe('CallTimeoutError');
    expect(error.message).toMatch(new RegExp(`^${call} got no answer \\(${attempts} attempt\\(s\\)`));
    expect(silent.connections() - before).toBe(attempts);
    expect(run.elapsedMs).toBeGreaterThanOrEqual(attempts * AWS_CALL_TIMEOUTS.requestTimeoutMs);
    expect(run.elapsedMs).toBeLessThanOrEqual(bound);
  });
});
