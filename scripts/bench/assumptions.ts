// The throughput and latency figures the simulated clock uses, each with where it comes from.
// Where AWS publishes no number we could confirm offline, the figure is an assumption and says so;
// BENCHMARKS.md prints this table so readers can redo the arithmetic with their own figures.
import type { ApiModel, SimOptions } from './model.ts';

export interface ApiAssumption extends ApiModel {
  api: string;
  source: string;
}

/** Tag-manager-side SSM APIs: per account and Region. */
const SSM_TPS = 5;
const SSM_LATENCY_MS = 60;

export const API_ASSUMPTIONS: readonly ApiAssumption[] = [
  ...(
    [
      'AddTagsToResource',
      'RemoveTagsFromResource',
      'ListTagsForResource',
      'DescribeInstanceInformation',
      'DeregisterManagedInstance',
    ] as const
  ).map((api): ApiAssumption => ({
    api,
    rate: SSM_TPS,
    burst: SSM_TPS,
    latencyMs: SSM_LATENCY_MS,
    throttleable: true,
    scope: 'account',
    source:
      'ASSUMED: AWS publishes no per-API rate for this call in the pages we could check offline; 5 TPS sustained per account is the rate cloud-custodian omnissm limits itself to',
  })),
  {
    api: 'GetResources',
    rate: SSM_TPS,
    burst: SSM_TPS,
    latencyMs: 150,
    throttleable: false,
    scope: 'account',
    source:
      'ASSUMED: no per-API rate for the Tagging API found offline; taken as low as the SSM calls. Up to 100 ARNs per call (API reference)',
  },
  {
    api: 'GetParameter',
    rate: 40,
    burst: 40,
    latencyMs: 30,
    throttleable: true,
    scope: 'account',
    source: 'ASSUMED from memory of the Parameter Store quotas (40 TPS default throughput, not confirmed offline)',
  },
  ...(['BatchGetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] as const).map((api): ApiAssumption => ({
    api,
    rate: Infinity,
    burst: Infinity,
    latencyMs: api === 'BatchGetItem' ? 15 : 8,
    throttleable: false,
    scope: 'account',
    source:
      'ASSUMED: on-demand table, far below its per-table throughput at this scale; typical in-Region latency (100 consistent reads per BatchGetItem)',
  })),
  {
    api: 'DescribeInstances',
    rate: 20,
    burst: 100,
    latencyMs: 300,
    throttleable: false,
    scope: 'agency',
    source:
      "ASSUMED: the agency's own EC2 bucket (non-mutating actions refill at about 20/s per EC2 throttling docs); 1,000 instances per page",
  },
];

/** Overhead of one warm synchronous Lambda Invoke from a collector to its alias. ASSUMED. */
export const INVOKE_OVERHEAD_MS = 30;
/** The tag manager's SSM_CONCURRENCY as the central-manager template sets it. */
export const POOL_SIZE = 5;
/** Lambda's maximum timeout: the "one Lambda run" of the goal. */
export const LAMBDA_MAX_SECONDS = 900;

export function simOptions(throttleRatio: number, seed = 7): SimOptions {
  return {
    apis: Object.fromEntries(API_ASSUMPTIONS.map((a) => [a.api, a])),
    poolSize: POOL_SIZE,
    invokeOverheadMs: INVOKE_OVERHEAD_MS,
    throttleRatio,
    // The tag manager's default SSM_MAX_ATTEMPTS.
    maxAttempts: 8,
    seed,
    // AWS SDK v3 (@smithy/util-retry): throttling base delay 1,000 ms, cap 20 s, full jitter.
    throttleBackoffBaseMs: 1000,
    backoffCapMs: 20_000,
  };
}
