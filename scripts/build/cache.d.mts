// Types of cache.mjs (plain JavaScript, so the launcher can use it before TypeScript is loaded).
export declare const cacheEnabled: (env?: NodeJS.ProcessEnv) => boolean;
export declare function inputsKey(root: string, inputs: readonly string[], salt: string): string | undefined;
export declare function cachedStep(
  root: string,
  name: string,
  salt: string,
  run: () => Promise<{ outputs: Record<string, string>; inputs: string[] }>,
  env?: NodeJS.ProcessEnv,
): Promise<Record<string, string>>;
