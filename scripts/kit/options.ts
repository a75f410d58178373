// Option specs: each option carries its parser, its range or allowed values, its default and its
// help line, so parsing, validation and `--help` come from one definition. Repeated flags: list
// flags (comma-separated, such as --agencies) and repeatable flags (--param) accumulate every
// value given; any other flag given twice is refused, since silently keeping one would hide a typo.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from './errors.ts';
import * as rules from './validate.ts';

export interface Option<N extends string = string, T = unknown> {
  name: N;
  /** Placeholder shown in help ("N", "ACCOUNT,…"); a switch has none. */
  arg?: string;
  /** The whole help line, with range and default (written by the constructors below). */
  help: string;
  short?: string;
  /** 'once': given at most once; 'accumulate': every value is kept, in order. */
  repeat: 'once' | 'accumulate';
  /** Every value given, in order ([] when absent; a switch gives ['true']), to the typed value. */
  read(raw: readonly string[]): T;
}

type AnyOption = Option<string, unknown>;
export type Values<O extends readonly AnyOption[]> = {
  [K in O[number] as K['name']]: K extends Option<string, infer T> ? T : never;
};

const withDefault = (help: string, shown: string | number | undefined) =>
  shown === undefined || shown === '' ? help : `${help} (default: ${shown})`;

/** The single value of a 'once' option; an empty or blank value is refused unless allowed. */
function single(name: string, raw: readonly string[], allowEmpty = false): string | undefined {
  const value = raw[0];
  if (value === undefined) return undefined;
  if (!allowEmpty && value.trim() === '') throw new UsageError(`--${name} needs a non-empty value`);
  return value;
}

/** A boolean switch, false unless given. */
export function flag<N extends string>(name: N, help: string, short?: string): Option<N, boolean> {
  return { name, help, short, repeat: 'once', read: (raw) => raw.length > 0 };
}

interface TextSpec<T> {
  arg: string;
  help: string;
  /** Checks and converts the value; throws a UsageError naming the flag. */
  check?: (flag: string, value: string) => T;
  /** Accept "" (a tag value or an S3 prefix may be empty). */
  allowEmpty?: boolean;
  /** Default shown in help when the code supplies one (e.g. one derived from the build config). */
  defaultText?: string;
}

/** A string value (checked and converted by `check` when given), undefined when absent. */
export function text<N extends string>(name: N, spec: Omit<TextSpec<string>, 'check'>): Option<N, string | undefined>;
export function text<N extends string, T>(
  name: N,
  spec: TextSpec<T> & { check: (flag: string, value: string) => T },
): Option<N, T | undefined>;
export function text<N extends string, T>(name: N, spec: TextSpec<T>): Option<N, T | undefined> {
  return {
    name,
    arg: spec.arg,
    help: withDefault(spec.help, spec.defaultText),
    repeat: 'once',
    read: (raw) => {
      const value = single(name, raw, spec.allowEmpty);
      if (value === undefined) return undefined;
      return spec.check ? spec.check(name, value) : (value as T);
    },
  };
}

/** A string value with a fixed default. */
export function textWithDefault<N extends string>(
  name: N,
  spec: { arg: string; help: string; default: string; defaultText?: string },
): Option<N, string> {
  return {
    name,
    arg: spec.arg,
    help: withDefault(spec.help, spec.defaultText ?? spec.default),
    repeat: 'once',
    read: (raw) => single(name, raw) ?? spec.default,
  };
}

/**
 * A file or folder with a fixed default: a relative value resolves against the folder the command
 * was started from (npm runs scripts from the project root and keeps that folder in INIT_CWD).
 */
export function pathWithDefault<N extends string>(
  name: N,
  spec: { arg: 'FILE' | 'DIR'; help: string; default: string; defaultText?: string },
  startedIn: () => string = () => process.env.INIT_CWD || process.cwd(),
): Option<N, string> {
  const option = textWithDefault(name, spec);
  return { ...option, read: (raw) => (raw.length ? resolve(startedIn(), option.read(raw)) : spec.default) };
}

interface IntegerSpec<D> {
  arg?: string;
  help: string;
  min: number;
  max: number;
  default?: D;
  /** Default shown in help when it is not a number here (e.g. "the template default"). */
  defaultText?: string;
}

