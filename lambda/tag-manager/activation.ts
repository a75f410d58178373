// The activation operation: the calling agency's current activation, and only its own.
// The code goes into the answer and nowhere else: not a log line, not an error message.
import type { ActivationResponse, ErrorResponse } from '../shared/contract.ts';
import { centralActivationParameterName } from '../shared/names.ts';
import { log, securityEvent } from '../shared/log.ts';
import type { OpContext } from './context.ts';
import { readActivationRecord } from './ssm-io.ts';

export async function currentActivation(ctx: OpContext): Promise<ActivationResponse | ErrorResponse> {
  const name = centralActivationParameterName(ctx.config.activationParameterPrefix, ctx.agencyAccountId);
  const record = await readActivationRecord(ctx.ssm, name);
  if (!record) {
    log('WARN', 'no activation record for the calling agency', {
      agencyAccountId: ctx.agencyAccountId,
      requestId: ctx.requestId,
    });
    return { error: { code: 'NotFound', message: 'no activation has been issued to your agency yet' } };
  }
  if (record.agencyAccountId !== ctx.agencyAccountId) {
    // A record stored under the wrong name: never hand one agency's activation to another.
    securityEvent('activation record names another agency', {
      agencyAccountId: ctx.agencyAccountId,
      parameterName: name,
      requestId: ctx.requestId,
    });
    return {
      error: {
        code: 'Internal',
        message: 'the activation record for your agency is inconsistent; central IT has been alerted',
      },
    };
  }
  const { activationId, activationCode, region, expiresAt } = record.current;
  log('INFO', 'handed out the current activation', {
    agencyAccountId: ctx.agencyAccountId,
    expiresAt,
    requestId: ctx.requestId,
  });
  return { activationId, activationCode, region, expiresAt };
}
