// The parameter checks CloudFormation makes before it evaluates Rules or touches a resource, as
// the CloudFormation User Guide's "Parameters" section describes each property: AllowedValues
// ("the list of values allowed"), AllowedPattern ("must match the entire parameter value
// provided", String types), MinLength / MaxLength (characters, String types) and MinValue /
// MaxValue (Number types, where the value must also be a number).
// CloudFormation's AllowedPattern is a Java regular expression; the project's patterns use only
// syntax JavaScript reads the same way, so a JavaScript RegExp stands in for it.

/** A template parameter's declaration, as the generated templates hold it. */
export interface ParameterDeclaration {
  Type: string;
  AllowedValues?: Array<string | number>;
  AllowedPattern?: string;
  MinLength?: number;
  MaxLength?: number;
  MinValue?: number;
  MaxValue?: number;
}

/** Why CloudFormation refuses `value` for this parameter, or undefined when it takes it. */
export function parameterRefusal(p: ParameterDeclaration, value: string): string | undefined {
  if (p.AllowedValues && !p.AllowedValues.map(String).includes(value)) return 'not in AllowedValues';
  if (p.Type === 'Number') {
    if (value.trim() === '' || !Number.isFinite(Number(value))) return 'not a number';
    if (p.MinValue !== undefined && Number(value) < p.MinValue) return `below MinValue ${p.MinValue}`;
    if (p.MaxValue !== undefined && Number(value) > p.MaxValue) return `above MaxValue ${p.MaxValue}`;
    return undefined;
  }
  if (p.MinLength !== undefined && value.length < p.MinLength) return `shorter than MinLength ${p.MinLength}`;
  if (p.MaxLength !== undefined && value.length > p.MaxLength) return `longer than MaxLength ${p.MaxLength}`;
  if (p.AllowedPattern && !new RegExp(`^(?:${p.AllowedPattern})$`, 'u').test(value))
    return 'does not match AllowedPattern';
  return undefined;
}

/** The names of the given parameters CloudFormation refuses, each with its reason. */
export function refusedParameters(
  declarations: Record<string, ParameterDeclaration>,
  values: Record<string, string>,
): string[] {
  return Object.entries(values).flatMap(([name, value]) => {
    const declared = declarations[name];
    if (!declared) return [`${name}: not a parameter of the template`];
    const why = parameterRefusal(declared, value);
    return why ? [`${name}: ${why}`] : [];
  });
}
