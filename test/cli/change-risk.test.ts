// Which change-set rows destroy something, and what deploy says about a resource that holds state.
import { describe, expect, it } from 'vitest';
import { isDestructive, statefulRisks } from '../../scripts/ops/change-risk.ts';

describe('change-set rows that replace or remove', () => {
  it.each([
    ['Add', 'n/a', false],
    ['Modify', 'False', false],
    ['Modify', 'True', true],
    ['Modify', 'Conditional', true],
    ['Remove', 'n/a', true],
  ])('%s with Replacement %s is destructive: %s', (action, replacement, expected) => {
    expect(isDestructive({ action, replacement })).toBe(expected);
  });

  it.each([
    [
      'AWS::DynamoDB::Table',
      'Modify',
      'True',
      /replaced \(Replacement True\): a new, empty table; the old table .* retained/,
    ],
    ['AWS::KMS::Key', 'Remove', 'n/a', /removed from the stack: a new key; the old key is retained/],
    ['AWS::Logs::LogGroup', 'Modify', 'Conditional', /replaced \(Replacement Conditional\): a new, empty log group/],
  ])('a %s row (%s, %s) is called out with what happens', (type, action, replacement, effect) => {
    const [risk] = statefulRisks([{ resource: 'R', type, action, replacement }]);
    expect(risk!.effect).toMatch(effect);
  });

  it.each([
    ['AWS::Lambda::Function', 'Modify', 'True'],
    ['AWS::DynamoDB::Table', 'Modify', 'False'],
    ['AWS::KMS::Key', 'Add', 'n/a'],
  ])('a %s row (%s, %s) is not a stateful risk', (type, action, replacement) => {
    expect(statefulRisks([{ resource: 'R', type, action, replacement }])).toEqual([]);
  });
});
