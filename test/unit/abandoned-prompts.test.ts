import { describe, expect, it } from 'vitest';
import { priceTokens } from '../../shared/domain/money.js';
import { chunk, collect, harness, json, primary, secondary, sse } from '../support/chat-lifecycle-harness.js';

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

  it('is upstream spend, with nothing charged, when every model timed out', async () => {
    const h = harness({ script: (_body, signal) => silent(signal) });
    const res = await h.call({});
    expect(res.status).toBe(504);
    expect(h.usage[0]).toMatchObject({ status: 'timeout', chargeMicros: 0, inputTokens: 0, outputTokens: 0 });
    expect(h.usage[0]?.upstreamCostMicros).toBeGreaterThan(0);
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
