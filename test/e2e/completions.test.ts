import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { describe, expect, it } from 'vitest';
import { TIER_ALIASES, TIER_IDS, type TierId } from '../../shared/domain/catalog.js';
import {
  demoUpstream,
  marker,
  primaryModel,
  servedUpstreamRequest,
  WEATHER_TOOL,
} from '../support/e2e-helpers.js';
import { client, runtime, useOpenAiRuntime } from '../support/openai-runtime.js';
import {
  assertValid,
  validateChunk,
  validateCompletion,
  validateError,
  validateModel,
  validateModelList,
} from '../support/openai-schema.js';

useOpenAiRuntime({
  // Holds are not settled in these tests; enough credit that the tier-3/4 output caps stay affordable.
  demoCreditUsd: 100,
});

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(assertValid(validateChunk, chunk));
  return chunks;
}

describe('non-streaming completions', () => {
  it('returns a schema-valid completion with the tier as model and the gateway headers', async () => {
    const tag = marker();
    const { data, response } = await client.chat.completions
      .create({ model: 'tier-2', messages: [{ role: 'user', content: `hello ${tag}` }] })
      .withResponse();
    assertValid(validateCompletion, data);
    expect(data.model).toBe('tier-2');
    expect(data.object).toBe('chat.completion');
    expect(data.id).toMatch(/^chatcmpl-/);
    expect(data.choices).toHaveLength(1);
    expect(data.choices[0]?.message.role).toBe('assistant');
    expect(typeof data.choices[0]?.message.content).toBe('string');
    expect(data.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.usage).toBeDefined();
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(data.usage?.completion_tokens).toBeGreaterThan(0);
    expect(data.usage?.total_tokens).toBe(
      (data.usage?.prompt_tokens ?? 0) + (data.usage?.completion_tokens ?? 0),
    );

    const requestId = response.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    expect(data.id).toBe(`chatcmpl-${requestId}`);
    expect(response.headers.get('x-tier')).toBe('tier-2');
    expect(response.headers.get('x-tier-catalog-version')).toMatch(/^[1-9]\d*$/);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('serves every tier id and every alias and reports the canonical tier id', async () => {
    const names: Array<[string, TierId]> = [
      ...TIER_IDS.map((id) => [id, id] as [string, TierId]),
      ...Object.entries(TIER_ALIASES),
    ];
    expect(names).toHaveLength(8);
    for (const [name, tier] of names) {
      const tag = marker();
      const { data, response } = await client.chat.completions
        .create({ model: name, max_tokens: 32, messages: [{ role: 'user', content: `hi ${tag} tokens:3` }] })
        .withResponse();
      assertValid(validateCompletion, data);
      expect(data.model, `model reported for ${name}`).toBe(tier);
      expect(response.headers.get('x-tier'), `x-tier for ${name}`).toBe(tier);
      expect(servedUpstreamRequest(runtime, tag).model, `upstream model for ${name}`).toBe(
        primaryModel(tier),
      );
    }
  });
});

describe('streaming completions', () => {
  it('streams schema-valid chunks whose model is the tier id, with the gateway headers', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({
        model: 'balance',
        stream: true,
        messages: [{ role: 'user', content: `stream please ${marker()} tokens:6` }],
      })
      .withResponse();
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-tier')).toBe('tier-2');
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(response.headers.get('x-tier-catalog-version')).toMatch(/^[1-9]\d*$/);
    const chunks = await collect(stream);
    expect(chunks.length).toBeGreaterThan(6);
    for (const chunk of chunks) {
      expect(chunk.model).toBe('tier-2');
      expect(chunk.object).toBe('chat.completion.chunk');
      expect(chunk.id).toBe(`chatcmpl-${response.headers.get('x-request-id')}`);
    }
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text.trim().split(/\s+/)).toHaveLength(6);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
  });

  it('forwards chunks as they arrive instead of buffering the reply', async () => {
    const upstream = demoUpstream(runtime);
    const tokens = 20;
    const tag = marker();
    upstream.setPacing({ tokensPerSecond: 25 });
    try {
      const stream = await client.chat.completions.create({
        model: 'tier-1',
        stream: true,
        messages: [{ role: 'user', content: `pace ${tag} tokens:${tokens}` }],
      });
      // At each content chunk the client receives: how many tokens had the upstream sent by then?
      const sentWhenReceived: number[] = [];
      for await (const chunk of stream) {
        assertValid(validateChunk, chunk);
        if (!chunk.choices[0]?.delta.content) continue;
        const call = upstream.requests.find((r) => JSON.stringify(r.body).includes(tag));
        sentWhenReceived.push(call?.outputTokens ?? -1);
      }
      expect(sentWhenReceived).toHaveLength(tokens);
      // Causal, not timed: a buffering gateway would hand over the first chunk only after the
      // upstream had sent its last one.
      expect(sentWhenReceived[0]).toBeGreaterThan(0);
      expect(sentWhenReceived[0]).toBeLessThan(tokens);
    } finally {
      upstream.setPacing({ tokensPerSecond: 500 });
    }
  });

  it('sends a final usage chunk only when stream_options.include_usage is true', async () => {
    const withTag = marker('with');
    const withUsage = await collect(
      await client.chat.completions.create({
        model: 'tier-1',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: `usage ${withTag} tokens:4` }],
      }),
    );
    const last = withUsage.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.completion_tokens).toBe(4);
    expect(last?.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(last?.usage?.total_tokens).toBe((last?.usage?.prompt_tokens ?? 0) + 4);
    expect(withUsage.filter((c) => c.usage)).toHaveLength(1);
    expect(withUsage.filter((c) => c.choices.length === 0)).toHaveLength(1);

    const withoutTag = marker('without');
    const withoutUsage = await collect(
      await client.chat.completions.create({
        model: 'tier-1',
        stream: true,
        messages: [{ role: 'user', content: `no usage ${withoutTag} tokens:4` }],
      }),
    );
    expect(withoutUsage.length).toBeGreaterThan(0);
    expect(withoutUsage.some((c) => c.usage !== undefined && c.usage !== null)).toBe(false);
    expect(withoutUsage.some((c) => c.choices.length === 0)).toBe(false);

    const falseTag = marker('false');
    const falseUsage = await collect(
      await client.chat.completions.create({
        model: 'tier-1',
        stream: true,
        stream_options: { include_usage: false },
        messages: [{ role: 'user', content: `usage false ${falseTag} tokens:4` }],
      }),
    );
    expect(falseUsage.some((c) => c.usage !== undefined && c.usage !== null)).toBe(false);

    // The upstream is always asked for usage, so streams are billed on real usage.
    for (const tag of [withTag, withoutTag, falseTag]) {
      const body = servedUpstreamRequest(runtime, tag).body;
      expect(body.stream, tag).toBe(true);
      expect((body.stream_options as { include_usage?: unknown } | undefined)?.include_usage, tag).toBe(true);
    }
  });
});

