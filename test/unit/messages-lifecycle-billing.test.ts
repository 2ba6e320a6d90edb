import { describe, expect, it } from 'vitest';
import { REDACTED_THINKING_CHARS_PER_TOKEN } from '../../shared/dialects/anthropic-messages/response.js';
import { holdPrice, priceTokens, priceUsage } from '../../shared/domain/money.js';
import { collect, harness, json, primary, sse, tier1, until } from '../support/chat-lifecycle-harness.js';

/** The request lifecycle on the Messages surface, with in-memory fakes: what an answer is billed on. */

/** A long system prompt, cached upstream: its bytes bound far more tokens than the upstream read. */
const CACHED_SYSTEM = [
  { type: 'text', text: 'policy '.repeat(20_000), cache_control: { type: 'ephemeral' } },
];
const PROMPT = { input_tokens: 5, cache_read_input_tokens: 20_000, cache_creation_input_tokens: 0 };
const TEXT = 'Hello there, this is part of an answer.';

const start = JSON.stringify({
  type: 'message_start',
  message: {
    id: 'msg_up',
    type: 'message',
    role: 'assistant',
    model: 'claude-x',
    content: [],
    usage: { ...PROMPT, output_tokens: 1 },
  },
});
const blockStart = JSON.stringify({
  type: 'content_block_start',
  index: 0,
  content_block: { type: 'text', text: '' },
});
const delta = (text: string) =>
  JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
const blockStop = JSON.stringify({ type: 'content_block_stop', index: 0 });
const messageDelta = (usage?: Record<string, unknown>) =>
  JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, ...(usage ? { usage } : {}) });
const stop = JSON.stringify({ type: 'message_stop' });

/** The prompt as message_start reported it, in the record's terms. */
const reportedPrompt = { inputTokens: 20_005, cachedInputTokens: 20_000, cacheWriteTokens: 0 };

describe('a Messages stream that ends before its final usage', () => {
  const answer = [start, blockStart, delta(TEXT), blockStop, messageDelta({ output_tokens: 9 }), stop];

  it('bills the prompt message_start reported when the upstream is cut', async () => {
    const h = harness({ messages: true, script: async () => sse(answer, { failAfter: 3 }) });
    const res = await h.call({ stream: true, system: CACHED_SYSTEM });
    await collect(res.body);
    const record = h.usage[0];
    expect(record).toMatchObject({ status: 'upstream_error', usageSource: 'estimated', ...reportedPrompt });
    expect(record?.outputTokens).toBeGreaterThan(1);
    expect(record?.chargeMicros).toBe(priceUsage(tier1.price, record as NonNullable<typeof record>));
    expect(record?.upstreamCostMicros).toBe(priceUsage(primary.cost, record as NonNullable<typeof record>));
  });

  it('bills the prompt message_start reported when the client leaves', async () => {
    const h = harness({ messages: true, script: async () => sse(answer, { hangAfter: 3 }) });
    const res = await h.call({ stream: true, system: CACHED_SYSTEM });
    const iterator = (res.body as AsyncIterable<string>)[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.return?.();
    await until(() => h.usage.length > 0);
    expect(h.usage[0]).toMatchObject({
      status: 'client_disconnected',
      usageSource: 'estimated',
      ...reportedPrompt,
    });
  });

  it('estimates the output of a final message_delta without its count, not message_start’s placeholder', async () => {
    const long = 'word '.repeat(500);
    for (const usage of [undefined, { input_tokens: 5 }]) {
      const events = [start, blockStart, delta(long), blockStop, messageDelta(usage), stop];
      const h = harness({ messages: true, script: async () => sse(events) });
      const res = await h.call({ stream: true, system: CACHED_SYSTEM });
      const text = await collect(res.body);
      const record = h.usage[0];
      expect(record).toMatchObject({ status: 'ok', usageSource: 'estimated', ...reportedPrompt });
      expect(record?.outputTokens).toBeGreaterThan(100);
      // The client's final message_delta carries the counts it was billed on.
      expect(text).toContain(`"output_tokens":${record?.outputTokens}`);
    }
  });

  it('counts redacted thinking, whose data is opaque, at its stated ratio when the stream is cut', async () => {
    const data = 'EuYBCkQYAiJA'.repeat(1_000); // 12,000 characters of encrypted thinking
    const redacted = JSON.stringify({
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'redacted_thinking', data },
    });
    const textAt = (index: number, json: string) => json.replace('"index":0', `"index":${index}`);
    const withRedacted = [
      start,
      redacted,
      blockStop,
      textAt(1, blockStart),
      textAt(1, delta(TEXT)),
      textAt(1, blockStop),
      messageDelta({ output_tokens: 9 }),
      stop,
    ];
    const plain = [start, blockStart, delta(TEXT), blockStop, messageDelta({ output_tokens: 9 }), stop];
    const outputOf = async (events: string[], failAfter: number) => {
      const h = harness({ messages: true, script: async () => sse(events, { failAfter }) });
      await collect((await h.call({ stream: true, system: CACHED_SYSTEM, max_tokens: 8_000 })).body);
      expect(h.usage[0]).toMatchObject({ status: 'upstream_error', usageSource: 'estimated' });
      return h.usage[0]?.outputTokens ?? 0;
    };
    const cutWith = await outputOf(withRedacted, 6);
    const cutWithout = await outputOf(plain, 4);
    expect(cutWith - cutWithout).toBe(data.length / REDACTED_THINKING_CHARS_PER_TOKEN);
  });

  it('still takes the upstream’s count from a final message_delta with usage', async () => {
    const h = harness({ messages: true, script: async () => sse(answer) });
    await collect((await h.call({ stream: true, system: CACHED_SYSTEM })).body);
    expect(h.usage[0]).toMatchObject({ usageSource: 'upstream', ...reportedPrompt, outputTokens: 9 });
  });

  it('keeps message_start’s prompt when a compatible server’s message_delta reports it as 0, and tells the client', async () => {
    const zeroed = {
      input_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
      output_tokens: 9,
    };
    const events = [start, blockStart, delta(TEXT), blockStop, messageDelta(zeroed), stop];
    const h = harness({ messages: true, script: async () => sse(events) });
    const text = await collect((await h.call({ stream: true, system: CACHED_SYSTEM })).body);
    const record = h.usage[0];
    expect(record).toMatchObject({ usageSource: 'upstream', ...reportedPrompt, outputTokens: 9 });
    expect(record?.chargeMicros).toBe(priceUsage(tier1.price, record as NonNullable<typeof record>));
    // The final message_delta tells the client the counts it was billed on, not the zeros.
    const final = text.split('\n').find((line) => line.includes('"message_delta"')) ?? '';
    expect(JSON.parse(final.slice('data: '.length)).usage).toMatchObject({ ...PROMPT, output_tokens: 9 });
  });

  it('bills on the estimate when the upstream reports a prompt of 0 tokens, which no model reads', async () => {
    const zeroStart = start.replace(
      '"input_tokens":5,"cache_read_input_tokens":20000',
      '"input_tokens":0,"cache_read_input_tokens":0',
    );
    expect(zeroStart).not.toBe(start);
    const events = [zeroStart, blockStart, delta(TEXT), blockStop, messageDelta({ output_tokens: 9 }), stop];
    const h = harness({ messages: true, script: async () => sse(events) });
    await collect((await h.call({ stream: true, system: CACHED_SYSTEM })).body);
    const record = h.usage[0];
    expect(record).toMatchObject({ status: 'ok', usageSource: 'estimated' });
    // The 140 KB system prompt is billed, not served free.
    expect(record?.inputTokens).toBeGreaterThan(20_000);
  });
});

