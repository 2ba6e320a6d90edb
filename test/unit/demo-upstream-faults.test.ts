import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUpstream, startDemoUpstream } from '../../local/demo-upstream.js';
import {
  type ChunkJson,
  client,
  dataEvents,
  jsonChunks,
  last,
  MODEL,
  post,
  stream,
  upstream,
  useDemoUpstream,
  waitFor,
} from '../support/demo-upstream-client.js';

/** The demo upstream's faults, bad requests, API key, close() and random faults. */

describe('demo upstream', () => {
  useDemoUpstream();

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
      const before = upstream.requests.length;
      const ctl = new AbortController();
      const started = Date.now();
      const refused = expect(
        post(
          { model: MODEL, stream: true, messages: [{ role: 'user', content: 'hi' }] },
          { signal: ctl.signal },
        ),
      ).rejects.toThrow();
      // Abort once the upstream holds the request (a loaded machine may take a while to deliver it),
      // and no sooner than 200 ms after sending it.
      await waitFor(() => upstream.requests.length > before);
      setTimeout(() => ctl.abort(), Math.max(0, 200 - (Date.now() - started)));
      await refused;
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
