// The small framework every subcommand shares: option specs (which also produce --help), strict
// parsing, the injectable context (output, sleep, clock, AWS clients) and the exit-code mapping.
import { parseArgs } from 'node:util';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError, EXIT, OperationError, UsageError } from './errors.ts';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface OptionSpec {
  name: string;
  type: 'string' | 'boolean';
  /** Placeholder shown in help, e.g. "ACCOUNT,…". */
  arg?: string;
  help: string;
  /** May be given more than once; the value is then a list. */
  multiple?: boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string[];
  options: OptionSpec[];
  notes?: string[];
}

export const COMMON_OPTIONS: OptionSpec[] = [
  {
    name: 'profile',
    type: 'string',
    arg: 'NAME',
    help: 'AWS shared-config profile (default: the standard credential chain)',
  },
  {
    name: 'region',
    type: 'string',
    arg: 'REGION',
    help: "home Region of the central account (default: AWS_REGION or the profile's Region)",
  },
  { name: 'config', type: 'string', arg: 'FILE', help: 'build configuration (default: build.config.json)' },
  { name: 'json', type: 'boolean', help: 'print one JSON document on stdout instead of human output' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export function helpText(spec: CommandSpec): string {
  const all = [...spec.options, ...COMMON_OPTIONS];
  const left = all.map((o) => `--${o.name}${o.arg ? ` ${o.arg}` : ''}`);
  const width = Math.max(...left.map((l) => l.length));
  return [
    ...spec.usage.map((u, i) => `${i === 0 ? 'usage:' : '      '} ssm-hub ${spec.name} ${u}`),
    '',
    spec.summary,
    '',
    'options:',
    ...all.map((o, i) => `  ${left[i]!.padEnd(width)}  ${o.help}`),
    ...(spec.notes?.length ? ['', ...spec.notes] : []),
    '',
    'exit codes: 0 success, 1 AWS or operation failure, 2 bad usage or input (nothing was changed)',
  ].join('\n');
}

export type Flags = Record<string, string | boolean | string[] | undefined>;

export function parseFlags(spec: CommandSpec, argv: string[]): Flags {
  const options = Object.fromEntries(
    [...spec.options, ...COMMON_OPTIONS].map((o) => [o.name, { type: o.type, multiple: o.multiple ?? false }]),
  );
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    return values as Flags;
  } catch (err) {
    const e = err as { code?: string; message: string };
    const hint = `(see ssm-hub ${spec.name} --help)`;
    const opt = /'(-[^' ]+)/.exec(e.message)?.[1];
    switch (e.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`unknown option ${opt ?? ''} ${hint}`);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        throw new UsageError(`${opt ?? 'an option'} needs a value ${hint}`);
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw new UsageError(
          `unexpected argument ${/'([^']+)'/.exec(e.message)?.[1] ?? ''}: every input is a --flag ${hint}`,
        );
      default:
        throw new UsageError(`${e.message} ${hint}`);
    }
  }
}

/** Repeatable string flag accessor. */
export function list(flags: Flags, name: string): string[] {
  const v = flags[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** String flag accessor: empty strings are treated as a missing value. */
export function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') return undefined;
  if (v.trim() === '') throw new UsageError(`--${name} needs a non-empty value`);
  return v;
}

export interface Context {
  stdout(text: string): void;
  stderr(text: string): void;
  sleep(ms: number): Promise<void>;
  now(): Date;
  env: NodeJS.ProcessEnv;
  /** Project root: default location of generated/ and build.config.json. */
  root: string;
  /** Milliseconds between polls of a long-running AWS operation. */
  pollMs: number;
  /** Extra SDK client configuration per service (tests point clients at loopback fakes). */
  awsConfig?: Partial<
    Record<'cloudformation' | 's3' | 'sts' | 'organizations' | 'ssm' | 'dynamodb', Record<string, unknown>>
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
    pollMs: 5_000,
  };
}

/** Progress goes to stderr so stdout stays clean for --json and pipes. */
export function progress(ctx: Context, line: string): void {
  ctx.stderr(`${line}\n`);
}

/**
 * Runs one subcommand: --help, parsing, then the body. Maps typed errors to exit codes; an
 * unexpected AWS error becomes one readable line and exit code 1.
 */
export async function runCommand(
  spec: CommandSpec,
  argv: string[],
  ctx: Context,
  body: (flags: Flags) => Promise<number>,
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    ctx.stdout(`${helpText(spec)}\n`);
    return EXIT.ok;
  }
  try {
    const flags = parseFlags(spec, argv);
    return await body(flags);
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.stderr(`ssm-hub ${spec.name}: ${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof OperationError) {
      ctx.stderr(`ssm-hub ${spec.name}: ${err.message}\n`);
      return EXIT.failed;
    }
    ctx.stderr(`ssm-hub ${spec.name}: ${describeError(err)}\n`);
    return EXIT.failed;
  }
}

/** Fixed-width text table for human output. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (c ?? '').padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Runs tasks with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return results;
}
