import { invalidApiKey } from '../domain/errors.js';
import { bearerToken, hashApiKey, looksLikeApiKey } from '../domain/keys.js';
import { TtlCache } from '../domain/ttl-cache.js';
import type { ApiKeyRecord, KeyStore } from '../ports.js';

/** Key lookups are cached for at most 60 s, so a revoked key stops working within 60 s. */
export const MAX_KEY_CACHE_TTL_MS = 60_000;

export class Authenticator {
  private readonly cache: TtlCache<string, ApiKeyRecord | null>;

  constructor(
    private readonly keys: KeyStore,
    ttlMs: number = MAX_KEY_CACHE_TTL_MS,
    now: () => number = Date.now,
  ) {
    this.cache = new TtlCache(Math.min(ttlMs, MAX_KEY_CACHE_TTL_MS), now);
  }

  /** The active key record for an Authorization header, or a 401. */
  authenticate(authorization: string | undefined): Promise<ApiKeyRecord> {
    return this.authenticateKey(bearerToken(authorization));
  }

  /** The active key record for a plaintext key, or a 401. */
  async authenticateKey(key: string | undefined): Promise<ApiKeyRecord> {
    if (!key || !looksLikeApiKey(key)) throw invalidApiKey();
    const hash = hashApiKey(key);
    // Unknown keys are cached too (as null), so guessing costs no storage round trip.
    const record = await this.cache.get(hash, async () => (await this.keys.findByHash(hash)) ?? null);
    if (record?.status !== 'active') throw invalidApiKey();
    return record;
  }
}
