// The CLI kit every subcommand builds on: option specs (parsing, validation and --help from one
// definition), the command runner and context, and the CLI's errors. It loads no AWS SDK, so
// `build` and `lint` stay quick.
export * from './command.ts';
export * from './errors.ts';
export * from './options.ts';
