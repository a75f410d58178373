// AWS's offline cfn-lint (@aws/cloudformation-validate, WebAssembly). aws-cdk-lib ships a
// newer copy than the standalone beta package, so it is loaded from inside aws-cdk-lib.
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import type { Finding, Suppression } from './findings.ts';

interface Diagnostic {
  ruleId: string;
  severity: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';
  message: string;
  entity?: { logicalId?: string };
  propertyPath?: string;
  startLine?: number;
  startColumn?: number;
}
interface Engine {
  validateTemplate(t: unknown): { status: string; diagnostics: Diagnostic[] };
  free(): void;
}
interface ValidateModule {
  CompositeEngine: new () => Engine;
  TemplateFile: new (path: string) => unknown;
  version(): string;
}

let cached: ValidateModule | undefined;
export function loadValidator(): ValidateModule {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const cdkRoot = dirname(require.resolve('aws-cdk-lib/package.json'));
  cached = require(join(cdkRoot, 'node_modules', '@aws', 'cloudformation-validate')) as ValidateModule;
  return cached;
}

const SEVERITY: Record<Diagnostic['severity'], Finding['severity'] | undefined> = {
  FATAL: 'error',
  ERROR: 'error',
  WARN: 'warning',
  INFO: 'info',
  DEBUG: undefined,
};

export function isSuppressed(
  s: Suppression[],
  rule: string,
  template: string,
  resource: string | undefined,
): Suppression | undefined {
  return s.find(
    (x) => x.rule === rule && (!x.template || x.template === template) && (!x.resource || x.resource === resource),
  );
}

/** Validates each template; suppressed findings are dropped (each suppression carries a reason). */
export function validateTemplates(
  files: string[],
  suppressions: Suppression[],
): { findings: Finding[]; version: string } {
  const mod = loadValidator();
  const engine = new mod.CompositeEngine();
  const findings: Finding[] = [];
  try {
    for (const file of files) {
      const report = engine.validateTemplate(new mod.TemplateFile(file));
      const template = basename(file).replace(/\.(json|ya?ml)$/, '');
      for (const d of report.diagnostics) {
        const severity = SEVERITY[d.severity];
        if (!severity) continue;
        if (isSuppressed(suppressions, d.ruleId, template, d.entity?.logicalId)) continue;
        findings.push({
          tool: 'cfn-validate',
          file,
          location: [d.entity?.logicalId, d.propertyPath].filter(Boolean).join(' ') || `line ${d.startLine ?? '?'}`,
          rule: d.ruleId,
          severity,
          message: d.message,
        });
      }
      if (report.status === 'ERROR' && !report.diagnostics.length) {
        findings.push({
          tool: 'cfn-validate',
          file,
          location: '-',
          rule: 'E0000',
          severity: 'error',
          message: 'validation could not run',
        });
      }
    }
  } finally {
    engine.free();
  }
  return { findings, version: mod.version() };
}
