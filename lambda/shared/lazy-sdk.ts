// One SDK module and its client, loaded and created on first use (then reused): a run that never
// calls the service does not pay for loading it, and the environment (endpoint overrides in
// tests) is read after the handler module has loaded.
export function lazySdk<Sdk, Client>(
  load: () => Promise<Sdk>,
  create: (sdk: Sdk) => Client,
): () => Promise<{ sdk: Sdk; client: Client }> {
  let loaded: Promise<{ sdk: Sdk; client: Client }> | undefined;
  return () => (loaded ??= load().then((sdk) => ({ sdk, client: create(sdk) })));
}
