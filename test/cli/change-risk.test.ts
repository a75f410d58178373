// Which change-set rows destroy something, and what deploy says about a resource that holds state.
import { describe, expect, it } from 'vitest';
import { isDestructive, losesState, retentionOf, statefulRisks } from '../../scripts/ops/change-risk.ts';

const RETAINED = retentionOf(
  JSON.stringify({
    Resources: {
      Table: { Type: 'AWS::DynamoDB::Table', DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' },
      Key: { Type: 'AWS::KMS::Key', DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' },
      Topic: { Type: 'AWS::SNS::Topic', DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Delete' },
      Queue: { Type: 'AWS::SQS::Queue', DeletionPolicy: 'Delete' },
    },
  }),
);

describe('change-set rows that replace or remove', () => {
  it.each([
    ['Add', 'n/a', false],
    ['Modify', 'False', false],
    ['Modify', 'True', true],
    ['Modify', 'Conditional', true],
    ['Remove', 'n/a', true],
    // ResourceChange Action also lists Import, Dynamic ("can't be determined") and SyncWithActual.
    ['Import', 'n/a', false],
    ['SyncWithActual', 'n/a', false],
    ['Dynamic', 'n/a', true],
    ['SomeFutureAction', 'n/a', true],
  ])('%s with Replacement %s is destructive: %s', (action, replacement, expected) => {
    expect(isDestructive({ action, replacement })).toBe(expected);
  });

  it.each([
    ['replacing the activation', 'Custom::AgencyActivation', 'Modify', 'Conditional', true],
    ['an undetermined change to the activation', 'Custom::AgencyActivation', 'Dynamic', 'n/a', true],
    ['removing the alias', 'AWS::Lambda::Alias', 'Remove', 'n/a', true],
    ['replacing the invoke permission (any property change)', 'AWS::Lambda::Permission', 'Modify', 'True', false],
    ['conditionally replacing the alias', 'AWS::Lambda::Alias', 'Modify', 'Conditional', false],
    ['replacing the table', 'AWS::DynamoDB::Table', 'Modify', 'True', true],
  ])('%s loses state: %s', (_, type, action, replacement, expected) => {
    expect(losesState({ type, action, replacement })).toBe(expected);
  });

  it.each([
    [
      'Table',
      'AWS::DynamoDB::Table',
      'Modify',
      'True',
      'replaced (Replacement True): a new, empty table; the old one is retained (not deleted), outside the stack',
    ],
    [
      'Key',
      'AWS::KMS::Key',
      'Remove',
      'n/a',
      'removed from the stack: it is retained (not deleted), outside the stack',
    ],
    [
      'Queue',
      'AWS::SQS::Queue',
      'Modify',
      'Conditional',
      'replaced (Replacement Conditional): a new, empty queue; the old one is deleted with its data',
    ],
    [
      'Topic',
      'AWS::SNS::Topic',
      'Remove',
      'n/a',
      'removed from the stack: it is retained (not deleted), outside the stack',
    ],
    ['NewGroup', 'AWS::Logs::LogGroup', 'Remove', 'n/a', 'removed from the stack: it is deleted with its data'],
  ])('%s (%s, %s, Replacement %s) is called out: %s', (resource, type, action, replacement, effect) => {
    const [risk] = statefulRisks([{ resource, type, action, replacement }], RETAINED);
    expect(risk!.effect).toBe(effect);
  });

  it.each([
    ['Fn', 'AWS::Lambda::Function', 'Modify', 'True'],
    ['Topic', 'AWS::SNS::Topic', 'Modify', 'True'], // retained on removal only
    ['Table', 'AWS::DynamoDB::Table', 'Modify', 'False'],
    ['Key', 'AWS::KMS::Key', 'Add', 'n/a'],
    ['constructor', 'constructor', 'Remove', 'n/a'],
  ])('%s (%s, %s, Replacement %s) is not a stateful risk', (resource, type, action, replacement) => {
    expect(statefulRisks([{ resource, type, action, replacement }], RETAINED)).toEqual([]);
  });

  it.each([['not json'], [undefined]])('reads no retention from a body it cannot parse: %j', (body) => {
    expect(retentionOf(body).size).toBe(0);
  });

  it('reads a resource named __proto__ as an ordinary logical ID', () => {
    const found = retentionOf('{"Resources":{"__proto__":{"Type":"T","DeletionPolicy":"Retain"}}}');
    expect(found.get('__proto__')).toEqual({ onRemove: true, onReplace: false });
  });
});
