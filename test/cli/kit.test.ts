// The CLI kit: one option spec gives the parser, the range, the default and the help line.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import {
  choice,
  CliError,
  defineCommand,
  errorText,
  flag,
  helpText,
  integer,
  list,
  OperationError,
  parseOptions,
  pathWithDefault,
  PROJECT_ROOT,
  RELATIVE_PATHS_NOTE,
  repeatable,
  text,
  UsageError,
} from '../../scripts/kit/index.ts';
import * as v from '../../scripts/kit/validate.ts';
import { table } from '../../scripts/kit/command.ts';

const OPTIONS = [
  list('agencies', { arg: 'ACCOUNT,…', help: 'agency accounts', check: v.accountIds }),
  integer('concurrency', { help: 'stacks at once', min: 1, max: 20, default: 4 }),
  text('region', { arg: 'REGION', help: 'home Region', check: v.region }),
  choice('mode', { help: 'how', values: ['FAST', 'SLOW'], default: 'SLOW' }),
  repeatable('param', { arg: 'NAME=VALUE', help: 'a parameter' }),
  flag('yes', 'confirm'),
] as const;

const parse = (argv: string[]) => parseOptions('demo', OPTIONS, argv);

describe('option parsing', () => {
  it('applies defaults and types when nothing is given', () => {
    const { values, given } = parse([]);
    expect(values).toEqual({
      agencies: undefined,
      concurrency: 4,
      region: undefined,
      mode: 'SLOW',
      param: [],
      yes: false,
    });
    expect(given.size).toBe(0);
  });

  it('joins a list flag given more than once, dropping repeats', () => {
    const { values } = parse(['--agencies', '111111111111', '--agencies', '222222222222,111111111111']);
    expect(values.agencies).toEqual(['111111111111', '222222222222']);
  });

  it('keeps every value of a repeatable flag in order', () => {
    expect(parse(['--param', 'A=1', '--param', 'B=2']).values.param).toEqual(['A=1', 'B=2']);
  });

  it.each([
    [['--region', 'us-east-1', '--region', 'eu-west-1'], /--region was given 2 times: give it once/],
    [['--concurrency', '2', '--concurrency', '3'], /--concurrency was given 2 times/],
    [['--concurrency', '21'], /--concurrency: 21 is out of range \(expected 1–20\)/],
    [['--mode', 'MEDIUM'], /--mode: "MEDIUM" is not allowed \(expected one of FAST, SLOW\)/],
    [['--region', ' '], /--region needs a non-empty value/],
    [['--agencies', '42'], /--agencies: "42" is not an AWS account ID/],
    [['--nope'], /unknown option --nope \(see ssm-hub demo --help\)/],
    [['stray'], /unexpected argument stray: every input is a --flag/],
  ])('refuses %j with a usage error', (argv, message) => {
    expect(() => parse(argv)).toThrow(UsageError);
    expect(() => parse(argv)).toThrow(message);
  });

  it('records which options were given, whatever their value', () => {
    expect([...parse(['--yes', '--concurrency', '4']).given].sort()).toEqual(['concurrency', 'yes']);
  });
});

describe('help text', () => {
  it('is generated from the specs: every option with its range and default', () => {
    const help = helpText(defineCommand({ name: 'demo', summary: 'A demo.', usage: ['[options]'], options: OPTIONS }));
    expect(help).toMatch(/^usage: ssm-hub demo \[options\]/);
    expect(help).toMatch(/--concurrency N\s+stacks at once, 1–20 \(default: 4\)/);
    expect(help).toMatch(/--mode FAST\|SLOW\s+how: FAST or SLOW \(default: SLOW\)/);
    expect(help).toMatch(/--agencies ACCOUNT,…\s+agency accounts; comma-separated, repeatable/);
    expect(help).toMatch(/--param NAME=VALUE\s+a parameter \(repeatable\)/);
    expect(help).toMatch(/-h, --help\s+show this help/);
    expect(help).not.toContain(RELATIVE_PATHS_NOTE);
  });

  it('says where a relative file or folder resolves when a command takes one', () => {
    const out = pathWithDefault('out', { arg: 'FILE', help: 'where to write', default: '/project/x' });
    expect(helpText(defineCommand({ name: 'demo', summary: 'A demo.', usage: [''], options: [out] }))).toContain(
      RELATIVE_PATHS_NOTE,
    );
  });
});

