import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  AnthropicMessagesDialect,
  type MessagesParsed,
} from '../../shared/dialects/anthropic-messages/dialect.js';
import { anthropicErrorResponse } from '../../shared/dialects/anthropic-messages/errors.js';
import {
  openToolUseIds,
  parseMessagesRequest,
  resolveMessagesTier,
} from '../../shared/dialects/anthropic-messages/request.js';
import {
  budgetExceeded,
  dailySpendLimit,
  type GatewayError,
  insufficientQuota,
  internalError,
  invalidApiKey,
  invalidRequest,
  modelNotFound,
  rateLimited,
  requestTooLarge,
  upstreamError,
  upstreamTimeout,
} from '../../shared/domain/errors.js';
import { ToolCallIds } from '../../shared/domain/tool-call-ids.js';
import type { HttpRequest } from '../../shared/http.js';
import type { Exchange } from '../../shared/lifecycle/dialect.js';
import { HttpUpstream } from '../../shared/upstreams/openai-http.js';
import {
  assertAnthropic,
  validateAnthropicError,
  validateMessage,
  validateStreamEvent,
} from '../support/anthropic-helpers.js';

/** The Messages dialect on its own: parsing, framing, usage, errors and the upstream call. */

const ids = new ToolCallIds('unit test tool ids');
const dialect = new AnthropicMessagesDialect(async () => ids);
const MODEL = { id: 'anthropic/claude-sonnet-4', cost: { inputMicrosPerMTok: 1, outputMicrosPerMTok: 1 } };

function request(body: unknown, headers: Record<string, string> = {}): HttpRequest {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return {
    method: 'POST',
    path: '/v1/messages',
    headers,
    query: {},
    body: text,
    bodyBytes: Buffer.byteLength(text),
  };
}

const base = { model: 'tier-2', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };

function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    return err as GatewayError;
  }
  throw new Error('did not throw');
}

async function prepared(body: unknown = base, headers: Record<string, string> = {}): Promise<MessagesParsed> {
  const parsed = dialect.parse(request(body, headers));
  await dialect.prepare(parsed);
  return parsed;
}

const event = (data: unknown, name?: string) => ({
  event: name ?? (data as { type?: string }).type,
  data: typeof data === 'string' ? data : JSON.stringify(data),
});

/** The data of every frame, checking that each is a named, schema-valid event. */
function frames(out: string[]): Array<Record<string, unknown>> {
  return out.map((f) => {
    const match = /^event: (\w+)\ndata: (.*)\n\n$/s.exec(f);
    if (!match) throw new Error(`not an SSE frame: ${f}`);
    const data = JSON.parse(match[2] ?? '') as Record<string, unknown>;
    expect(data.type).toBe(match[1]);
    return assertAnthropic(validateStreamEvent, data);
  });
}

describe('model names', () => {
  it('resolves tier ids, aliases and Claude family names, case ignored', () => {
    const cases: Array<[string, string | undefined]> = [
      ['tier-1', 'tier-1'],
      ['TIER-4', 'tier-4'],
      ['balance', 'tier-2'],
      ['Intelligence', 'tier-3'],
      ['claude-3-5-haiku-latest', 'tier-1'],
      ['claude-sonnet-4-5-20250929', 'tier-2'],
      ['CLAUDE-OPUS-4-1', 'tier-3'],
      ['anthropic/claude-Haiku-4.5', 'tier-1'],
      ['gpt-4o', undefined],
      ['claude-instant-1.2', undefined],
      ['', undefined],
    ];
    for (const [name, tier] of cases) expect(resolveMessagesTier(name), name).toBe(tier);
  });
});

