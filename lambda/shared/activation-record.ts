// One agency's activation record, stored by the activation manager as a SecureString
// parameter (KMS-encrypted) in the central account and read by the tag manager. The code
// never leaves this record except in the `activation` answer to that same agency.
import * as z from 'zod/mini';
import { ACCOUNT_ID_PATTERN } from '../../contract/patterns.ts';

const iso = z.iso.datetime();

export const activationRecordSchema = z.object({
  agencyAccountId: z.string().check(z.regex(ACCOUNT_ID_PATTERN)),
  current: z.object({
    activationId: z.string().check(z.minLength(1)),
    activationCode: z.string().check(z.minLength(1)),
    /** Region the activation was created in (the hub Region). */
    region: z.string().check(z.minLength(1)),
    expiresAt: iso,
    createdAt: iso,
    registrationLimit: z.number(),
  }),
  /** Older activations still valid; each is deleted once it expires. */
  previous: z.array(z.object({ activationId: z.string(), expiresAt: iso })),
  /** Every activation ever issued to this agency (newest first, capped), for node ownership checks. */
  knownActivationIds: z.array(z.string()),
  /** The registration limit asked for, when the quota or the tier cut the current one below it. */
  requestedRegistrationLimit: z.optional(z.number()),
  /** The stack (CloudFormation StackId) whose Custom::AgencyActivation owns this record; absent in older records. */
  stackId: z.optional(z.string()),
  /** Expiry days asked for by a stack update that found no room; the next rotation uses them. */
  requestedExpiryDays: z.optional(z.number()),
  /** Last rotation failure, visible to `status`; cleared by the next success. */
  lastRotationError: z.optional(z.string()),
});
export type ActivationRecord = z.infer<typeof activationRecordSchema>;

// 50 UUIDs (~1.9 KB) keep the record well inside a 4 KB Standard-tier parameter; older nodes are
// still proven by the tag their activation stamped.
export const MAX_KNOWN_ACTIVATION_IDS = 50;