/** A whole number in [min, max]; the range is checked and shown in help. */
export function integer<N extends string, D extends number | undefined = undefined>(
  name: N,
  spec: IntegerSpec<D>,
): Option<N, number | D> {
  return {
    name,
    arg: spec.arg ?? 'N',
    help: withDefault(`${spec.help}, ${spec.min}–${spec.max}`, spec.defaultText ?? spec.default),
    repeat: 'once',
    read: (raw) => {
      const value = single(name, raw);
      return value === undefined ? (spec.default as D) : rules.integer(name, value, spec.min, spec.max);
    },
  };
}

/** One of a fixed set of values. */
export function choice<
  N extends string,
  const V extends readonly string[],
  D extends V[number] | undefined = undefined,
>(
  name: N,
  spec: { help: string; values: V; default?: D; arg?: string; defaultText?: string },
): Option<N, V[number] | D> {
  return {
    name,
    arg: spec.arg ?? spec.values.join('|'),
    help: withDefault(`${spec.help}: ${spec.values.join(' or ')}`, spec.defaultText ?? spec.default),
    repeat: 'once',
    read: (raw) => {
      const value = single(name, raw);
      return value === undefined ? (spec.default as D) : rules.oneOf(name, value, spec.values);
    },
  };
}

/**
 * A comma-separated list; given more than once, the lists are joined (`--agencies A --agencies B`
 * is `--agencies A,B`). `check` splits and validates; undefined when absent.
 */
export function list<N extends string>(
  name: N,
  spec: { arg: string; help: string; check: (flag: string, value: string) => string[] },
): Option<N, string[] | undefined> {
  return {
    name,
    arg: spec.arg,
    help: `${spec.help}; comma-separated, repeatable`,
    repeat: 'accumulate',
    read: (raw) => {
      if (!raw.length) return undefined;
      for (const value of raw) if (value.trim() === '') throw new UsageError(`--${name} needs a non-empty value`);
      return [...new Set(spec.check(name, raw.join(',')))];
    },
  };
}

/** A flag that may be given many times, each value kept as given ([] when absent). */
export function repeatable<N extends string>(name: N, spec: { arg: string; help: string }): Option<N, string[]> {
  return { name, arg: spec.arg, help: `${spec.help} (repeatable)`, repeat: 'accumulate', read: (raw) => [...raw] };
}

export const HELP_OPTION = flag('help', 'show this help', 'h');

export interface Parsed<O extends readonly AnyOption[]> {
  values: Values<O>;
  /** The options that were given on the command line (whatever their value). */
  given: ReadonlySet<string>;
}

/** Parses argv strictly against the specs: unknown flags, positionals and repeats are refused. */
export function parseOptions<const O extends readonly AnyOption[]>(command: string, options: O, argv: string[]) {
  const config = Object.fromEntries(
    options.map(
      (o) =>
        [
          o.name,
          { type: o.arg ? 'string' : 'boolean', multiple: true, ...(o.short ? { short: o.short } : {}) },
        ] as const,
    ),
  );
  let raw: Record<string, Array<string | boolean> | undefined>;
  try {
    raw = parseArgs({ args: argv, options: config, strict: true, allowPositionals: false }).values as typeof raw;
  } catch (err) {
    throw parseArgsError(command, err);
  }
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const o of options) {
    const got = (raw[o.name] ?? []).map(String);
    if (got.length) given.add(o.name);
    if (o.repeat === 'once' && got.length > 1 && o.arg)
      throw new UsageError(`--${o.name} was given ${got.length} times: give it once (see ssm-hub ${command} --help)`);
    values[o.name] = o.read(got);
  }
  return { values: values as Values<O>, given } satisfies Parsed<O>;
}

function parseArgsError(command: string, err: unknown): UsageError {
  const e = err as { code?: string; message: string };
  const hint = `(see ssm-hub ${command} --help)`;
  const opt = /'(-[^' ]+)/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option ${opt ?? ''} ${hint}`, { cause: err });
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new UsageError(`${opt ?? 'an option'} needs a value ${hint}`, { cause: err });
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(
        `unexpected argument ${/'([^']+)'/.exec(e.message)?.[1] ?? ''}: every input is a --flag ${hint}`,
        { cause: err },
      );
    default:
      return new UsageError(`${e.message} ${hint}`, { cause: err });
  }
}

/** The option table of a help text, one aligned line per option. */
export function optionLines(options: readonly AnyOption[]): string[] {
  const left = options.map((o) => `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.arg ? ` ${o.arg}` : ''}`);
  const width = Math.max(...left.map((l) => l.length));
  return options.map((o, i) => `  ${left[i]!.padEnd(width)}  ${o.help}`);
}