describe('parsing a Messages request', () => {
  it('requires max_tokens and names unknown top-level fields', () => {
    const { max_tokens: _omit, ...noMax } = base;
    expect(thrown(() => parseMessagesRequest(noMax))).toMatchObject({ status: 400, param: 'max_tokens' });
    const unknown = thrown(() => parseMessagesRequest({ ...base, provider: {}, fallbacks: [] }));
    expect(unknown).toMatchObject({ status: 400, param: 'provider' });
    expect(unknown.message).toContain('provider, fallbacks');
  });

  it('checks the documented types before the model, so a bad body is a 400 whatever the model', () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ ...base, max_tokens: 0 }, 'max_tokens'],
      [{ ...base, max_tokens: 1.5 }, 'max_tokens'],
      [{ ...base, model: 7 }, 'model'],
      [{ ...base, messages: [] }, 'messages'],
      [{ ...base, messages: [{ role: 'system', content: 'x' }] }, 'messages.0.role'],
      [{ ...base, messages: [{ role: 'user', content: [{ text: 'no type' }] }] }, 'messages.0.content'],
      [{ ...base, temperature: 1.5 }, 'temperature'],
      [{ ...base, top_k: -1 }, 'top_k'],
      [{ ...base, stop_sequences: 'END' }, 'stop_sequences'],
      [{ ...base, system: [{ type: 'image' }] }, 'system'],
      [{ ...base, tools: {} }, 'tools'],
      [{ ...base, stream: 'yes' }, 'stream'],
      [{ ...base, tool_choice: 'auto' }, 'tool_choice'],
      [{ ...base, model: 'gpt-4o', thinking: 'on' }, 'thinking'],
    ];
    for (const [body, param] of bad) {
      expect(
        thrown(() => parseMessagesRequest(body)),
        param,
      ).toMatchObject({ status: 400, param });
    }
    expect(thrown(() => parseMessagesRequest({ ...base, model: 'gpt-4o' }))).toMatchObject({
      status: 404,
      code: 'model_not_found',
    });
  });

  it('counts image and document blocks, inline image bytes apart, in messages and tool results', () => {
    const png = 'iVBORw0KGgo'.repeat(100);
    const parsed = parseMessagesRequest({
      ...base,
      stream: true,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0x' } },
            { type: 'text', text: 'what is this?' },
          ],
        },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'look', input: {} }] },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 't',
              content: [{ type: 'image', source: { type: 'base64', data: png } }],
            },
          ],
        },
      ],
    });
    expect(parsed).toMatchObject({ tier: 'tier-2', stream: true, requestedMaxTokens: 100, choices: 1 });
    expect(parsed.mediaParts).toBe(4);
    expect(parsed.inlineMediaBytes).toBe(2 * png.length);
  });

  it('takes the prompt fields only for count_tokens', () => {
    const { max_tokens: _omit, ...prompt } = base;
    expect(parseMessagesRequest({ ...prompt, system: 'be brief' }, { count: true })).toMatchObject({
      tier: 'tier-2',
      stream: false,
      requestedMaxTokens: undefined,
    });
    expect(thrown(() => parseMessagesRequest(base, { count: true }))).toMatchObject({ param: 'max_tokens' });
    expect(thrown(() => parseMessagesRequest({ ...prompt, stream: true }, { count: true }))).toMatchObject({
      param: 'stream',
    });
  });

  it('opens sealed tool-use ids in tool uses and tool results, and leaves other ids alone', () => {
    const sealed = ids.seal('toolu_01abc');
    const messages = [
      { role: 'assistant', content: [{ type: 'tool_use', id: sealed, name: 'f', input: {} }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: sealed },
          { type: 'tool_result', tool_use_id: 'client-made' },
        ],
      },
    ];
    openToolUseIds(messages, (id) => ids.open(id));
    expect(messages[0]?.content[0]).toMatchObject({ id: 'toolu_01abc' });
    expect(messages[1]?.content).toEqual([
      { type: 'tool_result', tool_use_id: 'toolu_01abc' },
      { type: 'tool_result', tool_use_id: 'client-made' },
    ]);
  });
});

