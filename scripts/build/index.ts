// `npm run build`: validates the build configuration, bundles the Lambda handlers, builds the
// templates and the SSM documents, checks them, and only then writes generated/.
// Everything is rendered in memory first, so a failure leaves generated/ as it was.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  defaultContext,
  defineCommand,
  flag,
  runCommand,
  pathWithDefault,
  UsageError,
  type Values,
} from '../kit/index.ts';
import { ConfigError, loadBuildConfig, type BuildConfig } from '../../templates-src/config.ts';
import { buildCentralManager } from '../../templates-src/builders/central-manager.ts';
import { buildAgencyPermissions } from '../../templates-src/builders/agency-permissions.ts';
import { buildAgencyCollector } from '../../templates-src/builders/agency-collector.ts';
import { buildAgencyRegistration } from '../../templates-src/builders/agency-registration.ts';
import { buildCentralOperations } from '../../templates-src/builders/central-operations.ts';
import type { BuildContext } from '../../templates-src/builders/context.ts';
import { toJson, toYaml, type ArtifactKind } from '../../templates-src/kit/serialize.ts';
import { registrationDocument, deregistrationDocument } from '../../documents/index.ts';
import { MANAGED_INSTANCE_ID_TAG } from '../../lambda/shared/names.ts';
import { bundleAllLambdas, PROJECT_ROOT, type LambdaName } from './bundle.ts';
import { TEMPLATE_NAMES, type TemplateName } from '../../contract/names.ts';
import { sha256Hex as sha256 } from '../../contract/project.ts';

export { TEMPLATE_NAMES, type TemplateName } from '../../contract/names.ts';
export const DOCUMENT_NAMES = ['register-instance', 'deregister-instance'] as const;

export interface Artifact {
  path: string;
  kind: ArtifactKind;
  content: string;
}

export interface ManifestEntry {
  path: string;
  kind: ArtifactKind;
  bytes: number;
  sha256: string;
}
export interface Manifest {
  artifacts: ManifestEntry[];
  lambdaBundles: Array<{ name: LambdaName; bytes: number; sha256: string }>;
}

export interface BuildOutput {
  artifacts: Artifact[];
  manifest: Manifest;
  warnings: string[];
  templates: Record<TemplateName, unknown>;
}

/** Renders everything in memory. Pure apart from reading sources. */
export async function renderAll(config: BuildConfig, today = new Date()): Promise<BuildOutput> {
  const bundles = await bundleAllLambdas();
  const ctx: BuildContext = { config, bundles, today };
  const warnings: string[] = [];
  const artifacts: Artifact[] = [];
  const templates = {} as Record<TemplateName, unknown>;

  const builders: Record<
    TemplateName,
    (c: BuildContext) => { render: () => { template: unknown; warnings: string[] } }
  > = {
    'central-manager': buildCentralManager,
    'agency-permissions': buildAgencyPermissions,
    'agency-collector': buildAgencyCollector,
    'agency-registration': buildAgencyRegistration,
    'central-operations': buildCentralOperations,
  };
  for (const name of TEMPLATE_NAMES) {
    const { template, warnings: w } = builders[name](ctx).render();
    templates[name] = template;
    warnings.push(...w);
    artifacts.push({ path: `templates/${name}.json`, kind: 'template', content: toJson(template, 'template') });
    artifacts.push({ path: `templates/${name}.yaml`, kind: 'template', content: toYaml(template, 'template') });
  }

  // Stand-alone documents, for teams that create them with `aws ssm create-document`.
  const docOptions = {
    hubRegion: undefined, // no default: the HubRegion parameter is required when run by hand
    activationParameterPath: config.agencyActivationParameterPath,
    reservedTagPrefix: config.reservedTagPrefix,
    managedInstanceIdTagKey: MANAGED_INSTANCE_ID_TAG,
  };
  const documents: Record<(typeof DOCUMENT_NAMES)[number], unknown> = {
    'register-instance': registrationDocument(docOptions),
    'deregister-instance': deregistrationDocument(docOptions),
  };
  for (const name of DOCUMENT_NAMES) {
    artifacts.push({ path: `documents/${name}.json`, kind: 'document', content: toJson(documents[name], 'document') });
    artifacts.push({ path: `documents/${name}.yaml`, kind: 'document', content: toYaml(documents[name], 'document') });
  }

  artifacts.sort((a, b) => (a.path < b.path ? -1 : 1));
  const manifest: Manifest = {
    artifacts: artifacts.map((a) => ({
      path: a.path,
      kind: a.kind,
      bytes: Buffer.byteLength(a.content),
      sha256: sha256(a.content),
    })),
    lambdaBundles: (Object.keys(bundles) as LambdaName[])
      .sort()
      .map((n) => ({ name: n, bytes: Buffer.byteLength(bundles[n]), sha256: sha256(bundles[n]) })),
  };
  return { artifacts, manifest, warnings, templates };
}

