import { describe, expect, it } from 'vitest';
import { anthropicErrorResponse } from '../../shared/dialects/anthropic-messages/errors.js';
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
import type { Exchange } from '../../shared/lifecycle/dialect.js';
import {
  assertAnthropic,
  unitDialect as dialect,
  unitToolIds as ids,
  preparedRequest as prepared,
  validateAnthropicError,
  validateMessage,
  validateStreamEvent,
} from '../support/anthropic-helpers.js';

/** The Messages dialect's side of an answer: event framing, bodies, usage and errors. */

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
    const [messageDelta, stop] = frames(x.endFrames({ inputTokens: 1110, outputTokens: 7, chargeMicros: 0 }));
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
    const [delta] = frames(x.endFrames({ inputTokens: 50, outputTokens: 2, chargeMicros: 0 }));
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
    const body = assertAnthropic(
      validateMessage,
      x.body({ inputTokens: 25, outputTokens: 9, chargeMicros: 0 }),
    ) as {
      content: Array<{ id?: string }>;
      id: string;
    };
    expect(body.id).toBe('msg_a1b2c3');
    expect(ids.open(body.content[1]?.id ?? '')).toBe('toolu_01Y');
  });
});

describe('fields beyond text and tool use', () => {
  const identity = { requestId: 'a1b2c3', tier: 'tier-2' as const, created: 1 };
  const refusal = {
    type: 'refusal',
    category: 'cyber',
    explanation: 'Claude X refused; retry on the fallback model.',
    fallback_credit_token: 'fct_upstream',
  };
  const edits = {
    applied_edits: [{ type: 'clear_tool_uses_20250919', cleared_tool_uses: 2, cleared_input_tokens: 500 }],
  };
  const serverResult = {
    type: 'future_tool_result',
    tool_use_id: 'srvtoolu_01X',
    content: [{ type: 'result', url: 'https://example.com' }],
    provider_meta: 'anthropic/claude-leakmodel',
    model: 'claude-leakmodel',
  };

  it('keeps a block of a type it does not know to the schema’s fields, sealing its tool-use id', async () => {
    const x = dialect.exchange(await prepared(), identity);
    const start = x.event(event({ type: 'content_block_start', index: 0, content_block: serverResult }));
    const block = JSON.parse(start.frames[0]?.split('data: ')[1] ?? '').content_block;
    expect(Object.keys(block).sort()).toEqual(['content', 'tool_use_id', 'type']);
    expect(ids.open(block.tool_use_id)).toBe('srvtoolu_01X');
    expect(JSON.stringify(block)).not.toMatch(/leakmodel/);
  });

  it('passes on a refusal’s category and the context edits applied, in a body and at a stream’s end', async () => {
    const body = dialect.exchange(await prepared(), identity);
    expect(
      body.complete(
        JSON.stringify({
          type: 'message',
          role: 'assistant',
          model: 'claude-x',
          content: [serverResult],
          stop_reason: 'refusal',
          stop_sequence: null,
          stop_details: refusal,
          context_management: edits,
          usage: { input_tokens: 5, output_tokens: 0 },
        }),
      ),
    ).toBe(true);
    const message = body.body({ inputTokens: 5, outputTokens: 0, chargeMicros: 0 }) as Record<
      string,
      unknown
    >;
    expect(message.stop_details).toEqual({ type: 'refusal', category: 'cyber' });
    expect(message.context_management).toEqual(edits);
    expect(JSON.stringify(message)).not.toMatch(/leakmodel|Claude|fct_/);

    const stream = dialect.exchange(await prepared(), identity);
    stream.event(
      event({
        type: 'message_delta',
        delta: { stop_reason: 'refusal', stop_details: refusal },
        context_management: edits,
        usage: { output_tokens: 0 },
      }),
    );
    const [delta] = frames(stream.endFrames({ inputTokens: 5, outputTokens: 0, chargeMicros: 0 }));
    expect(delta).toMatchObject({
      delta: { stop_reason: 'refusal', stop_details: { type: 'refusal', category: 'cyber' } },
      context_management: edits,
    });
    expect(JSON.stringify(delta)).not.toMatch(/Claude|fct_/);
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
