// The SSM Agent's start, as far as the registration scripts can observe it (github
// aws/amazon-ssm-agent). Run by the systemctl stub, detached, after `systemctl start` has already
// returned 0 (the unit is Type=simple: packaging/linux/amazon-ssm-agent.service).
//   node agent.mjs start <service> <generation>   the agent starting
//   node agent.mjs decode <file>                  the config as the agent decodes it (for tests)
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** JSON.parse that keeps every member, duplicates included, in order: [key, value] pairs. */
function parse(text) {
  let i = 0;
  const ws = () => {
    while (/\s/.test(text[i] ?? '')) i++;
  };
  const fail = () => {
    throw new SyntaxError(`invalid JSON at offset ${i}`);
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const members = [];
      ws();
      if (text[i] === '}') return (i++, { members });
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const key = value();
        ws();
        if (text[i++] !== ':') fail();
        members.push([key, value()]);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return (i++, { members });
        else fail();
      }
    }
    if (c === '[') {
      i++;
      const items = [];
      ws();
      if (text[i] === ']') return (i++, items);
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return (i++, items);
        else fail();
      }
    }
    // A scalar: JSON.parse judges it (it refuses what Go refuses: NaN, trailing commas, ...).
    const m = /^("(?:[^"\\\u0000-\u001f]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (!m) fail();
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const v = value();
  ws();
  if (i !== text.length) fail();
  return v;
}

/**
 * The value Go's encoding/json leaves in a struct field at `path` (agent/jsonutil UnmarshalFile,
 * appconfig.go Config): members are decoded in order into the same struct, names match
 * case-insensitively, so the last matching member wins and nested objects merge.
 */
function goField(node, path) {
  if (path.length === 0) return { found: true, value: node };
  let out = { found: false };
  for (const [k, v] of node?.members ?? []) {
    if (k.toLowerCase() !== path[0].toLowerCase()) continue;
    const r = goField(v, path.slice(1));
    if (r.found) out = r;
  }
  return out;
}

/** The agent config as the agent decodes it, or { error } when it cannot (bootstrap.go: no start). */
export function decodeConfig(file) {
  if (!existsSync(file)) return { ShareCreds: true, ConsumptionOrder: DEFAULT_ORDER };
  let root;
  try {
    root = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    return { error: String(e) };
  }
  if (!root?.members) return { error: 'not an object' };
  const share = goField(root, ['Profile', 'ShareCreds']);
  const order = goField(root, ['Identity', 'ConsumptionOrder']);
  // appconfig_parser.go: unknown names dropped; none left = the default (constants.go).
  const valid = (order.found && Array.isArray(order.value) ? order.value : []).filter((n) => NAMES.includes(n));
  return { ShareCreds: share.found ? share.value : true, ConsumptionOrder: valid.length ? valid : DEFAULT_ORDER };
}

const NAMES = ['OnPrem', 'ECS', 'EC2', 'CustomIdentity'];
const DEFAULT_ORDER = ['OnPrem', 'EC2', 'CustomIdentity'];

function start(service, generation) {
  const state = process.env.STUB_STATE;
  const agentDir = process.env.SSM_HUB_AGENT_STATE_DIR;
  const confDir = process.env.SSM_HUB_AGENT_CONFIG_DIR;
  const stateFile = join(state, `agent-state-${service}`);
  const current = () => readFileSync(join(state, `agent-gen-${service}`), 'utf8').trim() === generation;
  try {
    if (!current()) return;
    const config = decodeConfig(join(confDir, 'amazon-ssm-agent.json'));
    // core/app/bootstrap/bootstrap.go Init: a config that does not decode stops the start; systemd's
    // Restart= keeps retrying, never reaching an identity.
    if (config.error) {
      writeFileSync(stateFile, 'failed\n');
      return;
    }
    // OnPrem is available when the vault (through its manifest: fsvault.go Retrieve) holds an ID,
    // a Region and a private key (registration/instance_info.go HasManagedInstancesCredentials).
    let vault = {};
    try {
      const manifest = JSON.parse(readFileSync(join(agentDir, 'Vault/Manifest'), 'utf8'));
      if (manifest.RegistrationKey)
        vault = JSON.parse(readFileSync(join(agentDir, 'Vault/Store/RegistrationKey'), 'utf8'));
    } catch {
      vault = {};
    }
    const available = {
      OnPrem: Boolean(vault.instanceID && vault.region && vault.privateKey) && { id: vault.instanceID },
      EC2: { id: process.env.STUB_INSTANCE_ID },
    };
    // common/identity/identity_selector.go: the first available identity in ConsumptionOrder;
    // none available: the agent cannot start.
    const type = config.ConsumptionOrder.find((t) => available[t]);
    if (!current()) return;
    // Flag agent-crashes-onprem: the agent dies once it has taken the OnPrem identity (a crash
    // loop under the new registration; the instance's own identity still works).
    if (!type || (type === 'OnPrem' && existsSync(join(state, 'agent-crashes-onprem')))) {
      writeFileSync(stateFile, 'failed\n');
      return;
    }
    mkdirSync(join(agentDir, 'runtimeconfig'), { recursive: true });
    // common/runtimeconfig/identity_runtimeconfig.go IdentityRuntimeConfig, saved at each start
    // (core/app/runtimeconfiginit).
    writeFileSync(
      join(agentDir, 'runtimeconfig/identity_config.json'),
      JSON.stringify({
        SchemaVersion: '1.1',
        InstanceId: available[type].id,
        IdentityType: type,
        ShareFile: '',
        ShareProfile: '',
      }),
    );
    writeFileSync(join(state, 'identity.log'), `${type} ${available[type].id}\n`, { flag: 'a' });
  } finally {
    rmSync(join(state, `agent-starting-${service}-${generation}`), { force: true });
  }
}

const [, , cmd, a, b] = process.argv;
if (cmd === 'decode') process.stdout.write(JSON.stringify(decodeConfig(a)));
// The systemctl stub marked agent-starting-<service>-<generation> before it launched this.
if (cmd === 'start') setTimeout(() => start(a, b), 200);
