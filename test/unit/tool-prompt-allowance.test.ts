import { describe, expect, it } from 'vitest';
import { holdPrice, priceTokens } from '../../shared/domain/money.js';
import { TOOL_PROMPT_TOKENS, usesToolPrompt } from '../../shared/domain/tool-prompt-allowance.js';
import { chunk, collect, harness, json, sse, tier1 } from '../support/chat-lifecycle-harness.js';

/**
 * The hold of a request with tools allows for the tool-use system prompt an upstream adds by itself
 * (Anthropic: up to 530 tokens), which the body's bytes do not bound: a small tools request that
 * uses its whole output cap is charged in full, not clipped to a hold sized on its bytes.
 */

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather for a city.',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const CHAT_TOOL = {
  type: 'function',
  function: {
    name: WEATHER_TOOL.name,
    description: WEATHER_TOOL.description,
    parameters: WEATHER_TOOL.input_schema,
  },
};
/** What a Claude model counts for such a request: 346 tokens of tool-use prompt, the tool and the text. */
const REPORTED_INPUT = 346 + 120;
const CAP = 16;

/** The body the harness sends for `extra`, and its UTF-8 bytes. */
const bytesOf = (body: Record<string, unknown>) => Buffer.byteLength(JSON.stringify(body));

describe('the hold of a request with tools', () => {
  it('covers a Messages answer that counts the tool-use prompt: charged in full, not clipped', async () => {
    const h = harness({
      messages: true,
      script: async () =>
        json(200, {
          type: 'message',
          id: 'msg_u',
          role: 'assistant',
          model: 'claude-x',
          content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } }],
          stop_reason: 'max_tokens',
          usage: { input_tokens: REPORTED_INPUT, output_tokens: CAP },
        }),
    });
    const res = await h.call({ max_tokens: CAP, tools: [WEATHER_TOOL] });
    expect(res.status).toBe(200);
    await collect(res.body);
    const body = {
      model: 'tier-1',
      max_tokens: CAP,
      messages: [{ role: 'user', content: 'hi' }],
      tools: [WEATHER_TOOL],
    };
    expect(bytesOf(body)).toBeLessThan(REPORTED_INPUT); // the bytes alone would not cover it
    const record = h.usage[0];
    expect(record?.clippedChargeMicros).toBeUndefined();
    expect(record?.chargeMicros).toBe(priceTokens(tier1.price, REPORTED_INPUT, CAP));
    expect(record?.holdMicros).toBe(
      priceTokens(holdPrice(tier1.price), bytesOf(body) + TOOL_PROMPT_TOKENS, CAP),
    );
  });

  it('covers a chat answer from a model that adds a tool prompt: charged in full, not clipped', async () => {
    const h = harness({
      script: async () =>
        json(200, {
          choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'length' }],
          usage: { prompt_tokens: REPORTED_INPUT, completion_tokens: CAP },
        }),
    });
    const res = await h.call({ max_tokens: CAP, tools: [CHAT_TOOL] });
    expect(res.status).toBe(200);
    await collect(res.body);
    const record = h.usage[0];
    expect(record?.clippedChargeMicros).toBeUndefined();
    expect(record?.chargeMicros).toBe(priceTokens(tier1.price, REPORTED_INPUT, CAP));
  });

  it('estimates a cut tools stream with the tool prompt, no longer clipped to the body bytes', async () => {
    const h = harness({
      script: async () => sse([chunk('Hello'), chunk(' there'), chunk(' again')], { failAfter: 2 }),
    });
    const body = { max_tokens: CAP, stream: true, tools: [CHAT_TOOL] };
    await collect((await h.call(body)).body);
    const record = h.usage[0];
    expect(record).toMatchObject({ status: 'upstream_error', usageSource: 'estimated' });
    expect(record?.inputTokens).toBeGreaterThanOrEqual(TOOL_PROMPT_TOKENS);
    expect(record?.chargeMicros).toBeLessThanOrEqual(record?.holdMicros ?? 0);
  });

  it('is not added to a request without tools', async () => {
    const h = harness({
      script: async () =>
        json(200, {
          choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 5, completion_tokens: 2 },
        }),
    });
    await collect((await h.call({ max_tokens: CAP })).body);
    const body = { model: 'tier-1', messages: [{ role: 'user', content: 'hi' }], max_tokens: CAP };
    expect(h.holds[0]?.holdMicros).toBe(priceTokens(holdPrice(tier1.price), bytesOf(body), CAP));
  });

  it("is added for a response schema on either surface: chat's response_format, Messages' output_format or output_config", () => {
    const schema = { type: 'json_schema', schema: { type: 'object' } };
    expect(usesToolPrompt({ response_format: { type: 'json_schema', json_schema: {} } })).toBe(true);
    expect(usesToolPrompt({ output_format: schema })).toBe(true);
    expect(usesToolPrompt({ output_config: { format: schema } })).toBe(true);
    expect(usesToolPrompt({ output_config: { effort: 'high' } })).toBe(false);
    expect(usesToolPrompt({ response_format: { type: 'text' } })).toBe(false);
    expect(usesToolPrompt({ tools: [] })).toBe(false);
  });
});
