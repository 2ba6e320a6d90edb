import { createCipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isTransactionConflict, retryOnConflict } from '../../shared/adapters/dynamodb/client.js';
import { bearerToken, generateApiKey, hashApiKey, looksLikeApiKey } from '../../shared/domain/keys.js';
import { ToolCallIds } from '../../shared/domain/tool-call-ids.js';
import { TtlCache } from '../../shared/domain/ttl-cache.js';
import { Authenticator } from '../../shared/gateway/auth.js';
import type { ApiKeyRecord } from '../../shared/ports.js';

describe('TTL cache', () => {
  it('expires entries after the TTL and shares one load between concurrent misses', async () => {
    let now = 0;
    let loads = 0;
    const cache = new TtlCache<string, number>(30_000, () => now);
    const load = async () => ++loads;
    expect(await Promise.all([cache.get('k', load), cache.get('k', load)])).toEqual([1, 1]);
    now = 20_000;
    expect(await cache.get('k', load)).toBe(1);
    now = 30_000;
    expect(await cache.get('k', load)).toBe(2); // never older than the TTL
    expect(loads).toBe(2);
  });

  it('reloads in the background near the end of an entry life, without making the reader wait', async () => {
    let now = 0;
    let loads = 0;
    let release: (() => void) | undefined;
    const cache = new TtlCache<string, number>(10_000, () => now);
    const slowLoad = () =>
      new Promise<number>((resolve) => {
        loads++;
        release = () => resolve(loads);
      });
    const first = cache.get('k', slowLoad);
    release?.();
    expect(await first).toBe(1);
    now = 8_500; // last fifth: served at once, one reload starts
    expect(await cache.get('k', slowLoad)).toBe(1);
    expect(await cache.get('k', slowLoad)).toBe(1);
    await new Promise((r) => setImmediate(r)); // the reload starts after the I/O already due
    expect(loads).toBe(2);
    release?.();
    await new Promise((r) => setTimeout(r, 0));
    now = 12_000; // the first value would be stale now; the reloaded one is fresh
    expect(await cache.get('k', slowLoad)).toBe(2);
    expect(loads).toBe(2);
  });

  it('starts a reload ahead of expiry only after the I/O already due, and a miss at once', async () => {
    let now = 0;
    let loads = 0;
    const cache = new TtlCache<string, number>(1_000, () => now);
    const load = async () => ++loads;
    const cold = cache.get('k', load);
    expect(loads).toBe(1); // a miss waits for nothing
    await cold;
    now = 900;
    expect(await cache.get('k', load)).toBe(1);
    expect(loads).toBe(1); // the request's own calls go out first
    await new Promise((r) => setImmediate(r));
    expect(loads).toBe(2);
  });

  it('does not cache failures', async () => {
    const cache = new TtlCache<string, number>(1000);
    await expect(cache.get('k', async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(await cache.get('k', async () => 5)).toBe(5);
  });
});

describe('API keys', () => {
  it('generates prefixed random keys and stores only their SHA-256', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a).not.toBe(b);
    expect(a.startsWith('tg-') && looksLikeApiKey(a)).toBe(true);
    expect(hashApiKey(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(looksLikeApiKey(`${a}x`)).toBe(false);
    expect(bearerToken(`Bearer ${a}`)).toBe(a);
    expect(bearerToken('Basic abc')).toBeUndefined();
  });

  it('stops accepting a revoked key once the cached record expires (at most 60 s)', async () => {
    let now = 0;
    const key = generateApiKey();
    const record: ApiKeyRecord = { keyId: 'k1', accountId: 'a1', status: 'active' };
    let lookups = 0;
    const auth = new Authenticator(
      {
        findByHash: async (hash) => {
          lookups++;
          return hash === hashApiKey(key) ? { ...record } : undefined;
        },
      },
      120_000, // asks for more than the cap: capped at 60 s
      () => now,
    );
    expect((await auth.authenticate(`Bearer ${key}`)).keyId).toBe('k1');
    record.status = 'revoked';
    now = 59_999;
    expect((await auth.authenticate(`Bearer ${key}`)).keyId).toBe('k1');
    now = 60_000;
    await expect(auth.authenticate(`Bearer ${key}`)).rejects.toMatchObject({
      status: 401,
      code: 'invalid_api_key',
    });
    await expect(auth.authenticate('Bearer tg-short')).rejects.toMatchObject({ status: 401 });
    await expect(auth.authenticate(undefined)).rejects.toMatchObject({ status: 401 });
    expect(lookups).toBe(2); // malformed keys never reach storage
  });
});

describe('API key cache refresh', () => {
  it('starts a reload ahead of expiry only after the I/O already due, never a cold lookup', async () => {
    let now = 0;
    const key = generateApiKey();
    let lookups = 0;
    const auth = new Authenticator(
      {
        findByHash: async () => {
          lookups++;
          return { keyId: 'k1', accountId: 'a1', status: 'active' };
        },
      },
      1_000,
      () => now,
    );
    const cold = auth.authenticateKey(key);
    expect(lookups).toBe(1); // a miss waits for nothing
    await cold;
    now = 900; // in the last fifth of the entry's life: served from the cache, reloaded behind it
    expect((await auth.authenticateKey(key)).keyId).toBe('k1');
    await new Promise((resolve) => process.nextTick(resolve));
    expect(lookups).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lookups).toBe(2);
  });
});

describe('API key cache under a flood of unknown keys', () => {
  it('never evicts a valid key, and still answers a repeated unknown key from its own cache', async () => {
    const valid = generateApiKey();
    const validHash = hashApiKey(valid);
    const lookups = new Map<string, number>();
    const auth = new Authenticator({
      findByHash: async (hash) => {
        lookups.set(hash, (lookups.get(hash) ?? 0) + 1);
        return hash === validHash ? { keyId: 'k1', accountId: 'a1', status: 'active' } : undefined;
      },
    });
    expect((await auth.authenticate(`Bearer ${valid}`)).keyId).toBe('k1');

    const flood = 50_000; // five times the key cache: one shared cache would have evicted the valid key
    let refused = 0;
    for (let i = 0; i < flood; i++) {
      await auth.authenticate(`Bearer ${generateApiKey()}`).catch((err: { status?: number }) => {
        if (err.status === 401) refused++;
      });
    }
    expect(refused).toBe(flood);
    expect(lookups.size).toBe(flood + 1);

    expect((await auth.authenticate(`Bearer ${valid}`)).keyId).toBe('k1');
    expect(lookups.get(validHash)).toBe(1); // served from the cache

    const guess = generateApiKey();
    for (let i = 0; i < 3; i++) {
      await expect(auth.authenticate(`Bearer ${guess}`)).rejects.toMatchObject({ status: 401 });
    }
    expect(lookups.get(hashApiKey(guess))).toBe(1);
  });
});

describe('transaction conflicts', () => {
  const conflict = () =>
    Object.assign(new Error('cancelled'), {
      name: 'TransactionCanceledException',
      CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }],
    });
  const conditionFailed = () =>
    Object.assign(new Error('cancelled'), {
      name: 'TransactionCanceledException',
      CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'TransactionConflict' }],
    });

  it('retries a transaction that lost a conflict, and nothing else', async () => {
    let calls = 0;
    expect(
      await retryOnConflict(async () => {
        calls++;
        if (calls < 3) throw conflict();
        return 'done';
      }),
    ).toBe('done');
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      retryOnConflict(async () => {
        calls++;
        throw conditionFailed();
      }),
    ).rejects.toThrow('cancelled');
    expect(calls).toBe(1); // a failed condition is an answer, not a race
    expect(isTransactionConflict(conflict())).toBe(true);
    expect(isTransactionConflict(conditionFailed())).toBe(false);
  });
});

