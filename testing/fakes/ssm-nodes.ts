// Managed nodes and the activation-tier setting, for the SSM fakes of the central account (the
// activation manager's fake mounts these operations). Each behaviour follows the SSM API reference:
// - DescribeInstanceInformation: Filters with keys ActivationIds, InstanceIds, ResourceType, PingStatus and
//   "tag:<key>" (the node has that tag with one of the values; API_InstanceInformationStringFilter:
//   "Valid filter key values: ActivationIds | ... | "tag-key" | "tag:{keyname}", example
//   Key=tag:Purpose,Values=Test), each 1–100 values, ANDed across keys; a tag filter beside any
//   other key is refused (API_DescribeInstanceInformation, Filters: "Tag filters can't be combined
//   with other filter types"; the error code for it is not documented: InvalidFilterKey assumed);
//   an InstanceIds filter naming a node SSM does not know fails the whole call with
//   InvalidInstanceId (API_DescribeInstanceInformation, Errors; shared/AWS-FACTS.md);
//   MaxResults 5–50; an opaque NextToken tied to the query;
//   InstanceInformationList items carry InstanceId, ActivationId, PingStatus, LastPingDateTime,
//   RegistrationDate, ResourceType (ManagedInstance) (API_DescribeInstanceInformation,
//   API_InstanceInformation).
// - DeregisterManagedInstance: InvalidInstanceId for an unknown node (API_DeregisterManagedInstance).
// - GetServiceSetting: ServiceSettingNotFound for an unknown SettingId; /ssm/managed-instance/
//   activation-tier answers `standard` unless changed (API_GetServiceSetting; "Instance tiers").
// - A node registered with an activation adds one to its RegistrationsCount (API_Activation), and
//   carries the activation's tags from then on (API_CreateActivation, Tags: stamped on every node
//   registered with the activation, not changed afterwards by the activation).

export interface FakeManagedNode {
  InstanceId: string;
  ActivationId: string;
  PingStatus: 'Online' | 'ConnectionLost' | 'Inactive';
  LastPingDateTime: Date;
  RegistrationDate: Date;
  /** Tags on the node: the activation's stamp from registration, and whatever was added since. */
  Tags: { Key: string; Value: string }[];
}

export class NodeApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const FILTER_FIELDS: Record<string, (n: FakeManagedNode) => string | undefined> = {
  ActivationIds: (n) => n.ActivationId,
  InstanceIds: (n) => n.InstanceId,
  ResourceType: () => 'ManagedInstance',
  PingStatus: (n) => n.PingStatus,
};

const tagValue =
  (key: string) =>
  (n: FakeManagedNode): string | undefined =>
    n.Tags.find((t) => t.Key === key)?.Value;

export const ACTIVATION_TIER_SETTING = '/ssm/managed-instance/activation-tier';

export class SsmNodesState {
  readonly nodes = new Map<string, FakeManagedNode>();
  /** The activation-tier setting's value. */
  activationTier = 'standard';
  private counter = 0;

  /** Adds a node as registration with the activation would (the caller bumps RegistrationsCount). */
  add(activationId: string, init: Partial<FakeManagedNode> & { now: Date }): FakeManagedNode {
    const id = init.InstanceId ?? `mi-${(0xe000 + this.counter++).toString(16).padStart(17, '0')}`;
    const node: FakeManagedNode = {
      InstanceId: id,
      ActivationId: activationId,
      PingStatus: init.PingStatus ?? 'Online',
      LastPingDateTime: init.LastPingDateTime ?? init.now,
      RegistrationDate: init.RegistrationDate ?? init.now,
      Tags: [...(init.Tags ?? [])],
    };
    this.nodes.set(id, node);
    return node;
  }

  operations(): Record<string, (input: Record<string, unknown>) => unknown> {
    return {
      DescribeInstanceInformation: (input) => this.describe(input),
      DeregisterManagedInstance: (input) => {
        const id = input.InstanceId;
        if (typeof id !== 'string' || !this.nodes.delete(id))
          throw new NodeApiError('InvalidInstanceId', 'The following instance ID is not valid.');
        return {};
      },
      GetServiceSetting: (input) => {
        if (input.SettingId !== ACTIVATION_TIER_SETTING)
          throw new NodeApiError('ServiceSettingNotFound', `The setting ${String(input.SettingId)} was not found.`);
        return { ServiceSetting: { SettingId: ACTIVATION_TIER_SETTING, SettingValue: this.activationTier } };
      },
    };
  }

  private describe(input: Record<string, unknown>): unknown {
    const max = input.MaxResults ?? 50;
    if (typeof max !== 'number' || max < 5 || max > 50)
      throw new NodeApiError('ValidationException', 'MaxResults must be between 5 and 50');
    let list = [...this.nodes.values()].sort((a, b) => a.InstanceId.localeCompare(b.InstanceId));
    const filters = (input.Filters ?? []) as Array<{ Key?: string; Values?: unknown }>;
    const tagged = filters.filter((f) => (f.Key ?? '').startsWith('tag:')).length;
    if (tagged > 0 && tagged < filters.length)
      throw new NodeApiError('InvalidFilterKey', "Tag filters can't be combined with other filter types");
    for (const f of filters) {
      const key = f.Key ?? '';
      const field = key.startsWith('tag:') ? tagValue(key.slice(4)) : FILTER_FIELDS[key];
      if (!field) throw new NodeApiError('InvalidFilterKey', `The filter key ${String(f.Key)} is not valid`);
      if (!Array.isArray(f.Values) || f.Values.length < 1 || f.Values.length > 100)
        throw new NodeApiError('ValidationException', 'Filter values must hold 1 to 100 items');
      const values = f.Values as string[];
      if (key === 'InstanceIds' && values.some((id) => !this.nodes.has(id)))
        throw new NodeApiError('InvalidInstanceId', 'The following instance ID is not valid.');
      list = list.filter((n) => values.includes(field(n) ?? ''));
    }
    const scope = JSON.stringify(filters);
    let start = 0;
    if (input.NextToken !== undefined) {
      const t = JSON.parse(Buffer.from(String(input.NextToken), 'base64').toString('utf8')) as { o: number; s: string };
      if (t.s !== scope) throw new NodeApiError('InvalidNextToken', 'The specified token is not valid.');
      start = t.o;
    }
    const page = list.slice(start, start + max);
    const epoch = (d: Date) => d.getTime() / 1000;
    return {
      InstanceInformationList: page.map((n) => ({
        InstanceId: n.InstanceId,
        ActivationId: n.ActivationId,
        PingStatus: n.PingStatus,
        LastPingDateTime: epoch(n.LastPingDateTime),
        RegistrationDate: epoch(n.RegistrationDate),
        ResourceType: 'ManagedInstance',
      })),
      ...(start + max < list.length
        ? { NextToken: Buffer.from(JSON.stringify({ o: start + max, s: scope })).toString('base64') }
        : {}),
    };
  }
}
