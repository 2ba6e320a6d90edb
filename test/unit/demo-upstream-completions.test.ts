import { describe, expect, it } from 'vitest';
import {
  client,
  dataEvents,
  jsonChunks,
  last,
  MODEL,
  post,
  stream,
  upstream,
  useDemoUpstream,
} from '../support/demo-upstream-client.js';

/** The demo upstream's completions: bodies, streams, pacing and tool calls. */

describe('demo upstream', () => {
  useDemoUpstream();

  it('answers a non-streaming completion with a real-looking body, usage and identifying headers', async () => {
    const messages = [{ role: 'user', content: 'Hello there ✓' }];
    const res = await post({ model: MODEL, messages });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-upstream-provider')).toBe('OpenAI');
    expect(res.headers.get('openai-organization')).toBe('demo-org');
    expect(res.headers.get('x-model-id')).toBe(MODEL);
    const body = (await res.json()) as Record<string, unknown> & {
      choices: { index: number; message: { role: string; content: string }; finish_reason: string }[];
      usage: Record<string, unknown>;
    };
    expect(body.id).toMatch(/^gen-/);
    expect(body.object).toBe('chat.completion');
    expect(body.model).toBe(MODEL);
    expect(body.provider).toBe('OpenAI');
    expect(body.system_fingerprint).toMatch(/^fp_demo_/);
    expect(typeof body.created).toBe('number');
    expect(body.choices).toHaveLength(1);
    const choice = body.choices[0];
    expect(choice?.message.role).toBe('assistant');
    expect(choice?.message.content.split(' ').filter(Boolean)).toHaveLength(24);
    expect(choice?.message.content.startsWith('Lorem ipsum ')).toBe(true);
    expect(choice?.finish_reason).toBe('stop');
    const prompt = Math.ceil(Buffer.byteLength(JSON.stringify(messages)) / 4);
    expect(body.usage).toMatchObject({
      prompt_tokens: prompt,
      completion_tokens: 24,
      total_tokens: prompt + 24,
      prompt_tokens_details: { cached_tokens: 0 },
    });
    expect(body.usage.cost).toBeGreaterThan(0);
    expect(last()).toMatchObject({
      model: MODEL,
      stream: false,
      completed: true,
      aborted: false,
      outputTokens: 24,
    });
  });

  it('derives the provider from the model id prefix', async () => {
    const cases: [string, string][] = [
      ['google/gemini-2.5-flash', 'Google'],
      ['anthropic/claude-sonnet-4', 'Anthropic'],
      ['deepseek/deepseek-r1', 'DeepSeek'],
      ['mistral/small', 'DemoProvider'],
    ];
    for (const [model, provider] of cases) {
      const res = await post({ model, messages: [{ role: 'user', content: 'hi' }] });
      const body = (await res.json()) as { provider: string; model: string };
      expect(body).toMatchObject({ provider, model });
      expect(res.headers.get('x-upstream-provider')).toBe(provider);
    }
  });

  it('works with the official SDK and honours tokens:N', async () => {
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'please write tokens:7' }],
    });
    expect(completion.choices[0]?.message.content?.split(' ').filter(Boolean)).toHaveLength(7);
    expect(completion.usage?.completion_tokens).toBe(7);
  });

  it('caps output at max_completion_tokens ?? max_tokens with finish_reason length', async () => {
    const capped = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'tokens:50' }],
      max_tokens: 5,
    });
    expect(capped.choices[0]?.finish_reason).toBe('length');
    expect(capped.usage?.completion_tokens).toBe(5);

    const preferNew = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'tokens:50' }],
      max_tokens: 5,
      max_completion_tokens: 8,
    });
    expect(preferNew.usage?.completion_tokens).toBe(8);

    const notReached = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'tokens:3' }],
      max_tokens: 5,
    });
    expect(notReached.choices[0]?.finish_reason).toBe('stop');
    expect(notReached.usage?.completion_tokens).toBe(3);

    const { events } = await stream({ messages: [{ role: 'user', content: 'tokens:50' }], max_tokens: 4 });
    const chunks = jsonChunks(events);
    expect(chunks.filter((c) => c.choices[0]?.delta.content)).toHaveLength(4);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('length');
  });

  it('produces n choices when n > 1', async () => {
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'tokens:4' }],
      n: 3,
    });
    expect(completion.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(new Set(completion.choices.map((c) => c.message.content)).size).toBe(3);
    expect(completion.usage?.completion_tokens).toBe(12);
  });

  it('streams: comment line first, role chunk, one chunk per token, finish chunk, usage chunk, [DONE]', async () => {
    const { events, res, error } = await stream({
      messages: [{ role: 'user', content: 'tokens:6' }],
      stream_options: { include_usage: true },
    });
    expect(error).toBeUndefined();
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(res.headers.get('x-upstream-provider')).toBe('OpenAI');
    expect(events[0]?.comment).toBe('OPENROUTER PROCESSING');
    const data = dataEvents(events);
    expect(data.at(-1)?.data).toBe('[DONE]');
    const chunks = jsonChunks(events);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    for (const c of chunks) {
      expect(c).toMatchObject({ object: 'chat.completion.chunk', model: MODEL, provider: 'OpenAI' });
      expect(c.id).toMatch(/^gen-/);
      expect(c.system_fingerprint).toMatch(/^fp_demo_/);
    }
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    const content = chunks.slice(1, 7);
    expect(content.map((c) => c.choices[0]?.delta.content)).toEqual([
      'Lorem ',
      'ipsum ',
      'dolor ',
      'sit ',
      'amet ',
      'consectetur ',
    ]);
    expect(content.every((c) => c.choices[0]?.finish_reason === null)).toBe(true);
    expect(chunks[7]?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks[8]?.choices).toEqual([]);
    expect(chunks[8]?.usage).toMatchObject({ completion_tokens: 6 });
    expect(chunks).toHaveLength(9);
    expect(last()).toMatchObject({ stream: true, completed: true, aborted: false, outputTokens: 6 });
  });

  it('sends no usage chunk without stream_options.include_usage', async () => {
    const { events } = await stream({ messages: [{ role: 'user', content: 'tokens:3' }] });
    const chunks = jsonChunks(events);
    expect(chunks.some((c) => c.usage !== undefined)).toBe(false);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    expect(dataEvents(events).at(-1)?.data).toBe('[DONE]');
  });

  it('streams n > 1 choices interleaved by index', async () => {
    const { events } = await stream({ messages: [{ role: 'user', content: 'tokens:3' }], n: 2 });
    const chunks = jsonChunks(events);
    const texts: string[] = [];
    for (const index of [0, 1]) {
      const mine = chunks.filter((c) => c.choices[0]?.index === index);
      expect(mine[0]?.choices[0]?.delta.role).toBe('assistant');
      expect(mine.filter((c) => c.choices[0]?.delta.content)).toHaveLength(3);
      expect(mine.at(-1)?.choices[0]?.finish_reason).toBe('stop');
      texts.push(mine.map((c) => c.choices[0]?.delta.content ?? '').join(''));
    }
    expect(texts[0]).not.toBe(texts[1]);
  });

  it('paces tokens so that chunks arrive incrementally', async () => {
    upstream.setPacing({ ttftMs: 5, tokensPerSecond: 50 });
    const tokens = 11;
    const { events } = await stream({ messages: [{ role: 'user', content: `tokens:${tokens}` }] });
    const content = dataEvents(events).filter((e) => e.data !== '[DONE]' && e.data?.includes('"content":"'));
    const arrivals = content.filter((e) => !e.data?.includes('"content":""')).map((e) => e.at);
    expect(arrivals).toHaveLength(tokens);
    const span = (arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0);
    expect(span).toBeGreaterThanOrEqual(0.6 * ((tokens - 1) / 50) * 1000);
  });

  it('waits ttftMs before the first chunk but sends the comment line at once', async () => {
    upstream.setPacing({ ttftMs: 300, tokensPerSecond: 0 });
    const { events } = await stream({ messages: [{ role: 'user', content: 'tokens:2' }] });
    const comment = events.find((e) => e.comment !== undefined);
    const first = dataEvents(events)[0];
    expect(comment).toBeDefined();
    expect(first).toBeDefined();
    expect((first?.at ?? 0) - (comment?.at ?? 0)).toBeGreaterThanOrEqual(0.6 * 300);
  });

  const weatherTool = {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { location: { type: 'string' } } },
    },
  };

  it('returns a tool call when tools are offered and the prompt asks for the weather', async () => {
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'What is the weather like?' }],
      tools: [weatherTool],
    });
    const choice = completion.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBeNull();
    const call = choice?.message.tool_calls?.[0];
    expect(call?.id).toMatch(/^call_/);
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ location: 'demo' });
    expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('honours tool_choice: a named function forces it, "none" suppresses it', async () => {
    const other = { type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object' } } };
    const forced = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'just chat' }],
      tools: [weatherTool, other],
      tool_choice: { type: 'function', function: { name: 'lookup' } },
    });
    const call = forced.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' ? call.function.name : undefined).toBe('lookup');

    const none = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'weather please' }],
      tools: [weatherTool],
      tool_choice: 'none',
    });
    expect(none.choices[0]?.message.tool_calls).toBeUndefined();
    expect(none.choices[0]?.finish_reason).toBe('stop');

    const noMention = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'tell me a story' }],
      tools: [weatherTool],
    });
    expect(noMention.choices[0]?.finish_reason).toBe('stop');
  });

  it('streams a tool call incrementally and the arguments reassemble', async () => {
    const s = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'call get_weather' }],
      tools: [weatherTool],
      stream: true,
      stream_options: { include_usage: true },
    });
    let id: string | undefined;
    let name = '';
    let args = '';
    let fragments = 0;
    let finish: string | null = null;
    let usage: number | undefined;
    for await (const chunk of s) {
      const delta = chunk.choices[0]?.delta;
      for (const tc of delta?.tool_calls ?? []) {
        expect(tc.index).toBe(0);
        if (tc.id) id = tc.id;
        name += tc.function?.name ?? '';
        if (tc.function?.arguments) {
          args += tc.function.arguments;
          fragments++;
        }
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage.completion_tokens;
    }
    expect(id).toMatch(/^call_/);
    expect(name).toBe('get_weather');
    expect(fragments).toBeGreaterThan(1);
    expect(JSON.parse(args)).toEqual({ location: 'demo' });
    expect(finish).toBe('tool_calls');
    expect(usage).toBe(fragments);
  });
});