describe('the upstream call', () => {
  it('rewrites only model and max_tokens, forwards the protocol headers and asks for x-api-key', async () => {
    const system = [{ type: 'text', text: 'rules', cache_control: { type: 'ephemeral' } }];
    const parsed = await prepared(
      { ...base, system, stream: true, metadata: { user_id: 'u1' } },
      { 'anthropic-beta': 'a-2025-01-01,b-2025-02-02', 'x-api-key': 'ignored' },
    );
    const call = dialect.upstreamRequest(parsed, MODEL, 42);
    expect(call).toEqual({
      path: '/messages',
      body: { ...base, system, stream: true, metadata: { user_id: 'u1' }, model: MODEL.id, max_tokens: 42 },
      headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'a-2025-01-01,b-2025-02-02' },
      auth: 'bearer+x-api-key',
    });
    const versioned = await prepared(base, { 'anthropic-version': '2024-01-01' });
    expect(dialect.upstreamRequest(versioned, MODEL, 1).headers).toEqual({
      'anthropic-version': '2024-01-01',
    });
  });

  it('reads the key from x-api-key, else from a bearer token', () => {
    expect(dialect.credentials(request(base, { 'x-api-key': 'tg-a', authorization: 'Bearer tg-b' }))).toBe(
      'tg-a',
    );
    expect(dialect.credentials(request(base, { authorization: 'Bearer tg-b' }))).toBe('tg-b');
    expect(dialect.credentials(request(base))).toBeUndefined();
  });

  it('sends the upstream key as x-api-key only when the request asks for it', async () => {
    const seen: Array<Record<string, unknown>> = [];
    const server = createServer((req, res) => {
      seen.push({ ...req.headers });
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const upstream = new HttpUpstream({
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        apiKey: async () => 'sk-up',
      });
      const signal = new AbortController().signal;
      await upstream.send(
        { path: '/messages', body: {}, headers: { 'anthropic-version': 'v' }, auth: 'bearer+x-api-key' },
        signal,
      );
      await upstream.send({ path: '/chat/completions', body: {} }, signal);
      expect(seen[0]).toMatchObject({
        authorization: 'Bearer sk-up',
        'x-api-key': 'sk-up',
        'anthropic-version': 'v',
      });
      expect(seen[1]).toMatchObject({ authorization: 'Bearer sk-up' });
      expect(seen[1]?.['x-api-key']).toBeUndefined();
    } finally {
      server.close();
    }
  });
});

describe('framing a stream', () => {
  const identity = { requestId: 'a1b2c3', tier: 'tier-2' as const, created: 1 };
  const upstreamStart = {
    type: 'message_start',
    message: {
      id: 'msg_01Upstream',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-20250514',
      provider: 'Anthropic',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: 10,
        cache_creation_input_tokens: 100,
        cache_read_input_tokens: 1000,
        output_tokens: 1,
        inference_geo: 'us',
      },
    },
  };

  async function exchange(): Promise<Exchange> {
    return dialect.exchange(await prepared(), identity);
  }

  it('rewrites identity, seals tool ids, counts content from the first delta or tool use, and holds back the final delta', async () => {
    const x = await exchange();
    const start = x.event(event(upstreamStart));
    expect(start.content).toBe(false);
    const [message] = frames(start.frames);
    expect(message?.message).toMatchObject({ id: 'msg_a1b2c3', model: 'tier-2' });
    expect(JSON.stringify(message)).not.toMatch(/provider|inference_geo|msg_01|claude/);
    expect(x.event(event({ type: 'ping' })).content).toBe(false);
    expect(
      x.event(event({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }))
        .content,
    ).toBe(false);
    const delta = x.event(
      event({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } }),
    );
    expect(delta.content).toBe(true);
    frames(delta.frames);
    x.event(event({ type: 'content_block_stop', index: 0 }));
    const tool = x.event(
      event({
        type: 'content_block_start',
        index: 1,
        content_block: {
          type: 'tool_use',
          id: 'toolu_01X',
          name: 'f',
          input: {},
          caller: { type: 'direct' },
        },
      }),
    );
    const [toolStart] = frames(tool.frames);
    const sealed = (toolStart?.content_block as { id: string } | undefined)?.id ?? '';
    expect(sealed).toMatch(/^call_/);
    expect(ids.open(sealed)).toBe('toolu_01X');
    expect(x.usage()).toBeUndefined(); // no final usage yet: a cut here is estimated
    expect(x.endedCleanly()).toBe(false);
    const final = x.event(
      event({
        type: 'message_delta',
        delta: { stop_reason: 'tool_use', stop_sequence: null },
        usage: { output_tokens: 7 },
      }),
    );
    expect(final.frames).toEqual([]);
    expect(x.endedCleanly()).toBe(true);
    expect(x.event(event({ type: 'message_stop' })).end).toBe('done');
    // DESIGN §13: every prompt token counts, cache reads and writes included.
    expect(x.usage()).toEqual({
      inputTokens: 1110,
      outputTokens: 7,
      cachedInputTokens: 1000,
      cacheWriteTokens: 100,
    });
    const [messageDelta, stop] = frames(x.endFrames({ inputTokens: 1110, outputTokens: 7 }));
    expect(messageDelta).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 7 } });
    expect(stop).toEqual({ type: 'message_stop' });
    expect(x.generatedText()).toContain('Hello');
  });

  it('reports billed usage when the upstream sent none, and fails on error events and bad data', async () => {
    const x = await exchange();
    x.event(event({ ...upstreamStart, message: { ...upstreamStart.message, usage: undefined } }));
    x.event(event({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } }));
    x.event(event({ type: 'message_delta', delta: { stop_reason: 'end_turn' } }));
    expect(x.usage()).toBeUndefined();
    const [delta] = frames(x.endFrames({ inputTokens: 50, outputTokens: 2 }));
    expect(delta?.usage).toEqual({
      input_tokens: 50,
      output_tokens: 2,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    });

    const y = await exchange();
    expect(y.event(event({ type: 'future_event', secret: 'x' })).frames).toEqual([]);
    expect(
      y.event(event({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })).end,
    ).toBe('failed');
    expect(y.event(event('{not json', 'content_block_delta')).end).toBe('failed');
    const errorFrame = y.errorFrame(upstreamError());
    expect(errorFrame).toMatch(/^event: error\n/);
    const data = JSON.parse(errorFrame.split('data: ')[1] ?? '') as { error: { type: string } };
    assertAnthropic(validateAnthropicError, data);
    expect(data.error.type).toBe('api_error');
  });

  it('answers a whole body with the gateway identity and normalised usage', async () => {
    const x = await exchange();
    expect(x.complete('{"type":"error","error":{"type":"api_error","message":"x"}}')).toBe(false);
    expect(
      x.complete(
        JSON.stringify({
          ...upstreamStart.message,
          content: [
            { type: 'thinking', thinking: 'hmm', signature: 'sig' },
            { type: 'tool_use', id: 'toolu_01Y', name: 'f', input: { a: 1 } },
          ],
          stop_reason: 'tool_use',
          usage: { input_tokens: 5, output_tokens: 9, cache_read_input_tokens: 20 },
        }),
      ),
    ).toBe(true);
    expect(x.usage()).toEqual({
      inputTokens: 25,
      outputTokens: 9,
      cachedInputTokens: 20,
      cacheWriteTokens: 0,
    });
    const body = assertAnthropic(validateMessage, x.body({ inputTokens: 25, outputTokens: 9 })) as {
      content: Array<{ id?: string }>;
      id: string;
    };
    expect(body.id).toBe('msg_a1b2c3');
    expect(ids.open(body.content[1]?.id ?? '')).toBe('toolu_01Y');
  });
});

