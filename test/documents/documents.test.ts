// The rendered Command documents: valid schema 2.2 and under 64 KB, parameters that cannot
// inject into the scripts, and the schema check itself catching broken documents.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DocumentBuildError,
  deregistrationDocument,
  registrationDocument,
  joinScript,
  compactScript,
  type CommandDocument,
  type DocumentOptions,
} from '../../documents/index.ts';
import { MANAGED_INSTANCE_ID_TAG } from '../../lambda/shared/names.ts';
import { checkSsmDocument, SSM_DOCUMENT_MAX_BYTES } from '../../scripts/lint/ssm-document-schema.ts';
import { Sandbox, startImds, type ImdsFake } from './sandbox.ts';

const OPTS: DocumentOptions = {
  hubRegion: 'eu-west-1',
  activationParameterPath: '/central-hub/activation',
  reservedTagPrefix: 'central-it:',
  managedInstanceIdTagKey: MANAGED_INSTANCE_ID_TAG,
};

const clone = (d: CommandDocument): Record<string, any> => JSON.parse(JSON.stringify(d));
const linuxStep = (d: CommandDocument) => d.mainSteps.find((s) => s.action === 'aws:runShellScript')!;
const windowsStep = (d: CommandDocument) => d.mainSteps.find((s) => s.action === 'aws:runPowerShellScript')!;

/** Substitutes {{ name }} the way the agent does: plain text, no quoting. */
function substitute(lines: string[], values: Record<string, string>): string {
  return lines.map((l) => l.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, n: string) => values[n]!)).join('\n');
}

describe.each([
  ['registration', registrationDocument, 'register-linux.sh', 'register-windows.ps1'],
  ['deregistration', deregistrationDocument, 'deregister-linux.sh', 'deregister-windows.ps1'],
] as const)('the %s document', (_label, build, sh, ps1) => {
  const doc = build(OPTS);

  it('is a valid schema 2.2 Command document under 64 KB', () => {
    expect(checkSsmDocument(doc)).toEqual([]);
    const bytes = Buffer.byteLength(JSON.stringify(doc));
    expect(bytes).toBeLessThan(SSM_DOCUMENT_MAX_BYTES);
    console.log(`${_label} document: ${bytes} bytes as JSON`);
  });

  it('has one Linux shell step and one Windows PowerShell step selected by platformType', () => {
    expect(doc.mainSteps.map((s) => [s.action, s.precondition])).toEqual([
      ['aws:runShellScript', { StringEquals: ['platformType', 'Linux'] }],
      ['aws:runPowerShellScript', { StringEquals: ['platformType', 'Windows'] }],
    ]);
  });

  it('embeds the compacted script files after a short preamble', () => {
    const shLines = compactScript(joinScript(sh));
    const linux = linuxStep(doc).inputs.runCommand.join('\n').split('\n');
    expect(linux[0]).toBe('#!/bin/bash');
    expect(linux.slice(-shLines.length)).toEqual(shLines);
    expect(linux.length - shLines.length).toBeLessThanOrEqual(5);

    const psLines = compactScript(joinScript(ps1));
    const windows = windowsStep(doc).inputs.runCommand.join('\n').split('\n');
    expect(windows.slice(-psLines.length)).toEqual(psLines);
    expect(windows.slice(0, windows.length - psLines.length).every((l) => l.startsWith('$env:SSM_HUB_'))).toBe(true);
  });

  it('compacts away comments, blank lines and indentation but keeps every statement', () => {
    expect(compactScript('#!/bin/bash\n# note\n\n  if true; then\n    echo "a # b"\n  fi\n')).toEqual([
      'if true; then',
      'echo "a # b"',
      'fi',
    ]);
  });

  it('refuses to compact a script with a heredoc, here-string or block comment', () => {
    expect(() => compactScript('cat <<EOF\n  x\nEOF\n')).toThrow('heredoc, here-string or block comment');
    expect(() => compactScript('$s = @"\n  x\n"@\n')).toThrow('heredoc, here-string or block comment');
    expect(() => compactScript('<# help #>\n')).toThrow('heredoc, here-string or block comment');
  });

  it('still parses as PowerShell once compacted', async () => {
    const { parsePowerShell } = await import('../../scripts/lint/powershell.ts');
    const windows = windowsStep(doc).inputs.runCommand.join('\n');
    expect((await parsePowerShell(windows, 'rendered-windows-step')).errors).toEqual([]);
  });

  it('passes the hub Region as a document parameter and the build constants as quoted literals', () => {
    expect(linuxStep(doc).inputs.runCommand.join('\n').split('\n')).toContain(
      "export SSM_HUB_REGION='{{ HubRegion }}'",
    );
    expect(linuxStep(doc).inputs.runCommand.join('\n').split('\n')).toContain(
      "export SSM_HUB_RESERVED_TAG_PREFIX='central-it:'",
    );
    expect(windowsStep(doc).inputs.runCommand.join('\n').split('\n')).toContain(
      "$env:SSM_HUB_MANAGED_INSTANCE_ID_TAG = 'managedinstanceid'",
    );
  });

  it('declares no parameter that could carry a secret', () => {
    for (const name of Object.keys(doc.parameters)) expect(name).not.toMatch(/code|secret|password|key/i);
  });
});

