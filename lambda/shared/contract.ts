// The invocation contract between an agency's collector and the central tag manager.
// Both sides validate with these schemas. The agency is never part of the payload: the
// tag manager takes it from the alias it was invoked through.
// zod/mini keeps the collector's bundle small enough for a 51,200-byte TemplateBody.
import * as z from 'zod/mini';
import { echoName } from './tag-rules.ts';

import {
  ERROR_CODES,
  MAX_INSTANCES_PER_REQUEST,
  MAX_REGISTRATION_ERRORS_PER_REPORT,
  REGISTRATION_ERROR_MAX_CHARS,
  RESULT_STATUSES,
} from '../../contract/names.ts';
import { EC2_INSTANCE_ID_PATTERN, MANAGED_INSTANCE_ID_PATTERN, REGION_NAME_PATTERN } from '../../contract/patterns.ts';
import { EC2_MAX_SYSTEM_TAGS_ASSUMED, EC2_MAX_USER_TAGS_PER_RESOURCE } from '../../contract/limits.ts';

export { ERROR_CODES, MAX_INSTANCES_PER_REQUEST, RESULT_STATUSES };
export { ACCOUNT_ID_PATTERN, EC2_INSTANCE_ID_PATTERN, MANAGED_INSTANCE_ID_PATTERN } from '../../contract/patterns.ts';

export const ec2InstanceIdSchema = z
  .string({ error: 'must be a string' })
  .check(z.regex(EC2_INSTANCE_ID_PATTERN, 'must be an EC2 instance ID like i-0123456789abcdef0'));
export const managedInstanceIdSchema = z
  .string({ error: 'must be a string' })
  .check(z.regex(MANAGED_INSTANCE_ID_PATTERN, 'must be a managed node ID: mi- followed by 17 hex digits'));

/** The most unknown field names one error lists (each one cut by echoName). */
export const MAX_ECHOED_NAMES = 5;

/** Unknown field names for an error message: each capped, at most MAX_ECHOED_NAMES of them. */
export function echoNames(names: readonly string[]): string {
  const shown = names.slice(0, MAX_ECHOED_NAMES).map(echoName).join(', ');
  return names.length > MAX_ECHOED_NAMES ? `${shown} and ${names.length - MAX_ECHOED_NAMES} more` : shown;
}

/**
 * Pure: why a set of EC2 tag keys is more than one instance can carry, or undefined. User tags
 * (keys not starting with aws:, in any case) at most EC2_MAX_USER_TAGS_PER_RESOURCE, aws: tags at
 * most EC2_MAX_SYSTEM_TAGS_ASSUMED.
 */
export function tagCountViolation(keys: readonly string[]): string | undefined {
  let system = 0;
  for (const key of keys) if (key.slice(0, 4).toLowerCase() === 'aws:') system++;
  const user = keys.length - system;
  if (user > EC2_MAX_USER_TAGS_PER_RESOURCE)
    return `must hold at most ${EC2_MAX_USER_TAGS_PER_RESOURCE} tags not starting with aws: (EC2's limit per instance); got ${user}`;
  if (system > EC2_MAX_SYSTEM_TAGS_ASSUMED)
    return `must hold at most ${EC2_MAX_SYSTEM_TAGS_ASSUMED} tags starting with aws:; got ${system}`;
  return undefined;
}

const isRecordLike = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * EC2 tags as the collector read them: raw, before any SSM rule is applied (the tag manager filters).
 * Tags are data: the result has no prototype and keeps every own key, `__proto__` and `constructor`
 * included (z.record would silently drop a `__proto__` key).
 */
export const rawTagsSchema = z.pipe(
  z.custom<Record<string, unknown>>(isRecordLike, { error: 'must be an object of tag key to tag value' }),
  z.transform((input, ctx) => {
    const tags = Object.create(null) as Record<string, string>;
    const keys = Object.keys(input);
    // EC2 holds at most 50 user tags per instance, plus AWS's own aws: tags. More than an instance
    // can carry is refused whole: every skipped tag is echoed in the answer, which must stay under
    // Lambda's 6 MB response limit.
    const violation = tagCountViolation(keys);
    if (violation) {
      ctx.issues.push({ code: 'custom', message: violation, input: undefined });
      return tags;
    }
    for (const key of keys) {
      const value = input[key];
      if (typeof value === 'string') tags[key] = value;
      else ctx.issues.push({ code: 'custom', message: 'tag values must be strings', input: value, path: [key] });
    }
    return tags;
  }),
);

const unknownFieldsError = (iss: { code?: string; keys?: string[] }) =>
  iss.code === 'unrecognized_keys' ? `unknown field(s): ${echoNames(iss.keys ?? [])}` : 'must be an object';

