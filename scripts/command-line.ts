// Option parsing shared by the commands that load no AWS SDK (build, lint, bench): unknown or
// malformed flags print the usage and exit 2, --help prints it and exits 0.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<
  typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>
>['values'];

/** The parsed flags, or the exit code when the command should stop here. */
export function parseCommandLine<O extends Options>(
  command: string,
  argv: string[],
  options: O,
  help: string,
): Values<O> | number {
  let values: Values<O>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    process.stderr.write(`${command}: ${(err as Error).message}\n\n${help}\n`);
    return 2;
  }
  if ((values as { help?: boolean }).help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  return values;
}
