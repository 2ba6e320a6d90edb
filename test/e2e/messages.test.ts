import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { TIER_ALIASES, TIER_IDS, type TierId } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import {
  askWithWeatherTool,
  assertAnthropic,
  validateAnthropicError,
  validateMessage,
  validateStreamEvent,
  WEATHER_TOOL,
} from '../support/anthropic-helpers.js';
import { demoUpstream, marker, servedUpstreamRequest, upstreamRequestsWith } from '../support/e2e-helpers.js';
import { createAccount } from '../support/money-helpers.js';
import { startTestRuntime } from '../support/runtime.js';

/** The official Anthropic SDK against the local runtime, as SDK users and Claude Code run it. */

let runtime: LocalRuntime;
let client: Anthropic;
/** The headers of every request the SDK sent. */
const sent: Headers[] = [];

const primaryModel = (tier: TierId): string => DEFAULT_CATALOG.tiers[tier].models[0]?.id ?? '';
const secondaryModel = (tier: TierId): string => DEFAULT_CATALOG.tiers[tier].models[1]?.id ?? '';

/** A client whose fetch counts and records the requests it sends. */
function sdk(apiKey: string, maxRetries = 0): { client: Anthropic; calls: () => number } {
  let calls = 0;
  const recording: typeof fetch = (input, init) => {
    calls++;
    sent.push(new Headers(init?.headers));
    return fetch(input, init);
  };
  return {
    client: new Anthropic({ baseURL: runtime.url, apiKey, maxRetries, fetch: recording }),
    calls: () => calls,
  };
}

beforeAll(async () => {
  runtime = await startTestRuntime({ demoCreditUsd: 100 });
  client = sdk(runtime.apiKey).client;
});
afterEach(() => demoUpstream(runtime).clearFaults());
afterAll(async () => {
  await runtime?.close();
});

async function collect(stream: AsyncIterable<Anthropic.RawMessageStreamEvent>) {
  const events: Anthropic.RawMessageStreamEvent[] = [];
  for await (const event of stream) events.push(assertAnthropic(validateStreamEvent, event));
  return events;
}

const ask = (content: string) => [{ role: 'user' as const, content }];

describe('non-streaming messages', () => {
  it('answer a schema-valid Message with the gateway id, the tier as model and the gateway headers', async () => {
    const tag = marker();
    const { data, response } = await client.messages
      .create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: ask(`hi ${tag} tokens:5`) })
      .withResponse();
    assertAnthropic(validateMessage, data);
    const requestId = response.headers.get('request-id');
    expect(requestId).toMatch(/^[0-9a-f]{24}$/);
    expect(response.headers.get('x-request-id')).toBe(requestId);
    expect(data.id).toBe(`msg_${requestId}`);
    expect(data.model).toBe('tier-2');
    expect(response.headers.get('x-tier')).toBe('tier-2');
    expect(response.headers.get('x-tier-catalog-version')).toMatch(/^[1-9]\d*$/);
    expect(data.content).toEqual([{ type: 'text', text: expect.stringMatching(/^(\w+ ){5}$/) }]);
    expect(data.stop_reason).toBe('end_turn');
    expect(data.usage.output_tokens).toBe(5);
    expect(data.usage.input_tokens).toBeGreaterThan(0);

    const upstream = servedUpstreamRequest(runtime, tag);
    expect(upstream.model).toBe(primaryModel('tier-2'));
    expect(upstream.body.max_tokens).toBe(64);
    // The client's protocol version goes upstream as the client sent it.
    const version = sent.at(-1)?.get('anthropic-version');
    expect(version).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(upstream.headers['anthropic-version']).toBe(version);
  });

  it('serve every tier id, alias and Claude family name, whatever its case', async () => {
    const names: Array<[string, TierId]> = [
      ...TIER_IDS.map((id) => [id, id] as [string, TierId]),
      ...Object.entries(TIER_ALIASES),
      ['claude-3-5-haiku-latest', 'tier-1'],
      ['claude-haiku-4-5', 'tier-1'],
      ['claude-sonnet-4-5', 'tier-2'],
      ['claude-3-7-sonnet-20250219', 'tier-2'],
      ['claude-opus-4-1', 'tier-3'],
      ['claude-opus-4-1-20250805', 'tier-3'],
      ['Claude-Sonnet-4', 'tier-2'],
      ['CLAUDE-OPUS-4', 'tier-3'],
      ['claude-3-HAIKU-20240307', 'tier-1'],
    ];
    for (const [name, tier] of names) {
      const tag = marker();
      const { data, response } = await client.messages
        .create({ model: name, max_tokens: 32, messages: ask(`hi ${tag} tokens:3`) })
        .withResponse();
      assertAnthropic(validateMessage, data);
      expect(data.model, `model reported for ${name}`).toBe(tier);
      expect(response.headers.get('x-tier'), `x-tier for ${name}`).toBe(tier);
      expect(servedUpstreamRequest(runtime, tag).model, `upstream model for ${name}`).toBe(
        primaryModel(tier),
      );
    }
  });
});

