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
  /**
   * Replaced activations still valid: each is deleted once its grace period after `replacedAt` is
   * over (REPLACED_ACTIVATION_GRACE_HOURS) or it expires. Records of earlier releases have no
   * `replacedAt`: such an entry was replaced no later than the current activation was created.
   */
  previous: z.array(z.object({ activationId: z.string(), expiresAt: iso, replacedAt: z.optional(iso) })),
  /**
   * The agency's activations that a node may still carry (newest first): the live ones (current and
   * previous) and every deleted one while any managed node registered with it exists. The tag
   * manager proves ownership by them, the orphan sweep, offboarding and the quota count find the
   * agency's nodes by them; an ID is dropped once no node carries it.
   */
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

/** lastRotationError is cut to this many characters when stored: the record must fit 4 KB. */
export const LAST_ROTATION_ERROR_MAX_CHARS = 400;
