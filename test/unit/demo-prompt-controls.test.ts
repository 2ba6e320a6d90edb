import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promptFault } from '../../local/demo-faults.js';
import { MAX_TTFT_MS, promptTtftMs } from '../../local/demo-replies.js';
import { type DemoUpstream, startDemoUpstream } from '../../local/demo-upstream.js';
import { schemaExample } from '../../local/schema-example.js';

/** The demo upstream's prompt controls (README, "Demo upstream") and its tool calls. */

const MODEL = 'openai/gpt-4o-mini';
let upstream: DemoUpstream;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startDemoUpstream({ ttftMs: 0, tokensPerSecond: 0 });
  client = new OpenAI({ baseURL: upstream.baseUrl, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => {
  await upstream.close();
});

/** Tool `parameters` as clients write them, from flat to nested. */
const SCHEMAS: Record<string, Record<string, unknown>> = {
  empty: { type: 'object', properties: {} },
  weather: {
    type: 'object',
    properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
    required: ['location'],
    additionalProperties: false,
  },
  bounds: {
    type: 'object',
    properties: {
      count: { type: 'integer', minimum: 3, maximum: 9, multipleOf: 3 },
      ratio: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
      code: { type: 'string', minLength: 6, maxLength: 8 },
      when: { type: 'string', format: 'date-time' },
      email: { type: 'string', format: 'email' },
      flag: { type: 'boolean' },
      nothing: { type: 'null' },
      maybe: { type: ['string', 'null'] },
      fixed: { const: 42 },
    },
    required: ['count', 'ratio', 'code'],
    additionalProperties: false,
  },
  nested: {
    type: 'object',
    properties: {
      items: {
        type: 'array',
        minItems: 2,
        items: {
          type: 'object',
          properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } },
          required: ['sku', 'qty'],
        },
      },
      address: { $ref: '#/$defs/address' },
      choice: { anyOf: [{ type: 'integer', minimum: 5 }, { type: 'string' }] },
    },
    required: ['items', 'address'],
    $defs: {
      address: {
        type: 'object',
        properties: {
          city: { type: 'string' },
          zip: { type: 'string', pattern: '^[0-9]{5}$', examples: ['75001'] },
        },
        required: ['city', 'zip'],
      },
    },
  },
  limited: {
    type: 'object',
    properties: { a: { type: 'string' }, b: { type: 'string' }, c: { type: 'string' } },
    required: ['c'],
    maxProperties: 1,
  },
};

describe('schemaExample', () => {
  const ajv = new Ajv({ strict: false, validateFormats: false });
  it.each(Object.keys(SCHEMAS))('gives a valid instance of the %s schema', (name) => {
    const schema = SCHEMAS[name] as Record<string, unknown>;
    const instance = schemaExample(schema);
    const validate = ajv.compile(schema);
    expect(validate(instance), JSON.stringify({ instance, errors: validate.errors })).toBe(true);
  });

  it('is small: bounds, enums and required fields first', () => {
    expect(schemaExample(SCHEMAS.weather)).toEqual({ location: 'demo', unit: 'celsius' });
    expect(schemaExample(SCHEMAS.bounds)).toMatchObject({ count: 3, code: 'demooo', fixed: 42 });
    expect(schemaExample(SCHEMAS.limited)).toEqual({ c: 'demo' });
    expect(schemaExample(undefined)).toEqual({});
  });
});

