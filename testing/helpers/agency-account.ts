// The agency account's side of a test that runs an agency and the hub in one process: its EC2,
// Lambda and Parameter Store fakes, and the SSM router that sends its Parameter Store calls to
// its own fake and every other SSM call to the hub's.
import type { Server } from 'node:http';
import { Ec2Fake } from '../fakes/ec2-fake.ts';
import { LambdaFake } from '../fakes/lambda-fake.ts';
import { SsmParametersFake } from '../fakes/ssm-parameters-fake.ts';
import { startSsmRouter } from './ssm-router.ts';

export class AgencyAccount {
  readonly ec2 = new Ec2Fake();
  readonly lambda = new LambdaFake();
  readonly params = new SsmParametersFake();
  private router: { url: string; server: Server } | undefined;

  /** Starts every fake; the endpoints the agency's collector is to use. */
  async start(hubSsmEndpoint: string): Promise<{ ssm: string; ec2: string; lambda: string }> {
    this.router = await startSsmRouter(await this.params.start(), hubSsmEndpoint);
    return { ssm: this.router.url, ec2: await this.ec2.start(), lambda: await this.lambda.start() };
  }

  async stop(): Promise<void> {
    const router = this.router;
    await Promise.all([
      this.ec2.stop(),
      this.lambda.stop(),
      this.params.stop(),
      new Promise((r) => (router ? router.server.close(r) : r(undefined))),
    ]);
  }
}
