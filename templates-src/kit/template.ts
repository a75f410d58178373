// A small typed template builder. It records parameters, conditions, resources and outputs,
// and `render()` checks the whole template before anything is written: logical IDs, every
// Ref / GetAtt / Sub / Condition / DependsOn target, the CloudFormation quotas and the size.
import { CLOUDFORMATION_LIMITS } from '../../contract/limits.ts';
import { KitError } from './errors.ts';
import { PSEUDO_PARAMETERS, Ref, subVariables, type Condition, type Intrinsic, type Value } from './intrinsics.ts';

/** CloudFormation quotas, from the project contract. */
export const LIMITS = CLOUDFORMATION_LIMITS;

/** Template errors name the template (or the logical ID) and the section or property at fault. */
function fail(where: string, property: string, message: string): never {
  throw new KitError(where, property, message);
}

export interface ParameterSpec {
  Type: 'String' | 'Number' | 'CommaDelimitedList' | 'List<Number>' | `AWS::${string}` | `List<AWS::${string}>`;
  Description: string;
  Default?: string | number;
  AllowedPattern?: string;
  AllowedValues?: Array<string | number>;
  ConstraintDescription?: string;
  MinLength?: number;
  MaxLength?: number;
  MinValue?: number;
  MaxValue?: number;
  NoEcho?: boolean;
}

export interface ResourceOptions {
  DependsOn?: string[];
  Condition?: string;
  DeletionPolicy?: 'Delete' | 'Retain' | 'RetainExceptOnCreate' | 'Snapshot';
  UpdateReplacePolicy?: 'Delete' | 'Retain' | 'Snapshot';
  Metadata?: Record<string, Value>;
}

export interface ResourceSpec extends ResourceOptions {
  Type: string;
  Properties?: Record<string, Value>;
}

export interface OutputSpec {
  Description: string;
  Value: Value;
  /** Export name; exported outputs can be read by other stacks with ImportValue. */
  Export?: Value;
  Condition?: string;
}

/**
 * A template rule: checked by CloudFormation before a stack is created or updated; a false
 * assertion (while RuleCondition holds) fails the operation with its description.
 */
export interface RuleSpec {
  RuleCondition?: Condition;
  Assertions: { Assert: Condition; AssertDescription: string }[];
}

export interface RenderedTemplate {
  AWSTemplateFormatVersion: '2010-09-09';
  Description: string;
  Metadata?: Record<string, Value>;
  Parameters?: Record<string, ParameterSpec>;
  Rules?: Record<string, RuleSpec>;
  Conditions?: Record<string, Condition>;
  Resources: Record<string, ResourceSpec>;
  Outputs?: Record<string, { Description: string; Value: Value; Export?: { Name: Value }; Condition?: string }>;
}

export interface RenderResult {
  template: RenderedTemplate;
  warnings: string[];
}

const LOGICAL_ID = /^[A-Za-z0-9]+$/;

export class Template {
  private readonly parameters = new Map<string, ParameterSpec>();
  private readonly conditions = new Map<string, Condition>();
  private readonly rules = new Map<string, RuleSpec>();
  private readonly resources = new Map<string, ResourceSpec>();
  private readonly outputs = new Map<string, OutputSpec>();
  private readonly metadata: Record<string, Value> = {};
  private readonly ids = new Map<string, string>();

  constructor(
    readonly name: string,
    private readonly description: string,
    /** false for a template that is always deployed from S3 (TemplateURL): no TemplateBody warning. */
    private readonly mustFitTemplateBody = true,
  ) {
    if (Buffer.byteLength(description) > LIMITS.descriptionBytes) {
      fail(name, 'Description', `${name}: Description is longer than ${LIMITS.descriptionBytes} bytes`);
    }
  }

  private claim(section: string, id: string): void {
    if (!LOGICAL_ID.test(id)) {
      fail(
        id,
        'logicalId',
        `${this.name}: ${section} logical ID ${JSON.stringify(id)} must be alphanumeric (A-Z, a-z, 0-9)`,
      );
    }
    if (id.length > LIMITS.logicalIdLength) {
      fail(
        id.slice(0, 64),
        'logicalId',
        `${this.name}: ${section} logical ID ${id} is longer than ${LIMITS.logicalIdLength} characters`,
      );
    }
    const previous = this.ids.get(id);
    if (previous) fail(id, 'logicalId', `${this.name}: duplicate logical ID ${id} (already used by a ${previous})`);
    this.ids.set(id, section);
  }

