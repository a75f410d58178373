// PowerShell syntax check without PowerShell: tree-sitter-powershell compiled to WebAssembly,
// driven by web-tree-sitter. It reports ERROR nodes (text the grammar could not place) and
// MISSING nodes (tokens the parser had to invent, e.g. an unclosed brace).
//
// Compiling the grammar's wasm leaves V8's optimizing tier busy for seconds after the work is
// done; getParser() turns that tier off for this process (see below).
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { Language, Parser, type Node } from 'web-tree-sitter';

export interface PowerShellSyntaxError {
  /** 1-based line of the problem. */
  line: number;
  /** 1-based column of the problem. */
  column: number;
  text: string;
}

export interface PowerShellParseResult {
  errors: PowerShellSyntaxError[];
}

const require = createRequire(import.meta.url);

let parserPromise: Promise<Parser> | undefined;

/** One parser per process: loading the grammar is the slow part. */
function getParser(): Promise<Parser> {
  parserPromise ??= (async () => {
    // Compile wasm with the baseline tier only: the optimizing tier would keep the process
    // alive for seconds after the parse (the same as running node with --liftoff-only).
    setFlagsFromString('--liftoff-only');
    await Parser.init();
    const language = await Language.load(require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm'));
    const parser = new Parser();
    parser.setLanguage(language);
    return parser;
  })();
  return parserPromise;
}

const MAX_SNIPPET = 60;

function snippet(node: Node): string {
  const text = node.text.replace(/\s+/g, ' ').trim();
  return text.length > MAX_SNIPPET ? `${text.slice(0, MAX_SNIPPET)}…` : text;
}

/** Parses one PowerShell source; `name` only labels the messages. */
export async function parsePowerShell(source: string, name: string): Promise<PowerShellParseResult> {
  const parser = await getParser();
  const tree = parser.parse(source);
  if (!tree) throw new Error(`${name}: the PowerShell parser returned no tree`);
  const errors: PowerShellSyntaxError[] = [];
  try {
    // Walk only into subtrees that contain an error; a clean tree costs one check.
    const visit = (node: Node): void => {
      if (node.isMissing) {
        errors.push({
          line: node.startPosition.row + 1,
          column: node.startPosition.column + 1,
          text: `${name}: missing ${node.type}`,
        });
        return;
      }
      if (node.isError) {
        errors.push({
          line: node.startPosition.row + 1,
          column: node.startPosition.column + 1,
          text: `${name}: cannot parse "${snippet(node)}"`,
        });
        return;
      }
      if (!node.hasError) return;
      for (const child of node.children) if (child) visit(child);
    };
    visit(tree.rootNode);
  } finally {
    tree.delete();
  }
  return { errors };
}

export interface PowerShellCommand {
  /** The command as written: a cmdlet name, or for `& $exe …` the expression after the operator. */
  name: string;
  /** True for a command started with the call operator `&` (or dot-sourced). */
  invoked: boolean;
  /** Parameters and arguments in order, as written (redirections included, e.g. "2>&1"). */
  elements: string[];
  /** 1-based line. */
  line: number;
}

/** Every command in a PowerShell source, in order: lets tests assert what a script runs. */
export async function powerShellCommands(source: string): Promise<PowerShellCommand[]> {
  const parser = await getParser();
  const tree = parser.parse(source);
  if (!tree) throw new Error('the PowerShell parser returned no tree');
  try {
    return tree.rootNode.descendantsOfType('command').flatMap((node) => {
      if (!node) return [];
      const name = node.childForFieldName('command_name');
      const elements = node.childForFieldName('command_elements');
      return [
        {
          name: name?.text ?? '',
          invoked: node.children.some((c) => c?.type === 'command_invokation_operator'),
          elements: (elements?.namedChildren ?? [])
            .filter((c): c is Node => !!c && c.type !== 'command_argument_sep')
            .map((c) => c.text),
          line: node.startPosition.row + 1,
        },
      ];
    });
  } finally {
    tree.delete();
  }
}
