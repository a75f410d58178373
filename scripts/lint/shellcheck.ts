// shellcheck over every shell source. CI installs it from Debian's packages.
import { spawnSync } from 'node:child_process';
import type { Finding } from './findings.ts';

interface ShellcheckComment {
  file: string;
  line: number;
  column: number;
  level: 'error' | 'warning' | 'info' | 'style';
  code: number;
  message: string;
}

export function runShellcheck(files: string[]): Finding[] {
  if (files.length === 0) return [];
  const run = spawnSync('shellcheck', ['--format=json', '--severity=style', ...files], { encoding: 'utf8' });
  if (run.error) {
    return [
      {
        tool: 'shellcheck',
        file: '-',
        location: '-',
        rule: 'missing',
        severity: 'error',
        message: 'shellcheck is not installed (apt-get install -y shellcheck)',
      },
    ];
  }
  const comments = JSON.parse(run.stdout || '[]') as ShellcheckComment[];
  return comments.map((c) => ({
    tool: 'shellcheck',
    file: c.file,
    location: `${c.line}:${c.column}`,
    rule: `SC${c.code}`,
    severity: c.level === 'error' ? 'error' : 'warning',
    message: c.message,
  }));
}
