// Validates the hub's answers against the invocation contract. Pure.
// These hand-written checks mirror the zod schemas of lambda/shared/contract.ts, which the
// tests parse side by side with them: importing zod would add ~27 KB to a bundle that must fit,
// with the documents, in a 51,200-byte TemplateBody. Only types come from the zod schemas; the
// constants come from the project contract, which has no zod.
import type { ActivationResponse, ErrorResponse, InstanceResult } from '../shared/contract.ts';
import { ERROR_CODES, RESULT_STATUSES } from '../../contract/names.ts';

export { ERROR_CODES, MAX_INSTANCES_PER_REQUEST, RESULT_STATUSES } from '../../contract/names.ts';
export { EC2_INSTANCE_ID_PATTERN, MANAGED_INSTANCE_ID_PATTERN } from '../../contract/patterns.ts';

/** A valid answer, or the path of the first field that broke the contract (never its value). */
export type Checked<T> = { ok: true; data: T } | { ok: false; field: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const optStr = (v: unknown): boolean => v === undefined || isStr(v);
const nonEmpty = (v: unknown): v is string => isStr(v) && v.length > 0;

/** RFC 3339 UTC date-time with seconds (`…Z`), as zod's iso.datetime() accepts, and a real calendar date. */
export function isIsoDateTime(v: unknown): v is string {
  if (!isStr(v) || !/^\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?Z$/.test(v)) return false;
  const d = new Date(v.slice(0, 19) + 'Z');
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 19) === v.slice(0, 19);
}

const fail = <T>(field: string): Checked<T> => ({ ok: false, field });

export function checkErrorAnswer(body: unknown): Checked<ErrorResponse> {
  if (!isObj(body)) return fail('(request)');
  const e = body['error'];
  if (!isObj(e)) return fail('error');
  if (!(ERROR_CODES as readonly unknown[]).includes(e['code'])) return fail('error.code');
  if (!isStr(e['message'])) return fail('error.message');
  if (!optStr(e['field'])) return fail('error.field');
  const error: ErrorResponse['error'] = { code: e['code'] as ErrorResponse['error']['code'], message: e['message'] };
  if (e['field'] !== undefined) error.field = e['field'] as string;
  return { ok: true, data: { error } };
}

function checkResult(r: unknown, at: string): Checked<InstanceResult> {
  if (!isObj(r)) return fail(at);
  if (!isStr(r['managedInstanceId'])) return fail(`${at}.managedInstanceId`);
  if (!optStr(r['ec2InstanceId'])) return fail(`${at}.ec2InstanceId`);
  if (!(RESULT_STATUSES as readonly unknown[]).includes(r['status'])) return fail(`${at}.status`);
  if (!optStr(r['reason'])) return fail(`${at}.reason`);
  const out: InstanceResult = {
    managedInstanceId: r['managedInstanceId'],
    status: r['status'] as InstanceResult['status'],
  };
  if (r['ec2InstanceId'] !== undefined) out.ec2InstanceId = r['ec2InstanceId'] as string;
  if (r['reason'] !== undefined) out.reason = r['reason'] as string;
  const skipped = r['skippedTags'];
  if (skipped !== undefined) {
    if (!Array.isArray(skipped)) return fail(`${at}.skippedTags`);
    out.skippedTags = [];
    for (const [j, s] of skipped.entries()) {
      if (!isObj(s)) return fail(`${at}.skippedTags[${j}]`);
      if (!isStr(s['key'])) return fail(`${at}.skippedTags[${j}].key`);
      if (!isStr(s['reason'])) return fail(`${at}.skippedTags[${j}].reason`);
      out.skippedTags.push({ key: s['key'], reason: s['reason'] });
    }
  }
  return { ok: true, data: out };
}

export function checkBatchAnswer(body: unknown): Checked<{ results: InstanceResult[] }> {
  if (!isObj(body)) return fail('(request)');
  const list = body['results'];
  if (!Array.isArray(list)) return fail('results');
  const results: InstanceResult[] = [];
  for (const [i, r] of list.entries()) {
    const c = checkResult(r, `results[${i}]`);
    if (!c.ok) return c;
    results.push(c.data);
  }
  return { ok: true, data: { results } };
}

export function checkActivationAnswer(body: unknown): Checked<ActivationResponse> {
  if (!isObj(body)) return fail('(request)');
  for (const k of ['activationId', 'activationCode', 'region'] as const) if (!nonEmpty(body[k])) return fail(k);
  if (!isIsoDateTime(body['expiresAt'])) return fail('expiresAt');
  const { activationId, activationCode, region, expiresAt } = body as ActivationResponse;
  return { ok: true, data: { activationId, activationCode, region, expiresAt } };
}
