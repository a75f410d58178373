// SDK clients, created on first use so a test can set the environment (endpoints, retry
// settings) before the first call. Endpoints come from the SDK's own AWS_ENDPOINT_URL_<SERVICE>;
// the retry settings come from the function's configuration (contract/environment.ts).
// Connection and request timeouts: contract/network.ts (AWS_CALL_TIMEOUTS).
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';
import type { TagManagerConfig } from './config.ts';
import { nameTimeouts, timeoutOptions } from '../shared/timeouts.ts';

const MAX_DELAY_MS = 20_000;

/**
 * Full-jitter exponential backoff on throttling, transient and server errors, without the adaptive
 * rate limiter. Used only when RETRY_BASE_DELAY_MS is set (tests use a few ms).
 */
export function backoffRetryStrategy(attempts: number, baseDelayMs: number): RetryStrategyV2 {
  const token = (count: number, delay: number): RetryToken => ({
    getRetryCount: () => count,
    getRetryDelay: () => delay,
  });
  return {
    acquireInitialRetryToken: async () => token(0, 0),
    refreshRetryTokenForRetry: async (previous, info: RetryErrorInfo) => {
      const count = previous.getRetryCount() + 1;
      if (count >= attempts || info.errorType === 'CLIENT_ERROR') throw new Error('No retry token available');
      const base = info.errorType === 'THROTTLING' ? baseDelayMs * 5 : baseDelayMs;
      return token(count, Math.floor(Math.random() * Math.min(MAX_DELAY_MS, base * 2 ** count)));
    },
    recordSuccess: () => undefined,
  };
}

type RetrySettings = Pick<TagManagerConfig, 'ssmMaxAttempts' | 'retryBaseDelayMs'>;

function retryConfig({ ssmMaxAttempts: attempts, retryBaseDelayMs: base }: RetrySettings) {
  if (base !== undefined) {
    return { maxAttempts: attempts, retryStrategy: backoffRetryStrategy(attempts, base), ...timeoutOptions() };
  }
  // Adaptive: standard retries plus a client-side rate limiter that slows down on throttling.
  return { maxAttempts: attempts, retryMode: 'adaptive' as const, ...timeoutOptions() };
}

let ssm: SSMClient | undefined;
let ddb: DynamoDBDocumentClient | undefined;
let tagging: ResourceGroupsTaggingAPIClient | undefined;

/** The Resource Groups Tagging API (bulk tag reads of the drift pass); same retries as SSM. */
export function taggingClient(settings: RetrySettings): ResourceGroupsTaggingAPIClient {
  tagging ??= nameTimeouts(new ResourceGroupsTaggingAPIClient(retryConfig(settings)), 'Resource Groups Tagging API');
  return tagging;
}

export function ssmClient(settings: RetrySettings): SSMClient {
  ssm ??= nameTimeouts(new SSMClient(retryConfig(settings)), 'SSM');
  return ssm;
}

export function tableClient(settings: RetrySettings): DynamoDBDocumentClient {
  ddb ??= DynamoDBDocumentClient.from(nameTimeouts(new DynamoDBClient(retryConfig(settings)), 'DynamoDB'), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return ddb;
}
