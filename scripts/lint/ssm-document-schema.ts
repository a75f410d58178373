// A schema of the SSM Command document format, schema version 2.2, limited to what this project
// emits (aws:runShellScript and aws:runPowerShellScript steps), plus the rules a schema cannot
// express: unique step names, the 64 KB content limit, and {{ name }} references that must name
// a declared parameter. Strict objects, so a misspelt key is an error here instead of at deploy.
import { z } from 'zod';
import { SSM_DOCUMENT_MAX_BYTES } from '../../contract/limits.ts';

/** AWS::SSM::Document Content is at most 64 KB. */
export { SSM_DOCUMENT_MAX_BYTES };

const STEP_NAME = /^[a-zA-Z0-9_-]+$/;
const PARAMETER_NAME = /^[a-zA-Z0-9_]+$/;

const regexString = z
  .string()
  .min(1)
  .refine(
    (p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be a valid regular expression' },
  );

export const ssmParameterSchema = z.strictObject({
  type: z.enum(['String', 'StringList', 'Boolean', 'Integer', 'MapList', 'StringMap']),
  description: z.string().optional(),
  default: z.unknown().optional(),
  allowedValues: z.array(z.string()).min(1).optional(),
  allowedPattern: regexString.optional(),
  displayType: z.enum(['textarea', 'textfield']).optional(),
  minItems: z.number().int().nonnegative().optional(),
  maxItems: z.number().int().positive().optional(),
  minChars: z.number().int().nonnegative().optional(),
  maxChars: z.number().int().positive().optional(),
});

const timeoutSeconds = z.union([
  z.number().int().positive(),
  z
    .string()
    .regex(/^(\d+|\{\{\s*[a-zA-Z0-9_]+\s*\}\})$/, { message: 'must be a number of seconds or a {{ parameter }}' }),
]);

const runScriptInputs = z.strictObject({
  runCommand: z.array(z.string()).min(1, { message: 'must hold at least one line' }),
  timeoutSeconds: timeoutSeconds.optional(),
  workingDirectory: z.string().optional(),
});

const platformPrecondition = z.strictObject({
  StringEquals: z.tuple([z.literal('platformType'), z.enum(['Linux', 'Windows', 'MacOS'])]),
});

export const ssmStepSchema = z.strictObject({
  action: z.enum(['aws:runShellScript', 'aws:runPowerShellScript']),
  name: z.string().regex(STEP_NAME, { message: 'must match ^[a-zA-Z0-9_-]+$' }),
  precondition: platformPrecondition.optional(),
  inputs: runScriptInputs,
  timeoutSeconds: z.number().int().positive().optional(),
  maxAttempts: z.number().int().positive().optional(),
  onFailure: z.enum(['Abort', 'exit', 'successAndExit']).optional(),
  isEnd: z.boolean().optional(),
  isCritical: z.boolean().optional(),
  finallyStep: z.boolean().optional(),
});

export const ssmCommandDocumentSchema = z.strictObject({
  schemaVersion: z.literal('2.2', { message: 'must be "2.2"' }),
  description: z.string().optional(),
  parameters: z
    .record(
      z.string().regex(PARAMETER_NAME, { message: 'parameter names must match ^[a-zA-Z0-9_]+$' }),
      ssmParameterSchema,
    )
    .optional(),
  mainSteps: z.array(ssmStepSchema).min(1, { message: 'must hold at least one step' }),
});

export type SsmCommandDocument = z.infer<typeof ssmCommandDocumentSchema>;

export interface CheckOptions {
  /**
   * Accept a CloudFormation intrinsic ({ Ref: … } or { 'Fn::…': … }) as a parameter default, as
   * in a template's AWS::SSM::Document Content before CloudFormation resolves it.
   */
  allowIntrinsicDefaults?: boolean;
}

function isIntrinsic(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'));
}

function defaultProblem(name: string, p: z.infer<typeof ssmParameterSchema>, opts: CheckOptions): string | undefined {
  const d = p.default;
  if (d === undefined) return undefined;
  if (opts.allowIntrinsicDefaults && isIntrinsic(d)) return undefined;
  const where = `parameters.${name}.default`;
  switch (p.type) {
    case 'String':
      if (typeof d !== 'string') return `${where}: must be a string for a String parameter`;
      if (p.allowedPattern && !new RegExp(p.allowedPattern).test(d)) {
        return `${where}: ${JSON.stringify(d)} does not match allowedPattern ${p.allowedPattern}`;
      }
      if (p.allowedValues && !p.allowedValues.includes(d)) return `${where}: must be one of allowedValues`;
      return undefined;
    case 'StringList':
      return Array.isArray(d) && d.every((v) => typeof v === 'string')
        ? undefined
        : `${where}: must be a list of strings`;
    case 'Boolean':
      return typeof d === 'boolean' ? undefined : `${where}: must be true or false`;
    case 'Integer':
      return Number.isInteger(d) ? undefined : `${where}: must be an integer`;
    case 'MapList':
      return Array.isArray(d) && d.every((v) => typeof v === 'object' && v !== null)
        ? undefined
        : `${where}: must be a list of maps`;
    case 'StringMap':
      return typeof d === 'object' && d !== null && !Array.isArray(d) ? undefined : `${where}: must be a map`;
  }
}

const REFERENCE = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Every {{ name }} in the step inputs, with where it was found; {{ssm:…}} resolves from Parameter Store. */
function references(doc: SsmCommandDocument): Array<{ name: string; where: string }> {
  const found: Array<{ name: string; where: string }> = [];
  doc.mainSteps.forEach((step, i) => {
    const strings: Array<[string, string]> = step.inputs.runCommand.map((line, j) => [
      `mainSteps.${i}.inputs.runCommand.${j}`,
      line,
    ]);
    for (const key of ['timeoutSeconds', 'workingDirectory'] as const) {
      const v = step.inputs[key];
      if (typeof v === 'string') strings.push([`mainSteps.${i}.inputs.${key}`, v]);
    }
    for (const [where, text] of strings) {
      for (const m of text.matchAll(REFERENCE)) {
        const name = m[1]!;
        if (!name.startsWith('ssm:')) found.push({ name, where });
      }
    }
  });
  return found;
}

/** Returns the problems of a Command document (empty when it is valid). */
export function checkSsmDocument(doc: unknown, opts: CheckOptions = {}): string[] {
  const problems: string[] = [];
  let serialized: string;
  try {
    serialized = JSON.stringify(doc);
  } catch (err) {
    return [`(root): cannot be serialized to JSON: ${(err as Error).message}`];
  }
  const bytes = Buffer.byteLength(serialized ?? '', 'utf8');
  if (bytes > SSM_DOCUMENT_MAX_BYTES) {
    problems.push(`(root): the document is ${bytes} bytes as JSON; SSM accepts at most ${SSM_DOCUMENT_MAX_BYTES}`);
  }

  const parsed = ssmCommandDocumentSchema.safeParse(doc);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
    return problems;
  }
  const d = parsed.data;

  const seen = new Set<string>();
  d.mainSteps.forEach((step, i) => {
    if (seen.has(step.name))
      problems.push(`mainSteps.${i}.name: "${step.name}" is used by another step; names must be unique`);
    seen.add(step.name);
    const platform = step.precondition?.StringEquals[1];
    if (step.action === 'aws:runPowerShellScript' && platform && platform !== 'Windows') {
      problems.push(`mainSteps.${i}.precondition: aws:runPowerShellScript runs on Windows, not ${platform}`);
    }
    if (step.action === 'aws:runShellScript' && platform === 'Windows') {
      problems.push(`mainSteps.${i}.precondition: aws:runShellScript does not run on Windows`);
    }
  });

  const declared = d.parameters ?? {};
  for (const [name, p] of Object.entries(declared)) {
    const problem = defaultProblem(name, p, opts);
    if (problem) problems.push(problem);
  }
  for (const ref of references(d)) {
    if (!Object.hasOwn(declared, ref.name)) {
      problems.push(`${ref.where}: {{ ${ref.name} }} does not name a declared parameter`);
    }
  }
  return problems;
}
