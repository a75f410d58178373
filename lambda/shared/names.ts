// Names shared by the template builders and the Lambda handlers. A name that one side
// writes and the other reads lives here, so the two cannot drift apart.

/** Alias of the central tag manager that one agency account may invoke: agency-<12 digits>. */
export const AGENCY_ALIAS_PREFIX = 'agency-';
export const AGENCY_ALIAS_PATTERN = /^agency-(\d{12})$/;

export const agencyAliasName = (agencyAccountId: string): string => `${AGENCY_ALIAS_PREFIX}${agencyAccountId}`;

/** EC2 tag on an agency instance that records its managed node ID (mi-…). Kept from the original blog. */
export const MANAGED_INSTANCE_ID_TAG = 'managedinstanceid';

/** Suffixes appended to the reserved tag prefix (e.g. "central-it:" + "agency-account"). */
export const PROVENANCE_TAG_SUFFIXES = {
  /** Written by the tag manager on every synced node: the agency that owns it. */
  agencyAccount: 'agency-account',
  /** Written by the tag manager on every synced node: the EC2 instance behind it. */
  ec2InstanceId: 'ec2-instance-id',
  /** Stamped by the hybrid activation at registration time. Agencies cannot change it (the tag
   *  manager never writes reserved keys); central principals with SSM tagging rights could. */
  activationAgency: 'activation-agency',
  /** Written on the EC2 instance by the registration worker when registration failed. */
  registrationError: 'registration-error',
  /** Written on the EC2 instance by the way back; registration then leaves the instance alone. */
  registrationOptOut: 'registration-opt-out',
} as const;

/** Environment variables of each Lambda function, set by the template builders. */
export const TAG_MANAGER_ENV = {
  syncTableName: 'SYNC_TABLE_NAME',
  reservedTagPrefix: 'RESERVED_TAG_PREFIX',
  activationParameterPrefix: 'ACTIVATION_PARAMETER_PREFIX',
  metricNamespace: 'METRIC_NAMESPACE',
  ssmConcurrency: 'SSM_CONCURRENCY',
  agencyRequestsPerMinute: 'AGENCY_REQUESTS_PER_MINUTE',
} as const;

export const ACTIVATION_MANAGER_ENV = {
  activationParameterPrefix: 'ACTIVATION_PARAMETER_PREFIX',
  activationKmsKeyId: 'ACTIVATION_KMS_KEY_ID',
  managedNodeRoleName: 'MANAGED_NODE_ROLE_NAME',
  reservedTagPrefix: 'RESERVED_TAG_PREFIX',
  rotateDaysBeforeExpiry: 'ROTATE_DAYS_BEFORE_EXPIRY',
  rotateAtUsagePercent: 'ROTATE_AT_USAGE_PERCENT',
  metricNamespace: 'METRIC_NAMESPACE',
} as const;

export const COLLECTOR_ENV = {
  hubFunctionArn: 'HUB_FUNCTION_ARN',
  activationParameterPath: 'ACTIVATION_PARAMETER_PATH',
  reservedTagPrefix: 'RESERVED_TAG_PREFIX',
  metricNamespace: 'METRIC_NAMESPACE',
} as const;

/** Agency-side SecureString parameters that hold the current activation: <path>/id and <path>/code. */
export const activationParameterNames = (path: string): { id: string; code: string } => ({
  id: `${path}/id`,
  code: `${path}/code`,
});

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
  },
  /**
   * One row per agency, key `rate#<account>`, counts its requests in the current minute. It has no
   * agencyAccountId attribute, so it never appears in the byAgency index or among node rows.
   */
  rateKeyPrefix: 'rate#',
} as const;

/** Function timeouts, shared by the templates and the code that budgets its time against them. */
export const TAG_MANAGER_TIMEOUT_SECONDS = 300;
export const COLLECTOR_TIMEOUT_SECONDS = 900;
/** The collector starts a hub request only with this much time left: one full tag-manager call and a margin. */
export const HUB_CALL_RESERVE_MS = (TAG_MANAGER_TIMEOUT_SECONDS + 20) * 1000;

/**
 * An AWS Region name (us-east-1, us-gov-west-1, ap-southeast-5, us-isob-east-1), as the
 * templates, the documents and the CLI all check it: one rule in one place.
 */
export const REGION_NAME_PATTERN = '^[a-z]{2}(-[a-z]+)+-\\d+$';
