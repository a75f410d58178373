// The hand-written custom-resource response: body shape, the 4,096-byte limit, and the PUT.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  buildResponseBody,
  MAX_RESPONSE_BYTES,
  sendCfnResponse,
  type CfnEventBase,
} from '../../../lambda/shared/cfn-response.ts';

const event = (url = 'http://127.0.0.1:1/'): CfnEventBase => ({
  RequestType: 'Create',
  ResponseURL: url,
  StackId: 'arn:aws:cloudformation:us-east-1:111111111111:stack/s/1',
  RequestId: 'r-1',
  LogicalResourceId: 'AgencyActivation',
  ResourceType: 'Custom::AgencyActivation',
  ResourceProperties: {},
});

const servers: { close: () => void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function server(status: number) {
  const seen: { method?: string; headers: Record<string, unknown>; body: string }[] = [];
  const s = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, headers: req.headers, body });
      res.writeHead(status);
      res.end();
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push({ close: () => (s.closeAllConnections(), s.close()) });
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/presigned?X-Amz-Signature=x`, seen };
}

describe('buildResponseBody', () => {
  it('echoes the request identifiers and adds NoEcho only when asked', () => {
    const body = JSON.parse(buildResponseBody(event(), { status: 'SUCCESS', physicalResourceId: 'p', noEcho: true }));
    expect(body).toEqual({
      Status: 'SUCCESS',
      PhysicalResourceId: 'p',
      StackId: event().StackId,
      RequestId: 'r-1',
      LogicalResourceId: 'AgencyActivation',
      NoEcho: true,
    });
    expect(
      JSON.parse(buildResponseBody(event(), { status: 'SUCCESS', physicalResourceId: 'p' })).NoEcho,
    ).toBeUndefined();
  });
  it('truncates a long Reason so the body stays within 4,096 bytes, multi-byte text included', () => {
    for (const reason of ['x'.repeat(10_000), 'é'.repeat(5_000), '"\\'.repeat(3_000)]) {
      const text = buildResponseBody(event(), { status: 'FAILED', physicalResourceId: 'p', reason });
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_RESPONSE_BYTES);
      const body = JSON.parse(text);
      expect(body.Reason).toMatch(/\[truncated\]$/);
      expect(body.Reason.length).toBeGreaterThan(1000);
    }
  });
  it('leaves a short Reason alone', () => {
    expect(
      JSON.parse(buildResponseBody(event(), { status: 'FAILED', physicalResourceId: 'p', reason: 'bad' })).Reason,
    ).toBe('bad');
  });
});

describe('sendCfnResponse', () => {
  it('PUTs the body with an empty content-type and a content-length', async () => {
    const s = await server(200);
    await sendCfnResponse(event(s.url), { status: 'SUCCESS', physicalResourceId: 'p' });
    expect(s.seen).toHaveLength(1);
    expect(s.seen[0]!.method).toBe('PUT');
    expect(s.seen[0]!.headers['content-type']).toBe('');
    expect(Number(s.seen[0]!.headers['content-length'])).toBe(Buffer.byteLength(s.seen[0]!.body));
    expect(JSON.parse(s.seen[0]!.body).Status).toBe('SUCCESS');
  });
  it('rejects when the URL answers with an error status, without echoing the pre-signed URL', async () => {
    const s = await server(403);
    const err = await sendCfnResponse(event(s.url), { status: 'SUCCESS', physicalResourceId: 'p' }).catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('ResponseURL answered HTTP 403');
  });
  it('rejects a URL that is neither http nor https', async () => {
    await expect(
      sendCfnResponse(event('file:///etc/passwd'), { status: 'SUCCESS', physicalResourceId: 'p' }),
    ).rejects.toThrow(/not http/);
  });
});
