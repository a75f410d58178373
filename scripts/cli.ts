// Entry point of the operator CLI. Subcommands are imported lazily so `build` does not pay
// for loading the AWS SDK clients that only the AWS-facing commands need.
/** Each command's one-line summary in the usage text, in the order listed there. */
const SUMMARIES = {
  build: 'emit templates, documents and manifest into generated/',
  lint: 'validate generated templates, guard rules, shell and PowerShell sources',
  bench: 'measure build speed, bundle sizes, cold start and sync cost; write BENCHMARKS.md',
  publish: 'upload templates to S3 and print console quick-create links (--dry-run needs no AWS)',
  onboard: 'create or update the agency-permissions stack of each agency',
  offboard: 'delete the agency-permissions stacks of some agencies',
  deploy: 'create or update central-manager through a change set',
  rollout: 'deploy the agency-collector and agency-registration StackSets to agency accounts and Regions',
  uninstall: 'remove the hub in order, after a preview',
  nodes: "the hub's nodes from the sync-state table, with state and reason",
  doctor: 'check every prerequisite, with the fix for each',
  status: 'per-agency health: stacks, activations, StackSet instances, sync state, node limits',
  compliance: 'patch and association compliance per agency',
  run: "send a document to agencies' nodes, follow it, one row a node",
  report: 'write one self-contained HTML fleet report page',
};

type Loader = () => Promise<{ main: (argv: string[]) => Promise<number> }>;
/** Each command's module, loaded only when that command runs. */
const LOADERS: Record<keyof typeof SUMMARIES, { load: Loader }> = {
  build: { load: () => import('./build/index.ts') },
  lint: { load: () => import('./lint/index.ts') },
  bench: { load: () => import('./bench/index.ts') },
  publish: { load: () => import('./ops/publish.ts') },
  onboard: { load: () => import('./ops/onboard.ts') },
  offboard: { load: () => import('./ops/offboard.ts') },
  deploy: { load: () => import('./ops/deploy.ts') },
  rollout: { load: () => import('./ops/rollout.ts') },
  uninstall: { load: () => import('./ops/uninstall.ts') },
  nodes: { load: () => import('./ops/nodes.ts') },
  doctor: { load: () => import('./ops/doctor.ts') },
  status: { load: () => import('./ops/status.ts') },
  compliance: { load: () => import('./ops/compliance.ts') },
  run: { load: () => import('./ops/run.ts') },
  report: { load: () => import('./ops/report.ts') },
};

const COMMANDS: Record<string, { summary: string; load: Loader }> = Object.fromEntries(
  Object.entries(SUMMARIES).map(([name, summary]) => [
    name,
    { summary, load: LOADERS[name as keyof typeof SUMMARIES].load },
  ]),
);

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'usage: ssm-hub <command> [options]    (ssm-hub --version)',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `ssm-hub <command> --help` for the options of one command.',
  ].join('\n');
}

/** The package version, read from package.json next to scripts/ (or next to generated/cli/ in the bundle). */
async function version(): Promise<string> {
  const { readFileSync } = await import('node:fs');
  const { PROJECT_ROOT } = await import('./kit/command.ts');
  const pkg = JSON.parse(readFileSync(`${PROJECT_ROOT}/package.json`, 'utf8')) as { name: string; version: string };
  return `${pkg.name} ${pkg.version}`;
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${await version()}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  // Own keys only: `constructor` or `__proto__` is an unknown command, not Object's.
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`ssm-hub: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  const mod = await command.load();
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
