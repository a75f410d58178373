// `npm run lint`: the cfn-lint wrapper. AWS's offline cfn-lint engine and cfn-guard (Control
// Tower rules plus lint/guard/) over every generated template, shellcheck over every .sh, a
// PowerShell parse of every .ps1, and the real cfn-lint when present. One table of findings;
// any error or warning fails the run. A suppression or exemption needs a written reason.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { defaultContext, defineCommand, flag, runCommand, pathWithDefault, type Values } from '../kit/index.ts';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PROJECT_ROOT } from '../build/bundle.ts';
import { validateTemplates } from './cfn-validate.ts';
import { formatTable, type Finding, type Suppression } from './findings.ts';
import { runGuard } from './guard.ts';
import { runShellcheck } from './shellcheck.ts';
import { documentScripts, parsePowerShellJoined, shellcheckJoined } from './joined.ts';
import { runCfnLintIfPresent } from './cfn-lint-cli.ts';

const suppressionFile = z.object({
  suppressions: z.array(
    z.strictObject({
      rule: z.string().min(1),
      template: z.string().optional(),
      resource: z.string().optional(),
      reason: z.string().min(20, { message: 'every suppression needs a written reason (20+ characters)' }),
    }),
  ),
});

export function loadSuppressions(file: string): Suppression[] {
  if (!existsSync(file)) return [];
  const parsed = suppressionFile.safeParse(parseYaml(readFileSync(file, 'utf8')) ?? { suppressions: [] });
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new Error(`${relative(PROJECT_ROOT, file)}: ${i.path.join('.')}: ${i.message}`);
  }
  return parsed.data.suppressions;
}

function filesWithExtension(dir: string, ext: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(ext) && !f.includes('node_modules'))
    .map((f) => join(dir, f))
    .sort();
}

export interface LintOptions {
  templates: string[];
  /** Shell files checked as they are (not the document scripts). */
  shellFiles: string[];
  /** Document scripts (names in documents/), checked joined with their library. */
  documentShellScripts?: string[];
  powershellFiles: string[];
  /** Document scripts (names in documents/), parsed joined with their library. */
  documentPowershellScripts?: string[];
  projectRules?: string;
  cfnSuppressions?: Suppression[];
  guardExemptions?: Suppression[];
}

export interface LintResult {
  findings: Finding[];
  ran: string[];
}

export async function runLint(o: LintOptions): Promise<LintResult> {
  const findings: Finding[] = [];
  const ran: string[] = [];
  const v = validateTemplates(o.templates, o.cfnSuppressions ?? []);
  findings.push(...v.findings);
  ran.push(`cfn-validate ${v.version} (${o.templates.length} templates)`);
  findings.push(
    ...runGuard(o.templates, o.projectRules ?? join(PROJECT_ROOT, 'lint', 'guard'), o.guardExemptions ?? []),
  );
  ran.push('cfn-guard (Control Tower rules + lint/guard)');
  const docSh = o.documentShellScripts ?? [];
  findings.push(...runShellcheck(o.shellFiles), ...shellcheckJoined(docSh));
  ran.push(`shellcheck (${o.shellFiles.length} files, ${docSh.length} document scripts joined with documents/lib)`);
  const docPs = o.documentPowershellScripts ?? [];
  if (o.powershellFiles.length) {
    const { parsePowerShell } = await import('./powershell.ts');
    for (const file of o.powershellFiles) {
      const { errors } = await parsePowerShell(readFileSync(file, 'utf8'), file);
      for (const e of errors) {
        findings.push({
          tool: 'powershell-parse',
          file,
          location: `${e.line}:${e.column}`,
          rule: 'syntax',
          severity: 'error',
          message: e.text,
        });
      }
    }
  }
  findings.push(...(await parsePowerShellJoined(docPs)));
  ran.push(`powershell parse (${o.powershellFiles.length} files, ${docPs.length} document scripts joined)`);
  const cfnLint = runCfnLintIfPresent(o.templates);
  ran.push(cfnLint.ran ? 'cfn-lint (on PATH)' : 'cfn-lint: not on PATH, skipped');
  findings.push(...cfnLint.findings);
  return { findings, ran };
}

export const spec = defineCommand({
  name: 'lint',
  summary:
    "Validates the generated templates with AWS's offline cfn-lint engine and cfn-guard (AWS Control Tower rules and lint/guard/*.guard), shellcheck on every .sh, a PowerShell parse of every .ps1, and the real cfn-lint when it is on PATH. Exits 1 on any error or warning.",
  usage: ['[--templates DIR] [--json] [--verbose]'],
  options: [
    pathWithDefault('templates', {
      arg: 'DIR',
      help: 'folder of templates to check (*.json)',
      default: join(PROJECT_ROOT, 'generated', 'templates'),
      defaultText: 'generated/templates',
    }),
    flag('json', 'print findings as JSON'),
    flag('verbose', 'also list informational findings', 'v'),
  ],
});

export async function main(argv: string[]): Promise<number> {
  return runCommand(spec, argv, defaultContext(), (args) => lint(args));
}

async function lint(args: Values<typeof spec.options>): Promise<number> {
  const templates = filesWithExtension(args.templates, '.json');
  if (templates.length === 0) {
    process.stderr.write(`lint: no templates in ${args.templates}; run npm run build first\n`);
    return 2;
  }
  const result = await runLint({
    templates,
    shellFiles: [...filesWithExtension(join(PROJECT_ROOT, 'scripts'), '.sh'), join(PROJECT_ROOT, '.ci', 'run')].filter(
      existsSync,
    ),
    // documents/lib/ is checked inside every document script that includes it.
    documentShellScripts: documentScripts('.sh'),
    powershellFiles: [],
    documentPowershellScripts: documentScripts('.ps1'),
    cfnSuppressions: loadSuppressions(join(PROJECT_ROOT, 'lint', 'cfn-validate-suppressions.yaml')),
    guardExemptions: loadSuppressions(join(PROJECT_ROOT, 'lint', 'control-tower-exemptions.yaml')),
  });
  const shown = result.findings.map((f) => ({ ...f, file: relative(PROJECT_ROOT, f.file) || f.file }));
  const counts = { error: 0, warning: 0, info: 0 };
  for (const f of shown) counts[f.severity]++;
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ ran: result.ran, counts, findings: shown }, null, 2)}\n`);
  } else {
    for (const r of result.ran) process.stdout.write(`ran: ${r}\n`);
    // Informational findings (tagging suggestions, create-only notes) only with --verbose.
    const table = args.verbose ? shown : shown.filter((f) => f.severity !== 'info');
    if (table.length) process.stdout.write(`\n${formatTable(table)}\n`);
    process.stdout.write(`\n${counts.error} errors, ${counts.warning} warnings, ${counts.info} informational\n`);
  }
  return counts.error + counts.warning > 0 ? 1 : 0;
}
