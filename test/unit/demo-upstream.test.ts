import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUpstream, type RecordedRequest, startDemoUpstream } from '../../local/demo-upstream.js';

interface SseEvent {
  /** ms since the request was sent, when the bytes carrying this event arrived */
  at: number;
  comment?: string;
  data?: string;
}

interface ChunkJson {
  id: string;
  object: string;
  model: string;
  provider: string;
  system_fingerprint: string;
  created: number;
  choices: {
    index: number;
    delta: {
      role?: string;
      content?: string | null;
      tool_calls?: {
        index: number;
        id?: string;
        type?: string;
        function?: { name?: string; arguments?: string };
      }[];
    };
    finish_reason: string | null;
  }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number; cost: number };
}

/** Reads an SSE body frame by frame, stamping each with its arrival time; `error` is set if the body broke. */
async function readSse(res: Response, started: number): Promise<{ events: SseEvent[]; error?: unknown }> {
  const events: SseEvent[] = [];
  const reader = res.body?.getReader();
  if (!reader) throw new Error('no body');
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const at = performance.now() - started;
      buffer += decoder.decode(value, { stream: true });
      let sep = buffer.indexOf('\n\n');
      while (sep >= 0) {
        const frame = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        for (const line of frame.split('\n')) {
          if (line.startsWith(':')) events.push({ at, comment: line.slice(1).trim() });
          else if (line.startsWith('data: ')) events.push({ at, data: line.slice(6) });
        }
        sep = buffer.indexOf('\n\n');
      }
    }
  } catch (error) {
    return { events, error };
  }
  return { events };
}

function dataEvents(events: SseEvent[]): SseEvent[] {
  return events.filter((e) => e.data !== undefined);
}

function jsonChunks(events: SseEvent[]): ChunkJson[] {
  return dataEvents(events)
    .filter((e) => e.data !== '[DONE]')
    .map((e) => JSON.parse(e.data ?? '') as ChunkJson);
}

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const MODEL = 'openai/gpt-4o-mini';

