import { describe, expect, it } from 'vitest';
import { compileCatalog } from '../../shared/domain/catalog.js';
import { parseCatalogDocument } from '../../shared/domain/catalog-schema.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { priceTokens } from '../../shared/domain/money.js';
import type { RateLimiter } from '../../shared/ports.js';
import type { Router } from '../../shared/routing/router.js';
import {
  chunk,
  collect,
  harness,
  json,
  okCompletion,
  primary,
  secondary,
  sse,
  tier1,
} from '../support/chat-lifecycle-harness.js';

/** The request lifecycle with in-memory fakes: admission, fallbacks before the first byte, and rate limits. */

/** A catalog with tier-auto's escalation on. */
const escalating = compileCatalog(
  parseCatalogDocument({
    ...(structuredClone(DEFAULT_CATALOG) as unknown as Record<string, unknown>),
    auto: { escalation: { timeoutMs: 1_000 } },
  }),
  6,
  '2026-01-01T00:00:00.000Z',
);
/** An unsure classifier: every tier-auto request may be settled by an escalation call. */
const unsure = {
  route: () => ({ tier: 'tier-2', reason: 'model:0.50', confidence: 0.5, ambiguous: true }),
} as unknown as Router;

describe('admission', () => {
  it('holds before calling upstream until the instance knows the account is funded, then overlaps the two', async () => {
    const h = harness({ script: async (b) => okCompletion(String(b.model)) });
    const res = await h.call({});
    expect(res.status).toBe(200);
    expect(h.events.slice(0, 2)).toEqual(['hold', 'upstream']); // no snapshot yet: admission first
    expect(h.usage).toHaveLength(1);
    expect(h.usage[0]).toMatchObject({
      status: 'ok',
      inputTokens: 10,
      outputTokens: 5,
      usageSource: 'upstream',
      model: primary.id,
    });
    expect(h.usage[0]?.chargeMicros).toBe(priceTokens(tier1.price, 10, 5));
    expect(h.usage[0]?.upstreamCostMicros).toBe(priceTokens(primary.cost, 10, 5));
    expect(h.usage[0]?.holdMicros).toBe(h.holds[0]?.holdMicros);
    // The balance snapshot read in the background now covers a hold: the next request overlaps.
    h.events.length = 0;
    expect((await h.call({})).status).toBe(200);
    expect(h.events.slice(0, 2)).toEqual(['upstream', 'hold']);
  });

  it('never calls upstream for a wallet that cannot cover the minimum: 429 insufficient_quota', async () => {
    const h = harness({ balance: 5, script: async (b) => okCompletion(String(b.model)) });
    for (let i = 0; i < 3; i++) {
      const res = await h.call({});
      expect(res.status).toBe(429);
      expect(JSON.parse(await collect(res.body)).error.code).toBe('insufficient_quota');
      expect(res.headers['x-should-retry']).toBe('false');
    }
    expect(h.calls).toHaveLength(0);
    expect(h.usage).toHaveLength(0);
  });

  it('lowers the output cap to what the wallet covers, says so, and calls upstream once with the lowered cap', async () => {
    const body = JSON.stringify({
      model: 'tier-1',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4000,
    });
    const full = priceTokens(tier1.price, Buffer.byteLength(body), 4000);
    const h = harness({ balance: Math.floor(full / 2), script: async (b) => okCompletion(String(b.model)) });
    for (let i = 0; i < 2; i++) {
      const before = h.calls.length;
      const res = await h.call({ max_tokens: 4000 });
      expect(res.status).toBe(200);
      expect(h.calls.length - before).toBe(1);
      const sentCap = h.calls.at(-1)?.body.max_tokens as number;
      expect(sentCap).toBeLessThan(4000);
      expect(sentCap).toBeGreaterThanOrEqual(16);
      expect(res.headers['x-wallet-output-cap']).toBe(String(sentCap));
      h.setBalance(Math.floor(full / 2));
    }
    expect(h.holds[0]?.holdMicros).toBeLessThanOrEqual(Math.floor(full / 2));
  });

  it('refuses a deleted account with 401 and remembers it, so its cached key never reaches upstream', async () => {
    const h = harness({ deleted: true, script: async (b) => okCompletion(String(b.model)) });
    for (let i = 0; i < 3; i++) {
      const res = await h.call({});
      expect(res.status).toBe(401);
      expect(JSON.parse(await collect(res.body)).error.code).toBe('invalid_api_key');
    }
    expect(h.events.filter((e) => e === 'hold')).toHaveLength(1);
    expect(h.calls).toHaveLength(0);
  });

  it('spends nothing on a tier-auto escalation for an account it knows is deleted', async () => {
    const h = harness({
      deleted: true,
      catalog: escalating,
      router: unsure,
      script: async (b) => okCompletion(String(b.model)),
    });
    for (let i = 0; i < 3; i++) expect((await h.call({ model: 'tier-auto' })).status).toBe(401);
    // The first request learns the account is gone (its hold fails); later ones are refused
    // before routing may call upstream.
    expect(h.calls).toHaveLength(1);
  });

  it('records what a tier-auto escalation spent when admission then refuses the request', async () => {
    const h = harness({
      balance: 1,
      catalog: escalating,
      router: unsure,
      script: async () =>
        json(200, {
          choices: [{ message: { content: '3' } }],
          usage: { prompt_tokens: 300, completion_tokens: 1 },
        }),
    });
    expect((await h.call({ model: 'tier-auto' })).status).toBe(429); // insufficient_quota
    expect(h.calls).toHaveLength(1); // the escalation, and no completion
    expect(h.usage).toHaveLength(1);
    const [record] = h.usage;
    expect(record).toMatchObject({ status: 'rejected', chargeMicros: 0 });
    expect(record?.route?.escalation?.upstreamCostMicros).toBeGreaterThan(0);
    expect(record?.upstreamCostMicros).toBe(record?.route?.escalation?.upstreamCostMicros);
    // Refused for want of money, the account gets no more escalation calls: its next requests
    // are refused at the hold without spending upstream.
    for (let i = 0; i < 3; i++) expect((await h.call({ model: 'tier-auto' })).status).toBe(429);
    expect(h.calls).toHaveLength(1);
  });

  it('spends no escalation on a key with a rate limit or a budget, whose edge only admission knows', async () => {
    for (const key of [{ rpm: 10 }, { dailyBudgetMicros: 10_000_000 }]) {
      const h = harness({
        key,
        catalog: escalating,
        router: unsure,
        script: async (b) => okCompletion(String(b.model)),
      });
      const res = await h.call({ model: 'tier-auto' });
      expect(res.status).toBe(200);
      expect(res.headers['x-tier-route']).toBe('auto; model:0.50');
      expect(h.calls).toHaveLength(1); // the completion only
    }
  });

  it('always admits first for keys with a budget or a rate limit', async () => {
    const allow: RateLimiter = {
      consume: async () => ({
        allowed: true,
        resetSeconds: 10,
        resetsAt: Date.now() + 10_000,
        remainingRequests: 9,
      }),
    };
    for (const key of [
      { dailyBudgetMicros: 10_000_000 },
      { accountDailyBudgetMicros: 10_000_000 },
      { rpm: 10 },
    ]) {
      const h = harness({ key, rate: allow, script: async (b) => okCompletion(String(b.model)) });
      for (let i = 0; i < 3; i++) {
        h.events.length = 0;
        expect((await h.call({})).status).toBe(200);
        expect(h.events.slice(0, 2)).toEqual(['hold', 'upstream']);
      }
    }
  });

  it('aborts an upstream call the snapshot allowed when the hold is refused, and counts its prompt as upstream spend', async () => {
    const h = harness({
      script: (_b, signal) =>
        new Promise((_, rej) => signal.addEventListener('abort', () => rej(new Error('aborted')))),
      deadlineMs: 5_000,
    });
    // Warm the snapshot with one request that times out upstream, then drain the wallet elsewhere.
    await h.call({});
    await new Promise((r) => setTimeout(r, 10));
    h.setBalance(3);
    const before = h.calls.length;
    const res = await h.call({});
    expect(res.status).toBe(429);
    expect(h.calls.length - before).toBe(1);
    expect(h.calls.at(-1)?.signal.aborted).toBe(true);
    const refused = h.usage.at(-1);
    expect(refused).toMatchObject({
      status: 'rejected',
      chargeMicros: 0,
      holdMicros: 0,
      errorCode: 'insufficient_quota',
    });
    expect(refused?.upstreamCostMicros).toBeGreaterThan(0);
  });

  it('answers 503 daily_spend_limit with retry-after when the guardrail has tripped', async () => {
    const h = harness({ tripped: true, script: async (b) => okCompletion(String(b.model)) });
    const res = await h.call({});
    expect(res.status).toBe(503);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(h.holds).toHaveLength(0);
  });
});

