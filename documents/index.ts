// The agency-side SSM Command documents (schema 2.2). The scripts are real files next to this
// module, so shellcheck, the PowerShell parser and the sandbox tests see exactly what ships;
// they are read here at build time and embedded as runCommand lines.
//
// Each step's runCommand is one multi-line string (the agent writes it to the script file as is;
// one element instead of one per line keeps the agency template under 51,200 bytes): a few
// lines that hand the document parameters and the build's
// constants to the script as environment variables, then the script's own lines. Parameter
// values are substituted by the agent as raw text, so each parameter's allowedPattern admits no
// quote, no $ and no backtick: a value can never break out of the quoted assignment.
// No secret ever passes as a document parameter: the scripts read the activation on the instance.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PARAMETER_PATH_ALLOWED_PATTERN, REGION_NAME_PATTERN } from '../contract/patterns.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Names of the document parameters, shared with the template builder (association parameters). */
export const DOCUMENT_PARAMETERS = {
  hubRegion: 'HubRegion',
  activationParameterPath: 'ActivationParameterPath',
} as const;

/** A Region name such as eu-west-1, us-gov-west-1 or ap-southeast-5. */
export const REGION_PATTERN = REGION_NAME_PATTERN;
/** A Parameter Store path such as /ssm-hub/activation (no trailing slash). */
export const PARAMETER_PATH_PATTERN = PARAMETER_PATH_ALLOWED_PATTERN;

/** Environment variables the scripts read; the runCommand preamble sets them. */
export const SCRIPT_ENV = {
  hubRegion: 'SSM_HUB_REGION',
  activationParameterPath: 'SSM_HUB_ACTIVATION_PARAMETER_PATH',
  reservedTagPrefix: 'SSM_HUB_RESERVED_TAG_PREFIX',
  managedInstanceIdTagKey: 'SSM_HUB_MANAGED_INSTANCE_ID_TAG',
} as const;

export interface DocumentOptions {
  /**
   * Default of HubRegion: a Region name, a CloudFormation intrinsic such as { Ref: 'CentralRegion' },
   * or undefined for no default (the caller of the document must then pass HubRegion).
   */
  hubRegion: unknown;
  /** Default of ActivationParameterPath: a path, a CloudFormation intrinsic, or undefined for none. */
  activationParameterPath: unknown;
  /** Build-time constant, e.g. "central-it:". */
  reservedTagPrefix: string;
  /** Build-time constant, e.g. "managedinstanceid". */
  managedInstanceIdTagKey: string;
}

export class DocumentBuildError extends Error {
  override readonly name = 'DocumentBuildError';
}

/** The plain shape of what we emit; checkSsmDocument validates it against the full format. */
export interface CommandDocument {
  schemaVersion: '2.2';
  description: string;
  parameters: Record<string, { type: 'String'; description: string; allowedPattern: string; default?: unknown }>;
  mainSteps: Array<{
    action: 'aws:runShellScript' | 'aws:runPowerShellScript';
    name: string;
    precondition: { StringEquals: ['platformType', 'Linux' | 'Windows'] };
    inputs: { runCommand: string[]; timeoutSeconds: string };
  }>;
}

type ScriptFile = 'register-linux.sh' | 'register-windows.ps1' | 'deregister-linux.sh' | 'deregister-windows.ps1';

/** The folder of the scripts and their libraries. */
export const DOCUMENTS_DIR = HERE;

export function scriptPath(file: ScriptFile): string {
  return join(HERE, file);
}

/** The shared libraries a script may include, one per shell: `# @include lib/common.sh` or `.ps1`. */
export const LIBRARIES = { sh: 'lib/common.sh', ps1: 'lib/common.ps1' } as const;

/** Where each line of a joined script comes from (1-based line in `file`, relative to documents/). */
export interface JoinedScript {
  text: string;
  origin: Array<{ file: string; line: number }>;
}

