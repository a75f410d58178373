// shellcheck over every shell source. CI installs it from Debian's packages.
import { spawnSync } from 'node:child_process';
import type { Finding } from './findings.ts';

export interface ShellcheckComment {
  file: string;
  line: number;
  column: number;
  level: 'error' | 'warning' | 'info' | 'style';
  code: number;
  message: string;
}

/** The one finding when shellcheck itself is missing. */
export const SHELLCHECK_MISSING: Finding = {
  tool: 'shellcheck',
  file: '-',
  location: '-',
  rule: 'missing',
  severity: 'error',
  message: 'shellcheck is not installed (apt-get install -y shellcheck)',
};

/** shellcheck's JSON comments on `args` (files, or `-` with `input`); undefined when it is not installed. */
export function shellcheckComments(args: string[], input?: string): ShellcheckComment[] | undefined {
  const run = spawnSync('shellcheck', ['--format=json', '--severity=style', ...args], {
    encoding: 'utf8',
    ...(input === undefined ? {} : { input }),
  });
  if (run.error) return undefined;
  return JSON.parse(run.stdout || '[]') as ShellcheckComment[];
}

/** One comment as a finding, at the file and line it belongs to. */
export function shellcheckFinding(c: ShellcheckComment, file: string, line: number): Finding {
  return {
    tool: 'shellcheck',
    file,
    location: `${line}:${c.column}`,
    rule: `SC${c.code}`,
    severity: c.level === 'error' ? 'error' : 'warning',
    message: c.message,
  };
}

export function runShellcheck(files: string[]): Finding[] {
  if (files.length === 0) return [];
  const comments = shellcheckComments(files);
  if (!comments) return [SHELLCHECK_MISSING];
  return comments.map((c) => shellcheckFinding(c, c.file, c.line));
}
