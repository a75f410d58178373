// Request validation: the envelope first (one clear error naming the field), then each entry on
// its own, so a batch with a few bad entries still processes the good ones.
import {
  deregisterInstanceSchema,
  firstIssue,
  formatIssuePath,
  requestEnvelopeSchema,
  syncInstanceSchema,
  type DeregisterInstance,
  type ErrorResponse,
  type InstanceResult,
  type RegistrationError,
  type SyncInstance,
} from '../shared/contract.ts';

export type Entry<T> = { index: number; ok: true; value: T } | { index: number; ok: false; result: InstanceResult };

export type ValidRequest =
  | { op: 'activation' }
  | { op: 'report'; registrationErrors: RegistrationError[]; region?: string }
  | { op: 'sync'; entries: Entry<SyncInstance>[] }
  | { op: 'deregister'; entries: Entry<DeregisterInstance>[] };

export type Validation = { ok: true; request: ValidRequest } | { ok: false; error: ErrorResponse };

/** The entry's node ID for the result line: the one sent when it is a string, else its position. */
/**
 * The first issue as field + message. An unknown field is named itself (not its parent object),
 * since that is the field to fix; the agency in particular can never be sent in the payload.
 */
export function describeIssue(
  error: unknown,
  basePath: ReadonlyArray<PropertyKey> = [],
): { field: string; message: string } {
  const issue = (error as { issues?: Array<{ code?: string; keys?: string[]; path?: PropertyKey[] }> }).issues?.[0];
  if (issue?.code === 'unrecognized_keys' && issue.keys?.length) {
    const field = formatIssuePath([...basePath, ...(issue.path ?? []), issue.keys[0]!]);
    return {
      field,
      message: `${field}: is not a known field (the agency is taken from the alias invoked, never from the payload)`,
    };
  }
  return firstIssue(error as Parameters<typeof firstIssue>[0], basePath);
}

function labelOf(raw: unknown, index: number): string {
  const id = (raw as { managedInstanceId?: unknown } | null)?.managedInstanceId;
  return typeof id === 'string' && id.length > 0 ? id.slice(0, 64) : `instances[${index}]`;
}

function entries<T>(
  raw: unknown[],
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: unknown } },
): Entry<T>[] {
  const seen = new Map<string, number>();
  return raw.map((item, index): Entry<T> => {
    const parsed = schema.safeParse(item);
    if (!parsed.success) {
      const { message } = describeIssue(parsed.error, ['instances', index]);
      return {
        index,
        ok: false,
        result: { managedInstanceId: labelOf(item, index), status: 'failed', reason: `invalid: ${message}` },
      };
    }
    const id = (parsed.data as { managedInstanceId: string }).managedInstanceId;
    const first = seen.get(id);
    if (first !== undefined) {
      return {
        index,
        ok: false,
        result: {
          managedInstanceId: id,
          status: 'failed',
          reason: `invalid: instances[${index}].managedInstanceId: duplicate of instances[${first}]`,
        },
      };
    }
    seen.set(id, index);
    return { index, ok: true, value: parsed.data };
  });
}

export function validateRequest(event: unknown): Validation {
  const parsed = requestEnvelopeSchema.safeParse(event);
  if (!parsed.success) {
    const { field, message } = describeIssue(parsed.error);
    return { ok: false, error: { error: { code: 'InvalidRequest', field, message } } };
  }
  const req = parsed.data;
  if (req.op === 'activation') return { ok: true, request: { op: 'activation' } };
  if (req.op === 'report')
    return { ok: true, request: { op: 'report', registrationErrors: req.registrationErrors, region: req.region } };
  if (req.op === 'sync')
    return { ok: true, request: { op: 'sync', entries: entries(req.instances, syncInstanceSchema) } };
  return { ok: true, request: { op: 'deregister', entries: entries(req.instances, deregisterInstanceSchema) } };
}
