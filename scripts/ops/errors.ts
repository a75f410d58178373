// Typed errors. The CLI maps them to exit codes: 2 for bad usage or input (caught before any AWS
// call), 1 for an AWS or operation failure. Messages are for people; no stack traces.

/** Bad usage or input: exit code 2. The message names the flag and the rule it broke. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An AWS call or a deployment failed: exit code 1. */
export class OperationError extends Error {
  override readonly name = 'OperationError';
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A short, single-line description of any thrown value (AWS SDK errors carry name + message). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
    return `${name}${err.message}`.split('\n')[0]!;
  }
  return String(err);
}
