// The wiring every end-to-end test shares: the real collector bundle pointed at the agency
// account's fakes and at the hub harness through its alias, and a Lambda fake that runs the real
// tag manager with the ARN the collector invoked (alias included), as Lambda resolves it.
import { vi } from 'vitest';
import { COLLECTOR_ENV } from '../../lambda/shared/names.ts';
import { loadBundledHandler, type BundledHandler } from '../../testing/helpers/bundled.ts';
import type { AgencyAccount } from '../../testing/helpers/agency-account.ts';
import { AGENCY_A, FUNCTION_ARN, type Harness } from '../lambda/tag-manager/harness.ts';

/** Starts the agency's fakes, points the collector's environment at them and at AGENCY_A's alias, and loads the bundle. */
export async function wiredCollector(
  hub: Harness,
  agency: AgencyAccount,
  parameterPath: string,
): Promise<BundledHandler> {
  const endpoints = await agency.start(hub.ssm.endpoint);
  vi.stubEnv('AWS_ENDPOINT_URL_SSM', endpoints.ssm);
  vi.stubEnv('AWS_ENDPOINT_URL_EC2', endpoints.ec2);
  vi.stubEnv('AWS_ENDPOINT_URL_LAMBDA', endpoints.lambda);
  vi.stubEnv(COLLECTOR_ENV.hubFunctionArn, `${FUNCTION_ARN}:agency-${AGENCY_A}`);
  vi.stubEnv(COLLECTOR_ENV.activationParameterPath, parameterPath);
  return loadBundledHandler('collector');
}

/** Invoke (Lambda API reference): a Qualifier names the alias; the invoked ARN carries it once. */
export const invokeHub =
  (hub: Harness) =>
  (payload: unknown, meta: { functionName: string; qualifier?: string }): Promise<unknown> =>
    hub.invoke(
      meta.qualifier && !meta.functionName.endsWith(`:${meta.qualifier}`)
        ? `${meta.functionName}:${meta.qualifier}`
        : meta.functionName,
      payload,
    );
