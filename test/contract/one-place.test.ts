// Issue 9: each rule and limit is written once, in contract/. This scans the product source
// (contract/, lambda/, templates-src/, scripts/, documents/; tests, the testing kit and generated
// files aside) for the literal forms of the account-ID pattern, the SSM tag character set, the
// Parameter Store path pattern, the schedule pattern and the AWS size limits, and fails when one
// appears outside contract/.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../contract/project.ts';

const SOURCE_FOLDERS = ['contract', 'lambda', 'templates-src', 'scripts', 'documents'];
const SOURCE_FILE = /\.(ts|mjs|sh|ps1)$/;

/** The literal forms, as they appear in source text (a RegExp literal or an escaped string). */
const RULE_LITERALS: Array<{ rule: string; text: RegExp }> = [
  { rule: 'account ID (12 digits)', text: /\\{1,2}d\{12\}|\[0-9\]\{12\}/ },
  { rule: 'SSM tag character set', text: /p\{L\}\\{1,2}p\{Z\}\\{1,2}p\{N\}/ },
  { rule: 'SSM tag character set (ASCII part)', text: /A-Za-z0-9 _\.:\/=\+@-/ },
  { rule: 'Parameter Store path characters', text: /a-zA-Z0-9_\./ },
  { rule: 'schedule expression', text: /rate\\{1,2}\(/ },
];

/** AWS size limits, as numeric literals in TypeScript (51_200 and 51200 alike). */
const LIMIT_NUMBERS = new Map<number, string>([
  [51_200, 'TemplateBody bytes'],
  [1_048_576, 'TemplateURL bytes'],
  [6_291_456, 'Lambda synchronous payload bytes'],
  [4_194_304, 'Code.ZipFile bytes'],
  [65_536, 'SSM document bytes'],
  [4096, 'Standard-tier parameter / custom-resource response bytes'],
  [10_240, 'Lambda memory MB'],
  [1011, 'Parameter Store name length'],
]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : SOURCE_FILE.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** Every rule literal and limit number in one file's text, as "file:line rule". */
export function ruleLiterals(file: string, text: string): string[] {
  const hits: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const { rule, text: pattern } of RULE_LITERALS) if (pattern.test(line)) hits.push(`${file}:${i + 1} ${rule}`);
  });
  if (/\.(ts|mjs)$/.test(file)) {
    const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, text);
    for (let token = scanner.scan(); token !== ts.SyntaxKind.EndOfFileToken; token = scanner.scan()) {
      if (token !== ts.SyntaxKind.NumericLiteral) continue;
      const limit = LIMIT_NUMBERS.get(Number(scanner.getTokenValue()));
      if (limit) {
        const line = text.slice(0, scanner.getTokenStart()).split('\n').length;
        hits.push(`${file}:${line} ${limit}`);
      }
    }
  }
  return hits;
}

describe('each rule and limit in one place', () => {
  it.each([
    { case: 'an account-ID RegExp', text: 'const A = /^\\d{12}$/;', rule: 'account ID' },
    { case: 'an account-ID string', text: "const A = '^[0-9]{12}$';", rule: 'account ID' },
    { case: 'the tag character set', text: 'const T = /^[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*$/u;', rule: 'SSM tag' },
    { case: 'the ASCII tag set', text: "const T = '^[A-Za-z0-9 _.:/=+@-]{1,128}$';", rule: 'ASCII part' },
    { case: 'the parameter path', text: "const P = '^(/[a-zA-Z0-9_.-]+)+$';", rule: 'Parameter Store path' },
    { case: 'the schedule pattern', text: 'const S = /^(rate\\(\\d+ (minute|minutes))$/;', rule: 'schedule' },
    { case: 'the TemplateBody limit', text: 'const MAX = 51_200;', rule: 'TemplateBody' },
    { case: 'a parameter size', text: 'if (v.length > 4096) fail();', rule: 'Standard-tier' },
  ])('finds $case written out by hand', ({ text, rule }) => {
    const hits = ruleLiterals('planted.ts', text);
    expect(hits).toHaveLength(1);
    expect(hits[0]).toContain(rule);
  });

  it('does not count a number that only looks like a limit (in a string or a larger number)', () => {
    expect(ruleLiterals('planted.ts', "const s = 'page 4096'; const n = 40960;")).toEqual([]);
  });

  it('finds every rule and limit in contract/ (the scan reads the files it should)', () => {
    const found = sourceFiles(join(PROJECT_ROOT, 'contract')).flatMap((f) =>
      ruleLiterals(relative(PROJECT_ROOT, f), readFileSync(f, 'utf8')),
    );
    for (const { rule } of RULE_LITERALS) expect(found.some((h) => h.endsWith(rule))).toBe(true);
    for (const limit of new Set(LIMIT_NUMBERS.values())) expect(found.some((h) => h.endsWith(limit))).toBe(true);
  });

  it('finds none of them outside contract/', () => {
    const files = SOURCE_FOLDERS.filter((d) => d !== 'contract').flatMap((d) => sourceFiles(join(PROJECT_ROOT, d)));
    expect(files.length).toBeGreaterThan(50);
    const hits = files.flatMap((f) => ruleLiterals(relative(PROJECT_ROOT, f), readFileSync(f, 'utf8')));
    expect(hits).toEqual([]);
  });
});
