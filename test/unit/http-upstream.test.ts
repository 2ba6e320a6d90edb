import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpUpstream } from '../../shared/upstreams/openai-http.js';

/** The OpenAI-compatible HTTP upstream adapter: typed failures, events, and a refused key reported. */

let server: Server;
let baseUrl: string;
const seen: Array<Record<string, string | string[] | undefined>> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      const status = Number(
        req.url?.split('/').at(-1) === 'completions' ? (req.headers['x-status'] ?? 200) : 404,
      );
      if (status === 200) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('event: ping\ndata: {"a":1}\n\ndata: [DONE]\n\n');
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: req.headers['x-message'] ?? 'no' } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const send = (upstream: HttpUpstream, headers: Record<string, string>) =>
  upstream.send({ path: '/chat/completions', body: { stream: true }, headers }, new AbortController().signal);

describe('HttpUpstream', () => {
  it('reports the key the upstream refused, so a rotated key is read again at once', async () => {
    const refused: Array<string | undefined> = [];
    const upstream = new HttpUpstream({
      baseUrl,
      apiKey: async () => 'sk-old',
      onUnauthorized: (key) => refused.push(key),
    });
    const reply = await send(upstream, { 'x-status': '401' });
    expect(reply).toEqual({ ok: false, failure: { kind: 'unauthorized', outcome: 'status_401' } });
    expect(refused).toEqual(['sk-old']);
    expect(seen.at(-1)?.authorization).toBe('Bearer sk-old');
  });

  it('classifies failures without passing their text on', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined });
    const cases: Array<[string, string, string]> = [
      ['503', 'overloaded', 'unavailable'],
      ['429', 'slow down', 'unavailable'],
      ['400', 'maximum context length is 128000 tokens', 'context_length'],
      ['400', 'bad parameter', 'refused'],
    ];
    for (const [status, message, kind] of cases) {
      const reply = await send(upstream, { 'x-status': status, 'x-message': message });
      expect(reply.ok ? undefined : reply.failure.kind).toBe(kind);
    }
  });

  it('yields server-sent events with their event names', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined });
    const reply = await send(upstream, {});
    if (!reply.ok) throw new Error('expected a success');
    const events = [];
    for await (const event of reply.events()) events.push(event);
    expect(events).toEqual([
      { event: 'ping', data: '{"a":1}' },
      { event: undefined, data: '[DONE]' },
    ]);
  });
});
