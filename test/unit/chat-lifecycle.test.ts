import { describe, expect, it } from 'vitest';
import { OpenAiChatDialect } from '../../shared/dialects/openai-chat/dialect.js';
import { type Catalog, compileCatalog } from '../../shared/domain/catalog.js';
import { parseCatalogDocument } from '../../shared/domain/catalog-schema.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { generateApiKey } from '../../shared/domain/keys.js';
import { priceTokens } from '../../shared/domain/money.js';
import { ToolCallIds } from '../../shared/domain/tool-call-ids.js';
import type { UsageRecord } from '../../shared/domain/usage.js';
import { Authenticator } from '../../shared/gateway/auth.js';
import { type HttpRequest, silentLog } from '../../shared/http.js';
import { CircuitBreaker } from '../../shared/lifecycle/circuit-breaker.js';
import { RequestLifecycle } from '../../shared/lifecycle/lifecycle.js';
import type {
  ApiKeyRecord,
  HoldRequest,
  HoldResult,
  RateLimiter,
  Upstream,
  UpstreamReply,
  WalletStore,
} from '../../shared/ports.js';
import type { Router } from '../../shared/routing/router.js';
import { streamOf } from '../../shared/runtime/completions-handler.js';
import { classifyFailure } from '../../shared/upstreams/openai-http.js';

/** The request lifecycle with in-memory fakes of every port: no network, no storage. */

const catalogDoc = structuredClone(DEFAULT_CATALOG);
catalogDoc.tiers['tier-1'].ttftTimeoutMs = 200;
const catalog: Catalog = compileCatalog(parseCatalogDocument(catalogDoc), 3, '2026-01-01T00:00:00.000Z');
const tier1 = catalog.tiers['tier-1'];
const [primary, secondary] = tier1.models as [(typeof tier1.models)[0], (typeof tier1.models)[0]];
const KEY = generateApiKey();
const toolIds = new ToolCallIds('test tool-call ids');

type Script = (body: Record<string, unknown>, signal: AbortSignal) => Promise<UpstreamReply>;

function sse(events: string[], opts: { failAfter?: number; hangAfter?: number } = {}): UpstreamReply {
  return {
    ok: true,
    text: async () => '',
    async *events() {
      for (const [i, e] of events.entries()) {
        if (opts.failAfter === i) throw new Error('socket hang up');
        if (opts.hangAfter === i) await new Promise(() => {});
        yield { event: undefined, data: e };
      }
    },
  };
}

const chunk = (content: string | null, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: 'gen-1',
    provider: 'OpenAI',
    choices: [{ index: 0, delta: content === null ? {} : { content } }],
    ...extra,
  });

function json(status: number, body: unknown): UpstreamReply {
  if (status >= 300) return { ok: false, failure: classifyFailure(status, JSON.stringify(body)) };
  return { ok: true, text: async () => JSON.stringify(body), events: async function* () {} };
}

