// A loopback fake of the Resource Groups Tagging API's GetResources, over the SSM fake's nodes (the
// same account and Region). The real SDK client talks to it (AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API),
// so serialisation, error parsing and retries run for real. Each behaviour names its source:
// "GetResources" is the API reference page (the request parameters' documentation, as carried in
// @aws-sdk/client-resource-groups-tagging-api's GetResourcesInput), "service model" the API's
// JSON model (resourcegroupstaggingapi-2017-01-26).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { awsJsonRequestError, FakeApiError as ApiError, listenLoopback, parseJsonBody } from './loopback.ts';
import { prng, readBody, sendAwsJson, sendAwsJsonError } from './loopback.ts';
import type { SsmFakeState } from './ssm-fake.ts';

/** Service model: metadata.targetPrefix. */
const TARGET_PREFIX = 'ResourceGroupsTaggingAPI_20170126.';
/** GetResources, ResourcesPerPage: "a minimum of 1 and a maximum value of 100". */
const MAX_RESOURCES_PER_PAGE = 100;
/** Service model: ResourceARNListForGet, 1 to 100 members. */
const MAX_ARNS = 100;
/** GetResources, TagFilters: "up to 50 keys, and each key can include up to 20 values". */
const MAX_TAG_FILTERS = 50;
const MAX_TAG_FILTER_VALUES = 20;
/** GetResources, ResourceTypeFilters: "The array can include up to 100 items". */
const MAX_RESOURCE_TYPE_FILTERS = 100;

export interface TaggingFakeOptions {
  ssm: SsmFakeState;
  region?: string;
  account?: string;
  /** Share of calls (0-1) answered with ThrottledException (GetResources, Errors), before any effect. */
  throttleRatio?: number;
  /** Seed of the PRNG that picks the throttled calls, so a run is reproducible. */
  seed?: number;
}

export interface TaggingFake {
  endpoint: string;
  /** The ARN this fake gives a managed node: arn:aws:ssm:<region>:<account>:managed-instance/<id>. */
  arnOf(managedInstanceId: string): string;
  /**
   * Stale answers: a node listed here is answered with these tags (or left out, for null) instead
   * of its current ones. Public reports describe GetResources lagging behind tag changes for
   * minutes (aws/aws-sdk #302, #676; boto3 #3341); the API reference promises no freshness.
   */
  stale: Map<string, Record<string, string> | null>;
  calls: Record<string, number>;
  /** ARNs asked for by ResourceARNList, over every call. */
  arnsRequested: number;
  resetCounters(): void;
  setThrottleRatio(ratio: number): void;
  close(): Promise<void>;
}

const invalid = (message: string) => new ApiError('InvalidParameterException', message);

interface Mapping {
  ResourceARN: string;
  Tags: Array<{ Key: string; Value: string }>;
}

