// Names shared by the template builders, the documents, the Lambda handlers and the CLI. A name
// that one side writes and the other reads lives here, so the two cannot drift apart.
import { AGENCY_ALIAS_PREFIX } from './patterns.ts';

/** The templates the build writes, in deployment order (agency-collector before agency-registration); central-operations is optional. */
export const TEMPLATE_NAMES = [
  'central-manager',
  'agency-permissions',
  'agency-collector',
  'agency-registration',
  'central-operations',
] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

/**
 * The agency-side templates, each rolled out by its own StackSet with the same targets, in this
 * order: an upgrade from the single agency template first updates agency-collector, which deletes
 * the old register document and zero-touch association, before agency-registration creates its own.
 */
export const AGENCY_TEMPLATE_NAMES = ['agency-collector', 'agency-registration'] as const;
export type AgencyTemplateName = (typeof AGENCY_TEMPLATE_NAMES)[number];

/** The reserved tag prefix when the configuration names none. */
export const DEFAULT_RESERVED_TAG_PREFIX = 'central-it:';

export const agencyAliasName = (agencyAccountId: string): string => `${AGENCY_ALIAS_PREFIX}${agencyAccountId}`;

/** EC2 tag on an agency instance that records its managed node ID (mi-…). Kept from the original blog. */
export const MANAGED_INSTANCE_ID_TAG = 'managedinstanceid';

/** Suffixes appended to the reserved tag prefix (e.g. "central-it:" + "agency-account"). */
export const PROVENANCE_TAG_SUFFIXES = {
  /** Written by the tag manager on every synced node: the agency that owns it. */
  agencyAccount: 'agency-account',
  /** Written by the tag manager on every synced node: the EC2 instance behind it. */
  ec2InstanceId: 'ec2-instance-id',
  /** Written by the tag manager on every synced node: the node's own ARN,
   *  arn:<partition>:ssm:<region>:<account>:managed-instance/<mi-id>, the form ssm:SourceInstanceARN
   *  takes. The node role's policy denies node reports on a node whose tag names another caller. */
  nodeArn: 'node-arn',
  /** Stamped by the hybrid activation at registration time. Agencies cannot change it (the tag
   *  manager never writes reserved keys); central principals with SSM tagging rights could. */
  activationAgency: 'activation-agency',
  /** Written on the EC2 instance by the registration worker when registration failed. */
  registrationError: 'registration-error',
  /** Written on the EC2 instance by the way back; registration then leaves the instance alone. */
  registrationOptOut: 'registration-opt-out',
} as const;

/** Agency-side SecureString parameters that hold the current activation: <path>/id and <path>/code. */
export const activationParameterNames = (path: string): { id: string; code: string } => ({
  id: `${path}/id`,
  code: `${path}/code`,
});

/**
 * Written to <path>/id while a refresh replaces both the ID and the code (the collector's
 * refreshActivation): not an activation ID, so the registration documents refuse it (they check
 * the ID against the activation ID pattern before touching the agent) instead of reading a code
 * with another activation's ID.
 */
export const ACTIVATION_ID_PLACEHOLDER = 'refresh-in-progress';

/** Central-side SecureString parameter holding one agency's activation record. */
export const centralActivationParameterName = (prefix: string, agencyAccountId: string): string =>
  `${prefix}/${agencyAccountId}`;

