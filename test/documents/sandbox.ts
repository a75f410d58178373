// A sandbox in which the Linux scripts really run: a private PATH holding only the system tools
// they need plus stubs of aws, amazon-ssm-agent, systemctl and systemd-run, a fake IMDSv2 on a
// loopback port (the real curl talks to it), and temp directories for every state path.
import { execFile, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { compactScript, DOCUMENTS_DIR, joinScript } from '../../documents/index.ts';
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';

export const STUBS = join(import.meta.dirname, 'stubs');

const built = new Map<string, string>();
let builtDir: string | undefined;

/**
 * The script as the document ships it (libraries joined, comments, blank lines and indentation
 * stripped, the step's own shebang first), written to a file the sandbox runs. The tests drive
 * this text, never the source. SSM_HUB_TEST_SCRIPTS=<folder> takes the scripts from another
 * folder, e.g. a `git archive main documents` copy, to show a test fails on an older script.
 */
export function builtScript(file: 'register-linux.sh' | 'deregister-linux.sh'): string {
  const cached = built.get(file);
  if (cached) return cached;
  builtDir ??= mkdtempSync(join(tmpdir(), 'ssm-hub-built-'));
  const path = join(builtDir, file);
  const from = process.env['SSM_HUB_TEST_SCRIPTS'];
  const text = compactScript(joinScript(file, from ? resolve(from) : DOCUMENTS_DIR)).join('\n');
  writeFileSync(path, `#!/bin/bash\n${text}\n`, { mode: 0o755 });
  built.set(file, path);
  return path;
}

/** System tools the scripts may use; anything else is absent from their PATH. */
const SYSTEM_TOOLS = [
  'bash',
  'sh',
  'env',
  'date',
  'sed',
  'head',
  'tail',
  'tr',
  'cut',
  'mktemp',
  'rm',
  'rmdir',
  'mkdir',
  'chmod',
  'cp',
  'dirname',
  'sleep',
  'setsid',
  'nohup',
  'curl',
  'cat',
  'grep',
  'mv',
  'flock',
  'readlink',
];

export interface ImdsFake {
  endpoint: string;
  requests: string[];
  close(): Promise<void>;
}

/** IMDSv2: a PUT for a token (TTL header required), then GETs that must carry the token, else 401. */
export async function startImds(instanceId: string, region: string): Promise<ImdsFake> {
  const requests: string[] = [];
  const tokens = new Set<string>();
  let n = 0;
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!(ttl >= 1 && ttl <= 21600)) return void res.writeHead(400).end();
      const token = `token-${++n}`;
      tokens.add(token);
      return void res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
    }
    if (req.method !== 'GET') return void res.writeHead(405).end();
    if (!tokens.has(String(req.headers['x-aws-ec2-metadata-token'] ?? ''))) return void res.writeHead(401).end();
    const values: Record<string, string> = {
      '/latest/meta-data/instance-id': instanceId,
      '/latest/meta-data/placement/region': region,
    };
    const value = values[req.url ?? ''];
    if (value === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(value);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An endpoint nothing listens on: a port the OS gave us and that we released at once. */
export async function deadEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

export interface SandboxOptions {
  imdsEndpoint: string;
  instanceId: string;
  instanceRegion: string;
  hubRegion: string;
  /** Stubs to leave off PATH, e.g. ['aws'] for "AWS CLI missing". */
  without?: string[];
  /** Install the agent as the Ubuntu snap instead of on PATH. */
  snap?: boolean;
  /** Put python3 on PATH (Amazon Linux and Ubuntu have it; a minimal image may not). */
  python?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A run that failed before it changed anything: no agent call and no call of any other stub. */
export function expectNothingChanged(s: Sandbox, r: RunResult): void {
  expect(r.code).not.toBe(0);
  expect(r.stdout).toContain('nothing was changed');
  expect(s.read('agent-argv.log')).toBe('');
  expect(s.read('calls.log')).toBe('');
}

/** The exit code the detached worker recorded (worker.rc). */
export const workerExitCode = (s: Sandbox): number => Number(s.read('worker.rc').trim());

/** The instance the Linux document tests run on, and the hub Region it registers with. */
export const TEST_INSTANCE = {
  id: 'i-0123456789abcdef0',
  region: 'ap-southeast-2',
  hubRegion: 'eu-west-1',
  managedNodeId: 'mi-0a1b2c3d4e5f67890',
} as const;

/** A run that found a live worker holding the lock: exit 0, saying so, and no agent call. */
export function expectLeftToLiveWorker(s: Sandbox, r: RunResult): void {
  expect(r.code).toBe(0);
  expect(s.read('worker.rc').trim()).toBe('0');
  expect(s.logText()).toContain('another worker is running; leaving it to finish');
  expect(s.read('agent-argv.log')).toBe('');
}

/**
 * A test file's sandboxes (registers vitest hooks): one IMDS fake for the file, a fresh sandbox of
 * TEST_INSTANCE per call with `prepare` applied, each removed after its test (`cleanup: 'all'`: after
 * the file's last test, where some tests run concurrently).
 */
export function useSandboxes(
  prepare: (s: Sandbox) => void = () => undefined,
  cleanup: 'each' | 'all' = 'each',
): {
  sandbox: (overrides?: Partial<SandboxOptions>) => Sandbox;
  imds: () => ImdsFake;
} {
  let imds: ImdsFake | undefined;
  const open: Sandbox[] = [];
  beforeAll(async () => {
    imds = await startImds(TEST_INSTANCE.id, TEST_INSTANCE.region);
  });
  afterAll(async () => {
    await imds?.close();
  });
  (cleanup === 'each' ? afterEach : afterAll)(() => {
    for (const s of open.splice(0)) s.cleanup();
  });
  const sandbox = (overrides: Partial<SandboxOptions> = {}): Sandbox => {
    const s = new Sandbox({
      imdsEndpoint: imds!.endpoint,
      instanceId: TEST_INSTANCE.id,
      instanceRegion: TEST_INSTANCE.region,
      hubRegion: TEST_INSTANCE.hubRegion,
      ...overrides,
    });
    prepare(s);
    open.push(s);
    return s;
  };
  return { sandbox, imds: () => imds! };
}

export class Sandbox {
  readonly root: string;
  readonly bin: string;
  readonly stub: string;
  readonly agentStateDir: string;
  /** The agent's config directory (/etc/amazon/ssm on a real host); empty at first. */
  readonly agentConfigDir: string;
  readonly stateDir: string;
  readonly logFile: string;
  readonly env: Record<string, string>;
  /** The managed node ID the agent stub registers as: random, so a script cannot hard-code it. */
  readonly mi = `mi-${randomBytes(9).toString('hex').slice(0, 17)}`;
  /** This sandbox's boot ID (the scripts read it from SSM_HUB_BOOT_ID_FILE): random, like the kernel's. */
  readonly bootId = randomUUID();
  /** The worker lock file (flock) the scripts share under the state directory. */
  readonly lockFile: string;

  constructor(readonly opts: SandboxOptions) {
    this.root = mkdtempSync(join(tmpdir(), 'ssm-hub-doc-'));
    this.bin = join(this.root, 'bin');
    this.stub = join(this.root, 'stub-state');
    this.agentStateDir = join(this.root, 'var/lib/amazon/ssm');
    this.agentConfigDir = join(this.root, 'etc/amazon/ssm');
    this.stateDir = join(this.root, 'var/lib/ssm-hub');
    this.logFile = join(this.root, 'var/log/ssm-hub.log');
    this.lockFile = join(this.stateDir, 'worker.lck');
    writeFileSync(join(this.root, 'boot_id'), `${this.bootId}\n`);
    for (const d of [
      this.bin,
      this.stub,
      this.agentStateDir,
      this.agentConfigDir,
      join(this.stub, 'params'),
      join(this.stub, 'tags'),
    ]) {
      mkdirSync(d, { recursive: true });
    }
    for (const tool of SYSTEM_TOOLS) {
      const path = execFileSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      symlinkSync(path, join(this.bin, tool));
    }
    if (opts.python) {
      // The interpreter itself: a version manager's shim would need tools the sandbox leaves out.
      const path = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
      symlinkSync(path, join(this.bin, 'python3'));
    }
    const without = new Set(opts.without ?? []);
    for (const stub of ['aws', 'systemctl', 'systemd-run']) {
      if (!without.has(stub)) symlinkSync(join(STUBS, stub), join(this.bin, stub));
    }
    if (opts.snap) {
      const snapDir = join(this.root, 'snap/amazon-ssm-agent/current');
      mkdirSync(snapDir, { recursive: true });
      symlinkSync(join(STUBS, 'amazon-ssm-agent'), join(snapDir, 'amazon-ssm-agent'));
    } else if (!without.has('amazon-ssm-agent')) {
      symlinkSync(join(STUBS, 'amazon-ssm-agent'), join(this.bin, 'amazon-ssm-agent'));
    }
    this.env = {
      PATH: this.bin,
      HOME: this.root,
      STUB_STATE: this.stub,
      STUB_INSTANCE_ID: opts.instanceId,
      STUB_INSTANCE_REGION: opts.instanceRegion,
      STUB_MI: this.mi,
      STUB_NODE: process.execPath,
      SSM_HUB_REGION: opts.hubRegion,
      SSM_HUB_ACTIVATION_PARAMETER_PATH: '/central-hub/activation',
      SSM_HUB_RESERVED_TAG_PREFIX: 'central-it:',
      SSM_HUB_MANAGED_INSTANCE_ID_TAG: 'managedinstanceid',
      SSM_HUB_IMDS_ENDPOINT: opts.imdsEndpoint,
      SSM_HUB_AGENT_STATE_DIR: this.agentStateDir,
      SSM_HUB_AGENT_CONFIG_DIR: this.agentConfigDir,
      SSM_HUB_STATE_DIR: this.stateDir,
      SSM_HUB_LOG_FILE: this.logFile,
      SSM_HUB_SNAP_ROOT: join(this.root, 'snap'),
      SSM_HUB_WORKER_DELAY: '0',
      SSM_HUB_BOOT_ID_FILE: join(this.root, 'boot_id'),
      SSM_HUB_IDENTITY_WAIT: '5',
      SSM_HUB_RETRY_PAUSE: '0',
    };
    // The agent runs (it runs the document) on the instance's own identity.
    this.writeIdentity('EC2', opts.instanceId);
  }

  setParameter(name: string, value: string): void {
    writeFileSync(join(this.stub, 'params', name.replaceAll('/', '%')), value);
  }

  setTag(key: string, value: string): void {
    writeFileSync(join(this.stub, 'tags', key), value);
  }

  tags(): Record<string, string> {
    const dir = join(this.stub, 'tags');
    const out: Record<string, string> = {};
    for (const key of execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      out[key] = readFileSync(join(dir, key), 'utf8');
    }
    return out;
  }

  unflag(name: string): void {
    rmSync(join(this.stub, name), { force: true });
  }

  /** A stub behaviour switch, e.g. 'register-fails'. */
  flag(name: string): void {
    writeFileSync(join(this.stub, name), '');
  }

  /**
   * An agent registered as `managedInstanceId` in `region` and running on it, as the real agent
   * leaves it (stubs/amazon-ssm-agent, stubs/agent.mjs): the registration file, the vault with its
   * manifest, and identity_config.json naming the identity in use (`identity`, OnPrem by default).
   */
  writeRegistration(managedInstanceId: string, region: string, identity: 'OnPrem' | 'EC2' = 'OnPrem'): void {
    writeFileSync(
      join(this.agentStateDir, 'registration'),
      JSON.stringify({ ManagedInstanceID: managedInstanceId, Region: region }),
    );
    this.writeVault(managedInstanceId, region);
    this.writeIdentity(identity, identity === 'OnPrem' ? managedInstanceId : this.opts.instanceId);
  }

  /** The vault's RegistrationKey and manifest; empty fields as `-register -clear` leaves them. */
  writeVault(managedInstanceId: string, region: string): void {
    const vault = join(this.agentStateDir, 'Vault');
    mkdirSync(join(vault, 'Store'), { recursive: true });
    const key = managedInstanceId ? 'stub-private-key' : '';
    writeFileSync(
      join(vault, 'Store/RegistrationKey'),
      JSON.stringify({ instanceID: managedInstanceId, region, privateKey: key, privateKeyType: key && 'Rsa' }),
    );
    writeFileSync(join(vault, 'Manifest'), JSON.stringify({ RegistrationKey: join(vault, 'Store/RegistrationKey') }));
  }

  writeIdentity(type: 'OnPrem' | 'EC2', id: string): void {
    mkdirSync(join(this.agentStateDir, 'runtimeconfig'), { recursive: true });
    writeFileSync(
      join(this.agentStateDir, 'runtimeconfig/identity_config.json'),
      JSON.stringify({ SchemaVersion: '1.1', InstanceId: id, IdentityType: type, ShareFile: '', ShareProfile: '' }),
    );
  }

  /** The identity the agent last chose (identity_config.json), e.g. "OnPrem mi-…" or "EC2 i-…". */
  identity(): string | undefined {
    const file = join(this.agentStateDir, 'runtimeconfig/identity_config.json');
    if (!existsSync(file)) return undefined;
    const c = JSON.parse(readFileSync(file, 'utf8')) as { IdentityType: string; InstanceId: string };
    return `${c.IdentityType} ${c.InstanceId}`;
  }

  /** The node ID in the vault ('' once cleared), or undefined without a vault. */
  vaultNode(): string | undefined {
    const file = join(this.agentStateDir, 'Vault/Store/RegistrationKey');
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { instanceID: string }).instanceID : undefined;
  }

  /** The agent config as the agent decodes it (Go's rules: stubs/agent.mjs decodeConfig). */
  decodedConfig(): { ShareCreds?: unknown; ConsumptionOrder?: string[]; error?: string } {
    return JSON.parse(
      execFileSync(
        process.execPath,
        [join(STUBS, 'agent.mjs'), 'decode', join(this.agentConfigDir, 'amazon-ssm-agent.json')],
        {
          encoding: 'utf8',
        },
      ),
    ) as { ShareCreds?: unknown; ConsumptionOrder?: string[]; error?: string };
  }

  /** A systemd drop-in for the agent's service (/etc/systemd/system/<service>.d/<name>.conf). */
  writeDropIn(text: string, service = 'amazon-ssm-agent.service', name = 'proxy.conf'): void {
    const dir = join(this.stub, 'systemd', `${service}.d`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, name), text);
  }

  /** Writes amazon-ssm-agent.json (or, with template, amazon-ssm-agent.json.template). */
  writeAgentConfig(text: string, template = false): void {
    writeFileSync(join(this.agentConfigDir, `amazon-ssm-agent.json${template ? '.template' : ''}`), text);
  }

  agentConfig(template = false): string | undefined {
    const file = join(this.agentConfigDir, `amazon-ssm-agent.json${template ? '.template' : ''}`);
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }

  /** The instance ID the registration worker recorded as registered, if any. */
  registeredInstance(): string | undefined {
    const file = join(this.stateDir, 'registered-instance');
    return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
  }

  markRegisteredInstance(instanceId: string): void {
    mkdirSync(this.stateDir, { recursive: true });
    writeFileSync(join(this.stateDir, 'registered-instance'), `${instanceId}\n`);
  }

  /** The owner line of the worker lock file; undefined when no worker ever took it. */
  lockOwner(): string | undefined {
    return existsSync(this.lockFile) ? readFileSync(this.lockFile, 'utf8').trim() : undefined;
  }

  /** Holds the worker lock from another process (a live worker) until the returned function is called. */
  holdLock(): () => void {
    mkdirSync(this.stateDir, { recursive: true });
    // flock(1) keeps the lock's descriptor open in the command it runs (unless -o), so the sleep
    // holds the lock too: both go, as a process group, on release.
    const child = spawn('flock', ['-n', this.lockFile, 'sleep', '60'], { stdio: 'ignore', detached: true });
    return () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
  }

  /** Runs `fn` while another process (a live worker) holds the worker lock it has had time to take. */
  async whileLockHeld<T>(fn: () => Promise<T>): Promise<T> {
    const release = this.holdLock();
    try {
      await new Promise((res) => setTimeout(res, 200));
      return await fn();
    } finally {
      release();
    }
  }

  /** Writes the agent's config file, then runs the script. */
  async runWithAgentConfig(script: string, config: string): Promise<RunResult> {
    this.writeAgentConfig(config);
    return this.run(script);
  }

  registration(): string | undefined {
    const file = join(this.agentStateDir, 'registration');
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }

  /** The calls the stubs recorded (calls.log) that start with `prefix`, in order. */
  callsStartingWith(prefix: string): string[] {
    return this.read('calls.log')
      .split('\n')
      .filter((l) => l.startsWith(prefix));
  }

  read(
    name:
      | 'calls.log'
      | 'agent-argv.log'
      | 'worker.out'
      | 'worker.rc'
      | 'config-at-register'
      | 'lock-at-agent'
      | 'identity.log',
  ): string {
    const file = join(this.stub, name);
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  agentState(service = 'amazon-ssm-agent.service'): string {
    const file = join(this.stub, `agent-state-${service}`);
    return existsSync(file) ? readFileSync(file, 'utf8').trim() : 'untouched';
  }

  logText(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /**
   * Runs a script as Run Command would: `sh -c <file>`, so its first line picks the interpreter.
   * Then (unless `detach`) waits until every worker unit it started has ended and the agent has
   * finished starting, so the test sees the outcome.
   */
  async run(
    script: string,
    args: string[] = [],
    extraEnv: Record<string, string> = {},
    { detach = false } = {},
  ): Promise<RunResult> {
    const command = [script, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const result = await new Promise<RunResult>((resolve) => {
      execFile(
        '/bin/sh',
        ['-c', command],
        { env: { ...this.env, ...extraEnv }, timeout: 30_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
    if (!detach) await this.settle();
    return result;
  }

  /** Worker units (systemd-run stub) still running, by name. */
  activeUnits(): string[] {
    const dir = join(this.stub, 'units');
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((u) => !u.startsWith('.') && !existsSync(join(dir, u, 'rc')));
  }

  /** Every worker unit started so far, ended or not, with its exit status and output. */
  unitResults(): { unit: string; rc?: string; out: string }[] {
    const dir = join(this.stub, 'units');
    if (!existsSync(dir)) return [];
    return readdirSync(dir).map((u) => {
      const file = (f: string) =>
        existsSync(join(dir, u, f)) ? readFileSync(join(dir, u, f), 'utf8').trim() : undefined;
      return { unit: u.replace(/^\.done-/, ''), rc: file('rc'), out: file('out') ?? '' };
    });
  }

  /** The main PID of a running worker unit. */
  unitPid(unit: string): number {
    return Number(readFileSync(join(this.stub, 'units', unit, 'pid'), 'utf8'));
  }

  /** Waits until no worker unit runs and no agent start is under way (`gone`: every unit process too). */
  async settle({ gone = false, timeoutMs = 40_000 } = {}): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const busy = () => {
      const dir = join(this.stub, 'units');
      const units = existsSync(dir) ? readdirSync(dir).filter((u) => !u.startsWith('.')) : [];
      return (
        units.some((u) => !existsSync(join(dir, u, gone ? 'gone' : 'rc'))) ||
        readdirSync(this.stub).some((f) => f.startsWith('agent-starting-'))
      );
    };
    while (busy()) {
      if (Date.now() > deadline) throw new Error('the sandbox did not settle: a worker or the agent start hangs');
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  /** Waits until the worker log holds `text`. */
  async logged(text: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.logText().includes(text)) {
      if (Date.now() > deadline) throw new Error(`the log never said: ${text}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  /**
   * Replaces the sandbox's `cp` with one that fails as GNU cp does on a full disk (ENOSPC) when the
   * destination's name matches `destination`: it leaves the half it wrote there and exits 1
   * (coreutils copy.c: a failed write is reported and the partial file is not removed).
   */
  cpFailsHalfWritten(destination: RegExp): void {
    const real = execFileSync('bash', ['-c', 'command -v cp'], { encoding: 'utf8' }).trim();
    const cp = join(this.bin, 'cp');
    rmSync(cp);
    writeFileSync(
      cp,
      [
        '#!/bin/bash',
        'src=${*: -2:1} dst=${*: -1}',
        `if [[ $dst =~ ${destination.source} ]]; then`,
        '  t=$(<"$src"); printf %s "${t:0:${#t}/2}" >"$dst"',
        '  echo "cp: error writing \'$dst\': No space left on device" >&2; exit 1',
        'fi',
        `exec ${real} "$@"`,
      ].join('\n') + '\n',
      { mode: 0o755 },
    );
  }

  /** Waits for a stub to reach `pause_at <step>` (after `flag('pause-<step>')`). */
  async paused(step: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(join(this.stub, `paused-${step}`))) {
      if (Date.now() > deadline) throw new Error(`no stub paused at ${step}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