/** Writes the rendered output: a staging folder first, then one rename per managed folder. */
export function writeGenerated(outDir: string, output: BuildOutput): void {
  const staging = `${outDir}.staging`;
  rmSync(staging, { recursive: true, force: true });
  for (const a of output.artifacts) {
    const file = join(staging, a.path);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, a.content);
  }
  writeFileSync(join(staging, 'manifest.json'), `${JSON.stringify(output.manifest, null, 2)}\n`);
  mkdirSync(outDir, { recursive: true });
  // Only the folders and files the build owns are replaced; launch-links.md (publish) stays.
  for (const entry of ['templates', 'documents']) {
    rmSync(join(outDir, entry), { recursive: true, force: true });
    renameSync(join(staging, entry), join(outDir, entry));
  }
  renameSync(join(staging, 'manifest.json'), join(outDir, 'manifest.json'));
  rmSync(staging, { recursive: true, force: true });
}

export const spec = defineCommand({
  name: 'build',
  summary:
    "Bundles the Lambda handlers and writes generated/: the CloudFormation templates (central-operations optional to deploy) and the SSM documents as YAML and JSON, and manifest.json with every artifact's size and sha256.",
  usage: ['[--config FILE] [--out DIR] [--check] [--quiet]'],
  options: [
    pathWithDefault('config', {
      arg: 'FILE',
      help: 'build configuration',
      default: join(PROJECT_ROOT, 'build.config.json'),
      defaultText: 'build.config.json',
    }),
    pathWithDefault('out', {
      arg: 'DIR',
      help: 'output folder',
      default: join(PROJECT_ROOT, 'generated'),
      defaultText: 'generated',
    }),
    flag('check', 'build in memory and fail if generated/ differs, without writing'),
    flag('quiet', 'print warnings and errors only'),
  ],
});

export async function main(argv: string[]): Promise<number> {
  return runCommand(spec, argv, defaultContext(), (args) => build(args));
}

/** A bad build.config.json is bad input (exit 2), naming the field, like every other command. */
function configOrUsageError(path: string): BuildConfig {
  try {
    return loadBuildConfig(path);
  } catch (err) {
    if (err instanceof ConfigError)
      throw new UsageError(`--config: ${err.message.replace(/:?\n\s*/g, (m) => (m.startsWith(':') ? ': ' : '; '))}`, {
        cause: err,
      });
    throw err;
  }
}

async function build(args: Values<typeof spec.options>): Promise<number> {
  const started = performance.now();
  const config = configOrUsageError(args.config);
  const output = await renderAll(config);
  for (const w of output.warnings) process.stderr.write(`warning: ${w}\n`);

  if (args.check) {
    const stale = output.artifacts.filter((a) => {
      const file = join(args.out, a.path);
      return !existsSync(file) || readFileSync(file, 'utf8') !== a.content;
    });
    if (stale.length) {
      process.stderr.write(`build --check: generated/ is stale: ${stale.map((s) => s.path).join(', ')}\n`);
      return 1;
    }
    process.stdout.write('build --check: generated/ is up to date\n');
    return 0;
  }

  writeGenerated(args.out, output);
  if (!args.quiet) {
    const rows = output.manifest.artifacts.filter((a) => a.path.endsWith('.json'));
    const width = Math.max(...rows.map((r) => r.path.length));
    for (const r of rows) process.stdout.write(`  ${r.path.padEnd(width)}  ${String(r.bytes).padStart(8)} bytes\n`);
    for (const b of output.manifest.lambdaBundles)
      process.stdout.write(`  lambda ${b.name.padEnd(width - 7)}  ${String(b.bytes).padStart(8)} bytes\n`);
    const ms = Math.round(performance.now() - started);
    process.stdout.write(
      `wrote ${output.artifacts.length + 1} files to ${relative(process.cwd(), args.out) || '.'} in ${ms} ms\n`,
    );
  }
  return 0;
}