/** The sync-state table (central account): one item per managed node. */
export const SYNC_TABLE = {
  partitionKey: 'managedInstanceId',
  /** Global secondary index: every node of one agency, for status and ownership reports. */
  agencyIndexName: 'byAgency',
  agencyIndexPartitionKey: 'agencyAccountId',
  attributes: {
    managedInstanceId: 'managedInstanceId',
    agencyAccountId: 'agencyAccountId',
    ec2InstanceId: 'ec2InstanceId',
    /** sha256 of the sorted key=value pairs last applied to SSM. */
    fingerprint: 'fingerprint',
    /** The non-reserved keys last applied, so removals in EC2 can be mirrored without reading SSM. */
    appliedTagKeys: 'appliedTagKeys',
    lastSyncAt: 'lastSyncAt',
    lastError: 'lastError',
    /** When the drift pass last re-read this node's SSM tags. */
    lastDriftCheckAt: 'lastDriftCheckAt',
    /** When the tag set last applied was observed (ISO 8601, normalized), and its event's version. */
    observedAt: 'observedAt',
    observedVersion: 'observedVersion',
  },
  /**
   * One row per agency, key `rate#<account>`, counts its requests in the current minute. It has no
   * agencyAccountId attribute, so it never appears in the byAgency index or among node rows.
   */
  rateKeyPrefix: 'rate#',
  /**
   * One row per agency, key `regerr#<account>`, holds the registration errors its collector last
   * reported (map `registrationErrors`: EC2 instance ID to error text). Keyed by the agency the
   * alias names, so an agency can write only its own row; no agencyAccountId attribute, so it
   * never appears in the byAgency index or among node rows.
   */
  registrationErrorKeyPrefix: 'regerr#',
  /**
   * In an agency's `regerr#` row, one attribute per collector Region, `reportedAt#<region>`: when
   * that Region's collector last reported (beside `reportedAt`, the latest of any). The orphan
   * sweep's guard takes the oldest of them.
   */
  reportedAtRegionPrefix: 'reportedAt#',
  /**
   * In an agency's `regerr#` row, one attribute per collector Region, `registrationErrorCount#<region>`:
   * how many errors that Region's collector last reported. Its list lives in a row of its own, key
   * `regerr#<account>#<region>` (each Region's list can hold MAX_REGISTRATION_ERRORS_PER_REPORT
   * entries; several in one item could pass DynamoDB's 400 KB item limit). A collector of an earlier
   * release names no Region: its list stays in the agency row (`registrationErrors`,
   * `registrationErrorCount`, with `legacyReportedAt`), as before.
   */
  registrationErrorCountRegionPrefix: 'registrationErrorCount#',
  /** In an agency's `regerr#` row: when a collector that names no Region last reported. */
  legacyReportedAt: 'legacyReportedAt',
  /**
   * One row per agency, key `rejected#<account>`, holds the latest nodes the tag manager refused to
   * that agency (list `rejections`, newest first, one entry per node, at most MAX_REJECTIONS_KEPT).
   * Keyed by the caller the alias names, never by the refused node, so a refused request cannot
   * write into another agency's node row; no agencyAccountId attribute, so it never appears in the
   * byAgency index or among node rows.
   */
  rejectionKeyPrefix: 'rejected#',
} as const;

/** Rejections kept in an agency's `rejected#` row (the newest, one per node). */
export const MAX_REJECTIONS_KEPT = 50;

/** Registration errors one report may carry, and the characters kept of each error text. */
export const MAX_REGISTRATION_ERRORS_PER_REPORT = 500;
export const REGISTRATION_ERROR_MAX_CHARS = 256;

/** Function timeouts, shared by the templates and the code that budgets its time against them. */
export const TAG_MANAGER_TIMEOUT_SECONDS = 300;
export const COLLECTOR_TIMEOUT_SECONDS = 900;
/** The collector starts a hub request only with this much time left: one full tag-manager call and a margin. */
export const HUB_CALL_RESERVE_MS = (TAG_MANAGER_TIMEOUT_SECONDS + 20) * 1000;

/** Most instances one hub request may carry; keeps a request well under Lambda's 6 MB payload limit. */
export const MAX_INSTANCES_PER_REQUEST = 100;
/**
 * What the hub answers for each instance of a batch. `superseded`: the tag set was observed before the
 * one last applied to the node, so nothing was written (neither an error nor a refusal).
 */
export const RESULT_STATUSES = ['applied', 'unchanged', 'rejected', 'failed', 'superseded'] as const;
/** The codes of a whole-request refusal ({ error: { code } }). */
export const ERROR_CODES = ['InvalidRequest', 'Unauthorized', 'NotFound', 'Throttled', 'Internal'] as const;

/**
 * The list a collector that names no Region (an earlier release) left in the agency row is dropped
 * by a Region's report once it is this old (or has no time: the earlier hub wrote none): such a
 * collector reports at every reconcile (hourly by default), so a day without one means it was
 * upgraded or is gone, and its list would otherwise be shown for ever.
 */
export const LEGACY_REGISTRATION_ERRORS_MAX_AGE_HOURS = 24;
