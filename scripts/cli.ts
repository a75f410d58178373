// Entry point of the operator CLI. Subcommands are imported lazily so `build` does not pay
// for loading the AWS SDK clients that only the AWS-facing commands need.
/** Each command's one-line summary, for the usage text. */
const SUMMARIES: Record<string, string> = {
  build: 'emit templates, documents and manifest into generated/',
  lint: 'validate generated templates, guard rules, shell and PowerShell sources',
  bench: 'measure build speed, bundle sizes, cold start and sync cost; write BENCHMARKS.md',
  publish: 'upload templates to S3 and print console quick-create links (--dry-run needs no AWS)',
  onboard: 'create or update the agency-permissions stack of each agency',
  offboard: 'delete the agency-permissions stacks of some agencies',
  rollout: 'deploy the agency-collector StackSet to agency accounts and Regions',
  status: 'per-agency health: stacks, activations, StackSet instances, sync state, node limits',
};

/** Each command's module (under scripts/), loaded only when the command runs. */
const MODULES: Record<string, string> = {
  build: 'build/index.ts',
  lint: 'lint/index.ts',
  bench: 'bench/index.ts',
  publish: 'ops/publish.ts',
  onboard: 'ops/onboard.ts',
  offboard: 'ops/offboard.ts',
  rollout: 'ops/rollout.ts',
  status: 'ops/status.ts',
};

function usage(): string {
  const width = Math.max(...Object.keys(SUMMARIES).map((c) => c.length));
  return [
    'usage: ssm-hub <command> [options]',
    '',
    'commands:',
    ...Object.entries(SUMMARIES).map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`),
    '',
    'Run `ssm-hub <command> --help` for the options of one command.',
  ].join('\n');
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  const module = Object.hasOwn(MODULES, name) ? MODULES[name] : undefined;
  if (!module) {
    process.stderr.write(`ssm-hub: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  const mod = (await import(`./${module}`)) as { main: (argv: string[]) => Promise<number> };
  return mod.main(rest);
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Expected failures are typed errors with a message meant for people; anything else is a bug.
    const e = err as { name?: string; message?: string };
    process.stderr.write(`ssm-hub: ${e?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
