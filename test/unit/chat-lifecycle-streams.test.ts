import { describe, expect, it } from 'vitest';
import { compileCatalog } from '../../shared/domain/catalog.js';
import { parseCatalogDocument } from '../../shared/domain/catalog-schema.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { priceTokens } from '../../shared/domain/money.js';
import { usageRecordSchema } from '../../shared/domain/usage-schema.js';
import { CircuitBreaker } from '../../shared/lifecycle/circuit-breaker.js';
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
  toolIds,
  until,
} from '../support/chat-lifecycle-harness.js';

/** The request lifecycle with in-memory fakes: streams, resilience, client disconnects and tool-call ids. */

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

  it('bills on the estimate, not free, when every usage block reports a prompt of 0 tokens', async () => {
    const answer = 'word '.repeat(300);
    const zero = { prompt_tokens: 0, completion_tokens: 0 };
    const events = [chunk(answer, { usage: zero }), chunk(null, { choices: [], usage: zero }), '[DONE]'];
    const h = harness({ script: async () => sse(events) });
    const text = await collect(
      (await h.call({ stream: true, stream_options: { include_usage: true } })).body,
    );
    const record = h.usage[0];
    expect(record).toMatchObject({ status: 'ok', usageSource: 'estimated' });
    expect(record?.inputTokens).toBeGreaterThan(0);
    expect(record?.outputTokens).toBeGreaterThanOrEqual(300);
    expect(record?.chargeMicros).toBeGreaterThan(0);
    // The client is told the counts it was billed on.
    expect(text).toContain(
      `"prompt_tokens":${record?.inputTokens},"completion_tokens":${record?.outputTokens}`,
    );
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

  it('treats a stream that stops without [DONE] as cut unless every choice finished, usage on each chunk or not', async () => {
    const perChunk = (content: string, n: number) =>
      chunk(content, { usage: { prompt_tokens: 4, completion_tokens: n } });
    const cut = harness({ script: async () => sse([perChunk('Hello ', 1), perChunk('world', 2)]) });
    const cutText = await collect((await cut.call({ stream: true })).body);
    expect(cutText).not.toContain('[DONE]');
    expect(cutText.trimEnd().split('\n\n').at(-1)).toMatch(/^data: \{"error":\{/);
    expect(cut.usage[0]).toMatchObject({ status: 'upstream_error' });

    const whole = harness({ script: async () => sse(good.slice(0, -1)) });
    const wholeText = await collect((await whole.call({ stream: true })).body);
    expect(wholeText.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(whole.usage[0]).toMatchObject({ status: 'ok', usageSource: 'upstream', outputTokens: 2 });
  });

  it('records a valid usage event when the clock steps back during a request', async () => {
    // Each reading is a second earlier than the one before, as after an NTP step.
    let t = Date.now();
    const h = harness({
      now: () => (t -= 1_000),
      // The first model is busy, the second answers: a failed attempt and a first token to time.
      script: async () => (h.calls.length === 1 ? json(503, { error: { message: 'busy' } }) : sse(good)),
    });
    await collect((await h.call({ stream: true })).body);
    const record = h.usage[0];
    expect(record).toMatchObject({ status: 'ok', attempts: [{ outcome: 'status_503', ms: 0 }], ttftMs: 0 });
    expect(usageRecordSchema.safeParse(record).error).toBeUndefined();
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

  it('ends a read that waits for the upstream when the client leaves, by cancel or by return', async () => {
    for (const leave of ['cancel', 'return'] as const) {
      const h = harness({ script: async () => sse(good, { hangAfter: 2 }) });
      const res = await h.call({ stream: true });
      const iterator = (res.body as AsyncIterable<string>)[Symbol.asyncIterator]();
      const { waiting } = await readUntilWaiting(iterator);
      if (leave === 'cancel') await res.cancel?.();
      else await iterator.return?.();
      await expect(waiting).resolves.toEqual({ value: undefined, done: true });
      await expect(iterator.next()).resolves.toEqual({ value: undefined, done: true });
      expect(h.usage).toHaveLength(1);
      expect(h.usage[0]).toMatchObject({ status: 'client_disconnected' });
    }
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

  it('sends frames the upstream sent in one read in one write, and every frame in order', async () => {
    const batches = [
      [chunk('Hello')],
      [chunk(' a'), chunk(' b'), chunk(' c')],
      [chunk(null, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })],
      [chunk(null, { choices: [], usage: { prompt_tokens: 4, completion_tokens: 4 } }), '[DONE]'],
    ];
    const h = harness({
      script: async () => ({
        ok: true,
        text: async () => '',
        async *events() {
          for (const batch of batches) {
            // A new read from the socket: a later turn of the event loop.
            await new Promise((resolve) => setTimeout(resolve, 5));
            for (const data of batch) yield { event: undefined, data };
          }
        },
      }),
    });
    const res = await h.call({ stream: true });
    const writes: string[] = [];
    for await (const part of res.body as AsyncIterable<string>) writes.push(part);
    const frameCounts = writes.map((w) => w.split('\n\n').length - 1);
    // Hello, then a b c together, then the stop, then [DONE] once the request is recorded.
    expect(frameCounts).toEqual([1, 3, 1, 1]);
    const text = writes.join('');
    expect([...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1])).toEqual(['Hello', ' a', ' b', ' c']);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('writes the usage to the outbox when publishing fails', async () => {
    const h = harness({ publishFails: true, script: async () => sse(good) });
    await collect((await h.call({ stream: true })).body);
    expect(h.usage).toHaveLength(0);
    expect(h.outbox).toHaveLength(1);
    expect(h.outbox[0]).toMatchObject({ status: 'ok', outputTokens: 2 });
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

  it('counts reasoning_content as the first token and as generated output', async () => {
    // The reasoning arrives within the tier's 200 ms first-token timeout, the answer after it.
    const thinking = JSON.stringify({
      choices: [{ index: 0, delta: { reasoning_content: 'Let me think. '.repeat(40) } }],
    });
    const h = harness({
      script: async () => ({
        ok: true,
        text: async () => '',
        async *events() {
          yield { event: undefined, data: thinking };
          await new Promise((r) => setTimeout(r, 300));
          const answer = [
            chunk('Hello'),
            chunk(null, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }),
            chunk(null, { choices: [], usage: { prompt_tokens: 4, completion_tokens: 200 } }),
            '[DONE]',
          ];
          for (const data of answer) yield { event: undefined, data };
        },
      }),
    });
    const text = await collect((await h.call({ stream: true })).body);
    expect(text).toContain('data: [DONE]');
    expect(text).not.toContain('Let me think');
    expect(h.calls).toHaveLength(1);
    // Cut after the reasoning, the estimate counts it.
    const cut = harness({ script: async () => sse([thinking, chunk('ok')], { failAfter: 2 }) });
    await collect((await cut.call({ stream: true })).body);
    expect(cut.usage[0]?.outputTokens).toBeGreaterThan(100);
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

describe('holds', () => {
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

  it('gives one upstream id one client id in every chunk that repeats it', async () => {
    const call = (args: string) =>
      chunk(null, {
        choices: [
          {
            index: 0,
            delta: {
              tool_calls: [
                { index: 0, id: 'toolu_01R', type: 'function', function: { name: 'f', arguments: args } },
              ],
            },
          },
        ],
      });
    const h = harness({ script: async () => sse([call('{"a"'), call(':1}'), '[DONE]']) });
    const text = await collect((await h.call({ stream: true })).body);
    const ids = [...text.matchAll(/"id":"(call_[^"]+)"/g)].map((m) => m[1]);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);
    expect(toolIds.open(ids[0] ?? '')).toBe('toolu_01R');
  });
});

describe('the first content of a stream, from which it is relayed', () => {
  const deltas: Array<[string, Record<string, unknown>]> = [
    ['a refusal', { refusal: 'I cannot help with that.' }],
    ['a legacy function_call', { function_call: { name: 'lookup', arguments: '{"q":' } }],
    [
      'a custom tool call',
      { tool_calls: [{ index: 0, id: 'ctc_1', type: 'custom', custom: { name: 'sql', input: 'SELECT' } }] },
    ],
  ];
  it.each(deltas)('is %s: relayed at once, not held until the upstream finishes', async (_name, delta) => {
    // The upstream sends one delta and then nothing: held back as "no content yet", the first-token
    // timeout would abandon it and ask the next model.
    const h = harness({
      script: async () => sse([chunk(null, { choices: [{ index: 0, delta }] })], { hangAfter: 1 }),
    });
    const res = await h.call({ stream: true });
    expect(res.status).toBe(200);
    const iterator = (res.body as AsyncIterable<string>)[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value).toContain(JSON.stringify(Object.keys(delta)[0]));
    expect(h.calls).toHaveLength(1);
    await iterator.return?.();
  });
});

/**
 * Reads until a read finds nothing ready (the upstream hangs), and gives that pending read back,
 * wrapped (an async function would otherwise wait for it).
 */
async function readUntilWaiting(
  iterator: AsyncIterator<string>,
): Promise<{ waiting: Promise<IteratorResult<string>> }> {
  for (;;) {
    const read = iterator.next();
    const first = await Promise.race([
      read,
      new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 50)),
    ]);
    if (first === 'waiting') return { waiting: read };
    if (first.done) throw new Error('the stream ended instead of waiting');
  }
}
