// The central-operations parameter rules in contract/operations.ts and the kit's lessThanAssertions.
import { describe, expect, it } from 'vitest';
import {
  ASSOCIATION_RATE_MINUTES,
  ASSOCIATION_SCHEDULE_ALLOWED_PATTERN,
  integerRangePattern,
  integerStrings,
} from '../../contract/operations.ts';
import { lessThanAssertions } from '../../templates-src/kit/rules.ts';
import { Contains } from '../../templates-src/kit/intrinsics.ts';

describe('integerRangePattern', () => {
  it.each([
    [0, 9],
    [0, 1000],
    [1, 24],
    [2, 743],
    [30, 44639],
    [35, 42],
    [7, 123456],
    [99, 100],
    [5, 5],
  ])('matches exactly %i..%i, written without leading zeros', (min, max) => {
    const re = new RegExp(`^(?:${integerRangePattern(min, max)})$`);
    const wrong: number[] = [];
    for (let n = 0; n <= 200_000; n++) if (re.test(String(n)) !== (n >= min && n <= max)) wrong.push(n);
    expect(wrong).toEqual([]);
    for (const s of ['', '0' + String(min), '00', '-1', `${min} `]) expect(re.test(s), s).toBe(false);
  });

  it('refuses a range it cannot write', () => {
    expect(() => integerRangePattern(5, 4)).toThrow('integerRangePattern: needs 0 <= min <= max, got 5..4');
    expect(() => integerRangePattern(-1, 4)).toThrow(RangeError);
  });
});

describe('association schedules', () => {
  it('take every whole rate from 30 minutes to under 31 days, in the unit it is written in', () => {
    const re = new RegExp(ASSOCIATION_SCHEDULE_ALLOWED_PATTERN);
    const units = [
      ['minute', 1],
      ['hour', 60],
      ['day', 1440],
    ] as const;
    const wrong: string[] = [];
    for (const [unit, minutes] of units)
      for (let n = 1; n * minutes <= ASSOCIATION_RATE_MINUTES.below + 1440; n++) {
        const expression = `rate(${n} ${unit}${n === 1 ? '' : 's'})`;
        const inRange = n * minutes >= ASSOCIATION_RATE_MINUTES.min && n * minutes < ASSOCIATION_RATE_MINUTES.below;
        if (re.test(expression) !== inRange) wrong.push(expression);
      }
    expect(wrong).toEqual([]);
  });
});

describe('lessThanAssertions', () => {
  it('lists 0..d-1 for each larger value d a smaller value reaches, as the strings AllowedValues holds', () => {
    const a = lessThanAssertions(
      { name: 'Low', range: { min: 0, max: 2 } },
      { name: 'High', range: { min: 1, max: 5 } },
    );
    expect(a.map((x) => (x.Assert as any)['Fn::Or'][1]['Fn::Contains'][0])).toEqual([['0'], ['0', '1']]);
    expect(a.map((x) => x.AssertDescription)).toEqual([
      'Low must be less than High, which is 1: use 0',
      'Low must be less than High, which is 2: use 0-1',
    ]);
    expect(integerStrings({ min: 8, max: 11 })).toEqual(['8', '9', '10', '11']);
  });

  it('refuses ranges where a larger value leaves the smaller one nothing', () => {
    expect(() =>
      lessThanAssertions({ name: 'Low', range: { min: 3, max: 9 } }, { name: 'High', range: { min: 1, max: 9 } }),
    ).toThrow('lessThanAssertions: High 1 leaves Low no value; start High above 3');
    expect(() => Contains([], 'x')).toThrow('Contains: the list must name at least one value');
  });
});
