// Deterministic output: the top-level sections in CloudFormation's usual order, every other
// mapping sorted by key, no timestamps. The same input always gives the same bytes.
import { stringify } from 'yaml';

const TOP_LEVEL_ORDER = [
  'AWSTemplateFormatVersion',
  'Description',
  'Metadata',
  'Parameters',
  'Conditions',
  'Resources',
  'Outputs',
];
/** SSM documents read best with these keys first. */
const DOCUMENT_ORDER = ['schemaVersion', 'description', 'parameters', 'mainSteps'];

export function sortKeysDeep(value: unknown, topOrder: string[] = []): unknown {
  if (Array.isArray(value)) return value.map((v) => sortKeysDeep(v));
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const rank = (k: string) => {
    const i = topOrder.indexOf(k);
    return i === -1 ? topOrder.length : i;
  };
  const keys = Object.keys(obj).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const out: Record<string, unknown> = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = sortKeysDeep(obj[k]);
  return out;
}

export type ArtifactKind = 'template' | 'document';

function order(kind: ArtifactKind): string[] {
  return kind === 'template' ? TOP_LEVEL_ORDER : DOCUMENT_ORDER;
}

/** Compact JSON: what the CLI sends as a TemplateBody, so it is what the size limits apply to. */
export function toJson(value: unknown, kind: ArtifactKind): string {
  return `${JSON.stringify(sortKeysDeep(value, order(kind)))}\n`;
}

/** YAML 1.1 so that strings such as "yes" and "on" stay quoted for YAML 1.1 readers. */
export function toYaml(value: unknown, kind: ArtifactKind): string {
  return stringify(sortKeysDeep(value, order(kind)), { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false });
}
