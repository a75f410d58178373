// A loopback fake of the EC2 Query API (DescribeInstances only) that the real SDK client talks
// to through AWS_ENDPOINT_URL_EC2. It speaks the real wire format: form-encoded POST with
// Filter.N.Name / Filter.N.Value.M / InstanceId.N / MaxResults / NextToken, XML answers, and
// errors as <Response><Errors><Error>… (throttling as HTTP 503 RequestLimitExceeded).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackFake, readBody } from './loopback.ts';
import { EC2_DESCRIBE_INSTANCES_MAX_RESULTS } from '../../contract/page-sizes.ts';

export interface FakeInstance {
  instanceId: string;
  state?: 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';
  tags?: Record<string, string>;
  /** Instances launched together share a reservation; defaults to one reservation each. */
  reservationId?: string;
}

export interface DescribeCall {
  filters: Array<{ name: string; values: string[] }>;
  instanceIds: string[];
  maxResults?: number;
  nextToken?: string;
  /** 'throttled' / 'error' when the fake refused the call. */
  outcome: 'ok' | 'throttled' | 'error';
}

const STATE_CODES: Record<string, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};
const FILTERS = new Set(['tag-key', 'instance-state-name', 'instance-id']);

const xml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

class Ec2Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Ec2Fake extends LoopbackFake {
  instances: FakeInstance[] = [];
  calls: DescribeCall[] = [];
  /** The next N DescribeInstances calls are refused with RequestLimitExceeded. */
  throttleNext = 0;
  /** When set, every DescribeInstances call fails with this error (e.g. 403 UnauthorizedOperation). */
  failWith: { status: number; code: string; message: string } | undefined;
  private tokens = new Map<string, number>();
  private tokenSeq = 0;

  reset(): void {
    this.instances = [];
    this.calls = [];
    this.throttleNext = 0;
    this.failWith = undefined;
    this.tokens.clear();
  }

