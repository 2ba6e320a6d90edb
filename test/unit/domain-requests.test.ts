import { describe, expect, it } from 'vitest';
import { parseChatRequest } from '../../shared/dialects/openai-chat/request.js';
import {
  ChunkFramer,
  readUsage,
  sanitizeChunk,
  sanitizeCompletion,
  textChoice,
} from '../../shared/dialects/openai-chat/response.js';
import { compileCatalog, resolveTierId } from '../../shared/domain/catalog.js';
import { parseCatalogDocument } from '../../shared/domain/catalog-schema.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { GatewayError } from '../../shared/domain/errors.js';
import { type Json, parseJsonObject } from '../../shared/domain/json-body.js';
import { SseParser, sseFrame } from '../../shared/domain/sse.js';

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

  it('frames text chunks (its fast path) exactly as the general path, for every shape of choice', () => {
    const framer = new ChunkFramer(identity);
    const contents = [
      undefined,
      null,
      '',
      'x',
      'a "quote", a \\ and a\nnewline\t',
      '漢字 😀 \ud800 \u0001 </script>',
      5,
    ];
    const roles = [undefined, 'assistant', 7];
    const indexes = [undefined, 0, 2, -0, 1.5, Number.NaN, '1'];
    const finishes = [undefined, null, 'stop', 3];
    const logprobs = [undefined, null, { content: [{ token: 'x', logprob: -0.1 }] }];
    const extras: Json[] = [
      {},
      { provider: 'OpenAI', reasoning: 'thought' },
      { refusal: null },
      { tool_calls: [{ index: 0, id: 'call_1', function: { arguments: '{}' } }] },
      { annotations: [] },
    ];
    const chunks: Json[] = [];
    for (const content of contents)
      for (const role of roles)
        for (const extra of extras) {
          const delta: Json = { ...extra };
          if (role !== undefined) delta.role = role;
          if (content !== undefined) delta.content = content;
          for (const index of indexes)
            for (const finish_reason of finishes)
              for (const lp of logprobs) {
                const choice: Json = { delta, native_finish_reason: 'stop' };
                if (index !== undefined) choice.index = index;
                if (finish_reason !== undefined) choice.finish_reason = finish_reason;
                if (lp !== undefined) choice.logprobs = lp;
                chunks.push({ ...upstream, choices: [choice] });
              }
          chunks.push({ ...upstream, choices: [{ delta }, { delta, index: 1 }] });
          chunks.push({ ...upstream, choices: [null] }, { ...upstream, choices: [{ delta: null }] });
        }
    expect(chunks.length).toBeGreaterThan(5_000);
    let fast = 0;
    for (const chunk of chunks) {
      if (textChoice(chunk.choices) !== undefined) fast++;
      const frame = framer.frame(chunk);
      expect(frame).toBe(sseFrame(sanitizeChunk(chunk, identity)));
      expect(frame).not.toMatch(/gen-abc|OpenAI|gpt|fp_x|provider|reasoning|native/);
    }
    expect(fast).toBeGreaterThan(1_000);
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
