import { createCipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isTransactionConflict, retryOnConflict } from '../../shared/adapters/dynamodb/client.js';
import { parseChatRequest } from '../../shared/dialects/openai-chat/request.js';
import {
  ChunkFramer,
  readUsage,
  sanitizeChunk,
  sanitizeCompletion,
} from '../../shared/dialects/openai-chat/response.js';
import { compileCatalog, resolveTierId } from '../../shared/domain/catalog.js';
import { parseCatalogDocument } from '../../shared/domain/catalog-schema.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { GatewayError } from '../../shared/domain/errors.js';
import { type Json, parseJsonObject } from '../../shared/domain/json-body.js';
import { bearerToken, generateApiKey, hashApiKey, looksLikeApiKey } from '../../shared/domain/keys.js';
import { SseParser, sseFrame } from '../../shared/domain/sse.js';
import { ToolCallIds } from '../../shared/domain/tool-call-ids.js';
import { TtlCache } from '../../shared/domain/ttl-cache.js';
import { Authenticator } from '../../shared/gateway/auth.js';
import type { ApiKeyRecord } from '../../shared/ports.js';

const gatewayError = (fn: () => unknown): GatewayError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
};

describe('tier resolution', () => {
  it('maps ids and aliases to canonical tier ids and rejects everything else', () => {
    expect(resolveTierId('tier-3')).toBe('tier-3');
    expect(resolveTierId('speed')).toBe('tier-1');
    expect(resolveTierId('balance')).toBe('tier-2');
    expect(resolveTierId('intelligence')).toBe('tier-3');
    expect(resolveTierId('reasoning')).toBe('tier-4');
    for (const bad of ['tier-5', 'gpt-4o', 'toString', '__proto__', 'Tier-1', ''])
      expect(resolveTierId(bad)).toBeUndefined();
  });
});

describe('catalog validation', () => {
  const clone = () =>
    structuredClone(DEFAULT_CATALOG) as unknown as Record<string, Record<string, Record<string, unknown>>>;

  it('accepts the default catalog and compiles prices to integer micro-USD', () => {
    const catalog = compileCatalog(parseCatalogDocument(DEFAULT_CATALOG), 1, '2026-01-01T00:00:00.000Z');
    expect(catalog.tiers['tier-1'].price).toEqual({
      inputMicrosPerMTok: 200_000,
      outputMicrosPerMTok: 800_000,
      cachedInputMicrosPerMTok: 100_000,
      cacheWriteMicrosPerMTok: 200_000,
    });
    expect(catalog.tiers['tier-1'].models[0]?.cost).toEqual({
      inputMicrosPerMTok: 150_000,
      outputMicrosPerMTok: 600_000,
      cachedInputMicrosPerMTok: 75_000,
      cacheWriteMicrosPerMTok: 150_000,
    });
  });

  it('names the field of an unknown key', () => {
    const doc = clone();
    (doc.tiers?.['tier-2'] as Record<string, unknown>).surprise = 1;
    const err = gatewayError(() => parseCatalogDocument(doc));
    expect(err.status).toBe(400);
    expect(err.param).toBe('tiers.tier-2.surprise');
  });

  it('requires all four tiers', () => {
    const doc = clone();
    delete doc.tiers?.['tier-4'];
    expect(gatewayError(() => parseCatalogDocument(doc)).param).toBe('tiers.tier-4');
  });

  it('rejects negative prices, sub-micro precision and an empty model list', () => {
    const negative = clone();
    (negative.tiers?.['tier-1']?.price as Record<string, number>).inputUsdPerMTok = -1;
    expect(gatewayError(() => parseCatalogDocument(negative)).param).toBe(
      'tiers.tier-1.price.inputUsdPerMTok',
    );
    const precise = clone();
    (precise.tiers?.['tier-1']?.price as Record<string, number>).outputUsdPerMTok = 0.0000001;
    expect(gatewayError(() => parseCatalogDocument(precise)).param).toBe(
      'tiers.tier-1.price.outputUsdPerMTok',
    );
    const empty = clone();
    (empty.tiers?.['tier-3'] as Record<string, unknown>).models = [];
    expect(gatewayError(() => parseCatalogDocument(empty)).param).toBe('tiers.tier-3.models');
  });
});

