// Error messages that may reach CloudFormation, logs or the Lambda error. They are built only
// from our own text and the AWS error name and message (which never carry an activation code),
// and every activation code this invocation has seen is masked again as a last line of defence.
import { HandlerError } from '../shared/errors.ts';

/** A failed AWS call, named by the operation so the reason says what was being done. */
export class StepError extends HandlerError {
  override readonly name = 'StepError';
  constructor(
    readonly step: string,
    readonly failure: unknown,
  ) {
    super(`${step} failed: ${awsErrorText(failure)}`, { cause: failure });
  }
}

/** Bad input from the template: names the field and the rule. */
export class PropertyError extends HandlerError {
  override readonly name = 'PropertyError';
  constructor(
    readonly field: string,
    rule: string,
  ) {
    super(`${field} ${rule}`);
  }
}

const MAX_ERROR_TEXT = 600;

/** "ThrottlingException: Rate exceeded" for an SDK error; never the response body or a stack. */
export function awsErrorText(err: unknown): string {
  if (err instanceof Error) {
    const message = err.message && err.message !== err.name ? `: ${err.message}` : '';
    return `${err.name}${message}`.slice(0, MAX_ERROR_TEXT);
  }
  return 'UnknownError';
}

/** Runs one AWS call, turning its failure into a StepError that names the operation. */
export async function step<T>(name: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof StepError) throw err;
    throw new StepError(name, err);
  }
}

/** Tracks the activation codes seen in one invocation, and masks them in any outgoing text. */
export class SecretRegistry {
  private readonly secrets = new Set<string>();

  add(secret: string | undefined): void {
    if (secret && secret.length >= 4) this.secrets.add(secret);
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('[redacted]');
    return out;
  }

  /** A safe one-line reason for any error. */
  describe(err: unknown): string {
    const text = err instanceof StepError || err instanceof PropertyError ? err.message : awsErrorText(err);
    return this.redact(text);
  }
}
