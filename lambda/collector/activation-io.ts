// Reads and writes the agency's activation parameters (SecureString, default aws/ssm key).
// Values pass through here and are never logged.
import { GetParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';

let client: SSMClient | undefined;
const ssm = (): SSMClient => (client ??= new SSMClient({ retryMode: 'adaptive', maxAttempts: 6 }));

/** Current decrypted values by name; a missing parameter is simply absent. */
export async function readParameters(names: string[]): Promise<Record<string, string>> {
  const out = await ssm().send(new GetParametersCommand({ Names: names, WithDecryption: true }));
  const values: Record<string, string> = {};
  for (const p of out.Parameters ?? []) if (p.Name && p.Value !== undefined) values[p.Name] = p.Value;
  return values;
}

export async function writeSecureParameter(name: string, value: string): Promise<void> {
  await ssm().send(new PutParameterCommand({ Name: name, Value: value, Type: 'SecureString', Overwrite: true }));
}
