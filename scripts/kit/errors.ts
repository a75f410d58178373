// The CLI's errors. Every expected failure is a CliError whose message is meant for people and
// whose exit code says what kind it is: 2 for bad usage or input (refused before any AWS call,
// nothing changed), 1 for an AWS or operation failure. The original error travels as `cause`.

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Base of every error the CLI expects; anything else reaching the top is a bug or an SDK error. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  readonly exitCode: ExitCode = EXIT.failed;
}

/** Bad usage or input: exit code 2. The message names the flag (or field) and the rule it broke. */
export class UsageError extends CliError {
  override readonly name: string = 'UsageError';
  override readonly exitCode: ExitCode = EXIT.usage;
}

/** An AWS call or a deployment failed: exit code 1. */
export class OperationError extends CliError {
  override readonly name: string = 'OperationError';
}

/**
 * The one way the CLI turns any thrown value into a single line of text: a CliError's own message,
 * an SDK error as "Name: message", anything else as its string form.
 */
export function errorText(err: unknown): string {
  if (err instanceof CliError) return firstLine(err.message);
  if (err instanceof Error) {
    const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
    return firstLine(`${name}${err.message}`);
  }
  return firstLine(String(err));
}

const firstLine = (text: string): string => text.split('\n')[0]!;