describe('document parameters', () => {
  const doc = registrationDocument(OPTS);

  it('are HubRegion and ActivationParameterPath for registration, HubRegion alone for deregistration', () => {
    expect(Object.keys(doc.parameters)).toEqual(['HubRegion', 'ActivationParameterPath']);
    expect(Object.keys(deregistrationDocument(OPTS).parameters)).toEqual(['HubRegion']);
    for (const p of Object.values(doc.parameters)) expect(p.description.length).toBeGreaterThan(20);
  });

  it('accept real Region names and parameter paths', () => {
    const region = new RegExp(doc.parameters.HubRegion!.allowedPattern);
    for (const r of ['eu-west-1', 'us-gov-west-1', 'ap-southeast-5', 'cn-north-1', 'eu-central-2'])
      expect(region.test(r), r).toBe(true);
    const path = new RegExp(doc.parameters.ActivationParameterPath!.allowedPattern);
    for (const p of ['/central-hub/activation', '/a', '/Org_1/ssm.hub/activation-v2'])
      expect(path.test(p), p).toBe(true);
  });

  it('refuse any value that could break out of the quoted assignment in bash or PowerShell', () => {
    const injections = [
      "eu-west-1'; reboot #",
      'eu-west-1$(id)',
      'eu-west-1`id`',
      'eu-west-1"',
      'eu-west-1\nreboot',
      "/a'b",
      '/a/$(id)',
      '/a;b',
      '/a b',
      '/a/',
    ];
    for (const p of Object.values(doc.parameters)) {
      const re = new RegExp(p.allowedPattern);
      for (const v of injections) expect(re.test(v), `${p.allowedPattern} vs ${JSON.stringify(v)}`).toBe(false);
    }
  });

  it('take CloudFormation intrinsics as defaults, checked once the template resolves them', () => {
    const d = registrationDocument({
      ...OPTS,
      hubRegion: { Ref: 'CentralRegion' },
      activationParameterPath: { Ref: 'ActivationParameterPath' },
    });
    expect(d.parameters.HubRegion!.default).toEqual({ Ref: 'CentralRegion' });
    expect(checkSsmDocument(d, { allowIntrinsicDefaults: true })).toEqual([]);
    expect(checkSsmDocument(d)).toContain('parameters.HubRegion.default: must be a string for a String parameter');
  });

  it('have no default when none is given, so the caller must pass them', () => {
    const d = registrationDocument({ ...OPTS, hubRegion: undefined });
    expect(d.parameters.HubRegion).not.toHaveProperty('default');
    expect(d.parameters.ActivationParameterPath!.default).toBe('/central-hub/activation');
    expect(checkSsmDocument(d)).toEqual([]);
  });

  it('refuse a plain default that its own pattern would refuse', () => {
    expect(() => registrationDocument({ ...OPTS, hubRegion: 'Europe' })).toThrow(DocumentBuildError);
    expect(() => registrationDocument({ ...OPTS, hubRegion: 'Europe' })).toThrow(
      /hubRegion default "Europe" does not match/,
    );
    expect(() => registrationDocument({ ...OPTS, hubRegion: 42 })).toThrow(
      /hubRegion must be a string, a CloudFormation intrinsic or undefined/,
    );
  });

  it('refuse build constants that could end a quoted string or split the CLI tag shorthand', () => {
    for (const bad of ["central'it:", 'central-it$(x)', 'a=b', 'a,b', '']) {
      expect(() => registrationDocument({ ...OPTS, reservedTagPrefix: bad }), bad).toThrow(/reservedTagPrefix must be/);
    }
    expect(() => registrationDocument({ ...OPTS, managedInstanceIdTagKey: 'x"y' })).toThrow(
      /managedInstanceIdTagKey must be/,
    );
  });
});