describe('tool calls', () => {
  it('passes a non-streaming tool call through', async () => {
    const res = await client.chat.completions.create({
      model: 'tier-2',
      tools: [WEATHER_TOOL],
      messages: [{ role: 'user', content: `What is the weather in Paris? ${marker()}` }],
    });
    assertValid(validateCompletion, res);
    const choice = res.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') throw new Error('expected a function tool call');
    expect(call.id).toBeTruthy();
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ location: 'demo' });
  });

  it('streams a tool call whose reassembled arguments parse as JSON', async () => {
    const chunks = await collect(
      await client.chat.completions.create({
        model: 'tier-2',
        stream: true,
        tools: [WEATHER_TOOL],
        messages: [{ role: 'user', content: `What is the weather in Paris? ${marker()}` }],
      }),
    );
    const calls = new Map<number, { id?: string; name: string; arguments: string }>();
    let finish: string | null | undefined;
    for (const chunk of chunks) {
      expect(chunk.model).toBe('tier-2');
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.finish_reason) finish = choice.finish_reason;
      for (const delta of choice.delta.tool_calls ?? []) {
        const call = calls.get(delta.index) ?? { name: '', arguments: '' };
        if (delta.id) call.id = delta.id;
        call.name += delta.function?.name ?? '';
        call.arguments += delta.function?.arguments ?? '';
        calls.set(delta.index, call);
      }
    }
    expect(finish).toBe('tool_calls');
    expect(calls.size).toBe(1);
    const call = calls.get(0);
    expect(call?.id).toBeTruthy();
    expect(call?.name).toBe('get_weather');
    expect(JSON.parse(call?.arguments ?? '')).toEqual({ location: 'demo' });
  });
});

describe('GET /v1/models', () => {
  it('lists the four tiers and tier-auto, owned by tiergate', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) {
      expect(model.owned_by).toBe('tiergate');
      expect(model.object).toBe('model');
      ids.push(model.id);
    }
    expect(ids).toEqual([...TIER_IDS, 'tier-auto']);

    const raw = await fetch(`${runtime.url}/v1/models`, {
      headers: { authorization: `Bearer ${runtime.apiKey}` },
    });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toMatch(/^application\/json/);
    expect(raw.headers.get('x-request-id')).toBeTruthy();
    assertValid(validateModelList, await raw.json());
  });

  it('requires an API key', async () => {
    const raw = await fetch(`${runtime.url}/v1/models`);
    expect(raw.status).toBe(401);
    expect((await fetch(`${runtime.url}/v1/models/tier-1`)).status).toBe(401);
  });
});

describe('GET /v1/models/{id}', () => {
  it('returns the canonical tier object for a tier id or an alias', async () => {
    for (const [asked, tier] of [
      ['tier-3', 'tier-3'],
      ['speed', 'tier-1'],
      ['balance', 'tier-2'],
      ['reasoning', 'tier-4'],
    ] as const) {
      const model = await client.models.retrieve(asked);
      assertValid(validateModel, model);
      expect(model).toMatchObject({ id: tier, object: 'model', owned_by: 'tiergate' });
    }
    const raw = await fetch(`${runtime.url}/v1/models/intelligence`, {
      headers: { authorization: `Bearer ${runtime.apiKey}` },
    });
    expect(raw.headers.get('x-tier')).toBe('tier-3');
    expect(raw.headers.get('x-tier-catalog-version')).toMatch(/^\d+$/);
  });

  it('is a 404 model_not_found for anything else, upstream model ids included', async () => {
    for (const id of ['gpt-4o', 'openai%2Fgpt-4o-mini', 'tier-5', '%zz']) {
      const raw = await fetch(`${runtime.url}/v1/models/${id}`, {
        headers: { authorization: `Bearer ${runtime.apiKey}` },
      });
      expect(raw.status, id).toBe(404);
      const body = assertValid(validateError, await raw.json());
      expect((body as { error: { code: string } }).error.code).toBe('model_not_found');
    }
    await expect(client.models.retrieve('gpt-4o')).rejects.toMatchObject({ status: 404 });
    // A path below a model is no route at all.
    const nested = await fetch(`${runtime.url}/v1/models/tier-1/extra`, {
      headers: { authorization: `Bearer ${runtime.apiKey}` },
    });
    expect(nested.status).toBe(404);
    expect(((await nested.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});