export const syncInstanceSchema = z.strictObject(
  {
    ec2InstanceId: ec2InstanceIdSchema,
    managedInstanceId: managedInstanceIdSchema,
    tags: rawTagsSchema,
    // When the collector observed these tags (older collectors omit it: applied as before), and the
    // tag-change event's detail.version, which orders two events of the same second.
    observedAt: z.optional(z.iso.datetime({ error: 'must be an ISO 8601 UTC date-time' })),
    observedVersion: z.optional(z.int({ error: 'must be an integer' }).check(z.nonnegative('must not be negative'))),
  },
  { error: unknownFieldsError },
);
export const deregisterInstanceSchema = z.strictObject(
  { ec2InstanceId: ec2InstanceIdSchema, managedInstanceId: managedInstanceIdSchema },
  { error: unknownFieldsError },
);

const instancesArray = z
  .array(z.unknown(), { error: 'must be an array' })
  .check(
    z.minLength(1, 'must hold at least one instance'),
    z.maxLength(MAX_INSTANCES_PER_REQUEST, `must hold at most ${MAX_INSTANCES_PER_REQUEST} instances`),
  );
const unknownFields = { error: unknownFieldsError };

/** One instance whose registration failed, with the error its registration-error tag holds. */
export const registrationErrorSchema = z.strictObject(
  {
    ec2InstanceId: ec2InstanceIdSchema,
    error: z
      .string({ error: 'must be a string' })
      .check(z.maxLength(REGISTRATION_ERROR_MAX_CHARS, `must be at most ${REGISTRATION_ERROR_MAX_CHARS} characters`)),
  },
  { error: unknownFieldsError },
);
/** Every registration error the collector sees now (an empty list clears the agency's record). */
const registrationErrorsArray = z
  .array(registrationErrorSchema, { error: 'must be an array' })
  .check(
    z.maxLength(
      MAX_REGISTRATION_ERRORS_PER_REPORT,
      `must hold at most ${MAX_REGISTRATION_ERRORS_PER_REPORT} registration errors`,
    ),
  );

/**
 * The request envelope. Entries are validated one by one afterwards, so a batch with a few bad
 * entries still processes the good ones.
 */
export const requestEnvelopeSchema = z.discriminatedUnion(
  'op',
  [
    z.strictObject({ op: z.literal('sync'), instances: instancesArray }, unknownFields),
    z.strictObject({ op: z.literal('deregister'), instances: instancesArray }, unknownFields),
    z.strictObject({ op: z.literal('activation') }, unknownFields),
    z.strictObject(
      {
        op: z.literal('report'),
        registrationErrors: registrationErrorsArray,
        // The collector's own Region: the hub keeps one "reported at" per Region (older collectors omit it).
        region: z.optional(
          z
            .string({ error: 'must be a string' })
            .check(z.regex(new RegExp(REGION_NAME_PATTERN), 'must be a Region name')),
        ),
      },
      unknownFields,
    ),
  ],
  { error: 'op must be one of sync, deregister, activation, report' },
);

export type SyncInstance = z.infer<typeof syncInstanceSchema>;
export type RegistrationError = z.infer<typeof registrationErrorSchema>;
/** The hub's answer to a report: how many registration errors it recorded for the agency. */
export interface ReportResponse {
  recorded: number;
}
export type DeregisterInstance = z.infer<typeof deregisterInstanceSchema>;
export type RequestEnvelope = z.infer<typeof requestEnvelopeSchema>;

export const resultStatusSchema = z.enum(RESULT_STATUSES);
export type ResultStatus = z.infer<typeof resultStatusSchema>;

export const instanceResultSchema = z.object({
  managedInstanceId: z.string(),
  ec2InstanceId: z.optional(z.string()),
  status: resultStatusSchema,
  reason: z.optional(z.string()),
  /** Tags that could not be copied to SSM, with the rule each broke. */
  skippedTags: z.optional(z.array(z.object({ key: z.string(), reason: z.string() }))),
});
export type InstanceResult = z.infer<typeof instanceResultSchema>;

export const batchResponseSchema = z.object({ results: z.array(instanceResultSchema) });
export type BatchResponse = z.infer<typeof batchResponseSchema>;

export const activationResponseSchema = z.object({
  activationId: z.string().check(z.minLength(1)),
  activationCode: z.string().check(z.minLength(1)),
  region: z.string().check(z.minLength(1)),
  expiresAt: z.iso.datetime(),
});
export type ActivationResponse = z.infer<typeof activationResponseSchema>;

/** A refused request. `field` names the part of the payload that broke a rule, when there is one. */
export const errorResponseSchema = z.object({
  error: z.object({ code: z.enum(ERROR_CODES), message: z.string(), field: z.optional(z.string()) }),
});
export type ErrorResponse = z.infer<typeof errorResponseSchema>;

/** Renders a zod issue path as `instances[3].managedInstanceId`. */
export function formatIssuePath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${echoName(String(part))}` : echoName(String(part));
  }
  return out || '(request)';
}

/** The first issue of a failed parse as `field: message`, for one clear error. */
export function firstIssue(
  error: z.core.$ZodError,
  basePath: ReadonlyArray<PropertyKey> = [],
): { field: string; message: string } {
  const issue = error.issues[0];
  const field = formatIssuePath([...basePath, ...(issue?.path ?? [])]);
  return { field, message: `${field}: ${issue?.message ?? 'is invalid'}` };
}
