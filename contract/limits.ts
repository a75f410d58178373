// AWS limits the project depends on, each a named constant with the document that sets it.

/** A template over this many bytes must be deployed from S3 (TemplateURL): TemplateBody in CreateStack / CreateStackSet. */
export const TEMPLATE_BODY_MAX_BYTES = 51_200;

/** CloudFormation quotas (CloudFormation User Guide, "Quotas"). */
export const CLOUDFORMATION_LIMITS = {
  resources: 500,
  parameters: 200,
  outputs: 200,
  conditions: 200,
  logicalIdLength: 255,
  /** TemplateURL: an S3 object up to 1 MB. */
  templateUrlBytes: 1_048_576,
  templateBodyBytes: TEMPLATE_BODY_MAX_BYTES,
  descriptionBytes: 1024,
  /** Stack and StackSet names: a letter, then letters, digits and hyphens, 128 characters in all. */
  stackNameLength: 128,
  /** ClientRequestToken of a stack operation. */
  clientRequestTokenLength: 128,
} as const;
/**
 * Each agency template's budget (agency-collector, agency-registration; compact JSON): 10% under TemplateBody, so agency-side
 * features have room before the no-bucket StackSet rollout breaks (issue 14).
 */
export const AGENCY_TEMPLATE_MAX_BYTES = Math.floor(TEMPLATE_BODY_MAX_BYTES * 0.9);

/** SSM tags on a managed node (AddTagsToResource): count, key and value lengths. */
export const SSM_MAX_TAGS_PER_NODE = 50;
export const SSM_MAX_KEY_LENGTH = 128;
export const SSM_MAX_VALUE_LENGTH = 256;

/**
 * EC2 tags on one resource: at most 50 user tags. Keys starting with `aws:` (in any case) are AWS's
 * own and do not count toward that limit (Amazon EC2 User Guide, "Tag your Amazon EC2 resources",
 * Tag restrictions: "Maximum number of tags per resource – 50"; "Tags with this prefix do not count
 * against your tags per resource limit").
 */
export const EC2_MAX_USER_TAGS_PER_RESOURCE = 50;
/**
 * `aws:` system tags on one instance: AWS documents no number. An assumption (README, "What we
 * assumed"): the system tags AWS services set (CloudFormation 3, Auto Scaling 1, launch template 2,
 * EC2 Fleet, Service Catalog and the like) stay well under 50 on any one instance.
 */
export const EC2_MAX_SYSTEM_TAGS_ASSUMED = 50;

/** CreateActivation: RegistrationLimit 1–1000; ExpirationDate at most 30 days ahead. */
export const ACTIVATION_MAX_REGISTRATION_LIMIT = 1000;
export const ACTIVATION_MAX_EXPIRY_DAYS = 30;

/** A Parameter Store name (path included) holds at most 1,011 characters. */
export const PARAMETER_NAME_MAX_LENGTH = 1011;
/** A Standard-tier Parameter Store value holds at most 4 KB. */
export const STANDARD_PARAMETER_MAX_BYTES = 4096;
/** A custom-resource response body CloudFormation accepts (4,096 bytes). */
export const CUSTOM_RESOURCE_RESPONSE_MAX_BYTES = 4096;

/** Lambda's synchronous invocation payload (request and response): 6 MB. */
export const LAMBDA_SYNC_PAYLOAD_MAX_BYTES = 6_291_456;
/** Code.ZipFile holds at most 4 MB once zipped; the source itself is the safe bound to check. */
export const LAMBDA_ZIPFILE_MAX_BYTES = 4_194_304;

/** AWS::SSM::Document Content is at most 64 KB. */
export const SSM_DOCUMENT_MAX_BYTES = 65_536;

/** Lambda function memory, MB (MemorySize). */
/**
 * Lambda caps a function's environment at 4 KB, keys and values together (Lambda developer guide,
 * quotas: "Function environment variables: 4 KB"). The fleet lifecycle's carries the agency
 * template, so its two agency lists get what is left in the worst case (test/lifecycle/template.test.ts):
 * 50 account IDs, and OU or root IDs up to 540 characters (8 of the longest, about 30 usual ones).
 */
export const LAMBDA_ENVIRONMENT_MAX_BYTES = 4096;
export const AGENCY_ACCOUNTS_LIST_MAX_LENGTH = 50 * 13 - 1;
export const AGENCY_OUS_LIST_MAX_LENGTH = 540;
export const LAMBDA_MEMORY_MB = { min: 128, max: 10_240 } as const;

/** The retention periods CloudWatch Logs accepts (RetentionInDays). */
export const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** Lambda Node.js runtimes and the day each is deprecated (AWS Lambda runtime deprecation policy). */
export const NODE_RUNTIME_DEPRECATION: Readonly<Record<string, string>> = {
  'nodejs18.x': '2025-09-01',
  'nodejs20.x': '2026-04-30',
  'nodejs22.x': '2027-04-30',
  'nodejs24.x': '2028-04-30',
};