  /** Declares a parameter and returns a Ref to it. */
  parameter(id: string, spec: ParameterSpec): Intrinsic {
    this.claim('parameter', id);
    if (spec.Default !== undefined && spec.AllowedValues && !spec.AllowedValues.includes(spec.Default)) {
      fail(
        id,
        'Default',
        `${this.name}: parameter ${id} default ${JSON.stringify(spec.Default)} is not in AllowedValues`,
      );
    }
    if (
      spec.Default !== undefined &&
      spec.AllowedPattern &&
      typeof spec.Default === 'string' &&
      !new RegExp(`^(?:${spec.AllowedPattern})$`, 'u').test(spec.Default)
    ) {
      fail(
        id,
        'Default',
        `${this.name}: parameter ${id} default ${JSON.stringify(spec.Default)} does not match its AllowedPattern ${spec.AllowedPattern}`,
      );
    }
    if (spec.AllowedPattern && !spec.ConstraintDescription) {
      fail(
        id,
        'ConstraintDescription',
        `${this.name}: parameter ${id} has an AllowedPattern but no ConstraintDescription to explain it`,
      );
    }
    this.parameters.set(id, spec);
    return Ref(id);
  }

  /** Declares a condition; returns its name for Condition: / Fn::If. */
  condition(id: string, expression: Condition): string {
    this.claim('condition', id);
    this.conditions.set(id, expression);
    return id;
  }

  /** Declares a rule (parameter values CloudFormation refuses before it changes anything). */
  rule(id: string, spec: RuleSpec): void {
    this.claim('rule', id);
    this.rules.set(id, spec);
  }

  /** Declares a resource and returns its logical ID. */
  resource(id: string, type: string, properties?: Record<string, Value>, options: ResourceOptions = {}): string {
    this.claim('resource', id);
    if (!/^[A-Za-z0-9]+::[A-Za-z0-9]+::[A-Za-z0-9]+$|^Custom::[A-Za-z0-9_@-]{1,60}$/.test(type)) {
      fail(id, 'Type', `${this.name}: resource ${id} has an invalid type ${JSON.stringify(type)}`);
    }
    this.resources.set(id, { Type: type, ...(properties ? { Properties: properties } : {}), ...options });
    return id;
  }

  output(id: string, spec: OutputSpec): void {
    this.claim('output', id);
    this.outputs.set(id, spec);
  }

  addMetadata(key: string, value: Value): void {
    this.metadata[key] = value;
  }

  /** Checks the template and returns it with any warnings (for example over the TemplateBody size). */
  render(): RenderResult {
    const errors = [...this.quotaErrors(), ...this.referenceErrors()];
    if (errors.length > 0) fail(this.name, 'Resources', `${this.name}: ${errors.join('; ')}`);
    const template = this.assemble();
    return { template, warnings: this.sizeWarnings(template) };
  }

  private quotaErrors(): string[] {
    const errors: string[] = [];
    if (this.resources.size === 0) errors.push('a template needs at least one resource');
    if (this.resources.size > LIMITS.resources)
      errors.push(`${this.resources.size} resources is more than the ${LIMITS.resources} allowed`);
    if (this.parameters.size > LIMITS.parameters)
      errors.push(`${this.parameters.size} parameters is more than the ${LIMITS.parameters} allowed`);
    if (this.outputs.size > LIMITS.outputs)
      errors.push(`${this.outputs.size} outputs is more than the ${LIMITS.outputs} allowed`);
    if (this.conditions.size > LIMITS.conditions)
      errors.push(`${this.conditions.size} conditions is more than the ${LIMITS.conditions} allowed`);
    return errors;
  }

