// cfn-guard 3 (the binary shipped in @cdklabs/cdk-validator-cfnguard) with the AWS Control
// Tower proactive rules and the project's own rules in lint/guard/. cfn-guard exits 19 when a
// rule fails; the structured JSON output tells which rule and which resource.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch } from 'node:os';
import { dirname, join } from 'node:path';
import type { Finding, Suppression } from './findings.ts';

export function guardPaths(): { binary: string; controlTowerRules: string } {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('@cdklabs/cdk-validator-cfnguard/package.json'));
  const cpu = arch() === 'arm64' ? 'aarch64' : 'x86_64';
  const os = process.platform === 'darwin' ? 'macos' : 'ubuntu';
  return {
    binary: join(root, 'bin', os, cpu, 'cfn-guard'),
    controlTowerRules: join(root, 'rules', 'control-tower', 'cfn-guard'),
  };
}

interface GuardFileResult {
  name: string;
  status: string;
  not_compliant: Array<{ Rule: { name: string; checks: unknown[] } }>;
}

/** Collects the failing resources and the first message anywhere inside a rule's checks. */
function describeChecks(checks: unknown): { resources: string[]; message?: string } {
  const resources = new Set<string>();
  let message: string | undefined;
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === 'path' && typeof x === 'string') {
        const m = /^\/Resources\/([^/]+)/.exec(x);
        if (m) resources.add(m[1]!);
      } else if ((k === 'custom_message' || k === 'error_message') && typeof x === 'string' && x.trim() && !message) {
        message = x.trim().split('\n')[0]!.trim();
      } else walk(x);
    }
  };
  walk(checks);
  return { resources: [...resources].sort(), message };
}

/** Runs every rule set over every template and returns one finding per failing rule and resource. */
export function runGuard(templates: string[], projectRules: string, exemptions: Suppression[]): Finding[] {
  const { binary, controlTowerRules } = guardPaths();
  if (!existsSync(binary)) {
    return [
      {
        tool: 'cfn-guard',
        file: binary,
        location: '-',
        rule: 'missing',
        severity: 'error',
        message: 'cfn-guard binary not found; run npm ci',
      },
    ];
  }
  const findings: Finding[] = [];
  for (const ruleSet of [controlTowerRules, projectRules]) {
    const args = ['validate', '--rules', ruleSet, '--output-format', 'json', '--structured', '--show-summary', 'none'];
    for (const t of templates) args.push('--data', t);
    const run = spawnSync(binary, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (run.status !== 0 && run.status !== 19) {
      findings.push({
        tool: 'cfn-guard',
        file: ruleSet,
        location: '-',
        rule: 'run',
        severity: 'error',
        message: (run.stderr || run.stdout || 'cfn-guard failed').trim().slice(0, 500),
      });
      continue;
    }
    const results = JSON.parse(run.stdout || '[]') as GuardFileResult[];
    for (const file of results) {
      const template = file.name.replace(/^.*\//, '').replace(/\.(json|ya?ml)$/, '');
      for (const nc of file.not_compliant ?? []) {
        const { resources, message } = describeChecks(nc.Rule.checks);
        for (const resource of resources.length ? resources : [undefined]) {
          const exempt = exemptions.find(
            (e) =>
              e.rule === nc.Rule.name &&
              (!e.template || e.template === template) &&
              (!e.resource || e.resource === resource),
          );
          if (exempt) continue;
          findings.push({
            tool: 'cfn-guard',
            file: file.name,
            location: resource ?? '-',
            rule: nc.Rule.name,
            severity: 'error',
            message: message ?? nc.Rule.name,
          });
        }
      }
    }
  }
  return findings;
}
