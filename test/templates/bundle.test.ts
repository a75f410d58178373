// The tests load each Lambda through bundleLambda(); the build inlines bundleAllLambdas(). Both
// must give the same bytes, or the tests would not be testing what ships.
import { describe, expect, it } from 'vitest';
import {
  bundleAllLambdas,
  bundleLambda,
  LAMBDA_ENTRIES,
  PROJECT_ROOT,
  type LambdaName,
} from '../../scripts/build/bundle.ts';

describe('Lambda bundles', () => {
  it('are byte-identical whether built alone (tests) or together (the build), and repeatable', async () => {
    const together = await bundleAllLambdas();
    const again = await bundleAllLambdas();
    for (const name of Object.keys(LAMBDA_ENTRIES) as LambdaName[]) {
      expect(await bundleLambda(name), name).toBe(together[name]);
      expect(again[name], name).toBe(together[name]);
    }
  });
  it('leave the AWS SDK to the runtime and hold no absolute path of this machine', async () => {
    const all = await bundleAllLambdas();
    for (const code of Object.values(all)) {
      expect(code).toMatch(/require\("@aws-sdk\/client-ssm"\)/);
      expect(code).not.toContain(PROJECT_ROOT);
      expect(code).not.toContain('node_modules');
    }
  });
});
