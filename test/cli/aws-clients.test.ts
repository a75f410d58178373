// The client factory's own rules: the MFA prompt needs a terminal, and failures are named.
import { describe, expect, it } from 'vitest';
import { HTTP_LIMITS, mfaCodeFromTerminal } from '../../scripts/ops/aws.ts';
import { UsageError } from '../../scripts/kit/index.ts';

describe('AWS clients', () => {
  it('asks for an MFA code only on a terminal, and otherwise says why it cannot', async () => {
    const stdin = process.stdin as { isTTY?: boolean };
    const was = stdin.isTTY;
    stdin.isTTY = false;
    try {
      const ask = mfaCodeFromTerminal();
      await expect(ask('arn:aws:iam::111111111111:mfa/op')).rejects.toThrow(UsageError);
      await expect(ask('arn:aws:iam::111111111111:mfa/op')).rejects.toThrow(
        'the profile needs an MFA code for arn:aws:iam::111111111111:mfa/op: run from a terminal',
      );
    } finally {
      stdin.isTTY = was;
    }
  });

  it('bounds every call: a silent endpoint is given up on well within 30 s', () => {
    const worst = HTTP_LIMITS.maxAttempts * (HTTP_LIMITS.connectionTimeoutMs + HTTP_LIMITS.socketTimeoutMs);
    expect(worst).toBeLessThan(30_000);
  });
});
