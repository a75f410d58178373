// The Windows scripts as they ship (joined with documents/lib/common.ps1), parsed with
// tree-sitter-powershell: lets tests ask where a command is called (which function, which
// try/catch/finally part, which if block) instead of matching text.
import { createRequire } from 'node:module';
import { Language, Parser, type Node } from 'web-tree-sitter';
import { joinScript } from '../../documents/index.ts';

const require = createRequire(import.meta.url);
let parser: Promise<Parser> | undefined;

function getParser(): Promise<Parser> {
  parser ??= (async () => {
    await Parser.init();
    const p = new Parser();
    p.setLanguage(await Language.load(require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm')));
    return p;
  })();
  return parser;
}

export interface Call {
  /** The command as written: a cmdlet or function name, or `$AgentExe` for `& $AgentExe …`. */
  name: string;
  /** Parameters and arguments, as written. */
  elements: string[];
  node: Node;
}

export interface Script {
  text: string;
  root: Node;
  /** The body of `function name`; throws when the script has none. */
  fn(name: string): Node;
  /** Commands named `name` (case-insensitive) anywhere under `scope`, in source order. */
  calls(scope: Node, name?: string): Call[];
  /** Method calls `.name(…)` (case-insensitive) under `scope`, as nodes. */
  methods(scope: Node, name: string): Node[];
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * `file` in documents/, joined with its library. WINDOWS_SCRIPTS_ROOT points at another copy, e.g.
 * `git show main:…` output, to see which checks an older script fails.
 */
export async function loadScript(file: string, root = process.env.WINDOWS_SCRIPTS_ROOT): Promise<Script> {
  const text = joinScript(file, root);
  const tree = (await getParser()).parse(text);
  if (!tree) throw new Error(`${file}: no syntax tree`);
  const rootNode = tree.rootNode;
  const calls = (scope: Node, name?: string): Call[] =>
    scope.descendantsOfType('command').flatMap((node) => {
      const n = node?.childForFieldName('command_name')?.text ?? '';
      if (!node || (name && !same(n, name))) return [];
      const elements = (node.childForFieldName('command_elements')?.namedChildren ?? [])
        .filter((c): c is Node => !!c && c.type !== 'command_argument_sep')
        .map((c) => c.text);
      return [{ name: n, elements, node }];
    });
  return {
    text,
    root: rootNode,
    fn(name) {
      const f = rootNode
        .descendantsOfType('function_statement')
        .find((n) => n && same(n.namedChildren.find((c) => c?.type === 'function_name')?.text ?? '', name));
      if (!f) throw new Error(`${file}: no function ${name}`);
      return f;
    },
    calls,
    methods(scope, name) {
      return scope
        .descendantsOfType('invokation_expression')
        .filter(
          (n): n is Node => !!n && same(n.namedChildren.find((c) => c?.type === 'member_name')?.text ?? '', name),
        );
    },
  };
}

/** The nearest ancestor of `node` of one of `types` (the node itself excluded), or undefined. */
export function ancestor(node: Node, ...types: string[]): Node | undefined {
  for (let n = node.parent; n; n = n.parent) if (types.includes(n.type)) return n;
  return undefined;
}

/** Which part of its nearest try statement `node` is in: 'try', 'catch', 'finally', or undefined. */
export function tryPart(node: Node): 'try' | 'catch' | 'finally' | undefined {
  for (let n: Node | null = node; n?.parent; n = n.parent) {
    if (n.type === 'catch_clause') return 'catch';
    if (n.type === 'finally_clause') return 'finally';
    if (n.parent.type === 'try_statement' && n.type === 'statement_block') return 'try';
  }
  return undefined;
}

/** The if statement whose own block (not its condition or else) holds `node`, or undefined. */
export function guardingIf(node: Node): Node | undefined {
  for (let n: Node | null = node; n?.parent; n = n.parent) {
    if (n.parent.type === 'if_statement' && n.type === 'statement_block') return n.parent;
  }
  return undefined;
}

/** The condition text of an if statement. */
export function conditionOf(ifNode: Node): string {
  return ifNode.childForFieldName('condition')?.text ?? ifNode.namedChildren[0]?.text ?? '';
}

/** The `exit N` statements under `scope`, as nodes. */
export function exits(scope: Node, code?: number): Node[] {
  return scope
    .descendantsOfType('flow_control_statement')
    .filter((n): n is Node => !!n && (code === undefined ? /^exit\b/ : new RegExp(`^exit ${code}$`)).test(n.text));
}

/** True when `a` starts before `b` in the source. */
export function before(a: Node, b: Node): boolean {
  return a.startIndex < b.startIndex;
}
