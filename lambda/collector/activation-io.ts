// Reads and writes the agency's activation parameters (SecureString, default aws/ssm key).
// Values pass through here and are never logged. The SDK client is loaded on first use: only a
// reconcile run needs it.
import { lazySdk } from '../shared/lazy-sdk.ts';
import { nameTimeouts, timeoutOptions } from '../shared/timeouts.ts';

const ssm = lazySdk(
  () => import('@aws-sdk/client-ssm'),
  (sdk) => nameTimeouts(new sdk.SSMClient({ retryMode: 'adaptive', maxAttempts: 6, ...timeoutOptions() }), 'SSM'),
);

/** Current decrypted values by name; a missing parameter is simply absent. */
export async function readParameters(names: string[]): Promise<Record<string, string>> {
  const { sdk, client } = await ssm();
  const out = await client.send(new sdk.GetParametersCommand({ Names: names, WithDecryption: true }));
  const values: Record<string, string> = {};
  for (const p of out.Parameters ?? []) if (p.Name && p.Value !== undefined) values[p.Name] = p.Value;
  return values;
}

export async function writeSecureParameter(name: string, value: string): Promise<void> {
  const { sdk, client } = await ssm();
  await client.send(new sdk.PutParameterCommand({ Name: name, Value: value, Type: 'SecureString', Overwrite: true }));
}
