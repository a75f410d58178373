// A loopback fake of the AWS Organizations API subset the fleet lifecycle reads, on the real
// wire protocol (AWS JSON 1.1, X-Amz-Target: AWSOrganizationsV20161128.<Operation>), pointed at by
// AWS_ENDPOINT_URL_ORGANIZATIONS. From the Organizations API reference:
// - ListChildren: ParentId (r-… or ou-…) and ChildType ORGANIZATIONAL_UNIT | ACCOUNT; answers
//   Children [{Id, Type}].
// - ListAccountsForParent: ParentId; answers Accounts [{Id, Arn, Name, Email, Status, State}]
//   (Status ACTIVE | SUSPENDED | PENDING_CLOSURE; State is its successor).
// - Both page: MaxResults 1–20, and NextToken "is not null" when more results remain, even on an
//   empty page ("you should check NextToken after every operation"). An unknown parent is
//   ParentNotFoundException; an invalid token InvalidInputException.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeOrgAccount {
  id: string;
  status?: 'ACTIVE' | 'SUSPENDED' | 'PENDING_CLOSURE';
}

export class OrganizationsFake {
  /** Parent (root or OU) → child OUs. */
  readonly ous = new Map<string, string[]>();
  /** Parent (root or OU) → accounts directly under it. */
  readonly accounts = new Map<string, FakeOrgAccount[]>();
  /** Items per page when the caller asks for more (small, so that paging is exercised). */
  pageSize = 1;
  calls: Array<{ op: string; input: Record<string, unknown> }> = [];
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }

  /** Moves an account to another parent (MoveAccount), or out of the organization (undefined). */
  move(accountId: string, to: string | undefined): void {
    let found: FakeOrgAccount | undefined;
    for (const [parent, list] of this.accounts) {
      const i = list.findIndex((a) => a.id === accountId);
      if (i >= 0) {
        found = list[i];
        list.splice(i, 1);
        this.accounts.set(parent, list);
      }
    }
    if (to) this.accounts.set(to, [...(this.accounts.get(to) ?? []), found ?? { id: accountId }]);
  }

  private knows(parent: string): boolean {
    return this.ous.has(parent) || this.accounts.has(parent) || [...this.ous.values()].some((c) => c.includes(parent));
  }

  private page<T>(items: T[], input: Record<string, unknown>, key: string): Record<string, unknown> {
    const max = input.MaxResults === undefined ? 20 : Number(input.MaxResults);
    if (!Number.isInteger(max) || max < 1 || max > 20)
      throw new FakeOrgError('InvalidInputException', 'MaxResults must be 1–20');
    let start = 0;
    if (input.NextToken !== undefined) {
      start = Number(Buffer.from(String(input.NextToken), 'base64').toString('utf8'));
      if (!Number.isInteger(start) || start < 0) throw new FakeOrgError('InvalidInputException', 'invalid NextToken');
    }
    const size = Math.min(max, this.pageSize);
    const out: Record<string, unknown> = { [key]: items.slice(start, start + size) };
    if (start + size < items.length) out.NextToken = Buffer.from(String(start + size)).toString('base64');
    return out;
  }

  private answer(op: string, input: Record<string, unknown>): unknown {
    const parent = String(input.ParentId ?? '');
    if (!/^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$/.test(parent))
      throw new FakeOrgError('InvalidInputException', 'ParentId is not a root or OU ID');
    if (!this.knows(parent))
      throw new FakeOrgError(
        'ParentNotFoundException',
        "We can't find a root or OU with the ParentId that you specified.",
      );
    if (op === 'ListChildren') {
      if (input.ChildType !== 'ORGANIZATIONAL_UNIT' && input.ChildType !== 'ACCOUNT')
        throw new FakeOrgError('InvalidInputException', 'ChildType must be ORGANIZATIONAL_UNIT or ACCOUNT');
      const children =
        input.ChildType === 'ACCOUNT'
          ? (this.accounts.get(parent) ?? []).map((a) => ({ Id: a.id, Type: 'ACCOUNT' }))
          : (this.ous.get(parent) ?? []).map((id) => ({ Id: id, Type: 'ORGANIZATIONAL_UNIT' }));
      return this.page(children, input, 'Children');
    }
    if (op === 'ListAccountsForParent') {
      const accounts = (this.accounts.get(parent) ?? []).map((a) => ({
        Id: a.id,
        Arn: `arn:aws:organizations::111111111111:account/o-exampleorg1/${a.id}`,
        Name: `account ${a.id}`,
        Email: `${a.id}@example.org`,
        Status: a.status ?? 'ACTIVE',
        State: a.status ?? 'ACTIVE',
      }));
      return this.page(accounts, input, 'Accounts');
    }
    throw new FakeOrgError('UnknownOperationException', `${op} is not supported by this fake`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const op = String(req.headers['x-amz-target'] ?? '').replace(/^AWSOrganizationsV20161128\./, '');
    const input = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    this.calls.push({ op, input });
    let status = 200;
    let body: unknown;
    try {
      body = this.answer(op, input);
    } catch (err) {
      const e = err as FakeOrgError;
      status = 400;
      body = { __type: e.type ?? 'ServiceException', Message: e.message };
    }
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'fake' });
    res.end(JSON.stringify(body));
  }
}

class FakeOrgError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}
