// The real cfn-lint, when one is on PATH (it comes from PyPI, which this project cannot reach;
// teams that have it get its findings too).
import { spawnSync } from 'node:child_process';
import type { Finding } from './findings.ts';

export function runCfnLintIfPresent(templates: string[]): { ran: boolean; findings: Finding[] } {
  const probe = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { ran: false, findings: [] };
  const run = spawnSync('cfn-lint', ['--format', 'parseable', ...templates], { encoding: 'utf8' });
  const findings: Finding[] = (run.stdout || '')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [file = '', l = '', c = '', , , rule = '', ...msg] = line.split(':');
      return {
        tool: 'cfn-lint',
        file,
        location: `${l}:${c}`,
        rule,
        severity: rule.startsWith('E') ? 'error' : rule.startsWith('W') ? 'warning' : 'info',
        message: msg.join(':'),
      } as Finding;
    });
  return { ran: true, findings };
}
