import { sdkRequestHandler, withoutSdkLogging } from '../adapters/sdk-client.js';
import type { SecretSource } from '../config.js';
import { TtlCache } from '../domain/ttl-cache.js';

/** Reads a secret's current value, e.g. from Secrets Manager. */
export type FetchSecret = (secretArn: string) => Promise<string>;

/**
 * A secret read from Secrets Manager in AWS (or given as a plain value locally), cached for at
 * most `maxAgeMs` so a `put-secret-value` reaches every instance without a redeploy. A failed
 * read is not cached: the next call tries again.
 */
export interface SecretProvider {
  get(): Promise<string | undefined>;
  /** Drops the cached value: the next `get` reads the secret again. */
  invalidate(): void;
  /** Reads the secret now and caches the result. */
  refresh(): Promise<string | undefined>;
  /**
   * The upstream refused `usedValue` (a 401): reads the secret again, once, and resolves true
   * when the value is now a different one, so the caller may retry with it. Concurrent calls
   * share one read, and forced reads are at most one per `minForcedRefreshMs`, so a key that
   * is simply wrong does not turn every request into a Secrets Manager call.
   */
  onUnauthorized(usedValue: string | undefined): Promise<boolean>;
}

export interface SecretProviderOptions {
  maxAgeMs: number;
  /** Default: GetSecretValue with the process's Secrets Manager client. */
  fetchSecret?: FetchSecret;
  /** Default 10 s. */
  minForcedRefreshMs?: number;
  now?: () => number;
}

const VALUE = 'value';

export function createSecretProvider(source: SecretSource, options: SecretProviderOptions): SecretProvider {
  if (!('secretArn' in source)) {
    const value = source.value;
    return {
      get: async () => value,
      invalidate: () => {},
      refresh: async () => value,
      onUnauthorized: async () => false,
    };
  }
  const { secretArn } = source;
  const now = options.now ?? Date.now;
  const fetchSecret = options.fetchSecret ?? getSecretValue;
  const minForcedRefreshMs = options.minForcedRefreshMs ?? 10_000;
  const cache = new TtlCache<typeof VALUE, string>(options.maxAgeMs, now, 1);
  // The value most recently read, to tell whether a 401 was for a value already replaced.
  let latest: string | undefined;
  let forced: Promise<boolean> | undefined;
  let lastForcedAt = Number.NEGATIVE_INFINITY;

  const load = async (): Promise<string> => {
    const value = (await fetchSecret(secretArn)).trim();
    if (!value) throw new Error('The secret is empty');
    latest = value;
    return value;
  };
  const get = () => cache.get(VALUE, load);
  const invalidate = () => cache.delete(VALUE);
  const refresh = () => {
    invalidate();
    return get();
  };
  return {
    get,
    invalidate,
    refresh,
    onUnauthorized(usedValue) {
      if (latest !== undefined && latest !== usedValue) return Promise.resolve(true);
      if (forced) return forced;
      if (now() - lastForcedAt < minForcedRefreshMs) return Promise.resolve(false);
      lastForcedAt = now();
      forced = refresh()
        .then(
          (value) => value !== usedValue,
          () => false,
        )
        .finally(() => {
          forced = undefined;
        });
      return forced;
    },
  };
}

let client: { send(command: unknown): Promise<{ SecretString?: string }> } | undefined;

/** GetSecretValue with one Secrets Manager client per process, loaded on first use. */
async function getSecretValue(secretArn: string): Promise<string> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  client ??= withoutSdkLogging(
    new SecretsManagerClient({ requestHandler: sdkRequestHandler() }),
  ) as unknown as NonNullable<typeof client>;
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
  return out.SecretString ?? '';
}