  /** Successful DescribeInstances calls. */
  get describeCount(): number {
    return this.calls.filter((c) => c.outcome === 'ok').length;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const form = new URLSearchParams(body.toString('utf8'));
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8' });
      res.end(body);
    };
    const requestId = `req-${this.calls.length}`;
    try {
      if (req.method !== 'POST') throw new Ec2Error(400, 'InvalidAction', 'EC2 Query requests are POSTs');
      if (!/^AWS4-HMAC-SHA256 Credential=/.test(req.headers.authorization ?? '')) {
        throw new Ec2Error(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
      }
      const action = form.get('Action');
      if (action !== 'DescribeInstances')
        throw new Ec2Error(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
      send(200, this.describe(form, requestId));
    } catch (err) {
      const e = err instanceof Ec2Error ? err : new Ec2Error(500, 'InternalError', String(err));
      send(
        e.status,
        `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xml(e.code)}</Code><Message>${xml(e.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`,
      );
    }
  }

  private describe(form: URLSearchParams, requestId: string): string {
    const filters: DescribeCall['filters'] = [];
    const instanceIds: string[] = [];
    for (let n = 1; form.has(`Filter.${n}.Name`); n++) {
      const values: string[] = [];
      for (let m = 1; form.has(`Filter.${n}.Value.${m}`); m++) values.push(form.get(`Filter.${n}.Value.${m}`)!);
      filters.push({ name: form.get(`Filter.${n}.Name`)!, values });
    }
    for (let n = 1; form.has(`InstanceId.${n}`); n++) instanceIds.push(form.get(`InstanceId.${n}`)!);
    const max = form.get('MaxResults');
    const token = form.get('NextToken') ?? undefined;
    const call: DescribeCall = { filters, instanceIds, outcome: 'error' };
    if (max !== null) call.maxResults = Number(max);
    if (token !== undefined) call.nextToken = token;
    this.calls.push(call);

    if (this.throttleNext > 0) {
      this.throttleNext--;
      call.outcome = 'throttled';
      throw new Ec2Error(503, 'RequestLimitExceeded', 'Request limit exceeded.');
    }
    if (this.failWith) throw new Ec2Error(this.failWith.status, this.failWith.code, this.failWith.message);
    if (max !== null) {
      const v = Number(max);
      if (!Number.isInteger(v) || v < 5 || v > EC2_DESCRIBE_INSTANCES_MAX_RESULTS) {
        throw new Ec2Error(
          400,
          'InvalidParameterValue',
          `Value ( ${max} ) for parameter maxResults is invalid. Expecting a value between 5 and ${EC2_DESCRIBE_INSTANCES_MAX_RESULTS}.`,
        );
      }
      if (instanceIds.length > 0) {
        throw new Ec2Error(
          400,
          'InvalidParameterCombination',
          'The parameter instancesSet cannot be used with the parameter maxResults',
        );
      }
    }
    for (const f of filters) {
      if (!FILTERS.has(f.name) && !f.name.startsWith('tag:'))
        throw new Ec2Error(400, 'InvalidParameterValue', `The filter '${f.name}' is invalid`);
    }
    for (const id of instanceIds) {
      if (!/^i-[0-9a-f]{8,17}$/.test(id)) throw new Ec2Error(400, 'InvalidInstanceID.Malformed', `Invalid id: "${id}"`);
    }
    const missing = instanceIds.filter((id) => !this.instances.some((i) => i.instanceId === id));
    if (missing.length > 0) {
      throw new Ec2Error(400, 'InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
    }

    const matches = this.instances.filter((i) => {
      if (instanceIds.length > 0 && !instanceIds.includes(i.instanceId)) return false;
      const tags = i.tags ?? {};
      return filters.every((f) => {
        // tag-key: "all resources that have a tag with a specific key, regardless of the tag value"
        // (DescribeInstances filters), an empty value included.
        if (f.name === 'tag-key') return f.values.some((v) => Object.hasOwn(tags, v));
        if (f.name === 'instance-state-name') return f.values.includes(i.state ?? 'running');
        if (f.name === 'instance-id') return f.values.includes(i.instanceId);
        const key = f.name.slice(4);
        return Object.hasOwn(tags, key) && f.values.includes(tags[key]!);
      });
    });

    let start = 0;
    if (token !== undefined) {
      const at = this.tokens.get(token);
      if (at === undefined)
        throw new Ec2Error(400, 'InvalidParameterValue', 'The value supplied for NextToken is invalid');
      start = at;
    }
    const size = max === null ? matches.length : Number(max);
    const page = matches.slice(start, start + size);
    let next: string | undefined;
    if (start + size < matches.length) {
      next = `tok${++this.tokenSeq}-${Buffer.from(String(start + size)).toString('base64')}`;
      this.tokens.set(next, start + size);
    }
    call.outcome = 'ok';

    // Group consecutive instances of one reservation, as EC2 does.
    const reservations: Array<{ id: string; items: FakeInstance[] }> = [];
    for (const i of page) {
      const rid = i.reservationId ?? `r-${i.instanceId.slice(2)}`;
      const last = reservations[reservations.length - 1];
      if (last && last.id === rid) last.items.push(i);
      else reservations.push({ id: rid, items: [i] });
    }
    const instanceXml = (i: FakeInstance): string => {
      const state = i.state ?? 'running';
      // An empty value is an empty element: EC2 keeps empty tag values (CreateTags: "we set the
      // value to an empty string"), and the EC2 API reference's own samples write one as <value/>
      // (DescribeTags) or <value></value> (DescribeInstances). The self-closing form is sent here.
      const tags = Object.entries(i.tags ?? {})
        .map(([k, v]) => `<item><key>${xml(k)}</key>${v === '' ? '<value/>' : `<value>${xml(v)}</value>`}</item>`)
        .join('');
      return `<item><instanceId>${i.instanceId}</instanceId><imageId>ami-0123456789abcdef0</imageId><instanceState><code>${STATE_CODES[state]}</code><name>${state}</name></instanceState><instanceType>t3.micro</instanceType>${tags ? `<tagSet>${tags}</tagSet>` : ''}</item>`;
    };
    const body = reservations
      .map(
        (r) =>
          `<item><reservationId>${r.id}</reservationId><ownerId>111122223333</ownerId><groupSet/><instancesSet>${r.items.map(instanceXml).join('')}</instancesSet></item>`,
      )
      .join('');
    return `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${requestId}</requestId><reservationSet>${body}</reservationSet>${next ? `<nextToken>${next}</nextToken>` : ''}</DescribeInstancesResponse>`;
  }
}
