import { ENV, optionalEnv } from '../config.js';

/**
 * The upstream API key: from Secrets Manager in AWS (fetched once per instance, then cached),
 * from `UPSTREAM_API_KEY` locally. A failed fetch is not cached, so the next request retries.
 */
let cached: Promise<string | undefined> | undefined;

export function upstreamApiKey(): Promise<string | undefined> {
  cached ??= loadKey().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

async function loadKey(): Promise<string | undefined> {
  const secretArn = optionalEnv(ENV.upstreamApiKeySecretArn);
  if (!secretArn) return optionalEnv(ENV.upstreamApiKey);
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const out = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretArn }));
  const value = out.SecretString?.trim();
  if (!value) throw new Error('The upstream API key secret is empty');
  return value;
}