describe('a file or folder option', () => {
  const out = pathWithDefault('out', { arg: 'FILE', help: 'where', default: '/project/BENCH.md' }, () => '/home/op');
  it.each([
    { given: [], expected: '/project/BENCH.md' },
    { given: ['report.md'], expected: '/home/op/report.md' },
    { given: ['../x/report.md'], expected: '/home/x/report.md' },
    { given: ['/abs/report.md'], expected: '/abs/report.md' },
  ])('reads $given as $expected: relative to where the command started, defaults in the project', (c) => {
    expect(out.read(c.given)).toBe(c.expected);
  });
});

describe('errors', () => {
  it('share one base with an exit code and keep the cause', () => {
    const cause = new Error('socket hang up');
    const e = new OperationError('upload failed', { cause });
    expect(e).toBeInstanceOf(CliError);
    expect(e.exitCode).toBe(1);
    expect(e.cause).toBe(cause);
    expect(new UsageError('bad').exitCode).toBe(2);
  });

  it.each([
    [new UsageError('--x: bad\nmore'), '--x: bad'],
    [Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }), 'ThrottlingException: Rate exceeded'],
    [new Error('plain'), 'plain'],
    ['a string', 'a string'],
  ])('turn %s into one line', (err, expected) => {
    expect(errorText(err)).toBe(expected);
  });
});

describe('structure', () => {
  it('has no function in scripts/ longer than 80 lines (bench/ excepted until its split)', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir)) {
        const p = join(dir, e);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    for (const d of ['kit', 'ops', 'build', 'lint']) walk(join(PROJECT_ROOT, 'scripts', d));
    files.push(join(PROJECT_ROOT, 'scripts', 'cli.ts'), join(PROJECT_ROOT, 'scripts', 'bench', 'index.ts'));
    const long: string[] = [];
    for (const f of files) {
      const src = ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true);
      const visit = (n: ts.Node) => {
        if (ts.isFunctionLike(n) && 'body' in n && n.body) {
          const start = src.getLineAndCharacterOfPosition(n.getStart()).line;
          const end = src.getLineAndCharacterOfPosition(n.getEnd()).line;
          if (end - start + 1 > 80) long.push(`${f}:${start + 1} (${end - start + 1} lines)`);
        }
        ts.forEachChild(n, visit);
      };
      visit(src);
    }
    expect(long).toEqual([]);
  });

  it('has no hand-written NextToken loop in the CLI (SDK paginators instead)', () => {
    const dir = join(PROJECT_ROOT, 'scripts', 'ops');
    for (const f of readdirSync(dir)) {
      expect(readFileSync(join(dir, f), 'utf8'), f).not.toMatch(/NextToken\s*[:=]/);
    }
  });
});

describe('table: text for a terminal', () => {
  it('writes control characters in a cell as \\xNN, so agency text cannot move the cursor or retitle the terminal', () => {
    const hostile = 'ok\u001b[1A\u001b[2K\u001b]0;pwned\u0007\u009b';
    const out = table(['agency', 'error'], [['111111111111', hostile]]);
    expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(out).toContain('ok\\x1b[1A\\x1b[2K\\x1b]0;pwned\\x07\\x9b');
  });

  it('lines up 150,000 rows (no spread of every row into one call)', () => {
    const rows = Array.from({ length: 150_000 }, (_, i) => [`mi-${i}`, i % 7 === 0 ? 'longer value' : 'v']);
    const lines = table(['node', 'value'], rows).split('\n');
    expect(lines).toHaveLength(150_002);
    expect(lines[1]).toBe('---------  ------------');
  });
});