describe('fallbacks before the first byte', () => {
  it('serves from the next model when the primary answers 500, and costs it at that model price', async () => {
    const h = harness({
      script: async (b) =>
        b.model === primary.id ? json(500, { error: { message: 'boom' } }) : okCompletion(String(b.model)),
    });
    const res = await h.call({});
    expect(res.status).toBe(200);
    expect(h.usage[0]).toMatchObject({
      model: secondary.id,
      upstreamCostMicros: priceTokens(secondary.cost, 10, 5),
    });
    expect(h.usage[0]?.attempts?.[0]).toMatchObject({ model: primary.id, outcome: 'status_500' });
  });

  it('moves on when the primary produces no first token within the tier timeout', async () => {
    const h = harness({
      script: async (b) =>
        b.model === primary.id
          ? sse([chunk('', { choices: [{ index: 0, delta: { role: 'assistant' } }] })], { hangAfter: 1 })
          : sse([
              chunk('hi'),
              chunk(null, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
              chunk(null, { choices: [], usage: { prompt_tokens: 3, completion_tokens: 1 } }),
              '[DONE]',
            ]),
    });
    const res = await h.call({ stream: true });
    const text = await collect(res.body);
    expect(res.status).toBe(200);
    expect(text).toContain('data: [DONE]');
    expect(h.calls[0]?.signal.aborted).toBe(true);
    expect(h.usage[0]).toMatchObject({ model: secondary.id, status: 'ok' });
  });

  it('sends the frames that arrived while the client was not reading in one write, each intact', async () => {
    const h = harness({
      script: async () =>
        sse([
          chunk('a'),
          chunk('b'),
          chunk('c'),
          chunk(null, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
          chunk(null, { choices: [], usage: { prompt_tokens: 3, completion_tokens: 3 } }),
          '[DONE]',
        ]),
    });
    const res = await h.call({ stream: true });
    await new Promise((resolve) => setTimeout(resolve, 20)); // the upstream is read meanwhile
    const writes: string[] = [];
    for await (const part of res.body as AsyncIterable<string>) writes.push(part);
    const frames = writes
      .join('')
      .split('\n\n')
      .filter((f) => f !== '');
    expect(frames.map((f) => f.startsWith('data: '))).toEqual(frames.map(() => true));
    expect(frames.at(-1)).toBe('data: [DONE]');
    expect(frames.length).toBeGreaterThanOrEqual(5);
    expect(writes.length).toBeLessThan(frames.length);
    expect(writes.at(-1)?.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('answers 502 upstream_error when every model fails, and still records one usage event', async () => {
    const h = harness({ script: async () => json(503, { error: { message: `${primary.id} overloaded` } }) });
    const res = await h.call({});
    const text = await collect(res.body);
    expect(res.status).toBe(502);
    expect(JSON.parse(text).error.code).toBe('upstream_error');
    expect(text).not.toContain(primary.id);
    expect(h.usage).toHaveLength(1);
    expect(h.usage[0]).toMatchObject({ status: 'upstream_error', chargeMicros: 0 });
  });
});

describe('rate limits', () => {
  const limiter = (allowed: boolean): RateLimiter & { calls: number } => {
    const l = {
      calls: 0,
      async consume() {
        l.calls++;
        return {
          allowed,
          resetSeconds: 17,
          resetsAt: Date.now() + 17_000,
          remainingRequests: allowed ? 4 : 0,
        };
      },
    };
    return l;
  };

  it('sends x-ratelimit-* headers on every response of a limited key', async () => {
    const rate = limiter(true);
    const h = harness({ key: { rpm: 5 }, rate, script: async (b) => okCompletion(String(b.model)) });
    const res = await h.call({});
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({
      'x-ratelimit-limit-requests': '5',
      'x-ratelimit-remaining-requests': '4',
      'x-ratelimit-reset-requests': '17s',
    });
  });

  it('answers 429 rate_limit_exceeded with retry-after, and releases a hold it already placed', async () => {
    const h = harness({
      key: { rpm: 5 },
      rate: limiter(false),
      script: async (b) => okCompletion(String(b.model)),
    });
    const res = await h.call({});
    expect(res.status).toBe(429);
    expect(JSON.parse(await collect(res.body)).error).toMatchObject({
      code: 'rate_limit_exceeded',
      type: 'rate_limit_error',
    });
    expect(res.headers['retry-after']).toBe('17');
    expect(res.headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(h.holds).toHaveLength(1);
    expect(h.usage).toEqual([
      expect.objectContaining({ status: 'rejected', chargeMicros: 0, holdMicros: h.holds[0]?.holdMicros }),
    ]);
  });

  it('does not count keys without limits', async () => {
    const rate = limiter(true);
    const h = harness({ rate, script: async (b) => okCompletion(String(b.model)) });
    expect((await h.call({})).headers).not.toHaveProperty('x-ratelimit-limit-requests');
    expect(rate.calls).toBe(0);
  });
});