/** The runtimes not yet deprecated on `today` (UTC day). The build and the guard rule both use it. */
export function supportedRuntimes(today: Date): string[] {
  const day = today.toISOString().slice(0, 10);
  return Object.entries(NODE_RUNTIME_DEPRECATION)
    .filter(([, deprecatedOn]) => day < deprecatedOn)
    .map(([runtime]) => runtime);
}

/** The standard tier allows this many hybrid nodes per account and Region (SSM "Instance tiers"). */
export const STANDARD_TIER_NODE_LIMIT = 1000;
/** The service setting that says which tier hybrid activations register into (GetServiceSetting). */
export const ACTIVATION_TIER_SETTING_ID = '/ssm/managed-instance/activation-tier';

/**
 * True when the activation-tier setting's value means the advanced tier. The API reference lists
 * `standard` / `advanced` for this setting (older copies of the reference say `true` / `false`):
 * both spellings are accepted, any case. Anything else, or no value, is the standard tier.
 */
export function advancedTierOn(settingValue: string | undefined): boolean {
  const v = (settingValue ?? '').trim().toLowerCase();
  return v === 'advanced' || v === 'true';
}

/**
 * OUs one CreateStackInstances or DeleteStackInstances call may name in
 * DeploymentTargets.OrganizationalUnitIds (CloudFormation API reference, both actions: "The maximum
 * number of organizational unit (OUs) supported by a CreateStackInstances [DeleteStackInstances]
 * operation is 50"; it suggests splitting into several calls or targeting a parent OU).
 */
export const STACK_INSTANCES_MAX_OUS = 50;

/**
 * BatchGetItem: unprocessed keys are read again with exponential backoff, as the DynamoDB API
 * reference asks ("we strongly recommend that you use an exponential backoff algorithm"); keys
 * still unprocessed after the last attempt make the read incomplete (never "no row").
 */
export const BATCH_GET_RETRY = { attempts: 8, baseDelayMs: 50, maxDelayMs: 2_000 } as const;
/**
 * Assumed bound on the skew between the collector's clock and AWS's event times plus EC2's eventual
 * consistency (a change made just before a DescribeInstances read may not be in it yet).
 */
export const SNAPSHOT_CONSISTENCY_MS = 5_000;
/** An event's `time` is in whole seconds: the change it reports happened up to this much later. */
export const EVENT_TIME_RESOLUTION_MS = 1_000;
/**
 * A reconcile's tag set counts as observed this long before its DescribeInstances page was
 * requested, so a snapshot read less than SNAPSHOT_CONSISTENCY_MS after a change counts as older
 * than the change's event even when the change came late in the event's second.
 */
export const SNAPSHOT_OBSERVED_MARGIN_MS = SNAPSHOT_CONSISTENCY_MS + EVENT_TIME_RESOLUTION_MS;
/**
 * The hub takes an observed time at most this far ahead of its own clock (later ones count as this
 * far ahead): a collector whose clock runs far ahead must not freeze a node's tags.
 */
export const OBSERVED_AT_MAX_AHEAD_MS = 60_000;

/** BatchGetItem: at most 100 keys a request (DynamoDB API reference). */
export const BATCH_GET_MAX_KEYS = 100;

/**
 * `status` warns about a collector Region that has not reported for this long: collectors
 * reconcile hourly, and the orphan sweep's guard waits for every Region's report.
 */
export const COLLECTOR_SILENT_HOURS = 24;

/**
 * A replaced activation stays valid this long after its rotation; the activation manager's first
 * run after that deletes it (DeleteActivation: its nodes stay registered). The agency's parameters
 * keep the old code until its collector's next activation refresh (every reconcile, hourly by
 * default; a refresh skipped for time or a failed hub call is retried at the next reconcile), and
 * a registration worker uses the code seconds after reading it (documents/register-linux.sh,
 * register-windows.ps1: it reads it under its lock, waits SSM_HUB_WORKER_DELAY, 10 s, and
 * registers). So the old code is in use for about an hour; 24 hours also covers a collector that
 * misses many refreshes, and one silent for longer is what `status` reports (COLLECTOR_SILENT_HOURS).
 */
export const REPLACED_ACTIVATION_GRACE_HOURS = COLLECTOR_SILENT_HOURS;
/**
 * Replaced activations waiting out their grace period, at most: a rotation past this deletes the
 * oldest at once. The scheduled rotation (every 12 hours by default) adds at most one per run, so
 * two wait at a time; stack updates in quick succession reach this, and so does a rotation
 * schedule faster than every 6 hours whose every run rotates (README). It bounds the record.
 */
export const REPLACED_ACTIVATIONS_KEPT_MAX = 4;

/**
 * Lambda lets an account reserve concurrency "as long as you leave at least 100 simultaneous
 * executions unreserved" (Lambda API reference, PutFunctionConcurrency). The fleet lifecycle
 * reserves 1 (one pass at a time), so central-manager's creation fails in an account whose
 * concurrency quota leaves fewer than this many unreserved (new accounts may start at 10).
 */
export const LAMBDA_MIN_UNRESERVED_CONCURRENCY = 100;
/** What central-manager reserves: the fleet lifecycle's reserved concurrency. */
export const CENTRAL_RESERVED_CONCURRENCY = 1;
