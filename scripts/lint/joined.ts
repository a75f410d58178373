// The document scripts are checked as they ship: each joined with its library
// (documents/index.ts joinScript), findings mapped back to the line of the script or library
// that holds them. shellcheck and the PowerShell parser thus see every line of documents/lib/
// inside the scripts that use it, where its variables and callers are defined.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DOCUMENTS_DIR, joinScriptWithOrigin } from '../../documents/index.ts';
import type { Finding } from './findings.ts';
import { SHELLCHECK_MISSING, shellcheckComments, shellcheckFinding } from './shellcheck.ts';

/** The top-level document scripts with this extension (the libraries are checked inside them). */
export function documentScripts(ext: '.sh' | '.ps1', dir = DOCUMENTS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .sort();
}

function unique(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = `${f.file}:${f.location}:${f.rule}`;
    return !seen.has(key) && (seen.add(key), true);
  });
}

/** shellcheck over each joined .sh script; a finding in the library is reported once. */
export function shellcheckJoined(files: string[], dir = DOCUMENTS_DIR): Finding[] {
  const findings: Finding[] = [];
  for (const file of files) {
    const joined = joinScriptWithOrigin(file, dir);
    const comments = shellcheckComments(['--shell=bash', '-'], joined.text);
    if (!comments) return [SHELLCHECK_MISSING];
    for (const c of comments) {
      const from = joined.origin[c.line - 1] ?? { file, line: c.line };
      findings.push(shellcheckFinding(c, join(dir, from.file), from.line));
    }
  }
  return unique(findings);
}

/** The PowerShell parse of each joined .ps1 script. */
export async function parsePowerShellJoined(files: string[], dir = DOCUMENTS_DIR): Promise<Finding[]> {
  const { parsePowerShell } = await import('./powershell.ts');
  const findings: Finding[] = [];
  for (const file of files) {
    const joined = joinScriptWithOrigin(file, dir);
    const { errors } = await parsePowerShell(joined.text, file);
    for (const e of errors) {
      const from = joined.origin[e.line - 1] ?? { file, line: e.line };
      findings.push({
        tool: 'powershell-parse',
        file: join(dir, from.file),
        location: `${from.line}:${e.column}`,
        rule: 'syntax',
        severity: 'error',
        message: e.text,
      });
    }
  }
  return unique(findings);
}