export async function startTaggingFake(opts: TaggingFakeOptions): Promise<TaggingFake> {
  const region = opts.region ?? 'us-east-1';
  const account = opts.account ?? '999999999999';
  const arnPrefix = `arn:aws:ssm:${region}:${account}:managed-instance/`;
  const stale = new Map<string, Record<string, string> | null>();
  const calls: Record<string, number> = { GetResources: 0 };
  let arnsRequested = 0;
  let throttleRatio = opts.throttleRatio ?? 0;
  const random = prng(opts.seed ?? 1);

  /**
   * GetResources returns "tagged or previously tagged" resources (operation documentation); without
   * a TagFilter "Resources that were previously tagged, but do not currently have tags, are shown
   * with an empty tag set" (TagFilters). A node never tagged is not returned at all.
   */
  function mappingOf(id: string): Mapping | undefined {
    const node = opts.ssm.nodes.get(id);
    if (!node) return undefined;
    const view = stale.has(id) ? stale.get(id)! : Object.fromEntries(node.tags);
    if (view === null) return undefined;
    const tags = Object.entries(view);
    if (tags.length === 0 && !node.everTagged) return undefined;
    return { ResourceARN: `${arnPrefix}${id}`, Tags: tags.map(([Key, Value]) => ({ Key, Value })) };
  }

  function allMappings(): Mapping[] {
    return [...opts.ssm.nodes.keys()]
      .sort()
      .map(mappingOf)
      .filter((m): m is Mapping => m !== undefined);
  }

  /** GetResources, ResourceTypeFilters: `service[:resourceType]`, as embedded in the ARN. */
  function matchesType(arn: string, filters: string[]): boolean {
    const [, , service, , , resource] = arn.split(':');
    const type = resource!.split('/')[0];
    return filters.some((f) => {
      const [s, t] = f.split(':');
      return s === service && (t === undefined || t === type);
    });
  }

  /** GetResources, TagFilters: all filters must match; any of a filter's values; no values = any value. */
  function matchesTags(m: Mapping, filters: Array<{ Key: string; Values?: string[] }>): boolean {
    return filters.every((f) =>
      m.Tags.some((t) => t.Key === f.Key && (!f.Values || f.Values.length === 0 || f.Values.includes(t.Value))),
    );
  }

  function getResources(body: Record<string, unknown>): unknown {
    const arnList = body.ResourceARNList;
    if (arnList !== undefined) {
      // GetResources, ResourceARNList: can't be combined with ResourceTypeFilters, TagFilters or any
      // pagination parameter ("If you do, you get an Invalid Parameter exception").
      for (const other of ['ResourceTypeFilters', 'TagFilters', 'ResourcesPerPage', 'TagsPerPage', 'PaginationToken']) {
        if (body[other] !== undefined) throw invalid(`ResourceARNList cannot be combined with ${other}`);
      }
      if (!Array.isArray(arnList) || arnList.length < 1 || arnList.length > MAX_ARNS)
        throw invalid(`ResourceARNList must hold 1 to ${MAX_ARNS} ARNs`);
      arnsRequested += arnList.length;
      // GetResources, ResourceARNList: "If a resource specified by this parameter doesn't exist, it
      // doesn't generate an error; it simply isn't included in the response."
      const found = arnList
        .filter((a): a is string => typeof a === 'string' && a.startsWith(arnPrefix))
        .map((a) => mappingOf(a.slice(arnPrefix.length)))
        .filter((m): m is Mapping => m !== undefined);
      return { ResourceTagMappingList: found, PaginationToken: '' };
    }

    const perPage = body.ResourcesPerPage ?? MAX_RESOURCES_PER_PAGE;
    if (typeof perPage !== 'number' || !Number.isInteger(perPage) || perPage < 1 || perPage > MAX_RESOURCES_PER_PAGE)
      throw invalid(`ResourcesPerPage must be from 1 to ${MAX_RESOURCES_PER_PAGE}`);
    const typeFilters = (body.ResourceTypeFilters ?? []) as string[];
    if (!Array.isArray(typeFilters) || typeFilters.length > MAX_RESOURCE_TYPE_FILTERS)
      throw invalid(`ResourceTypeFilters holds at most ${MAX_RESOURCE_TYPE_FILTERS} items`);
    const tagFilters = (body.TagFilters ?? []) as Array<{ Key: string; Values?: string[] }>;
    if (!Array.isArray(tagFilters) || tagFilters.length > MAX_TAG_FILTERS)
      throw invalid(`TagFilters holds at most ${MAX_TAG_FILTERS} keys`);
    for (const f of tagFilters) {
      if (typeof f?.Key !== 'string' || f.Key.length < 1 || f.Key.length > 128)
        throw invalid('each TagFilter needs a Key of 1 to 128 characters');
      if (f.Values !== undefined && (!Array.isArray(f.Values) || f.Values.length > MAX_TAG_FILTER_VALUES))
        throw invalid(`a TagFilter holds at most ${MAX_TAG_FILTER_VALUES} values`);
    }
    let all = allMappings();
    if (typeFilters.length > 0) all = all.filter((m) => matchesType(m.ResourceARN, typeFilters));
    // TagFilters: with a filter, only resources carrying the tag match (so untagged ones never do).
    if (tagFilters.length > 0) all = all.filter((m) => matchesTags(m, tagFilters));
    // GetResources, PaginationToken: opaque; "Leave this parameter empty in your initial request".
    let offset = 0;
    const token = body.PaginationToken;
    if (token !== undefined && token !== '') {
      const parsed = /^page:(\d+)$/.exec(Buffer.from(String(token), 'base64').toString('utf8'));
      if (!parsed) throw invalid('PaginationToken is not valid');
      offset = Number(parsed[1]);
    }
    const page = all.slice(offset, offset + perPage);
    const next = offset + perPage < all.length ? Buffer.from(`page:${offset + perPage}`).toString('base64') : '';
    // Operation documentation: "The PaginationToken response parameter value is null only when
    // there are no more results to display"; the service sends an empty string.
    return { ResourceTagMappingList: page, PaginationToken: next };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    // Service model: protocol json, jsonVersion 1.1, POST to /; signing name "tagging".
    const protocolError = awsJsonRequestError(req, 'tagging');
    if (protocolError) throw protocolError;
    if (target !== `${TARGET_PREFIX}GetResources`)
      throw new ApiError('UnknownOperationException', `unknown operation ${target}`);
    calls.GetResources = (calls.GetResources ?? 0) + 1;
    if (throttleRatio > 0 && random() < throttleRatio) throw new ApiError('ThrottledException', 'Rate exceeded');
    sendAwsJson(res, 200, getResources(parseJsonBody(raw)));
  }

  const server = await listenLoopback(handle, (res, err) =>
    sendAwsJsonError(res, err, 'InternalServiceException', 'Message'),
  );

  return {
    endpoint: server.endpoint,
    arnOf: (id) => `${arnPrefix}${id}`,
    stale,
    calls,
    get arnsRequested() {
      return arnsRequested;
    },
    resetCounters() {
      calls.GetResources = 0;
      arnsRequested = 0;
    },
    setThrottleRatio(r) {
      throttleRatio = r;
    },
    close: server.close,
  };
}