const okCompletion = (model: string) =>
  json(200, {
    id: 'gen-9',
    model,
    provider: 'OpenAI',
    choices: [{ index: 0, message: { role: 'assistant', content: 'hello there' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  });

interface HarnessOptions {
  balance?: number;
  /** The wallet item is gone (the account was deleted). */
  deleted?: boolean;
  deadlineMs?: number;
  script: Script;
  publishFails?: boolean;
  tripped?: boolean;
  key?: Partial<ApiKeyRecord>;
  rate?: RateLimiter;
  catalog?: Catalog;
  breaker?: CircuitBreaker;
  router?: Router;
}

function harness(opts: HarnessOptions) {
  let balance = opts.balance ?? 1_000_000_000;
  const events: string[] = [];
  const holds: HoldRequest[] = [];
  const usage: UsageRecord[] = [];
  const outbox: UsageRecord[] = [];
  const calls: Array<{ body: Record<string, unknown>; signal: AbortSignal }> = [];
  const wallet: WalletStore = {
    async placeHold(hold): Promise<HoldResult> {
      events.push('hold');
      await new Promise((r) => setTimeout(r, 5));
      if (opts.deleted) return { ok: false, reason: 'no_wallet' };
      if (balance < hold.holdMicros) return { ok: false, reason: 'insufficient', balanceMicros: balance };
      balance -= hold.holdMicros;
      holds.push(hold);
      return { ok: true };
    },
    async readBalance() {
      return opts.deleted ? undefined : balance;
    },
    async writeOutbox(_a, _r, u) {
      outbox.push(u);
    },
  };
  const upstream: Upstream = {
    send({ body }, signal) {
      events.push('upstream');
      calls.push({ body, signal });
      return opts.script(body, signal);
    },
  };
  const completions = new RequestLifecycle(
    {
      auth: new Authenticator({
        findByHash: async () => ({ keyId: 'key1', accountId: 'acct1', status: 'active', ...opts.key }),
      }),
      catalog: async () => opts.catalog ?? catalog,
      ...(opts.rate ? { rateLimiter: opts.rate } : {}),
      ...(opts.breaker ? { breaker: opts.breaker } : {}),
      ...(opts.router ? { router: opts.router } : {}),
      wallet,
      usage: {
        async publish(u) {
          if (opts.publishFails) throw new Error('PutEvents failed');
          usage.push(u);
        },
      },
      guardrail: {
        state: async () => ({ tripped: opts.tripped === true, resetsAt: Date.now() + 3_600_000 }),
      },
      upstream,
      log: silentLog,
    },
    new OpenAiChatDialect(async () => toolIds),
  );
  const request = (body: Record<string, unknown>): HttpRequest => {
    const text = JSON.stringify(body);
    return {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { authorization: `Bearer ${KEY}` },
      query: {},
      body: text,
      bodyBytes: Buffer.byteLength(text),
    };
  };
  const call = (body: Record<string, unknown>) =>
    completions.handle(request({ model: 'tier-1', messages: [{ role: 'user', content: 'hi' }], ...body }), {
      requestId: `r${Math.random().toString(16).slice(2)}`,
      deadline: Date.now() + (opts.deadlineMs ?? 60_000),
    });
  return {
    call,
    events,
    holds,
    usage,
    outbox,
    calls,
    balance: () => balance,
    setBalance: (micros: number) => {
      balance = micros;
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}

async function collect(body: string | AsyncIterable<string>): Promise<string> {
  if (typeof body === 'string') return body;
  let out = '';
  for await (const part of body) out += part;
  return out;
}

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
    const doc = structuredClone(DEFAULT_CATALOG) as unknown as Record<string, unknown>;
    const escalating = compileCatalog(
      parseCatalogDocument({ ...doc, auto: { escalation: { timeoutMs: 1_000 } } }),
      6,
      '2026-01-01T00:00:00.000Z',
    );
    // An unsure classifier: every tier-auto request may be settled by an escalation call.
    const unsure = {
      route: () => ({ tier: 'tier-2', reason: 'model:0.50', confidence: 0.5, ambiguous: true }),
    };
    const h = harness({
      deleted: true,
      catalog: escalating,
      router: unsure as unknown as Router,
      script: async (b) => okCompletion(String(b.model)),
    });
    for (let i = 0; i < 3; i++) expect((await h.call({ model: 'tier-auto' })).status).toBe(401);
    // The first request learns the account is gone (its hold fails); later ones are refused
    // before routing may call upstream.
    expect(h.calls).toHaveLength(1);
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

describe('streams', () => {
  const good = [
    chunk('Hello '),
    chunk('world'),
    chunk(null, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
    chunk(null, { choices: [], usage: { prompt_tokens: 4, completion_tokens: 2 } }),
    '[DONE]',
  ];

  it('sends the usage chunk only when asked, but always asks upstream for usage', async () => {
    for (const includeUsage of [true, false]) {
      const h = harness({ script: async () => sse(good) });
      const res = await h.call({
        stream: true,
        ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
      });
      const text = await collect(res.body);
      expect(h.calls[0]?.body.stream_options).toEqual({ include_usage: true });
      expect(text.includes('"usage"')).toBe(includeUsage);
      expect(h.usage[0]).toMatchObject({
        inputTokens: 4,
        outputTokens: 2,
        usageSource: 'upstream',
        stream: true,
      });
    }
  });

  it('ends a stream that fails after the first byte with an error frame and no [DONE]', async () => {
    const h = harness({ script: async () => sse(good, { failAfter: 2 }) });
    const res = await h.call({ stream: true });
    const text = await collect(res.body);
    expect(res.status).toBe(200);
    expect(text.trimEnd().split('\n\n').at(-1)).toMatch(/^data: \{"error":\{/);
    expect(text).not.toContain('[DONE]');
    expect(h.usage[0]).toMatchObject({ status: 'upstream_error', usageSource: 'estimated' });
    expect(h.usage[0]?.outputTokens).toBeGreaterThan(0);
  });

  it('bills a client that disconnects for what was generated, and aborts upstream', async () => {
    const h = harness({ script: async () => sse(good, { hangAfter: 2 }) });
    const res = await h.call({ stream: true });
    const iterator = (res.body as AsyncIterable<string>)[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.return?.();
    expect(h.calls[0]?.signal.aborted).toBe(true);
    expect(h.usage[0]).toMatchObject({ status: 'client_disconnected', usageSource: 'estimated' });
    expect(h.usage[0]?.chargeMicros).toBeGreaterThan(0);
  });

  it('meters a stream when the upstream ends, while its reader is stalled', async () => {
    const h = harness({ script: async () => sse(good) });
    const res = await h.call({ stream: true });
    const iterator = (res.body as AsyncIterable<string>)[Symbol.asyncIterator]();
    await iterator.next(); // then the client stops reading
    await until(() => h.usage.length > 0);
    expect(h.usage[0]).toMatchObject({
      status: 'ok',
      usageSource: 'upstream',
      inputTokens: 4,
      outputTokens: 2,
    });
    let rest = '';
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) rest += next.value;
    expect(rest).toContain('data: [DONE]');
    expect(h.usage).toHaveLength(1);
  });

  it('charges what was generated at the deadline even if the reader never reads again', async () => {
    const h = harness({ script: async () => sse(good, { hangAfter: 2 }), deadlineMs: 400 });
    const res = await h.call({ stream: true });
    const iterator = (res.body as AsyncIterable<string>)[Symbol.asyncIterator]();
    await iterator.next(); // the client stalls from here on
    await until(() => h.usage.length > 0);
    expect(h.calls[0]?.signal.aborted).toBe(true);
    expect(h.usage[0]).toMatchObject({ status: 'timeout', usageSource: 'estimated' });
    expect(h.usage[0]?.chargeMicros).toBeGreaterThan(0);
    let rest = '';
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) rest += next.value;
    expect(rest).toContain('"upstream_timeout"');
    expect(rest).not.toContain('[DONE]');
  });

  it('never under-bills the input of a cut stream: CJK text and tool definitions are counted', async () => {
    const h = harness({ script: async () => sse(good, { failAfter: 1 }) });
    await collect(
      (await h.call({ stream: true, messages: [{ role: 'user', content: '漢'.repeat(100_000) }] })).body,
    );
    // The upstream counted 75,011 tokens for this prompt; characters ÷ 4 billed 25,011.
    expect(h.usage[0]).toMatchObject({ status: 'upstream_error', usageSource: 'estimated' });
    expect(h.usage[0]?.inputTokens).toBeGreaterThanOrEqual(75_011);
    // …and never above the hold's bound, the body's UTF-8 bytes.
    expect(h.usage[0]?.inputTokens).toBeLessThanOrEqual(300_200);
    const tools = Array.from({ length: 300 }, (_, i) => ({
      type: 'function',
      function: {
        name: `tool_${i}`,
        description: 'Looks up a record by its identifier and returns every field of it. '.repeat(40),
        parameters: { type: 'object', properties: { id: { type: 'string' } } },
      },
    }));
    const toolBytes = Buffer.byteLength(JSON.stringify(tools));
    expect(toolBytes).toBeGreaterThan(800_000);
    await collect((await h.call({ stream: true, tools })).body);
    // Roughly one token per 4.5 bytes of this English: a count that ignored the tools would be ~10.
    expect(h.usage[1]?.inputTokens).toBeGreaterThan(toolBytes / 5);
  });

  it('writes the usage to the outbox when publishing fails', async () => {
    const h = harness({ publishFails: true, script: async () => sse(good) });
    await collect((await h.call({ stream: true })).body);
    expect(h.usage).toHaveLength(0);
    expect(h.outbox).toHaveLength(1);
    expect(h.outbox[0]).toMatchObject({ status: 'ok', outputTokens: 2 });
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

describe('resilience', () => {
  it('skips a model whose circuit is open, and tries it again after the cool-down', async () => {
    let now = 1_000_000;
    const breaker = new CircuitBreaker({ minSamples: 3, errorRatio: 0.5, openMs: 30_000, now: () => now });
    for (let i = 0; i < 3; i++) breaker.record(primary.id, false);
    const h = harness({ breaker, script: async (b) => okCompletion(String(b.model)) });
    await h.call({});
    expect(h.calls.map((c) => c.body.model)).toEqual([secondary.id]);
    now += 30_001;
    await h.call({});
    expect(h.calls.at(-1)?.body.model).toBe(primary.id);
  });

  it('falls back on a context-length error only to a model with a larger window', async () => {
    const tooLong = () =>
      json(400, {
        error: { message: 'maximum context length is 128000 tokens', code: 'context_length_exceeded' },
      });
    const h = harness({
      script: async (b) => (b.model === primary.id ? tooLong() : okCompletion(String(b.model))),
    });
    expect((await h.call({})).status).toBe(200); // the secondary's window is larger
    const doc = structuredClone(DEFAULT_CATALOG);
    doc.tiers['tier-1'].models = doc.tiers['tier-1'].models.map((m) => ({ ...m, contextWindow: 1000 }));
    const small = compileCatalog(parseCatalogDocument(doc), 4, '2026-01-01T00:00:00.000Z');
    const h2 = harness({ catalog: small, script: async () => tooLong() });
    const res = await h2.call({});
    expect(res.status).toBe(400);
    expect(h2.calls).toHaveLength(1);
  });

  it('escalates to the next tier only when the catalog allows it, billing at the requested tier', async () => {
    const doc = structuredClone(DEFAULT_CATALOG);
    doc.tiers['tier-1'].escalateToNextTier = true;
    const escalating = compileCatalog(parseCatalogDocument(doc), 5, '2026-01-01T00:00:00.000Z');
    const tier2Primary = escalating.tiers['tier-2'].models[0]?.id as string;
    const failTier1 = async (b: Record<string, unknown>) =>
      tier1.models.some((m) => m.id === b.model) ? json(503, {}) : okCompletion(String(b.model));
    const h = harness({ catalog: escalating, script: failTier1 });
    const res = await h.call({});
    expect(res.status).toBe(200);
    expect(h.usage[0]).toMatchObject({
      model: tier2Primary,
      tier: 'tier-1',
      chargeMicros: priceTokens(tier1.price, 10, 5),
    });
    const plain = harness({ script: failTier1 });
    expect((await plain.call({})).status).toBe(502);
  });

  it('aborts upstream at the deadline and still records the request as a timeout', async () => {
    const h = harness({
      script: (_b, signal) =>
        new Promise((_, rej) => signal.addEventListener('abort', () => rej(new Error('aborted')))),
    });
    const res = await h.call({}); // tier-1 ttft is 200 ms in this catalog: every model times out
    expect(res.status).toBe(504);
    expect(JSON.parse(await collect(res.body)).error.code).toBe('upstream_timeout');
    expect(h.calls.every((c) => c.signal.aborted)).toBe(true);
    expect(h.usage[0]).toMatchObject({ status: 'timeout', chargeMicros: 0 });
  });
});

describe('client disconnect through the stream adapter', () => {
  it('records client_disconnected when the consumer throws into the stream, as Readable.from does on destroy', async () => {
    const good = [chunk('a'), chunk('b'), chunk('c')];
    const h = harness({ script: async () => sse(good, { hangAfter: 2 }) });
    const res = await h.call({ stream: true });
    const iterator = (res.body as AsyncGenerator<string>)[Symbol.asyncIterator]() as AsyncGenerator<string>;
    await iterator.next();
    await iterator
      .throw(Object.assign(new Error('client disconnected'), { code: 'ECONNRESET' }))
      .catch(() => {});
    expect(h.calls[0]?.signal.aborted).toBe(true);
    expect(h.usage).toHaveLength(1);
    expect(h.usage[0]).toMatchObject({ status: 'client_disconnected' });
  });
});

describe('client disconnect before any frame is read', () => {
  it('aborts upstream and records the request once when the response stream is destroyed unread', async () => {
    const h = harness({ script: async () => sse([chunk('a'), chunk('b')], { hangAfter: 1 }) });
    const res = await h.call({ stream: true });
    expect(res.cancel).toBeTypeOf('function');
    const readable = streamOf(res.body as AsyncIterable<string>, res.cancel);
    readable.on('error', () => {}); // the disconnect itself, as the pipeline reports it
    const closed = new Promise((resolve) => readable.on('close', resolve));
    readable.destroy(new Error('client disconnected'));
    await closed;
    expect(h.calls[0]?.signal.aborted).toBe(true);
    expect(h.usage).toEqual([expect.objectContaining({ status: 'client_disconnected' })]);
  });

  it('holds media parts to an allowance, since a URL is a few bytes for many tokens', async () => {
    const h = harness({ script: async (b) => okCompletion(String(b.model)) });
    await h.call({ messages: [{ role: 'user', content: 'hi' }] });
    await h.call({
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }],
    });
    const [text, image] = h.holds.map((x) => x.holdMicros) as [number, number];
    expect(image - text).toBeGreaterThanOrEqual(priceTokens(tier1.price, 4_000, 0) - 1);
  });
});

describe('tool-call ids', () => {
  it('never shows the upstream tool-call id, and restores it when the client sends it back', async () => {
    const withTool = json(200, {
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'toolu_01XYZ', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 5, completion_tokens: 5 },
    });
    const h = harness({
      script: async (b) => (h.calls.length === 1 ? withTool : okCompletion(String(b.model))),
    });
    const first = JSON.parse(await collect((await h.call({})).body));
    const id = first.choices[0].message.tool_calls[0].id as string;
    expect(id).toMatch(/^call_/);
    expect(JSON.stringify(first)).not.toContain('toolu');
    await h.call({
      messages: [
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id, type: 'function', function: { name: 'get_weather', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: id, content: 'sunny' },
      ],
    });
    const sent = h.calls.at(-1)?.body.messages as Array<Record<string, unknown>>;
    const calls = (sent[1]?.tool_calls ?? []) as Array<{ id: string }>;
    expect(calls[0]?.id).toBe('toolu_01XYZ');
    expect(sent[2]?.tool_call_id).toBe('toolu_01XYZ');
  });
});
