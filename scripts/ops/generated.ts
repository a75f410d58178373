// Reads the build output (generated/) and checks it against its manifest, so a stale or
// hand-edited file is caught before anything is uploaded or deployed.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../kit/index.ts';
import { TEMPLATE_BODY_MAX_BYTES } from '../../contract/limits.ts';

export { TEMPLATE_NAMES, type TemplateName } from '../../contract/names.ts';
import { type TemplateName } from '../../contract/names.ts';

export interface Artifact {
  path: string;
  kind: 'template' | 'document';
  bytes: number;
  sha256: string;
}

export interface TemplateParameter {
  Type?: string;
  Default?: unknown;
  NoEcho?: boolean | string;
  AllowedPattern?: string;
  AllowedValues?: unknown[];
  MinLength?: number | string;
  MaxLength?: number | string;
  MinValue?: number | string;
  MaxValue?: number | string;
  Description?: string;
}

export interface TemplateJson {
  Parameters?: Record<string, TemplateParameter>;
  [key: string]: unknown;
}

export const MAX_TEMPLATE_BODY_BYTES = TEMPLATE_BODY_MAX_BYTES;

export function readManifest(generatedDir: string): Artifact[] {
  const path = join(generatedDir, 'manifest.json');
  if (!existsSync(path))
    throw new UsageError(`${path} not found: run \`npm run build\` first (or pass --generated-dir)`);
  let raw: { artifacts?: unknown };
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as { artifacts?: unknown };
  } catch (err) {
    throw new UsageError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(raw.artifacts)) throw new UsageError(`${path}: "artifacts" must be a list`);
  return raw.artifacts.map((a: Partial<Artifact>, i: number) => {
    if (typeof a.path !== 'string' || !/^[\w./-]+$/.test(a.path) || a.path.split('/').includes('..')) {
      throw new UsageError(`${path}: artifacts[${i}].path must be a relative path inside generated/`);
    }
    if (a.kind !== 'template' && a.kind !== 'document')
      throw new UsageError(`${path}: artifacts[${i}].kind must be template or document`);
    if (typeof a.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(a.sha256))
      throw new UsageError(`${path}: artifacts[${i}].sha256 must be 64 hex digits`);
    return { path: a.path, kind: a.kind, bytes: Number(a.bytes), sha256: a.sha256 };
  });
}

export const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Reads every artifact and refuses the lot if one no longer matches the manifest. */
export function loadArtifacts(generatedDir: string): Array<Artifact & { body: Buffer }> {
  return readManifest(generatedDir).map((a) => {
    const file = join(generatedDir, a.path);
    if (!existsSync(file))
      throw new UsageError(`${file} is listed in manifest.json but missing: run \`npm run build\``);
    const body = readFileSync(file);
    if (sha256Hex(body) !== a.sha256) {
      throw new UsageError(
        `${file} does not match its sha256 in manifest.json (stale or edited): run \`npm run build\``,
      );
    }
    return { ...a, body };
  });
}

export function templatePath(generatedDir: string, name: TemplateName): string {
  return join(generatedDir, 'templates', `${name}.json`);
}

export function readTemplate(generatedDir: string, name: TemplateName): { body: string; json: TemplateJson } {
  const path = templatePath(generatedDir, name);
  if (!existsSync(path))
    throw new UsageError(`${path} not found: run \`npm run build\` first (or pass --generated-dir)`);
  const body = readFileSync(path, 'utf8');
  try {
    return { body, json: JSON.parse(body) as TemplateJson };
  } catch (err) {
    throw new UsageError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** A template body small enough for TemplateBody; bigger ones need --template-url. */
export function templateBodyOrUrl(generatedDir: string, name: TemplateName, templateUrl: string | undefined) {
  if (templateUrl) return { TemplateURL: templateUrl } as const;
  const { body } = readTemplate(generatedDir, name);
  if (Buffer.byteLength(body) > MAX_TEMPLATE_BODY_BYTES) {
    throw new UsageError(
      `${templatePath(generatedDir, name)} is ${Buffer.byteLength(body)} bytes, over CloudFormation's ${MAX_TEMPLATE_BODY_BYTES}-byte TemplateBody limit: run \`ssm-hub publish --bucket …\` and pass the ${name} URL it prints as --template-url`,
    );
  }
  return { TemplateBody: body } as const;
}

export const isNoEcho = (p: TemplateParameter | undefined): boolean => p?.NoEcho === true || p?.NoEcho === 'true';

/**
 * Checks a parameter value against the template's own declaration (existence, AllowedPattern,
 * AllowedValues, MinLength/MaxLength, MinValue/MaxValue) so CloudFormation's rejection is caught
 * before any AWS call. The template's Rules, which relate parameters to each other, are left to
 * CloudFormation, which checks them before it changes anything.
 */
export function checkParameter(
  flag: string,
  templateName: string,
  template: TemplateJson,
  name: string,
  value: string,
): void {
  // Own keys only: a parameter named constructor or __proto__ is a name like any other.
  const declared = template.Parameters ?? {};
  const p = Object.hasOwn(declared, name) ? declared[name] : undefined;
  if (!p) {
    const known = Object.keys(template.Parameters ?? {}).join(', ') || 'none';
    throw new UsageError(`${flag}: ${templateName} has no parameter ${name} (it declares: ${known})`);
  }
  if (p.AllowedPattern && !new RegExp(p.AllowedPattern, 'u').test(value)) {
    throw new UsageError(
      `${flag}: ${templateName} parameter ${name} must match ${p.AllowedPattern}${p.Description ? ` (${p.Description})` : ''}`,
    );
  }
  if (p.AllowedValues && !p.AllowedValues.map(String).includes(value)) {
    throw new UsageError(`${flag}: ${templateName} parameter ${name} must be one of ${p.AllowedValues.join(', ')}`);
  }
  const problem = boundsProblem(p, value);
  if (problem) throw new UsageError(`${flag}: ${templateName} parameter ${name} ${problem}`);
}

/** A value outside the declared length (String) or range (Number), as CloudFormation checks them. Pure. */
export function boundsProblem(p: TemplateParameter, value: string): string | undefined {
  const bound = (b: number | string | undefined) => (b === undefined ? undefined : Number(b));
  const [minLength, maxLength, min, max] = [p.MinLength, p.MaxLength, p.MinValue, p.MaxValue].map(bound);
  const chars = [...value].length;
  if (minLength !== undefined && chars < minLength) return `must be at least ${minLength} characters`;
  if (maxLength !== undefined && chars > maxLength) return `must be at most ${maxLength} characters`;
  if (p.Type !== 'Number' || (min === undefined && max === undefined)) return undefined;
  const n = value.trim() === '' ? NaN : Number(value);
  if (Number.isNaN(n)) return 'must be a number';
  if (min !== undefined && n < min) return `must be at least ${min}`;
  if (max !== undefined && n > max) return `must be at most ${max}`;
  return undefined;
}

/** Parses repeated NAME=VALUE flags. */
export function parseAssignments(flag: string, values: string[]): Array<{ name: string; value: string }> {
  return values.map((raw) => {
    const eq = raw.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag}: "${raw}" must look like NAME=VALUE`);
    return { name: raw.slice(0, eq), value: raw.slice(eq + 1) };
  });
}
