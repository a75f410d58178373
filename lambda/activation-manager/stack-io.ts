// The one CloudFormation call the activation manager makes: is the stack that owns an agency's
// activation record still there? The client is created on first use (AWS_ENDPOINT_URL_CLOUDFORMATION
// in tests is read after the handler is loaded).
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import type { CallOptions } from './ssm-io.ts';
import { nameTimeouts, timeoutOptions } from '../shared/timeouts.ts';

let client: CloudFormationClient | undefined;

/**
 * The status of a stack named by its stack ID, or 'gone' when CloudFormation no longer knows it.
 * CloudFormation API reference, DescribeStacks: given the unique stack ID, a deleted stack is still
 * described (StackStatus DELETE_COMPLETE, kept 90 days); a stack it does not know is a
 * ValidationError "Stack with id … does not exist".
 */
export async function stackStatus(stackId: string, opts: CallOptions = {}): Promise<string> {
  client ??= nameTimeouts(
    new CloudFormationClient({ retryMode: 'adaptive', maxAttempts: 6, ...timeoutOptions() }),
    'CloudFormation',
  );
  try {
    const out = await client.send(new DescribeStacksCommand({ StackName: stackId }), opts);
    return out.Stacks?.find((s) => s.StackId === stackId)?.StackStatus ?? 'gone';
  } catch (err) {
    if (err instanceof Error && err.name === 'ValidationError' && /does not exist/.test(err.message)) return 'gone';
    throw err;
  }
}