const INCLUDE_LINE = /^# @include (\S+)$/;
// A library's own header is for the tools that read the library alone (shellcheck needs to be
// told the shell); inside the joined script the script's own shebang says it.
const LIBRARY_HEADER = /^(#!|# shellcheck shell=)/;

/**
 * The script as it ships: each line exactly `# @include lib/common.sh` (in a .sh) or
 * `# @include lib/common.ps1` (in a .ps1) is replaced by that library's text, without the
 * library functions the script never calls (libraryLinesToKeep). A library includes nothing
 * itself, and any other `# @include` line is an error.
 */
export function joinScript(file: string, root = HERE): string {
  return joinScriptWithOrigin(file, root).text;
}

export function joinScriptWithOrigin(file: string, root = HERE): JoinedScript {
  const ext = file.endsWith('.sh') ? 'sh' : file.endsWith('.ps1') ? 'ps1' : undefined;
  if (!ext) throw new DocumentBuildError(`${file}: only .sh and .ps1 scripts are joined`);
  const lines = splitLines(readFileSync(join(root, file), 'utf8'));
  const out: string[] = [];
  const origin: JoinedScript['origin'] = [];
  lines.forEach((line, i) => {
    const include = INCLUDE_LINE.exec(line.trimEnd());
    if (!include) {
      if (/^\s*# @include\b/.test(line)) {
        throw new DocumentBuildError(`${file}:${i + 1}: an include line is exactly "# @include ${LIBRARIES[ext]}"`);
      }
      out.push(line);
      origin.push({ file, line: i + 1 });
      return;
    }
    if (include[1] !== LIBRARIES[ext]) {
      throw new DocumentBuildError(`${file}:${i + 1}: a .${ext} script can include only ${LIBRARIES[ext]}`);
    }
    const lib = splitLines(readFileSync(join(root, LIBRARIES[ext]), 'utf8'));
    const script = lines.filter((_, k) => k !== i);
    const keep = libraryLinesToKeep(lib, script, ext);
    let j = 0;
    while (j < lib.length && LIBRARY_HEADER.test(lib[j]!)) j++;
    for (; j < lib.length; j++) {
      if (/^\s*# @include\b/.test(lib[j]!)) {
        throw new DocumentBuildError(`${LIBRARIES[ext]}:${j + 1}: a library includes nothing`);
      }
      if (!keep[j]) continue;
      out.push(lib[j]!);
      origin.push({ file: LIBRARIES[ext], line: j + 1 });
    }
  });
  return { text: `${out.join('\n')}\n`, origin };
}

/** One top-level function of a library: its name and its lines (leading comment lines included). */
export interface LibraryFunction {
  name: string;
  /** 0-based, inclusive. */
  first: number;
  last: number;
}

// A function starts at column 0: `function Name` (PowerShell) or `name() {` (bash). A header that
// ends with `}` is a one-line function; otherwise the function ends at the next line that is
// exactly `}`, the layout both libraries use (prettier-like, one brace at column 0).
const FUNCTION_HEADER = {
  ps1: /^function ([A-Za-z][\w-]*)/,
  sh: /^([A-Za-z_][A-Za-z0-9_]*)\(\)\s*\{/,
} as const;

/** The library's top-level functions, each with the comment lines just above it. Pure. */
export function libraryFunctions(lib: readonly string[], ext: 'sh' | 'ps1'): LibraryFunction[] {
  const found: LibraryFunction[] = [];
  for (let i = 0; i < lib.length; i++) {
    const name = FUNCTION_HEADER[ext].exec(lib[i]!)?.[1];
    if (!name) continue;
    if (found.some((f) => same(f.name, name, ext))) {
      throw new DocumentBuildError(`${LIBRARIES[ext]}:${i + 1}: function ${name} is defined twice`);
    }
    let first = i;
    while (first > 0 && /^#(?!!)/.test(lib[first - 1]!) && !LIBRARY_HEADER.test(lib[first - 1]!)) first--;
    let last = i;
    if (!lib[i]!.trimEnd().endsWith('}')) {
      last = lib.findIndex((l, k) => k > i && l.trimEnd() === '}');
      if (last < 0) throw new DocumentBuildError(`${LIBRARIES[ext]}:${i + 1}: function ${name} has no closing }`);
    }
    found.push({ name, first, last });
    i = last;
  }
  return found;
}

const same = (a: string, b: string, ext: 'sh' | 'ps1') =>
  ext === 'ps1' ? a.toLowerCase() === b.toLowerCase() : a === b;

/** Whether `text` names the function as a word (PowerShell names are case-insensitive). */
export function mentions(text: string, name: string, ext: 'sh' | 'ps1'): boolean {
  const word = ext === 'ps1' ? '[\\w-]' : '\\w';
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<!${word})${escaped}(?!${word})`, ext === 'ps1' ? 'i' : '').test(text);
}

/**
 * Which library lines the joined script keeps: every line outside a function, and each function
 * that the script or the library's top-level code names, directly or through another kept
 * function. A name anywhere counts (a string, a comment), so the rule only ever keeps too much.
 * Pure: the table test in test/documents/include.test.ts.
 */
export function libraryLinesToKeep(lib: readonly string[], script: readonly string[], ext: 'sh' | 'ps1'): boolean[] {
  const fns = libraryFunctions(lib, ext);
  const inFunction = new Array<boolean>(lib.length).fill(false);
  for (const f of fns) for (let k = f.first; k <= f.last; k++) inFunction[k] = true;
  const body = (f: LibraryFunction) => lib.slice(f.first, f.last + 1).join('\n');
  let reach = [...script, ...lib.filter((_, k) => !inFunction[k])].join('\n');
  const kept = new Set<LibraryFunction>();
  for (let grew = true; grew;) {
    grew = false;
    for (const f of fns) {
      if (kept.has(f) || !mentions(reach, f.name, ext)) continue;
      kept.add(f);
      reach += `\n${body(f)}`;
      grew = true;
    }
  }
  const keep = inFunction.map((inside) => !inside);
  for (const f of kept) for (let k = f.first; k <= f.last; k++) keep[k] = true;
  return keep;
}

/** Lines of a text file, CRLF or LF, without the empty string after the final newline. */
function splitLines(text: string): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/**
 * The script's lines as the agent will run them: no shebang (the step supplies its own), and,
 * to keep the agency template inside CloudFormation's 51,200-byte TemplateBody, no comment-only
 * lines, no blank lines and no indentation. Neither script uses heredocs, here-strings or block
 * comments, where that would change meaning (a test checks), and the compacted scripts are the
 * ones the tests run and parse.
 */
export function scriptLines(file: ScriptFile): string[] {
  return compactScript(joinScript(file));
}

export function compactScript(text: string): string[] {
  if (/<<-?\s*['"]?\w+|@["']\s*$|<#/m.test(text)) {
    throw new DocumentBuildError(
      'script uses a heredoc, here-string or block comment; compactScript cannot strip it safely',
    );
  }
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines[0]?.startsWith('#!')) lines.shift();
  return lines.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

// Build constants are embedded between single quotes in bash and PowerShell. These characters
// are the SSM tag-key set minus "=" and "," (the AWS CLI --tags shorthand splits on them); none
// of them ends a single-quoted string in either shell.
const CONSTANT_PATTERN = /^[\p{L}\p{N} _.:/+\-@]+$/u;

function checkConstant(field: keyof DocumentOptions, value: string): string {
  if (typeof value !== 'string' || !CONSTANT_PATTERN.test(value) || /[\u2028\u2029]/.test(value)) {
    throw new DocumentBuildError(
      `${field} must be letters, digits, spaces or _ . : / + - @ (got ${JSON.stringify(value)})`,
    );
  }
  return value;
}

/** The parameter's default, or none (undefined): then whoever runs the document must pass it. */
function withDefault(field: keyof DocumentOptions, value: unknown, pattern: string): { default?: unknown } {
  if (value === undefined) return {};
  if (typeof value === 'string' && !new RegExp(pattern).test(value)) {
    throw new DocumentBuildError(`${field} default ${JSON.stringify(value)} does not match ${pattern}`);
  }
  if (value === null || (typeof value !== 'string' && typeof value !== 'object')) {
    throw new DocumentBuildError(`${field} must be a string, a CloudFormation intrinsic or undefined`);
  }
  return { default: value };
}

function parameters(opts: DocumentOptions, withActivation: boolean): CommandDocument['parameters'] {
  const hub = {
    [DOCUMENT_PARAMETERS.hubRegion]: {
      type: 'String',
      description: 'Region of the central hub, e.g. eu-west-1.',
      allowedPattern: REGION_PATTERN,
      ...withDefault('hubRegion', opts.hubRegion, REGION_PATTERN),
    },
  } satisfies CommandDocument['parameters'];
  if (!withActivation) return hub;
  return {
    ...hub,
    [DOCUMENT_PARAMETERS.activationParameterPath]: {
      type: 'String',
      description:
        'Path of the SecureString parameters <path>/id and <path>/code (this account and Region) holding the activation.',
      allowedPattern: PARAMETER_PATH_PATTERN,
      ...withDefault('activationParameterPath', opts.activationParameterPath, PARAMETER_PATH_PATTERN),
    },
  };
}

function linuxPreamble(opts: DocumentOptions, withActivation: boolean): string[] {
  return [
    // The agent runs the step file with `sh -c <file>`, so this line picks bash on every distro
    // (Ubuntu's sh is dash, which lacks pipefail and arrays).
    '#!/bin/bash',
    `export ${SCRIPT_ENV.hubRegion}='{{ ${DOCUMENT_PARAMETERS.hubRegion} }}'`,
    ...(withActivation
      ? [`export ${SCRIPT_ENV.activationParameterPath}='{{ ${DOCUMENT_PARAMETERS.activationParameterPath} }}'`]
      : []),
    `export ${SCRIPT_ENV.reservedTagPrefix}='${checkConstant('reservedTagPrefix', opts.reservedTagPrefix)}'`,
    `export ${SCRIPT_ENV.managedInstanceIdTagKey}='${checkConstant('managedInstanceIdTagKey', opts.managedInstanceIdTagKey)}'`,
  ];
}

function windowsPreamble(opts: DocumentOptions, withActivation: boolean): string[] {
  return [
    `$env:${SCRIPT_ENV.hubRegion} = '{{ ${DOCUMENT_PARAMETERS.hubRegion} }}'`,
    ...(withActivation
      ? [`$env:${SCRIPT_ENV.activationParameterPath} = '{{ ${DOCUMENT_PARAMETERS.activationParameterPath} }}'`]
      : []),
    `$env:${SCRIPT_ENV.reservedTagPrefix} = '${checkConstant('reservedTagPrefix', opts.reservedTagPrefix)}'`,
    `$env:${SCRIPT_ENV.managedInstanceIdTagKey} = '${checkConstant('managedInstanceIdTagKey', opts.managedInstanceIdTagKey)}'`,
  ];
}

/** A step that runs `lines` as one script on one platform, within 300 seconds. */
function step(
  action: CommandDocument['mainSteps'][number]['action'],
  platform: 'Linux' | 'Windows',
  name: string,
  lines: string[],
): CommandDocument['mainSteps'][number] {
  return {
    action,
    name,
    precondition: { StringEquals: ['platformType', platform] },
    inputs: { runCommand: [lines.join('\n')], timeoutSeconds: '300' },
  };
}

/**
 * One command document with a Linux and a Windows step: `verb` names the steps (RegisterLinux …)
 * and the scripts (register-linux.sh …); `withActivation` adds the activation parameter.
 */
function commandDocument(
  description: string,
  opts: DocumentOptions,
  verb: 'register' | 'deregister',
  withActivation: boolean,
): CommandDocument {
  const Verb = verb === 'register' ? 'Register' : 'Deregister';
  const linux: { name: string; file: ScriptFile } = { name: `${Verb}Linux`, file: `${verb}-linux.sh` };
  const windows: { name: string; file: ScriptFile } = { name: `${Verb}Windows`, file: `${verb}-windows.ps1` };
  return {
    schemaVersion: '2.2',
    description,
    parameters: parameters(opts, withActivation),
    mainSteps: [
      step('aws:runShellScript', 'Linux', linux.name, [
        ...linuxPreamble(opts, withActivation),
        ...scriptLines(linux.file),
      ]),
      step('aws:runPowerShellScript', 'Windows', windows.name, [
        ...windowsPreamble(opts, withActivation),
        ...scriptLines(windows.file),
      ]),
    ],
  };
}

/** Registers the instance's SSM Agent with the hub's hybrid activation (through a detached worker). */
export function registrationDocument(opts: DocumentOptions): CommandDocument {
  return commandDocument(
    'Registers this instance with the central SSM hub through a detached worker and tags it with its managed node ID. Idempotent. Log: /var/log/ssm-hub-register.log or %ProgramData%\\Amazon\\SSM\\ssm-hub-register.log.',
    opts,
    'register',
    true,
  );
}

/**
 * Returns the instance to its own account's Systems Manager: clears the hybrid registration.
 * Its only parameter is HubRegion: it leaves alone a registration to any other Region.
 */
export function deregistrationDocument(opts: DocumentOptions): CommandDocument {
  return commandDocument(
    "Returns this EC2 instance to its own account's Systems Manager: a detached worker clears the hybrid registration, restarts the SSM Agent and removes the managed node ID tag. Success means the worker was scheduled: deregister the node only once it shows ConnectionLost. Progress: /var/log/ssm-hub-deregister.log or %ProgramData%\\Amazon\\SSM\\ssm-hub-deregister.log.",
    opts,
    'deregister',
    // Only the hub Region: the way back needs no activation, and opts.activationParameterPath
    // is accepted but unused so both builders take the same options.
    false,
  );
}
