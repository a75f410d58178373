// The yardstick for build speed: the same stacks as an AWS CDK app, synthesized by
// aws-cdk-lib in a fresh node process. Each stack takes the generated template whole
// (cloudformation-include), so CDK does no Lambda bundling here: its own cost is loading
// aws-cdk-lib, building the construct tree and synthesizing the cloud assembly. Plain JavaScript,
// like a compiled CDK app, so no TypeScript loader is counted against it.
// usage: node scripts/bench/cdk-synth.mjs <generated dir> <cloud assembly out dir>
import { App, LegacyStackSynthesizer, Stack } from 'aws-cdk-lib';
import { CfnInclude } from 'aws-cdk-lib/cloudformation-include';
import { join } from 'node:path';

const [generated, outdir] = process.argv.slice(2);
if (!generated || !outdir) {
  process.stderr.write('usage: node scripts/bench/cdk-synth.mjs <generated dir> <out dir>\n');
  process.exit(2);
}
const app = new App({ outdir });
for (const name of ['central-manager', 'agency-permissions', 'agency-collector', 'agency-registration']) {
  // The legacy synthesizer adds no bootstrap version parameter or rule: the stacks stay as generated.
  const stack = new Stack(app, name, { synthesizer: new LegacyStackSynthesizer() });
  new CfnInclude(stack, 'Template', { templateFile: join(generated, 'templates', `${name}.json`) });
}
app.synth();
