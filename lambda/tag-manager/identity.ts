// The calling agency, proven by AWS: each agency may invoke only its own alias
// (agency-<account>) of this function, so the alias in invokedFunctionArn names the caller.
import { ACCOUNT_ID_BODY, AGENCY_ALIAS_PATTERN, PARTITION_BODY, patternOf } from '../../contract/patterns.ts';

/** Where the hub runs, from its own function ARN: what the ARNs of its managed nodes are built from. */
export interface HubLocation {
  partition: string;
  region: string;
  account: string;
}

export type Identity =
  { ok: true; agencyAccountId: string; alias: string; hub: HubLocation } | { ok: false; reason: string };

// arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]
const FUNCTION_ARN = /* @__PURE__ */ patternOf([
  '^arn:(',
  PARTITION_BODY,
  '):lambda:([a-z0-9-]+):(',
  ACCOUNT_ID_BODY,
  '):function:[A-Za-z0-9_-]+(?::([^:]+))?$',
]);

export function agencyFromArn(invokedFunctionArn: unknown): Identity {
  if (typeof invokedFunctionArn !== 'string') return { ok: false, reason: 'no invoked function ARN in the context' };
  const m = FUNCTION_ARN.exec(invokedFunctionArn);
  if (!m) return { ok: false, reason: 'invoked function ARN is not a Lambda function ARN' };
  const qualifier = m[4];
  if (qualifier === undefined) return { ok: false, reason: 'unqualified invocation: call your agency alias' };
  const alias = AGENCY_ALIAS_PATTERN.exec(qualifier);
  if (!alias) return { ok: false, reason: 'invoked through a version or an alias that is not agency-<12 digits>' };
  return {
    ok: true,
    agencyAccountId: alias[1]!,
    alias: qualifier,
    hub: { partition: m[1]!, region: m[2]!, account: m[3]! },
  };
}
