// The shape of a saved report model (`report --json`), checked before `report --from` draws it: a
// hand-edited or truncated file is refused naming the field and the rule, never drawn into a
// TypeError. Only what the page reads is checked; other fields pass through.

/**
 * A field's rule: a type name (`?` in front: optional), `[shape]` a list of, `['?', shape]` an
 * optional field of that shape, `{…}` an object with those fields.
 */
type Shape =
  | 'string'
  | 'number'
  | '?string'
  | '?number'
  | readonly [Shape]
  | readonly ['?', Shape]
  | { readonly [k: string]: Shape };

const TALLY = { compliant: 'number', nonCompliant: 'number', unknown: 'number' } as const;
const AGENCY = {
  account: 'string',
  permissionsStack: 'string',
  stackInstances: [{ status: 'string' }],
  syncedNodes: '?number',
  errorNodes: '?number',
  activation: ['?', { expiresAt: 'string', daysLeft: 'number', registrations: 'number', limit: 'number' }],
  latestError: ['?', { error: 'string' }],
} as const;
/** A counted Region, or one that could not be counted (`error`): `limit` is in both. */
const REGION = { region: 'string', limit: 'number' } as const;
const COUNTED_REGION = { ...REGION, managedNodes: 'number', percent: 'number' } as const;
const COMPLIANCE_ROW = {
  agency: 'string',
  region: 'string',
  nodes: 'number',
  patch: TALLY,
  criticalMissing: 'number',
  securityMissing: 'number',
  notReporting: 'number',
} as const;

export const REPORT_MODEL_SHAPE = {
  generatedAt: 'string',
  status: {
    agencies: [AGENCY],
    regions: [REGION],
    region: 'string',
    centralStack: { name: 'string', status: 'string' },
    warnings: ['string'],
    errors: ['string'],
  },
  compliance: {
    staleAfterHours: 'number',
    agencies: [COMPLIANCE_ROW],
    totals: { nodes: 'number', patch: TALLY, criticalMissing: 'number', notReporting: 'number' },
    errors: ['string'],
  },
} as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Pure: the first field of `value` that breaks `shape`, as "path: must be …"; undefined when none does. */
export function shapeProblem(value: unknown, shape: Shape, path: string): string | undefined {
  const at = path || 'the top level';
  if (Array.isArray(shape) && shape.length === 2)
    return value === undefined ? undefined : shapeProblem(value, shape[1] as Shape, path);
  if (value === undefined && !(typeof shape === 'string' && shape.startsWith('?'))) return `${at} is missing`;
  if (typeof shape === 'string') {
    const optional = shape.startsWith('?');
    const type = optional ? shape.slice(1) : shape;
    if (optional && value === undefined) return undefined;
    const ok = type === 'number' ? typeof value === 'number' && Number.isFinite(value) : typeof value === type;
    return ok ? undefined : `${at}: must be a ${type}`;
  }
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return `${at}: must be a list`;
    for (const [i, item] of value.entries()) {
      const problem = shapeProblem(item, shape[0] as Shape, `${path}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (!isObject(value)) return `${at}: must be an object`;
  for (const [key, rule] of Object.entries(shape as Record<string, Shape>)) {
    const problem = shapeProblem(value[key], rule, path ? `${path}.${key}` : key);
    if (problem) return problem;
  }
  return undefined;
}

/** Pure: the first problem of a report model, counted Regions checked in full. */
export function reportModelProblem(model: unknown): string | undefined {
  const problem = shapeProblem(model, REPORT_MODEL_SHAPE, '');
  if (problem) return problem;
  const regions = (model as { status: { regions: Record<string, unknown>[] } }).status.regions;
  for (const [i, r] of regions.entries()) {
    if (typeof r.error === 'string') continue;
    const p = shapeProblem(r, COUNTED_REGION, `status.regions[${i}]`);
    if (p) return p;
  }
  return undefined;
}