describe('OpenRouter BYOK', () => {
  const byok = { cost: 0.0001, is_byok: true, cost_details: { upstream_inference_cost: 0.002 } };

  it('records the provider’s charge plus the fee as upstream cost, on both surfaces', async () => {
    const messages = harness({
      messages: true,
      script: async () =>
        json(200, {
          type: 'message',
          id: 'msg_u',
          role: 'assistant',
          model: 'x',
          content: [{ type: 'text', text: 'hi' }],
          usage: { input_tokens: 1000, output_tokens: 100, ...byok },
        }),
    });
    const chat = harness({
      script: async () =>
        json(200, {
          choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 1000, completion_tokens: 100, ...byok },
        }),
    });
    await collect((await messages.call({})).body);
    await collect((await chat.call({})).body);
    expect(chat.usage[0]).toMatchObject({ upstreamCostMicros: 2_100, upstreamCostSource: 'upstream' });
    expect(messages.usage[0]).toMatchObject({ upstreamCostMicros: 2_100, upstreamCostSource: 'upstream' });
  });
});

describe('extended thinking on a wallet that covers little output', () => {
  const thinking = { type: 'enabled', budget_tokens: 1_024 };
  /** A balance that covers about 500 output tokens of the request's hold (the harness's body). */
  const balanceFor = (body: Record<string, unknown>) => {
    const sent = { model: 'tier-1', max_tokens: 4_096, messages: [{ role: 'user', content: 'hi' }], ...body };
    return priceTokens(holdPrice(tier1.price), Buffer.byteLength(JSON.stringify(sent)), 500);
  };
  const answer = [start, blockStart, delta(TEXT), blockStop, messageDelta({ output_tokens: 9 }), stop];

  it('lowers the output cap of a request without thinking (the control)', async () => {
    const h = harness({ messages: true, script: async () => sse(answer), balance: balanceFor({}) });
    const res = await h.call({ max_tokens: 4_096, stream: true });
    await collect(res.body);
    expect(res.status).toBe(200);
    expect(Number(res.headers['x-wallet-output-cap'])).toBeLessThanOrEqual(1_024);
  });

  it('refuses 402 billing_error, with no upstream call and no charge, when thinking needs more', async () => {
    const h = harness({ messages: true, script: async () => sse(answer), balance: balanceFor({ thinking }) });
    const before = h.balance();
    const res = await h.call({ max_tokens: 4_096, thinking });
    expect(res.status).toBe(402);
    const body = JSON.parse(await collect(res.body));
    expect(body.error).toMatchObject({ type: 'billing_error' });
    expect(h.calls).toHaveLength(0);
    expect(h.usage.every((u) => u.chargeMicros === 0)).toBe(true);
    expect(h.balance()).toBe(before);
  });

  it('aborts the upstream call the balance snapshot allowed, when the hold then covers too little', async () => {
    const h = harness({
      messages: true,
      script: (_b, signal) =>
        new Promise((_, rej) => signal.addEventListener('abort', () => rej(new Error('aborted')))),
      deadlineMs: 5_000,
    });
    // Warm the snapshot with one request that times out upstream, then drain the wallet elsewhere.
    await h.call({ max_tokens: 4_096, thinking });
    await new Promise((r) => setTimeout(r, 10));
    h.setBalance(balanceFor({ thinking }));
    const before = h.calls.length;
    const res = await h.call({ max_tokens: 4_096, thinking });
    expect(res.status).toBe(402);
    expect(h.calls.length - before).toBe(1);
    expect(h.calls.at(-1)?.signal.aborted).toBe(true);
    expect(h.usage.at(-1)).toMatchObject({
      status: 'rejected',
      chargeMicros: 0,
      errorCode: 'insufficient_quota',
    });
  });
});