describe('chat request validation', () => {
  const base = { model: 'tier-2', messages: [{ role: 'user', content: 'hi' }] };

  it('passes every OpenAI parameter through and strips the ones the gateway sets', () => {
    const req = parseChatRequest({
      ...base,
      temperature: 0.2,
      tools: [{ type: 'function', function: { name: 'f' } }],
      max_tokens: 100,
      stream: true,
      stream_options: { include_usage: true },
      reasoning_effort: 'low',
    });
    expect(req).toMatchObject({ tier: 'tier-2', stream: true, includeUsage: true, requestedMaxTokens: 100 });
    expect(req.passThrough).toMatchObject({ temperature: 0.2, reasoning_effort: 'low', stream: true });
    expect(req.passThrough).not.toHaveProperty('model');
    expect(req.passThrough).not.toHaveProperty('max_tokens');
    expect(req.passThrough).not.toHaveProperty('stream_options');
  });

  it('rejects parameters that would steer provider routing', () => {
    for (const key of ['models', 'provider', 'route', 'transforms']) {
      const err = gatewayError(() => parseChatRequest({ ...base, [key]: ['x'] }));
      expect([err.status, err.param]).toEqual([400, key]);
    }
  });

  it('gives a 400 naming the parameter for wrong types', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ temperature: 'hot' }, 'temperature'],
      [{ max_tokens: -1 }, 'max_tokens'],
      [{ max_tokens: 1.5 }, 'max_tokens'],
      [{ n: 0 }, 'n'],
      [{ stream: 'yes' }, 'stream'],
      [{ messages: 'hi' }, 'messages'],
      [{ messages: [] }, 'messages'],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, 'messages.[0].role'],
      [{ messages: [{ role: 'user', content: 5 }] }, 'messages.[0].content'],
      [{ model: 7 }, 'model'],
      [{ stream_options: { include_usage: true } }, 'stream_options'],
    ];
    for (const [patch, param] of cases) {
      const err = gatewayError(() => parseChatRequest({ ...base, ...patch }));
      expect([err.status, err.param]).toEqual([400, param]);
    }
  });

  it('reports an unknown model as 404 model_not_found, but a malformed body first as 400', () => {
    expect(gatewayError(() => parseChatRequest({ ...base, model: 'gpt-4o' })).code).toBe('model_not_found');
    expect(gatewayError(() => parseChatRequest({ ...base, model: 'gpt-4o', temperature: 9 })).status).toBe(
      400,
    );
  });

  it('rejects malformed, non-object and deeply nested JSON', () => {
    expect(gatewayError(() => parseJsonObject('{"a":')).status).toBe(400);
    expect(gatewayError(() => parseJsonObject('[1]')).status).toBe(400);
    expect(gatewayError(() => parseJsonObject('')).status).toBe(400);
    const deep = `${'{"a":'.repeat(200)}1${'}'.repeat(200)}`;
    expect(gatewayError(() => parseJsonObject(deep)).status).toBe(400);
  });
});

describe('response sanitising', () => {
  const identity = { id: 'chatcmpl-req1', tier: 'tier-2' as const, created: 1 };
  const upstream = {
    id: 'gen-abc',
    provider: 'OpenAI',
    model: 'openai/gpt-4.1-mini',
    system_fingerprint: 'fp_x',
    object: 'chat.completion',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'hi', reasoning: 'secret' },
        finish_reason: 'stop',
        native_finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4, cost: 0.001 },
  };

  it('keeps only OpenAI fields and sets the gateway identity', () => {
    const out = sanitizeCompletion(upstream, identity, readUsage(upstream.usage));
    const text = JSON.stringify(out);
    for (const leak of [
      'gen-abc',
      'OpenAI',
      'gpt-4.1',
      'fp_x',
      'native_finish_reason',
      'cost',
      'reasoning',
    ]) {
      expect(text).not.toContain(leak);
    }
    expect(out).toMatchObject({
      id: 'chatcmpl-req1',
      model: 'tier-2',
      usage: { prompt_tokens: 3, total_tokens: 4 },
    });
  });

  it('sanitises chunks the same way', () => {
    const chunk = sanitizeChunk(
      { ...upstream, choices: [{ index: 0, delta: { content: 'x' }, finish_reason: null }] },
      identity,
    );
    expect(JSON.stringify(chunk)).not.toMatch(/gen-abc|OpenAI|gpt|fp_x/);
    expect(chunk).toMatchObject({
      object: 'chat.completion.chunk',
      model: 'tier-2',
      choices: [{ delta: { content: 'x' } }],
    });
  });

  it('frames a chunk exactly as the sanitised chunk would be framed, with the shared fields serialised once', () => {
    const framer = new ChunkFramer({ ...identity, id: 'chatcmpl-"quoted"' });
    const chunks: Json[] = [
      { ...upstream, choices: [{ index: 0, delta: { content: 'x', provider: 'p' }, finish_reason: null }] },
      {
        choices: [
          { delta: { role: 'assistant' }, logprobs: null },
          'not a choice',
          { index: 3, finish_reason: 'stop' },
        ],
      },
      { choices: 'bad' },
      {},
    ];
    for (const chunk of chunks) {
      const frame = framer.frame(chunk);
      expect(frame).toBe(sseFrame(sanitizeChunk(chunk, { ...identity, id: 'chatcmpl-"quoted"' })));
      expect(frame).not.toMatch(/gen-abc|OpenAI|gpt|fp_x|provider/);
    }
  });

  it('reads usage only when it is well-formed', () => {
    expect(readUsage({ prompt_tokens: 'a', completion_tokens: 1 })).toBeUndefined();
    expect(readUsage(undefined)).toBeUndefined();
    expect(readUsage({ prompt_tokens: 2, completion_tokens: 3 })).toMatchObject({ total_tokens: 5 });
  });
});

describe('SSE parser', () => {
  it('yields events split across arbitrary chunk boundaries, ignoring comments and other fields', () => {
    const text =
      ': OPENROUTER PROCESSING\n\ndata: {"a":1}\n\nevent: x\ndata: {"b":\ndata: 2}\r\n\r\ndata: [DONE]\n\n';
    for (let size = 1; size <= text.length; size++) {
      const parser = new SseParser();
      const events: Array<{ event: string | undefined; data: string }> = [];
      for (let i = 0; i < text.length; i += size) events.push(...parser.push(text.slice(i, i + size)));
      events.push(...parser.end());
      expect(events).toEqual([
        { event: undefined, data: '{"a":1}' },
        { event: 'x', data: '{"b":\n2}' },
        { event: undefined, data: '[DONE]' },
      ]);
    }
  });

  it('flushes a final event without a trailing blank line', () => {
    const parser = new SseParser();
    expect(parser.push('data: x')).toEqual([]);
    expect(parser.end()).toEqual([{ event: undefined, data: 'x' }]);
  });
});

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
    expect(loads).toBe(2);
    release?.();
    await new Promise((r) => setTimeout(r, 0));
    now = 12_000; // the first value would be stale now; the reloaded one is fresh
    expect(await cache.get('k', slowLoad)).toBe(2);
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