describe('errors in the Messages shape', () => {
  it('maps every gateway error to its Anthropic status and type, with the request id headers', () => {
    const cases: Array<[GatewayError, number, string]> = [
      [invalidRequest('bad'), 400, 'invalid_request_error'],
      [invalidApiKey(), 401, 'authentication_error'],
      [insufficientQuota(), 402, 'billing_error'],
      [budgetExceeded('key'), 402, 'billing_error'],
      [modelNotFound(), 404, 'not_found_error'],
      [requestTooLarge(10), 413, 'request_too_large'],
      [rateLimited(7), 429, 'rate_limit_error'],
      [upstreamError(), 502, 'api_error'],
      [dailySpendLimit(60), 503, 'overloaded_error'],
      [upstreamTimeout(), 504, 'api_error'],
      [internalError(new Error('secret detail')), 500, 'api_error'],
    ];
    for (const [error, status, type] of cases) {
      const res = anthropicErrorResponse(error, 'rid');
      const body = assertAnthropic(validateAnthropicError, JSON.parse(res.body as string)) as {
        error: { type: string; message: string };
      };
      expect(res.status, error.code).toBe(status);
      expect(body.error.type, error.code).toBe(type);
      expect(res.headers['request-id']).toBe('rid');
      expect(res.headers['x-request-id']).toBe('rid');
      expect(res.errorCode).toBe(error.code);
      expect(body.error.message).not.toContain('secret');
      if (status === 402) expect(res.headers['x-should-retry']).toBe('false');
    }
    expect(anthropicErrorResponse(rateLimited(7), 'r').headers['retry-after']).toBe('7');
    expect(anthropicErrorResponse(dailySpendLimit(60), 'r').headers['retry-after']).toBe('60');
  });
});
