// Network timeouts of the Lambda functions' SDK clients, in one place. @smithy/node-http-handler
// sets none by default (DEFAULT_REQUEST_TIMEOUT = 0, connectionTimeout 0 = "disabled"; its
// NodeHttpHandlerOptions docs), so an endpoint that accepts a connection and never answers would
// hold an invocation until Lambda kills it. Each attempt of a call is bounded by these numbers;
// the SDK retries a timeout (TimeoutError is a transient error in @smithy/core's retry module).
import { TAG_MANAGER_TIMEOUT_SECONDS } from './names.ts';

export interface CallTimeouts {
  /** TCP (and TLS) connection: a black-holed endpoint fails this fast. */
  readonly connectionTimeoutMs: number;
  /** An attempt until the answer's headers arrive, connection included; after them, the longest silence in the body. */
  readonly requestTimeoutMs: number;
}

/**
 * Every AWS API call the handlers make (EC2, SSM, DynamoDB, CloudFormation, Organizations, the
 * Tagging API). These answer in well under a second; one attempt must fit the smallest time
 * reserve a handler keeps (20 s: the tag manager's NODE_START_RESERVE_MS, the rotation's
 * ROTATION_TIME_RESERVE_MS; a test checks).
 */
export const AWS_CALL_TIMEOUTS: CallTimeouts = { connectionTimeoutMs: 3_000, requestTimeoutMs: 10_000 };

/**
 * The collector's synchronous Invoke of the hub's alias: the tag manager may legitimately work for
 * its whole timeout, so one attempt waits that long plus a margin, and no longer than the time the
 * collector keeps for a hub call (HUB_CALL_RESERVE_MS; a test checks).
 */
export const HUB_INVOKE_TIMEOUTS: CallTimeouts = {
  connectionTimeoutMs: 3_000,
  requestTimeoutMs: TAG_MANAGER_TIMEOUT_SECONDS * 1000 + 10_000,
};

/** The collector writes its activation parameters (up to three SSM writes) only with this much time left. */
export const ACTIVATION_WRITES_RESERVE_MS = 3 * AWS_CALL_TIMEOUTS.requestTimeoutMs;

/** The collector stops waiting for the hub this long before its own invocation would be killed. */
export const HUB_CALL_END_MARGIN_MS = 5_000;
