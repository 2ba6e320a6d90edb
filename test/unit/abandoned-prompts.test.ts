import { describe, expect, it } from 'vitest';
import { compileCatalog } from '../../shared/domain/catalog.js';
import { parseCatalogDocument } from '../../shared/domain/catalog-schema.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { priceTokens } from '../../shared/domain/money.js';
import type { UpstreamReply } from '../../shared/ports.js';
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

/**
 * An attempt given up after its upstream had the prompt may still be billed upstream: its prompt
 * is upstream spend of the request (what the guardrail counts), and the client is charged nothing
 * for it.
 */

const answer = [
  chunk('Hello'),
  chunk(null, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
  chunk(null, { choices: [], usage: { prompt_tokens: 4, completion_tokens: 2 } }),
  '[DONE]',
];

/** An upstream that takes the request and never answers, until the attempt is abandoned. */
const silent = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));

describe('the prompt of an abandoned attempt', () => {
  it('is upstream spend when the first model timed out and the next one served', async () => {
    const h = harness({
      script: (body, signal) => (body.model === primary.id ? silent(signal) : Promise.resolve(sse(answer))),
    });
    await collect((await h.call({ stream: true })).body);
    const record = h.usage[0];
    expect(record).toMatchObject({ status: 'ok', model: secondary.id, attempts: [{ outcome: 'timeout' }] });
    const served = priceTokens(secondary.cost, 4, 2);
    expect(record?.chargeMicros).toBeGreaterThan(0);
    expect(record?.upstreamCostMicros).toBeGreaterThan(served);
  });

  it('is rounded up once with the serving model’s cost, not once per attempt (DESIGN §13)', async () => {
    // At a micro-USD per million tokens each part is a small fraction of a micro-USD: the whole is 1.
    const doc = structuredClone(DEFAULT_CATALOG);
    doc.tiers['tier-1'].ttftTimeoutMs = 200;
    for (const model of doc.tiers['tier-1'].models) {
      Object.assign(model, { inputUsdPerMTok: 0.000001, outputUsdPerMTok: 0.000001 });
      delete model.cachedInputUsdPerMTok;
      delete model.cacheWriteUsdPerMTok;
    }
    const tiny = compileCatalog(parseCatalogDocument(doc), 3, '2026-01-01T00:00:00.000Z');
    const h = harness({
      catalog: tiny,
      script: (body, signal) => (body.model === primary.id ? silent(signal) : Promise.resolve(sse(answer))),
    });
    await collect((await h.call({ stream: true })).body);
    expect(h.usage[0]).toMatchObject({
      status: 'ok',
      attempts: [{ outcome: 'timeout' }],
      upstreamCostMicros: 1,
    });
  });

  it('is upstream spend, with nothing charged, when every model timed out', async () => {
    const h = harness({ script: (_body, signal) => silent(signal) });
    const res = await h.call({});
    expect(res.status).toBe(504);
    expect(h.usage[0]).toMatchObject({ status: 'timeout', chargeMicros: 0, inputTokens: 0, outputTokens: 0 });
    expect(h.usage[0]?.upstreamCostMicros).toBeGreaterThan(0);
  });

  const broken: Array<[string, boolean, UpstreamReply]> = [
    ['empty_stream', true, sse(['[DONE]'])],
    ['upstream_error_frame', true, sse([JSON.stringify({ error: { message: 'overloaded' } })])],
    ['malformed_response', false, { ok: true, text: async () => 'not json', events: async function* () {} }],
  ];
  it.each(broken)(
    'is upstream spend when the first model answered with %s',
    async (outcome, stream, reply) => {
      const served: UpstreamReply = stream ? sse(answer) : okCompletion(secondary.id);
      const h = harness({ script: async (body) => (body.model === primary.id ? reply : served) });
      await collect((await h.call({ stream })).body);
      const record = h.usage[0];
      expect(record).toMatchObject({ status: 'ok', model: secondary.id, attempts: [{ outcome }] });
      const [input, output] = stream ? [4, 2] : [10, 5];
      expect(record?.upstreamCostMicros).toBeGreaterThan(priceTokens(secondary.cost, input, output));
      // Part of the figure is the catalog's estimate, not what the upstream reported.
      expect(record?.upstreamCostSource).toBe('catalog');
    },
  );

  it('is upstream spend when a call made before the hold is stopped to lower its cap', async () => {
    const h = harness({ script: async (body) => okCompletion(String(body.model)) });
    expect((await h.call({})).status).toBe(200); // the balance snapshot is read meanwhile
    await new Promise((r) => setTimeout(r, 10));
    // The wallet now covers half the hold this instance's snapshot covers: the call made at the
    // full cap while the hold was placed is stopped, and made again at the lowered cap.
    const body = JSON.stringify({
      model: 'tier-1',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4000,
    });
    h.setBalance(Math.floor(priceTokens(tier1.price, Buffer.byteLength(body), 4000) / 2));
    const before = h.calls.length;
    const res = await h.call({ max_tokens: 4000 });
    expect(res.status).toBe(200);
    expect(res.headers['x-wallet-output-cap']).toBeDefined();
    expect(h.calls.length - before).toBe(2);
    expect(h.calls[before]?.signal.aborted).toBe(true);
    const record = h.usage[1];
    expect(record?.chargeMicros).toBe(priceTokens(tier1.price, 10, 5));
    expect(record?.upstreamCostMicros).toBeGreaterThan(priceTokens(primary.cost, 10, 5));
  });

  it('is not spend, and the next model serves, when the upstream no longer has the model (404)', async () => {
    const h = harness({
      script: async (body) =>
        body.model === primary.id ? json(404, { error: { message: 'No endpoints found.' } }) : sse(answer),
    });
    const res = await h.call({ stream: true });
    expect(res.status).toBe(200);
    await collect(res.body);
    expect(h.usage[0]).toMatchObject({
      status: 'ok',
      model: secondary.id,
      attempts: [{ outcome: 'status_404' }],
    });
    expect(h.usage[0]?.upstreamCostMicros).toBe(priceTokens(secondary.cost, 4, 2));
  });

  it('is not spend when the upstream refused the request by its status', async () => {
    const h = harness({
      script: async (body) =>
        body.model === primary.id ? json(503, { error: { message: 'busy' } }) : sse(answer),
    });
    await collect((await h.call({ stream: true })).body);
    expect(h.usage[0]).toMatchObject({
      status: 'ok',
      model: secondary.id,
      attempts: [{ outcome: 'status_503' }],
    });
    expect(h.usage[0]?.upstreamCostMicros).toBe(priceTokens(secondary.cost, 4, 2));
  });
});
