// The project contract: names, patterns, limits and each Lambda function's environment, in one
// module that templates, documents, handlers and the CLI all import. Handlers import the single
// files they need (./patterns.ts …) so their bundles carry nothing else.
export * from './environment.ts';
export * from './errors.ts';
export * from './limits.ts';
export * from './names.ts';
export * from './network.ts';
export * from './page-sizes.ts';
export * from './patterns.ts';
export * from './project.ts';
export * from './run-command.ts';
