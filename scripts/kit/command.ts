// A subcommand: its spec (which produces --help), the injectable context (output, sleep, clock,
// AWS client settings) and the one place that maps errors to exit codes and text.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, errorText, EXIT, UsageError } from './errors.ts';
import { HELP_OPTION, optionLines, parseOptions, type Option, type Values } from './options.ts';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CommandSpec<O extends readonly Option<string, unknown>[] = readonly Option<string, unknown>[]> {
  name: string;
  summary: string;
  usage: string[];
  options: O;
  notes?: string[];
}

/** Keeps the option names' literal types, so the parsed values are typed per command. */
export const defineCommand = <const O extends readonly Option<string, unknown>[]>(spec: CommandSpec<O>) => spec;

/** Shown by every command that takes a file or folder. */
export const RELATIVE_PATHS_NOTE =
  'A relative FILE or DIR resolves against the folder you started the command in; defaults are in the project.';

export function helpText(spec: CommandSpec): string {
  return [
    ...spec.usage.map((u, i) => `${i === 0 ? 'usage:' : '      '} ssm-hub ${spec.name} ${u}`),
    '',
    spec.summary,
    '',
    'options:',
    ...optionLines([...spec.options, HELP_OPTION]),
    ...(spec.notes?.length ? ['', ...spec.notes] : []),
    ...(spec.options.some((o) => o.arg === 'FILE' || o.arg === 'DIR') ? ['', RELATIVE_PATHS_NOTE] : []),
    '',
    'exit codes: 0 success, 1 AWS or operation failure, 2 bad usage or input (nothing was changed)',
  ].join('\n');
}

/** Where a command writes, waits and looks; tests pass their own. */
export interface Context {
  stdout(text: string): void;
  stderr(text: string): void;
  sleep(ms: number): Promise<void>;
  now(): Date;
  env: NodeJS.ProcessEnv;
  /** Project root: default location of generated/ and build.config.json. */
  root: string;
  /** Where the operator ran the command: a relative path given in a flag resolves here. */
  cwd: string;
  /** Milliseconds between polls of a long-running AWS operation. */
  pollMs: number;
  /** True when a person can answer a question (stdin and stderr are terminals). */
  interactive?: boolean;
  /** Asks a yes/no question on the terminal; only called when `interactive`. */
  confirm?: (question: string) => Promise<boolean>;
  /** Extra SDK client configuration per service (tests point clients at loopback fakes). */
  awsConfig?: Partial<
    Record<
      'cloudformation' | 's3' | 'sts' | 'organizations' | 'ssm' | 'dynamodb' | 'tagging' | 'lambda',
      Record<string, unknown>
    >
  >;
}

export function defaultContext(): Context {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => new Date(),
    env: process.env,
    root: PROJECT_ROOT,
    // npm runs scripts from the project root and keeps the shell's folder in INIT_CWD.
    cwd: process.env.INIT_CWD || process.cwd(),
    pollMs: 5_000,
    interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
    confirm: askOnTerminal,
  };
}

async function askOnTerminal(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/**
 * A change that needs a person's yes: --yes gives it up front; without a terminal there is no one
 * to ask, so --yes is required (checked before any AWS call).
 */
export function requireConfirmable(ctx: Context, yes: boolean, what: string): void {
  if (!yes && !ctx.interactive) throw new UsageError(`${what}: no terminal to confirm on, so pass --yes`);
}

/** Progress goes to stderr so stdout stays clean for --json and pipes. */
export function progress(ctx: Context, line: string): void {
  ctx.stderr(`${line}\n`);
}

/**
 * Runs one subcommand: --help, parsing, then the body. A CliError ends with its own exit code and
 * message; anything else (an SDK error) becomes one readable line and exit code 1. No stack traces.
 */
export async function runCommand<const O extends readonly Option<string, unknown>[]>(
  spec: CommandSpec<O>,
  argv: string[],
  ctx: Context,
  body: (values: Values<O>, given: ReadonlySet<string>) => Promise<number>,
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    ctx.stdout(`${helpText(spec)}\n`);
    return EXIT.ok;
  }
  try {
    const { values, given } = parseOptions(spec.name, spec.options, argv);
    outputFormat(values as Record<string, unknown>);
    return await body(values, given);
  } catch (err) {
    ctx.stderr(`ssm-hub ${spec.name}: ${errorText(err)}\n`);
    return err instanceof CliError ? err.exitCode : EXIT.failed;
  }
}

/** --output json|table, alongside --json: one format, so `--json --output table` is refused. */
function outputFormat(values: Record<string, unknown>): void {
  if (!('output' in values) || values.output === undefined) return;
  if (values.output === 'table' && values.json === true)
    throw new UsageError('--json and --output table cannot be used together');
  if (values.output === 'json') values.json = true;
}

/**
 * A cell as the terminal will show it: control characters (C0, DEL, C1) written as \xNN, so text an
 * agency supplied (a registration error, a tag value) cannot move the cursor, erase lines or
 * retitle the terminal.
 */
export const printable = (text: string): string =>
  text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** Fixed-width text table for human output (any number of rows: no spread into Math.max). */
export function table(headers: string[], rows: string[][]): string {
  const cells = rows.map((r) => headers.map((_, i) => printable(r[i] ?? '')));
  const widths = headers.map((h) => h.length);
  for (const r of cells) r.forEach((c, i) => (widths[i] = Math.max(widths[i]!, c.length)));
  const line = (row: string[]) =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** Runs tasks with at most `limit` in flight; results keep the input order (the handlers' pool). */
export { mapPool as mapLimit } from '../../lambda/shared/pool.ts';
