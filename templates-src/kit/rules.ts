// Rule assertions CloudFormation's Rules section cannot say directly. Its rule functions (Fn::And,
// Fn::Contains, Fn::EachMemberEquals, Fn::EachMemberIn, Fn::Equals, Fn::Not, Fn::Or, Fn::RefAll,
// Fn::ValueOf, Fn::ValueOfAll) compare strings and lists of strings; none compares numbers.
import { integerStrings, type IntegerRange } from '../../contract/operations.ts';
import { KitError } from './errors.ts';
import { Contains, Equals, Not, Or, Ref } from './intrinsics.ts';
import type { RuleSpec } from './template.ts';

/** A parameter whose values are the integer strings of a range (AllowedValues: integerStrings(range)). */
export interface IntegerParameter {
  name: string;
  range: IntegerRange;
}

/**
 * `smaller` < `larger`, by enumeration: for each value d of `larger` that some value of `smaller`
 * reaches, one assertion "larger is not d, or smaller is one of smaller.min..d-1". Exact only when
 * both parameters allow just the integer strings of their ranges, as the rule compares strings.
 */
export function lessThanAssertions(smaller: IntegerParameter, larger: IntegerParameter): RuleSpec['Assertions'] {
  const reached = integerStrings(larger.range).filter((d) => Number(d) <= smaller.range.max);
  return reached.map((d) => {
    const allowed = integerStrings({ min: smaller.range.min, max: Number(d) - 1 });
    if (allowed.length === 0)
      throw new KitError(
        larger.name,
        'range',
        `lessThanAssertions: ${larger.name} ${d} leaves ${smaller.name} no value; start ${larger.name} above ${smaller.range.min}`,
      );
    const between = allowed.length === 1 ? allowed[0] : `${allowed[0]}-${allowed.at(-1)}`;
    return {
      Assert: Or(Not(Equals(Ref(larger.name), d)), Contains(allowed, Ref(smaller.name))),
      AssertDescription: `${smaller.name} must be less than ${larger.name}, which is ${d}: use ${between}`,
    };
  });
}