describe('demo upstream', () => {
  let upstream: DemoUpstream;
  let client: OpenAI;

  function post(body: unknown, init: RequestInit = {}): Promise<Response> {
    return fetch(`${upstream.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      ...init,
    });
  }

  async function stream(
    body: Record<string, unknown>,
  ): Promise<{ events: SseEvent[]; error?: unknown; res: Response }> {
    const started = performance.now();
    const res = await post({ model: MODEL, stream: true, ...body });
    return { ...(await readSse(res, started)), res };
  }

  function last(): RecordedRequest {
    const rec = upstream.requests.at(-1);
    if (!rec) throw new Error('no request recorded');
    return rec;
  }

  beforeAll(async () => {
    upstream = await startDemoUpstream({ ttftMs: 5, tokensPerSecond: 2000 });
    client = new OpenAI({ baseURL: upstream.baseUrl, apiKey: 'unused', maxRetries: 0 });
  });

  afterEach(() => {
    upstream.clearFaults();
    upstream.setPacing({ ttftMs: 5, tokensPerSecond: 2000 });
  });

  afterAll(async () => {
    await upstream.close();
  });

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

  describe('faults', () => {
    it('status: answers with the status, an OpenAI error body and retry-after', async () => {
      upstream.injectFault({ fault: { kind: 'status', status: 429, retryAfterSeconds: 7 }, times: 1 });
      const res = await post({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('7');
      const body = (await res.json()) as { error: Record<string, unknown> };
      expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      expect(body.error.type).toBe('rate_limit_error');
      expect(last().fault).toBe('status');
      // times: 1 is used up.
      const next = await post({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
      expect(next.status).toBe(200);
    });

    it('status: surfaces through the SDK as an APIError', async () => {
      upstream.injectFault({ fault: { kind: 'status', status: 503 } });
      await expect(
        client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
      ).rejects.toMatchObject({ status: 503 });
    });

    it('applies the first matching rule in insertion order, filtered by model, counting down times', async () => {
      upstream.injectFault({ fault: { kind: 'status', status: 500 }, model: 'google/gemini-2.5-flash' });
      upstream.injectFault({ fault: { kind: 'status', status: 502 }, times: 2 });
      upstream.injectFault({ fault: { kind: 'status', status: 503 } });
      const statusFor = async (model: string): Promise<number> => {
        const res = await post({ model, messages: [{ role: 'user', content: 'hi' }] });
        await res.arrayBuffer();
        return res.status;
      };
      expect(await statusFor('google/gemini-2.5-flash')).toBe(500);
      expect(await statusFor(MODEL)).toBe(502);
      expect(await statusFor('google/gemini-2.5-flash')).toBe(500);
      expect(await statusFor(MODEL)).toBe(502);
      expect(await statusFor(MODEL)).toBe(503);
      upstream.clearFaults();
      expect(await statusFor(MODEL)).toBe(200);
    });

    it('hang: sends nothing until the client aborts, then records the abort', async () => {
      upstream.injectFault({ fault: { kind: 'hang' }, times: 1 });
      const ctl = new AbortController();
      const started = Date.now();
      setTimeout(() => ctl.abort(), 200);
      await expect(
        post(
          { model: MODEL, stream: true, messages: [{ role: 'user', content: 'hi' }] },
          { signal: ctl.signal },
        ),
      ).rejects.toThrow();
      // No headers arrived at all, so fetch could only settle through the abort.
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      const rec = last();
      await waitFor(() => rec.aborted);
      expect(rec).toMatchObject({ fault: 'hang', completed: false, outputTokens: 0 });
    });

    it('disconnect: destroys the socket after N content chunks', async () => {
      upstream.injectFault({ fault: { kind: 'disconnect', afterChunks: 3 }, times: 1 });
      const { events, error } = await stream({ messages: [{ role: 'user', content: 'tokens:20' }] });
      expect(error).toBeDefined();
      const chunks = jsonChunks(events);
      expect(chunks.filter((c) => c.choices[0]?.delta.content)).toHaveLength(3);
      expect(dataEvents(events).some((e) => e.data === '[DONE]')).toBe(false);
      const rec = last();
      await waitFor(() => !rec.completed && rec.outputTokens === 3);
      expect(rec).toMatchObject({ fault: 'disconnect', completed: false, aborted: false });
    });

    it('disconnect: a non-streaming request gets no response at all', async () => {
      upstream.injectFault({ fault: { kind: 'disconnect', afterChunks: 0 }, times: 1 });
      await expect(post({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] })).rejects.toThrow();
    });

    it('malformed-sse: one good content chunk, then a non-JSON data frame, then the end', async () => {
      upstream.injectFault({ fault: { kind: 'malformed-sse' }, times: 1 });
      const { events, error } = await stream({ messages: [{ role: 'user', content: 'tokens:10' }] });
      expect(error).toBeUndefined();
      const data = dataEvents(events).map((e) => e.data ?? '');
      expect(data.at(-1)).toBe('{not json');
      expect(data).not.toContain('[DONE]');
      const good = data.slice(0, -1).map((d) => JSON.parse(d) as ChunkJson);
      expect(good.filter((c) => c.choices[0]?.delta.content)).toHaveLength(1);
      expect(() => JSON.parse(data.at(-1) ?? '')).toThrow();
    });

    it('no-usage: omits usage in both modes', async () => {
      upstream.injectFault({ fault: { kind: 'no-usage' }, times: 2 });
      const res = await post({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
      const body = (await res.json()) as Record<string, unknown>;
      expect(body.choices).toBeDefined();
      expect('usage' in body).toBe(false);
      const { events } = await stream({
        messages: [{ role: 'user', content: 'tokens:3' }],
        stream_options: { include_usage: true },
      });
      expect(jsonChunks(events).some((c) => c.usage !== undefined)).toBe(false);
      expect(dataEvents(events).at(-1)?.data).toBe('[DONE]');
    });

    it('slow: overrides the pacing for the matching request', async () => {
      upstream.injectFault({ fault: { kind: 'slow', tokensPerSecond: 20 }, times: 1 });
      const { events } = await stream({ messages: [{ role: 'user', content: 'tokens:5' }] });
      const content = dataEvents(events).filter(
        (e) => e.data?.includes('"content":"') && !e.data.includes('"content":""'),
      );
      expect(content).toHaveLength(5);
      const span = (content.at(-1)?.at ?? 0) - (content[0]?.at ?? 0);
      expect(span).toBeGreaterThanOrEqual(0.6 * (4 / 20) * 1000);
      expect(last().fault).toBe('slow');
    });
  });

  it('stops generating and marks the request aborted when the client disconnects', async () => {
    upstream.setPacing({ ttftMs: 5, tokensPerSecond: 100 });
    const ctl = new AbortController();
    const res = await post(
      { model: MODEL, stream: true, messages: [{ role: 'user', content: 'tokens:500' }] },
      { signal: ctl.signal },
    );
    const reader = res.body?.getReader();
    if (!reader) throw new Error('no body');
    let text = '';
    while ((text.match(/"content":"[^"]/g) ?? []).length < 2) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended early');
      text += new TextDecoder().decode(value);
    }
    ctl.abort();
    const rec = last();
    await waitFor(() => rec.aborted);
    const sent = rec.outputTokens;
    await new Promise((r) => setTimeout(r, 150));
    expect(rec.outputTokens).toBe(sent);
    expect(sent).toBeLessThan(500);
    expect(rec.completed).toBe(false);
  });

  it('rejects bad JSON and a missing messages array with 400, unknown paths with 404', async () => {
    const bad = await post('{"model": ');
    expect(bad.status).toBe(400);
    expect((await bad.json()) as unknown).toMatchObject({
      error: { type: 'invalid_request_error', message: expect.any(String), param: null },
    });
    const noMessages = await post({ model: MODEL });
    expect(noMessages.status).toBe(400);
    expect((await noMessages.json()) as unknown).toMatchObject({ error: { param: 'messages' } });
    const missing = await fetch(`${upstream.baseUrl}/completions`, { method: 'POST', body: '{}' });
    expect(missing.status).toBe(404);
    const missingBody = (await missing.json()) as { error: Record<string, unknown> };
    expect(Object.keys(missingBody.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  });

  it('lists models at GET /v1/models', async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id);
    expect(ids).toContain(MODEL);
    expect(ids.length).toBeGreaterThanOrEqual(3);
  });
});

describe('demo upstream with an API key', () => {
  let upstream: DemoUpstream;

  beforeAll(async () => {
    upstream = await startDemoUpstream({ apiKey: 'sk-demo', ttftMs: 0, tokensPerSecond: 0 });
  });

  afterAll(async () => {
    await upstream.close();
  });

  it('requires Authorization: Bearer <apiKey>', async () => {
    const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    const url = `${upstream.baseUrl}/chat/completions`;
    const none = await fetch(url, { method: 'POST', body });
    expect(none.status).toBe(401);
    expect((await none.json()) as unknown).toMatchObject({
      error: { message: expect.any(String), type: expect.any(String), code: 'invalid_api_key' },
    });
    const wrong = await fetch(url, { method: 'POST', body, headers: { authorization: 'Bearer sk-wrong' } });
    expect(wrong.status).toBe(401);
    await wrong.arrayBuffer();

    const bad = new OpenAI({ baseURL: upstream.baseUrl, apiKey: 'sk-wrong', maxRetries: 0 });
    await expect(
      bad.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    const good = new OpenAI({ baseURL: upstream.baseUrl, apiKey: 'sk-demo', maxRetries: 0 });
    const completion = await good.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.requests[0]?.headers.authorization).toBe('Bearer sk-demo');
  });
});

describe('demo upstream close()', () => {
  it('destroys open sockets so pending requests fail instead of keeping the server alive', async () => {
    const upstream = await startDemoUpstream();
    upstream.injectFault({ fault: { kind: 'hang' } });
    const pending = fetch(`${upstream.baseUrl}/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
    });
    await waitFor(() => upstream.requests.length === 1);
    await upstream.close();
    await expect(pending).rejects.toThrow();
  });
});