describe('reads', () => {
  it('list the tiers with the SDK', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual([...TIER_IDS, 'tier-auto']);
    expect((await client.models.retrieve('tier-2')).id).toBe('tier-2');
  });

  it('take the key as x-api-key, as Anthropic clients send it, on every read', async () => {
    for (const path of ['/v1/models', '/v1/models/tier-1', '/v1/key', '/v1/usage', '/v1/requests']) {
      const res = await fetch(`${runtime.url}${path}`, { headers: { 'x-api-key': runtime.apiKey } });
      expect(res.status, path).toBe(200);
      await res.arrayBuffer();
    }
  });
});

describe('streaming messages', () => {
  it('stream schema-valid events in Anthropic order, with usage in message_start and message_delta', async () => {
    const { data: stream, response } = await client.messages
      .create({
        model: 'claude-3-5-haiku-latest',
        max_tokens: 64,
        stream: true,
        messages: ask(`stream ${marker()} tokens:6`),
      })
      .withResponse();
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-tier')).toBe('tier-1');
    expect(response.headers.get('request-id')).toBe(response.headers.get('x-request-id'));
    const events = await collect(stream);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('message_start');
    expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(types.filter((t) => t === 'content_block_delta')).toHaveLength(6);
    const start = events[0] as Anthropic.RawMessageStartEvent;
    expect(start.message.id).toBe(`msg_${response.headers.get('request-id')}`);
    expect(start.message.model).toBe('tier-1');
    expect(start.message.usage.input_tokens).toBeGreaterThan(0);
    const delta = events.at(-2) as Anthropic.RawMessageDeltaEvent;
    expect(delta.delta.stop_reason).toBe('end_turn');
    expect(delta.usage.output_tokens).toBe(6);
  });

  it("accumulate into one whole message with the SDK's stream helper", async () => {
    const message = await client.messages
      .stream({ model: 'claude-haiku-4-5', max_tokens: 3, messages: ask(`acc ${marker()} tokens:8`) })
      .finalMessage();
    // (The helper adds fields of its own, such as `parsed_output`, so no schema check here.)
    expect(message.id).toMatch(/^msg_[0-9a-f]{24}$/);
    expect(message.model).toBe('tier-1');
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.usage.output_tokens).toBe(3);
    expect(message.content[0]?.type).toBe('text');
  });
});

describe('tools', () => {
  it('seal the upstream tool-use id and open it again in the tool result that answers it', async () => {
    const tag = marker();
    const question = ask(`What is the weather in Paris? ${tag}`);
    const first = await askWithWeatherTool(client, question);
    assertAnthropic(validateMessage, first);
    expect(first.stop_reason).toBe('tool_use');
    const use = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    expect(use?.name).toBe('get_weather');
    expect(use?.input).toEqual({ location: 'Paris' });
    expect(use?.id).toMatch(/^call_[A-Za-z0-9_-]+$/);
    expect(JSON.stringify(first)).not.toContain('toolu_');

    // The demo upstream refuses a tool result that answers no tool use it minted.
    const second = await askWithWeatherTool(client, [
      ...question,
      { role: 'assistant', content: first.content },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: use?.id ?? '', content: '18°C, sunny' }],
      },
    ]);
    assertAnthropic(validateMessage, second);
    expect(second.stop_reason).toBe('end_turn');
    const upstream = upstreamRequestsWith(runtime, tag).at(-1)?.body.messages as Array<{ content: unknown }>;
    const [assistantUse] = (upstream[1]?.content ?? []) as Array<{ id: string }>;
    const [result] = (upstream[2]?.content ?? []) as Array<{ tool_use_id: string }>;
    expect(assistantUse?.id).toMatch(/^toolu_01/);
    expect(result?.tool_use_id).toBe(assistantUse?.id);
  });

  it('stream a tool call with a sealed id and its input in fragments', async () => {
    const events = await collect(
      await client.messages.create({
        model: 'claude-opus-4-1',
        max_tokens: 256,
        stream: true,
        tools: [WEATHER_TOOL],
        messages: ask(`weather in Paris please ${marker()}`),
      }),
    );
    const start = events.find(
      (e): e is Anthropic.RawContentBlockStartEvent => e.type === 'content_block_start',
    );
    expect(start?.content_block).toMatchObject({ type: 'tool_use', name: 'get_weather', input: {} });
    expect((start?.content_block as Anthropic.ToolUseBlock | undefined)?.id).toMatch(/^call_/);
    const json = events
      .map((e) =>
        e.type === 'content_block_delta' && e.delta.type === 'input_json_delta' ? e.delta.partial_json : '',
      )
      .join('');
    expect(JSON.parse(json)).toEqual({ location: 'Paris' });
    expect((events.at(-2) as Anthropic.RawMessageDeltaEvent).delta.stop_reason).toBe('tool_use');
  });
});