describe('tool-call ids', () => {
  const ids = new ToolCallIds('secret');

  it('seals upstream ids into opaque call_ ids and opens them again', () => {
    const sealed = ids.seal('toolu_01A09q90qw90lq917835lq9');
    expect(sealed).toMatch(/^call_[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('toolu');
    expect(ids.open(sealed)).toBe('toolu_01A09q90qw90lq917835lq9');
    expect(new ToolCallIds('other secret').open(sealed)).toBe(sealed); // another key cannot open it
  });

  it('seals ids of any length up to 63 bytes to one length, and opens them exactly', () => {
    const upstream = [5, 24, 40, 60, 63].map((n) => `id_${'x'.repeat(n - 3)}`.slice(0, n));
    upstream.push('toolu_01A09q90qw90lq917835lq9', 'call_abc', 'tool_0_get_weather_\u00e9\u0000\u0080');
    const sealed = upstream.map((id) => ids.seal(id));
    expect(new Set(sealed.map((s) => s.length)).size).toBe(1);
    expect(sealed.map((s) => ids.open(s))).toEqual(upstream);
  });

  it('seals longer ids to steps of one length too, and opens them exactly', () => {
    const long = [64, 100, 255].map((n) => 'L'.repeat(n));
    const sealed = long.map((id) => ids.seal(id));
    expect(new Set(sealed.map((s) => s.length)).size).toBe(1);
    expect(sealed.map((s) => ids.open(s))).toEqual(long);
    const longer = 'M'.repeat(300);
    expect(ids.open(ids.seal(longer))).toBe(longer);
  });

  it('still opens ids sealed before padding', () => {
    const key = createHash('sha256').update('tiergate tool-call ids\0').update('secret').digest();
    const iv = Buffer.alloc(12, 7);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([
      iv,
      cipher.update('toolu_legacy', 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    expect(ids.open(`call_${body.toString('base64url')}`)).toBe('toolu_legacy');
  });

  it('passes ids it did not seal through unchanged, tampered ones included', () => {
    const sealed = ids.seal('tool_0_x');
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}A`;
    for (const id of ['my-own-id', 'call_abc', tampered]) expect(ids.open(id)).toBe(id);
  });

  it('opens the ids of earlier tool calls and tool results in a conversation', () => {
    const sealed = ids.seal('toolu_9');
    const messages = [
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: sealed, type: 'function', function: { name: 'f' } }],
      },
      { role: 'tool', tool_call_id: sealed, content: 'ok' },
    ];
    ids.openInMessages(messages);
    expect(messages[0]?.tool_calls?.[0]?.id).toBe('toolu_9');
    expect(messages[1]?.tool_call_id).toBe('toolu_9');
  });
});
