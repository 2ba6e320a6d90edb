import { invalidApiKey } from '../domain/errors.js';
import { bearerToken, hashApiKey, looksLikeApiKey } from '../domain/keys.js';
import { TtlCache } from '../domain/ttl-cache.js';
import type { ApiKeyRecord, KeyStore } from '../ports.js';

/** Key lookups are cached for at most 60 s, so a revoked key stops working within 60 s. */
export const MAX_KEY_CACHE_TTL_MS = 60_000;
/** Stored keys cached per instance. */
export const KEY_CACHE_ENTRIES = 10_000;
/** Unknown keys cached per instance: their own, smaller cache, so guessing never evicts a real key. */
export const UNKNOWN_KEY_CACHE_ENTRIES = 1_000;

/** Thrown by a lookup that found no key: failed loads are not cached, so it never enters `found`. */
class UnknownKey extends Error {}

export class Authenticator {
  private readonly found: TtlCache<string, ApiKeyRecord>;
  private readonly unknown: TtlCache<string, true>;

  constructor(
    private readonly keys: KeyStore,
    ttlMs: number = MAX_KEY_CACHE_TTL_MS,
    now: () => number = Date.now,
  ) {
    const ttl = Math.min(ttlMs, MAX_KEY_CACHE_TTL_MS);
    this.found = new TtlCache(ttl, now, KEY_CACHE_ENTRIES);
    this.unknown = new TtlCache(ttl, now, UNKNOWN_KEY_CACHE_ENTRIES);
  }

  /** The active key record for an Authorization header, or a 401. */
  authenticate(authorization: string | undefined): Promise<ApiKeyRecord> {
    return this.authenticateKey(bearerToken(authorization));
  }

  /** The active key record for a plaintext key, or a 401. */
  async authenticateKey(key: string | undefined): Promise<ApiKeyRecord> {
    if (!key || !looksLikeApiKey(key)) throw invalidApiKey();
    const hash = hashApiKey(key);
    // Unknown keys are remembered too, so repeating a guess costs no storage round trip.
    if (this.unknown.peek(hash)) throw invalidApiKey();
    let record: ApiKeyRecord;
    try {
      record = await this.found.get(hash, async () => {
        const stored = await this.keys.findByHash(hash);
        if (!stored) throw new UnknownKey();
        return stored;
      });
    } catch (err) {
      if (!(err instanceof UnknownKey)) throw err;
      this.unknown.set(hash, true);
      throw invalidApiKey();
    }
    if (record.status !== 'active') throw invalidApiKey();
    return record;
  }
}
