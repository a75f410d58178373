// Issue 9: builders read like the diagram and commands split into plan, execute and report, so no
// function in templates-src/ or scripts/ is longer than 80 lines.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const MAX_LINES = 80;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every function-like node of a file with its line count, named by file and first line. */
export function functionLengths(
  file: string,
  text = readFileSync(file, 'utf8'),
): Array<{ where: string; lines: number }> {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Array<{ where: string; lines: number }> = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      out.push({ where: `${relative(ROOT, file)}:${start + 1}`, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

describe('function length in templates-src/ and scripts/', () => {
  it('measures a long function as long (the check can fail)', () => {
    const body = Array.from({ length: MAX_LINES + 5 }, (_, i) => `  const a${i} = ${i};`).join('\n');
    const [fn] = functionLengths('long.ts', `function long() {\n${body}\n}\n`);
    expect(fn!.lines).toBeGreaterThan(MAX_LINES);
  });
  it.each(['templates-src', 'scripts'])(`%s/ has no function longer than ${MAX_LINES} lines`, (folder) => {
    const files = sourceFiles(join(ROOT, folder));
    // The scan reaches the folder's own code (a wrong path would make the check pass on nothing).
    expect(files.length).toBeGreaterThan(5);
    const long = files.flatMap((f) => functionLengths(f)).filter((f) => f.lines > MAX_LINES);
    expect(long).toEqual([]);
  });
});