describe('errors as the SDK raises them', () => {
  async function rejection(promise: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Anthropic.APIError);
    const apiError = err as InstanceType<typeof Anthropic.APIError>;
    assertAnthropic(validateAnthropicError, apiError.error);
    expect(apiError.requestID).toMatch(/^[0-9a-f]{24}$/);
    return apiError;
  }

  it('a bad key is an AuthenticationError', async () => {
    const bad = sdk(`tg-${'x'.repeat(43)}`).client;
    const err = await rejection(
      bad.messages.create({ model: 'tier-1', max_tokens: 16, messages: ask('hi') }),
    );
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(err.type).toBe('authentication_error');
  });

  it('an unknown model is a NotFoundError', async () => {
    const err = await rejection(
      client.messages.create({ model: 'gpt-4o', max_tokens: 16, messages: ask('hi') }),
    );
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect(err.type).toBe('not_found_error');
  });

  it('an unknown field or a missing max_tokens is a BadRequestError naming it', async () => {
    const unknown = await rejection(
      client.messages.create({
        model: 'tier-1',
        max_tokens: 16,
        messages: ask('hi'),
        provider: { order: ['x'] },
      } as never),
    );
    expect(unknown).toBeInstanceOf(Anthropic.BadRequestError);
    expect(unknown.type).toBe('invalid_request_error');
    expect(unknown.apiMessage).toContain('provider');
    const missing = await rejection(
      client.messages.create({ model: 'tier-1', messages: ask('hi') } as never),
    );
    expect(missing).toBeInstanceOf(Anthropic.BadRequestError);
    expect(missing.apiMessage).toContain('max_tokens');
  });

  it('an empty wallet is a 402 billing_error that the SDK does not retry', async () => {
    const { apiKey } = await createAccount(runtime, 'empty-wallet', 0);
    const empty = sdk(apiKey, 3);
    const err = await rejection(
      empty.client.messages.create({ model: 'tier-1', max_tokens: 16, messages: ask('hi') }),
    );
    expect(err.status).toBe(402);
    expect(err.type).toBe('billing_error');
    expect(err.headers?.get('x-should-retry')).toBe('false');
    expect(err.headers?.get('x-tier')).toBe('tier-1');
    expect(empty.calls()).toBe(1);
  });

  it('a stream cut after its first content makes the SDK stream throw, with no message_stop', async () => {
    demoUpstream(runtime).injectFault({
      fault: { kind: 'disconnect', afterChunks: 3 },
      model: primaryModel('tier-1'),
      times: 1,
    });
    const stream = await client.messages.create({
      model: 'tier-1',
      max_tokens: 64,
      stream: true,
      messages: ask(`cut ${marker()} tokens:20`),
    });
    const seen: string[] = [];
    const err = await (async () => {
      for await (const event of stream) seen.push(assertAnthropic(validateStreamEvent, event).type);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as InstanceType<typeof Anthropic.APIError>).type).toBe('api_error');
    expect(seen.filter((t) => t === 'content_block_delta')).toHaveLength(3);
    expect(seen).not.toContain('message_stop');
  });

  it('before the first content event another model may still serve', async () => {
    demoUpstream(runtime).injectFault({
      fault: { kind: 'disconnect', afterChunks: 0 },
      model: primaryModel('tier-2'),
      times: 1,
    });
    const tag = marker();
    const events = await collect(
      await client.messages.create({
        model: 'tier-2',
        max_tokens: 64,
        stream: true,
        messages: ask(`fb ${tag} tokens:4`),
      }),
    );
    expect(events.filter((e) => e.type === 'message_start')).toHaveLength(1);
    expect(events.at(-1)?.type).toBe('message_stop');
    expect(upstreamRequestsWith(runtime, tag).map((r) => r.model)).toEqual([
      primaryModel('tier-2'),
      secondaryModel('tier-2'),
    ]);
  });
});
