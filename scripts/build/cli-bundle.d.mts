// Types of cli-bundle.mjs (plain JavaScript, run by the launcher before TypeScript is loaded).
export declare const CLI_BUNDLE: string;
export declare function renderCliBundle(root: string): Promise<{ text: string; inputs: string[] }>;
export declare function writeCliBundle(
  root: string,
  options?: { check?: boolean },
): Promise<{ file: string; stale: boolean }>;
