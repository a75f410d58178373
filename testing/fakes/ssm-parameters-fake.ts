// A loopback fake of SSM Parameter Store (GetParameters, PutParameter) for the real SDK client,
// pointed at it by AWS_ENDPOINT_URL_SSM. AWS JSON 1.1 wire format; enforces the API's rules
// (1–10 names, ParameterAlreadyExists without Overwrite, type required on create, KeyId only for
// SecureString, 4 KB standard-tier values) and returns ciphertext unless WithDecryption.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackFake, readBody } from './loopback.ts';
import { PARAMETER_NAME_MAX_LENGTH, STANDARD_PARAMETER_MAX_BYTES } from '../../contract/limits.ts';

/** Parameter Store's name rule (PutParameter, Name). */
const PARAMETER_NAME = /^[a-zA-Z0-9_.\-/]+$/;

export interface StoredParameter {
  name: string;
  type: 'String' | 'StringList' | 'SecureString';
  value: string;
  version: number;
  /** KMS key of a SecureString; alias/aws/ssm when none was given. */
  keyId?: string;
}

export interface PutCall {
  name: string;
  type: string | undefined;
  keyId: string | undefined;
  overwrite: boolean;
  value: string;
}

class SsmError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export class SsmParametersFake extends LoopbackFake {
  parameters = new Map<string, StoredParameter>();
  puts: PutCall[] = [];
  gets: Array<{ names: string[]; withDecryption: boolean }> = [];
  /** The next N calls of any action get ThrottlingException. */
  throttleNext = 0;

  reset(): void {
    this.parameters.clear();
    this.puts = [];
    this.gets = [];
    this.throttleNext = 0;
  }

  /** Seeds a parameter without counting a write. */
  seed(name: string, value: string, type: StoredParameter['type'] = 'SecureString'): void {
    this.parameters.set(name, {
      name,
      type,
      value,
      version: 1,
      ...(type === 'SecureString' ? { keyId: 'alias/aws/ssm' } : {}),
    });
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'fake' });
      res.end(JSON.stringify(body));
    };
    try {
      const target = String(req.headers['x-amz-target'] ?? '');
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(body.toString('utf8') || '{}');
      } catch {
        throw new SsmError('SerializationException', 'request body is not JSON');
      }
      if (this.throttleNext > 0) {
        this.throttleNext--;
        throw new SsmError('ThrottlingException', 'Rate exceeded');
      }
      if (target === 'AmazonSSM.GetParameters') reply(200, this.getParameters(input));
      else if (target === 'AmazonSSM.PutParameter') reply(200, this.putParameter(input));
      else throw new SsmError('UnknownOperationException', `${target} is not supported by this fake`);
    } catch (err) {
      const e = err instanceof SsmError ? err : new SsmError('InternalServerError', String(err));
      reply(e.type === 'InternalServerError' ? 500 : 400, { __type: e.type, message: e.message });
    }
  }

  private getParameters(input: Record<string, unknown>) {
    const names = input['Names'];
    if (!Array.isArray(names) || names.length < 1 || names.length > 10) {
      throw new SsmError(
        'ValidationException',
        "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and 10",
      );
    }
    const withDecryption = input['WithDecryption'] === true;
    this.gets.push({ names: names as string[], withDecryption });
    const found = (names as string[]).flatMap((n) => (this.parameters.has(n) ? [this.parameters.get(n)!] : []));
    return {
      Parameters: found.map((p) => ({
        Name: p.name,
        Type: p.type,
        Value:
          p.type === 'SecureString' && !withDecryption
            ? `AQICAHciphertext${Buffer.from(p.value).toString('base64')}`
            : p.value,
        Version: p.version,
        LastModifiedDate: 1_700_000_000,
        ARN: `arn:aws:ssm:us-east-1:111122223333:parameter${p.name.startsWith('/') ? '' : '/'}${p.name}`,
        DataType: 'text',
      })),
      InvalidParameters: (names as string[]).filter((n) => !this.parameters.has(n)),
    };
  }

  private putParameter(input: Record<string, unknown>) {
    const name = input['Name'];
    const value = input['Value'];
    const type = input['Type'] as string | undefined;
    const keyId = input['KeyId'] as string | undefined;
    const overwrite = input['Overwrite'] === true;
    if (typeof name !== 'string' || !PARAMETER_NAME.test(name) || name.length > PARAMETER_NAME_MAX_LENGTH) {
      throw new SsmError(
        'ValidationException',
        'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive) and must use only a-zA-Z0-9_.-/',
      );
    }
    if (typeof value !== 'string' || value.length > STANDARD_PARAMETER_MAX_BYTES) {
      throw new SsmError(
        'ValidationException',
        `Value at 'value' failed to satisfy constraint: Member must have length less than or equal to ${STANDARD_PARAMETER_MAX_BYTES}`,
      );
    }
    if (type !== undefined && !['String', 'StringList', 'SecureString'].includes(type)) {
      throw new SsmError('ValidationException', `Value '${type}' at 'type' failed to satisfy constraint`);
    }
    if (keyId !== undefined && type !== 'SecureString') {
      throw new SsmError('ValidationException', 'KeyId is required for SecureString type parameter only.');
    }
    if (overwrite && input['Tags'] !== undefined) {
      throw new SsmError('ValidationException', "Invalid request: tags and overwrite can't be used together.");
    }
    this.puts.push({ name, type, keyId, overwrite, value });
    const existing = this.parameters.get(name);
    if (existing && !overwrite) {
      throw new SsmError(
        'ParameterAlreadyExists',
        'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
      );
    }
    if (!existing && type === undefined)
      throw new SsmError('ValidationException', 'A parameter type is required when you create a parameter.');
    const t = (type ?? existing!.type) as StoredParameter['type'];
    const stored: StoredParameter = { name, type: t, value, version: (existing?.version ?? 0) + 1 };
    if (t === 'SecureString') stored.keyId = keyId ?? 'alias/aws/ssm';
    this.parameters.set(name, stored);
    return { Version: stored.version, Tier: 'Standard' };
  }
}