  /** Every Ref, GetAtt, Sub variable, Condition and DependsOn must name something declared. */
  private referenceErrors(): string[] {
    const errors: string[] = [];
    const refTargets = new Set<string>([...this.parameters.keys(), ...this.resources.keys(), ...PSEUDO_PARAMETERS]);
    const checkRefs = (where: string, value: unknown) =>
      walkIntrinsics(value, (kind, target) => {
        if (kind === 'Condition') {
          if (!this.conditions.has(target)) errors.push(`${where}: Condition ${target} is not defined`);
          return;
        }
        if (kind === 'GetAtt' || (kind === 'Sub' && target.includes('.'))) {
          const [res] = target.split('.');
          if (!this.resources.has(res!))
            errors.push(`${where}: ${kind} ${target} refers to resource ${res} which does not exist`);
          return;
        }
        if (!refTargets.has(target)) errors.push(`${where}: ${kind} ${target} refers to something that does not exist`);
      });

    for (const [id, expr] of this.conditions) checkRefs(`condition ${id}`, expr);
    for (const [id, rule] of this.rules) checkRefs(`rule ${id}`, rule);
    for (const [id, r] of this.resources) {
      checkRefs(`resource ${id}`, r.Properties);
      if (r.Condition && !this.conditions.has(r.Condition))
        errors.push(`resource ${id}: Condition ${r.Condition} is not defined`);
      for (const dep of r.DependsOn ?? []) {
        if (!this.resources.has(dep)) errors.push(`resource ${id}: DependsOn ${dep} which does not exist`);
      }
    }
    for (const [id, o] of this.outputs) {
      checkRefs(`output ${id}`, o.Value);
      if (o.Export) checkRefs(`output ${id} export`, o.Export);
      if (o.Condition && !this.conditions.has(o.Condition))
        errors.push(`output ${id}: Condition ${o.Condition} is not defined`);
    }
    return errors;
  }

  private assemble(): RenderedTemplate {
    return {
      AWSTemplateFormatVersion: '2010-09-09',
      Description: this.description,
      ...(Object.keys(this.metadata).length ? { Metadata: this.metadata } : {}),
      ...(this.parameters.size ? { Parameters: Object.fromEntries(this.parameters) } : {}),
      ...(this.rules.size ? { Rules: Object.fromEntries(this.rules) } : {}),
      ...(this.conditions.size ? { Conditions: Object.fromEntries(this.conditions) } : {}),
      Resources: Object.fromEntries(this.resources),
      ...(this.outputs.size
        ? {
            Outputs: Object.fromEntries(
              [...this.outputs].map(([id, o]) => [
                id,
                {
                  Description: o.Description,
                  Value: o.Value,
                  ...(o.Export !== undefined ? { Export: { Name: o.Export } } : {}),
                  ...(o.Condition ? { Condition: o.Condition } : {}),
                },
              ]),
            ),
          }
        : {}),
    };
  }

  private sizeWarnings(template: RenderedTemplate): string[] {
    const warnings: string[] = [];
    const bytes = Buffer.byteLength(JSON.stringify(template));
    if (bytes > LIMITS.templateUrlBytes) {
      fail(
        this.name,
        'TemplateURL',
        `${this.name}: template is ${bytes} bytes, over the ${LIMITS.templateUrlBytes}-byte limit for a TemplateURL`,
      );
    }
    if (bytes > LIMITS.templateBodyBytes && this.mustFitTemplateBody) {
      warnings.push(
        `${this.name}: template is ${bytes} bytes (compact JSON), over the ${LIMITS.templateBodyBytes}-byte TemplateBody limit; deploy it from S3 (TemplateURL)`,
      );
    }
    return warnings;
  }
}

type RefKind = 'Ref' | 'GetAtt' | 'Sub' | 'Condition';

/** Calls `visit` for every reference an intrinsic makes, anywhere inside `value`. */
export function walkIntrinsics(value: unknown, visit: (kind: RefKind, target: string) => void): void {
  if (Array.isArray(value)) {
    for (const v of value) walkIntrinsics(v, visit);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length === 1) {
    const key = keys[0]!;
    const arg = obj[key];
    if (key === 'Ref' && typeof arg === 'string') return visit('Ref', arg);
    if (key === 'Condition' && typeof arg === 'string') return visit('Condition', arg);
    if (key === 'Fn::GetAtt' && Array.isArray(arg)) return visit('GetAtt', `${arg[0]}.${arg[1]}`);
    if (key === 'Fn::If' && Array.isArray(arg)) {
      visit('Condition', String(arg[0]));
      walkIntrinsics(arg.slice(1), visit);
      return;
    }
    if (key === 'Fn::Sub') {
      const [text, locals] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
      const localNames = new Set(Object.keys(locals ?? {}));
      for (const v of subVariables(text)) {
        if (localNames.has(v)) continue;
        visit('Sub', v);
      }
      walkIntrinsics(locals, visit);
      return;
    }
  }
  for (const k of keys) walkIntrinsics(obj[k], visit);
}
