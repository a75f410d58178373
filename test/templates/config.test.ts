import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBuildConfig, parseBuildConfig } from '../../templates-src/config.ts';

const good = JSON.parse(readFileSync(new URL('../../build.config.json', import.meta.url), 'utf8'));
const today = new Date('2026-11-26T00:00:00Z');
const withChange = (path: string[], value: unknown) => {
  const copy = structuredClone(good);
  let cur = copy;
  for (const p of path.slice(0, -1)) cur = cur[p];
  cur[path.at(-1)!] = value;
  return copy;
};

describe('build configuration', () => {
  it('accepts the committed build.config.json', () => {
    expect(parseBuildConfig(good, 'build.config.json', today).namePrefix).toBe('ssm-hub');
  });
  it.each([
    [['namePrefix'], 'Bad_Prefix', 'namePrefix: must be 2–24 lowercase letters'],
    [['runtime'], 'nodejs16.x', 'runtime: must be one of nodejs18.x, nodejs20.x, nodejs22.x, nodejs24.x'],
    [['runtime'], 'nodejs20.x', 'runtime: nodejs20.x was deprecated on 2026-04-30; use one of nodejs22.x, nodejs24.x'],
    [['reservedTagPrefix'], 'aws:hub:', 'reservedTagPrefix: must not start with aws:'],
    [['reservedTagPrefix'], 'hub#', 'reservedTagPrefix: must use only the characters SSM allows in tag keys'],
    [['reconcileSchedule'], 'every hour', 'reconcileSchedule: must be an EventBridge schedule expression'],
    [['activation', 'registrationLimit'], 1001, 'activation.registrationLimit'],
    [['activation', 'expiryDays'], 31, 'activation.expiryDays'],
    [
      ['activation'],
      { ...good.activation, expiryDays: 7, rotateDaysBeforeExpiry: 7 },
      'activation.rotateDaysBeforeExpiry: must be smaller than activation.expiryDays',
    ],
    [
      ['agencyActivationParameterPath'],
      '/ssm/activation',
      'agencyActivationParameterPath: must not start with /aws or /ssm',
    ],
    [['agencyActivationParameterPath'], 'no-slash', 'agencyActivationParameterPath: must be a Parameter Store path'],
    [['logRetentionDays'], 42, 'logRetentionDays'],
    [
      ['lifecycle', 'membership', 'accounts'],
      Array.from({ length: 51 }, (_, i) => String(100000000000 + i)),
      'lifecycle.membership.accounts: must name at most 50 accounts',
    ],
    [
      ['lifecycle', 'membership', 'organizationalUnits'],
      Array.from({ length: 33 }, (_, i) => `ou-ab12-${String(10000000 + i)}`),
      'lifecycle.membership.organizationalUnits: must be at most 540 characters',
    ],
    [['unknownSetting'], true, 'Unrecognized key'],
  ])('names the field when %j is %j', (path, value, message) => {
    expect(() => parseBuildConfig(withChange(path as string[], value), 'build.config.json', today)).toThrow(
      message as string,
    );
  });
  it('accepts 50 membership accounts and 31 OU IDs, the most the fleet lifecycle environment holds', () => {
    const ids = Array.from({ length: 50 }, (_, i) => String(100000000000 + i));
    const ous = Array.from({ length: 31 }, (_, i) => `ou-ab12-${String(10000000 + i)}`);
    const cfg = withChange(['lifecycle', 'membership'], {
      ...good.lifecycle.membership,
      accounts: ids,
      organizationalUnits: ous,
    });
    expect(parseBuildConfig(cfg, 'build.config.json', today).lifecycle.membership.accounts).toHaveLength(50);
  });
  it('reports a file that is not JSON with its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{ nope');
    expect(() => loadBuildConfig(file, today)).toThrow(`${file} is not valid JSON`);
    expect(() => loadBuildConfig(join(dir, 'missing.json'), today)).toThrow('cannot read build configuration');
  });
});
