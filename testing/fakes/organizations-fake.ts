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
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OU_ID_PATTERN } from '../../contract/patterns.ts';
import { FakeApiError, LoopbackFake, parseJsonBody, readBody, sendAwsJson, sendAwsJsonError } from './loopback.ts';

export interface FakeOrgAccount {
  id: string;
  /** Account.State (Organizations user guide, account states); Status, retired, is given the same here. */
  status?: 'ACTIVE' | 'SUSPENDED' | 'PENDING_CLOSURE' | 'CLOSED' | 'PENDING_ACTIVATION';
}

export class OrganizationsFake extends LoopbackFake {
  /** Parent (root or OU) → child OUs. */
  readonly ous = new Map<string, string[]>();
  /** Parent (root or OU) → accounts directly under it. */
  readonly accounts = new Map<string, FakeOrgAccount[]>();
  /** Items per page when the caller asks for more (small, so that paging is exercised). */
  pageSize = 1;
  calls: Array<{ op: string; input: Record<string, unknown> }> = [];
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
      throw new FakeApiError('InvalidInputException', 'MaxResults must be 1–20');
    let start = 0;
    if (input.NextToken !== undefined) {
      start = Number(Buffer.from(String(input.NextToken), 'base64').toString('utf8'));
      if (!Number.isInteger(start) || start < 0) throw new FakeApiError('InvalidInputException', 'invalid NextToken');
    }
    const size = Math.min(max, this.pageSize);
    const out: Record<string, unknown> = { [key]: items.slice(start, start + size) };
    if (start + size < items.length) out.NextToken = Buffer.from(String(start + size)).toString('base64');
    return out;
  }

  private answer(op: string, input: Record<string, unknown>): unknown {
    const parent = String(input.ParentId ?? '');
    if (!OU_ID_PATTERN.test(parent)) throw new FakeApiError('InvalidInputException', 'ParentId is not a root or OU ID');
    if (!this.knows(parent))
      throw new FakeApiError(
        'ParentNotFoundException',
        "We can't find a root or OU with the ParentId that you specified.",
      );
    if (op === 'ListChildren') {
      if (input.ChildType !== 'ORGANIZATIONAL_UNIT' && input.ChildType !== 'ACCOUNT')
        throw new FakeApiError('InvalidInputException', 'ChildType must be ORGANIZATIONAL_UNIT or ACCOUNT');
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
    throw new FakeApiError('UnknownOperationException', `${op} is not supported by this fake`);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const op = String(req.headers['x-amz-target'] ?? '').replace(/^AWSOrganizationsV20161128\./, '');
    try {
      const input = parseJsonBody(await readBody(req));
      this.calls.push({ op, input });
      sendAwsJson(res, 200, this.answer(op, input));
    } catch (err) {
      sendAwsJsonError(res, err, 'ServiceException', 'Message');
    }
  }
}