describe('tool calls', () => {
  const tool = (name: string) => ({
    type: 'function' as const,
    function: { name, parameters: SCHEMAS[name] as Record<string, unknown> },
  });

  it("calls a tool with arguments valid for that tool's parameters", async () => {
    const ajv = new Ajv({ strict: false, validateFormats: false });
    for (const name of Object.keys(SCHEMAS)) {
      const res = await client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: `please call ${name}` }],
        tools: [tool(name)],
      });
      const call = res.choices[0]?.message.tool_calls?.[0];
      if (call?.type !== 'function') throw new Error('expected a function call');
      expect(call.function.name).toBe(name);
      expect(ajv.compile(SCHEMAS[name] as object)(JSON.parse(call.function.arguments)), name).toBe(true);
    }
  });

  it('stops calling tools once a tool result comes back, and answers in words', async () => {
    const first = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [tool('weather')],
    });
    const call = first.choices[0]?.message.tool_calls?.[0];
    if (call?.type !== 'function') throw new Error('expected a function call');
    for (const stream of [false, true]) {
      const messages = [
        { role: 'user' as const, content: 'What is the weather in Paris? tokens:3' },
        { role: 'assistant' as const, content: null, tool_calls: [call] },
        { role: 'tool' as const, tool_call_id: call.id, content: '{"temperature": 21}' },
      ];
      if (!stream) {
        const answer = await client.chat.completions.create({
          model: MODEL,
          messages,
          tools: [tool('weather')],
        });
        expect(answer.choices[0]?.finish_reason).toBe('stop');
        expect(answer.choices[0]?.message.tool_calls).toBeUndefined();
        expect(answer.choices[0]?.message.content?.trim().split(' ')).toHaveLength(3);
      } else {
        let finish: string | null | undefined;
        let toolDeltas = 0;
        for await (const chunk of await client.chat.completions.create({
          model: MODEL,
          messages,
          tools: [tool('weather')],
          stream: true,
        })) {
          finish = chunk.choices[0]?.finish_reason ?? finish;
          toolDeltas += chunk.choices[0]?.delta.tool_calls?.length ?? 0;
        }
        expect(finish).toBe('stop');
        expect(toolDeltas).toBe(0);
      }
    }
    // A new user turn may call the tool again.
    const again = await client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' },
        { role: 'assistant', content: 'It is 21 degrees.' },
        { role: 'user', content: 'And the weather in Rome?' },
      ],
      tools: [tool('weather')],
    });
    expect(again.choices[0]?.finish_reason).toBe('tool_calls');
  });
});

describe('ttft:N', () => {
  const user = (content: string) => ({ role: 'user', content });

  it('reads the last ttft:N of the user messages, capped', () => {
    expect(promptTtftMs([user('tokens:16 ttft:170')])).toBe(170);
    expect(promptTtftMs([user('ttft:5'), { role: 'assistant', content: 'ttft:9' }, user('ttft:0 hi')])).toBe(
      0,
    );
    expect(promptTtftMs([user('ttft:30'), user('no pacing here')])).toBe(30);
    expect(promptTtftMs([user('ttft:99999999')])).toBe(MAX_TTFT_MS);
    expect(promptTtftMs([{ role: 'user', content: [{ type: 'text', text: 'ttft:12' }] }])).toBe(12);
  });

  it('is undefined when no user message asks, or the word is not one', () => {
    for (const none of ['hi', 'ttft:', 'ttft:-3', 'xttft:40', 'ttft:4.5x', 'ttft: 40']) {
      expect(promptTtftMs([user(none)]), none).toBeUndefined();
    }
    expect(promptTtftMs([{ role: 'assistant', content: 'ttft:40' }])).toBeUndefined();
  });
});

describe('fault words', () => {
  it('reads the last fault word of a prompt', () => {
    expect(promptFault('please fault:503')).toEqual({ kind: 'status', status: 503 });
    expect(promptFault('fault:429 then fault:hang')).toEqual({ kind: 'hang' });
    expect(promptFault('fault:disconnect:3')).toEqual({ kind: 'disconnect', afterChunks: 3 });
    expect(promptFault('fault:disconnect')).toEqual({ kind: 'disconnect', afterChunks: 0 });
    expect(promptFault('fault:malformed fault:no-usage')).toEqual({ kind: 'no-usage' });
    expect(promptFault('fault:slow')).toEqual({ kind: 'slow', tokensPerSecond: 5 });
    for (const none of [
      'fault:200',
      'fault:999',
      'nofault:503',
      'fault:hangs',
      'default:503',
      'fault: 503',
    ]) {
      expect(promptFault(none), none).toBeUndefined();
    }
  });

  it('answers as the word asks, from the last user message only', async () => {
    await expect(
      client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi fault:503' }] }),
    ).rejects.toMatchObject({ status: 503 });
    expect(upstream.requests.at(-1)?.fault).toBe('status');
    const noUsage = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi fault:no-usage tokens:2' }],
    });
    expect(noUsage.usage).toBeUndefined();
    const later = await client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'user', content: 'fault:503' },
        { role: 'assistant', content: 'sorry' },
        { role: 'user', content: 'try again tokens:2' },
      ],
    });
    expect(later.choices[0]?.finish_reason).toBe('stop');
  });

  it('lets an injected fault win over a fault word', async () => {
    upstream.injectFault({ fault: { kind: 'status', status: 429 }, times: 1 });
    await expect(
      client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi fault:503' }] }),
    ).rejects.toMatchObject({ status: 429 });
  });
});