describe('checkSsmDocument catches a broken document', () => {
  const good = () => clone(registrationDocument(OPTS));

  it('a wrong schemaVersion', () => {
    const d = good();
    d.schemaVersion = '2.0';
    expect(checkSsmDocument(d)).toEqual(['schemaVersion: must be "2.2"']);
  });

  it('a step name with characters SSM refuses, and a duplicate step name', () => {
    const d = good();
    d.mainSteps[0].name = 'Register Linux';
    expect(checkSsmDocument(d)).toEqual(['mainSteps.0.name: must match ^[a-zA-Z0-9_-]+$']);
    const e = good();
    e.mainSteps[1].name = e.mainSteps[0].name;
    expect(checkSsmDocument(e)).toEqual([
      'mainSteps.1.name: "RegisterLinux" is used by another step; names must be unique',
    ]);
  });

  it('a {{ reference }} to an undeclared parameter, but not {{ssm:…}}', () => {
    const d = good();
    d.mainSteps[0].inputs.runCommand.push('echo {{ ActivationCode }}', 'echo {{ssm:/some/string}}');
    const n = d.mainSteps[0].inputs.runCommand.length;
    expect(checkSsmDocument(d)).toEqual([
      `mainSteps.0.inputs.runCommand.${n - 2}: {{ ActivationCode }} does not name a declared parameter`,
    ]);
  });

  it('an unknown action, a misspelt key, a bad parameter type and a wrong platform', () => {
    const d = good();
    d.mainSteps[0].action = 'aws:runDocument';
    d.mainSteps[1].inputs.runCommands = d.mainSteps[1].inputs.runCommand;
    d.parameters.HubRegion.type = 'Text';
    const problems = checkSsmDocument(d);
    expect(problems.some((p) => p.startsWith('mainSteps.0.action:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('mainSteps.1.inputs:') && p.includes('runCommands'))).toBe(true);
    expect(problems.some((p) => p.startsWith('parameters.HubRegion.type:'))).toBe(true);
    const w = good();
    w.mainSteps[1].precondition.StringEquals[1] = 'Linux';
    expect(checkSsmDocument(w)).toEqual([
      'mainSteps.1.precondition: aws:runPowerShellScript runs on Windows, not Linux',
    ]);
  });

  it('a document over 64 KB', () => {
    const d = good();
    d.mainSteps[0].inputs.runCommand.push(`# ${'x'.repeat(SSM_DOCUMENT_MAX_BYTES)}`);
    expect(checkSsmDocument(d)[0]).toMatch(/^\(root\): the document is \d+ bytes as JSON; SSM accepts at most 65536$/);
  });

  it('a default that does not match its allowedPattern', () => {
    const d = good();
    d.parameters.HubRegion.default = 'moon-base-1a';
    expect(checkSsmDocument(d)).toEqual([
      'parameters.HubRegion.default: "moon-base-1a" does not match allowedPattern ^[a-z]{2}(-[a-z]+)+-\\d+$',
    ]);
  });
});

describe('the rendered Linux step, run the way the agent runs it', () => {
  let imds: ImdsFake;
  let s: Sandbox;
  beforeAll(async () => {
    imds = await startImds('i-0fedcba9876543210', 'us-west-2');
  });
  afterAll(async () => {
    s?.cleanup();
    await imds.close();
  });

  it('registers the instance with the Region given as the document parameter', async () => {
    s = new Sandbox({
      imdsEndpoint: imds.endpoint,
      instanceId: 'i-0fedcba9876543210',
      instanceRegion: 'us-west-2',
      hubRegion: 'unused',
    });
    s.setParameter('/agency/activation/id', '11111111-2222-4333-8444-555555555555');
    s.setParameter('/agency/activation/code', 'CodeFromParameterStore1');
    // Only the sandbox overrides stay in the environment; the hub settings come from the document.
    for (const k of [
      'SSM_HUB_REGION',
      'SSM_HUB_ACTIVATION_PARAMETER_PATH',
      'SSM_HUB_RESERVED_TAG_PREFIX',
      'SSM_HUB_MANAGED_INSTANCE_ID_TAG',
    ]) {
      delete s.env[k];
    }
    const file = join(s.root, '_script.sh');
    writeFileSync(
      file,
      substitute(linuxStep(registrationDocument(OPTS)).inputs.runCommand, {
        HubRegion: 'ca-central-1',
        ActivationParameterPath: '/agency/activation',
      }),
    );
    chmodSync(file, 0o700);
    const r = await s.run(file);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(s.read('worker.rc').trim()).toBe('0');
    expect(s.read('agent-argv.log').trim()).toBe(
      '-register -y -code CodeFromParameterStore1 -id 11111111-2222-4333-8444-555555555555 -region ca-central-1',
    );
    expect(s.tags()).toEqual({ managedinstanceid: s.mi });
  });
});