describe('demo upstream random faults (probability)', () => {
  let upstream: DemoUpstream;

  beforeAll(async () => {
    upstream = await startDemoUpstream({ ttftMs: 0, tokensPerSecond: 0 });
  });
  afterEach(() => {
    upstream.clearFaults();
  });
  afterAll(async () => {
    await upstream.close();
  });

  /** Sends `count` small completions, 20 at a time, and returns their statuses. */
  async function statuses(count: number, model = MODEL): Promise<number[]> {
    const out: number[] = [];
    for (let sent = 0; sent < count; sent += 20) {
      const batch = Array.from({ length: Math.min(20, count - sent) }, async () => {
        const res = await fetch(`${upstream.baseUrl}/chat/completions`, {
          method: 'POST',
          body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi tokens:1' }] }),
        });
        await res.arrayBuffer();
        return res.status;
      });
      out.push(...(await Promise.all(batch)));
    }
    return out;
  }

  it('applies a rule to about `probability` of the matching requests', async () => {
    upstream.injectFault({ fault: { kind: 'status', status: 503 }, probability: 0.5 });
    const got = await statuses(200);
    const faulted = got.filter((s) => s === 503).length;
    expect(got.every((s) => s === 200 || s === 503)).toBe(true);
    // Binomial(200, 0.5): outside 60..140 has a probability below 1e-8.
    expect(faulted).toBeGreaterThan(60);
    expect(faulted).toBeLessThan(140);
  });

  it('never fires at probability 0, always at 1, and a rule that does not fire keeps its times', async () => {
    upstream.injectFault({ fault: { kind: 'status', status: 500 }, probability: 0, times: 1 });
    expect(await statuses(20)).toEqual(Array(20).fill(200));
    // The skipped rule is still armed; a later rule gets its chance instead.
    upstream.injectFault({ fault: { kind: 'status', status: 502 }, probability: 1, times: 2 });
    expect((await statuses(3)).sort()).toEqual([200, 502, 502]);
  });

  it('lets the next matching rule fire when an earlier one does not', async () => {
    upstream.injectFault({ fault: { kind: 'status', status: 500 }, probability: 0 });
    upstream.injectFault({ fault: { kind: 'status', status: 503 }, model: 'other/model', probability: 1 });
    upstream.injectFault({ fault: { kind: 'status', status: 502 }, probability: 1, times: 1 });
    expect(await statuses(1, 'other/model')).toEqual([503]);
    expect((await statuses(2)).sort()).toEqual([200, 502]);
  });

  it('refuses a probability outside 0..1', () => {
    for (const probability of [-0.1, 1.5, Number.NaN]) {
      expect(() => upstream.injectFault({ fault: { kind: 'hang' }, probability })).toThrow(RangeError);
    }
  });
});
