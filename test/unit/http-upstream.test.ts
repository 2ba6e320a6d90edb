import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HttpUpstream } from '../../shared/upstreams/openai-http.js';

/** The OpenAI-compatible HTTP upstream adapter: typed failures, events, and a refused key reported. */

let server: Server;
let baseUrl: string;
const seen: Array<Record<string, string | string[] | undefined>> = [];
/** Connections the server accepted, and requests served per connection. */
const connections = new Map<Socket, number>();
let closedConnections = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    const served = (connections.get(req.socket) ?? 0) + 1;
    connections.set(req.socket, served);
    // A pooled connection the server dropped while it was idle: reset as the request arrives.
    if (req.headers['x-drop-reused'] === '1' && served > 1) return void req.socket.destroy();
    req.resume();
    req.on('end', () => {
      if (req.headers['x-slow'] === '1') {
        // Streams until the client goes away.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"a":1}\n\n');
        res.on('close', () => closedConnections++);
        return;
      }
      if (req.headers['x-reset-mid-stream'] === '1' && served > 1) {
        // A reused connection reset after the response head: the body fails, the request stands.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"a":1}\n\n');
        setTimeout(() => req.socket.resetAndDestroy(), 20);
        return;
      }
      if (req.headers['x-cut-stream'] === '1') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"a":1}\n\ndata: {"b"');
        setTimeout(() => req.socket.destroy(), 5);
        return;
      }
      if (req.headers['x-many'] !== undefined) {
        // Many events in few writes, more than the reader takes ahead of itself.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const n = Number(req.headers['x-many']);
        for (let i = 0; i < n; i += 100) {
          res.write(Array.from({ length: 100 }, (_, k) => `data: {"n":${i + k}}\n\n`).join(''));
        }
        res.end('data: [DONE]\n\n');
        return;
      }
      if (req.headers['x-cut'] === '1') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"partial":');
        setTimeout(() => req.socket.destroy(), 5);
        return;
      }
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
      ['404', 'No endpoints found for this model.', 'unavailable'],
      ['410', 'This model has been retired.', 'unavailable'],
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

  it('keeps one pooled connection for streams read to their end', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined });
    const before = connections.size;
    for (let i = 0; i < 5; i++) {
      const reply = await send(upstream, {});
      if (!reply.ok) throw new Error('expected a success');
      // The relay stops reading at [DONE]; the connection still goes back to the pool.
      for await (const event of reply.events()) if (event.data === '[DONE]') break;
      // The body's terminator, drained after the reader left, frees the connection a moment later.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(connections.size - before).toBe(1);
  });

  it('closes the connection of an aborted attempt at once', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined });
    const controller = new AbortController();
    const reply = await upstream.send(
      { path: '/chat/completions', body: { stream: true }, headers: { 'x-slow': '1' } },
      controller.signal,
    );
    if (!reply.ok) throw new Error('expected a success');
    const events = reply.events()[Symbol.asyncIterator]();
    expect((await events.next()).value).toEqual({ event: undefined, data: '{"a":1}' });
    const closed = closedConnections;
    controller.abort();
    await expect(events.next()).rejects.toThrow();
    await vi.waitFor(() => expect(closedConnections).toBe(closed + 1));
  });

  it('sends a request again, once, when its pooled connection was dropped while idle', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined });
    const first = await send(upstream, { 'x-drop-reused': '1' });
    if (!first.ok) throw new Error('expected a success');
    for await (const _ of first.events());
    const requests = seen.length;
    const second = await send(upstream, { 'x-drop-reused': '1' });
    expect(second.ok).toBe(true);
    // The dropped attempt reached the server, and the retry on a new connection was served.
    expect(seen.length - requests).toBe(2);
  });

  it('rejects at the point a stream was cut short, after the events that arrived whole', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined });
    const reply = await send(upstream, { 'x-cut-stream': '1' });
    if (!reply.ok) throw new Error('expected a success');
    const events = reply.events()[Symbol.asyncIterator]();
    expect((await events.next()).value).toEqual({ event: undefined, data: '{"a":1}' });
    await expect(events.next()).rejects.toThrow();
  });

  it('ends a read that waits for the next event when the reader gives up', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined });
    const reply = await send(upstream, { 'x-slow': '1' });
    if (!reply.ok) throw new Error('expected a success');
    const events = reply.events()[Symbol.asyncIterator]();
    expect((await events.next()).value).toEqual({ event: undefined, data: '{"a":1}' });
    const waiting = events.next(); // the upstream sends nothing more
    await events.return?.();
    await expect(waiting).resolves.toEqual({ value: undefined, done: true });
  });

  it('hands a slow reader every event in order, however many arrive in one read', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined });
    const reply = await send(upstream, { 'x-many': '2000' });
    if (!reply.ok) throw new Error('expected a success');
    const seenNumbers: number[] = [];
    for await (const event of reply.events()) {
      if (event.data === '[DONE]') break;
      seenNumbers.push((JSON.parse(event.data) as { n: number }).n);
      // A reader slower than the socket: the response pauses and resumes under it.
      if (seenNumbers.length % 300 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(seenNumbers).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });

  it('does not send a request again when its reused connection is reset after the response head', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined });
    const headers = { 'x-reset-mid-stream': '1' };
    const first = await send(upstream, headers);
    if (!first.ok) throw new Error('expected a success');
    for await (const _ of first.events());
    const requests = seen.length;
    const second = await send(upstream, headers);
    if (!second.ok) throw new Error('expected a success');
    const events = second.events()[Symbol.asyncIterator]();
    expect((await events.next()).value).toEqual({ event: undefined, data: '{"a":1}' });
    await expect(events.next()).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen.length - requests).toBe(1);
  });

  it('lets go of the abort signal once a response is given up before its end', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined });
    const controller = new AbortController();
    const added = vi.spyOn(controller.signal, 'addEventListener');
    const removed = vi.spyOn(controller.signal, 'removeEventListener');
    const reply = await upstream.send(
      { path: '/chat/completions', body: { stream: true }, headers: { 'x-slow': '1' } },
      controller.signal,
    );
    if (!reply.ok) throw new Error('expected a success');
    // The reader leaves a stream that never ends: after the drain's grace the response is closed.
    for await (const event of reply.events()) if (event.data === '{"a":1}') break;
    await vi.waitFor(() => expect(removed).toHaveBeenCalledTimes(added.mock.calls.length), {
      timeout: 4_000,
    });
  });

  it('rejects a non-streaming body that was cut short', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined });
    const reply = await upstream.send(
      { path: '/chat/completions', body: {}, headers: { 'x-cut': '1' } },
      new AbortController().signal,
    );
    if (!reply.ok) throw new Error('expected a success');
    await expect(reply.text()).rejects.toThrow();
  });

  it('lets an attempt be abandoned after its body is complete, without an unhandled error', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined });
    const controller = new AbortController();
    const reply = await upstream.send(
      { path: '/chat/completions', body: { stream: true }, headers: {} },
      controller.signal,
    );
    if (!reply.ok) throw new Error('expected a success');
    const events = reply.events()[Symbol.asyncIterator]();
    expect((await events.next()).value).toEqual({ event: 'ping', data: '{"a":1}' });
    // As the relay does on an error frame: abort while the reader still holds the iterator.
    controller.abort(new Error('attempt abandoned'));
    await events.return?.(undefined);
    await new Promise((resolve) => setTimeout(resolve, 20));
  });

  it('closes a pooled connection that sat idle too long, and opens a new one for the next request', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => undefined, idleSocketMs: 50 });
    const before = connections.size;
    for (let i = 0; i < 2; i++) {
      const reply = await send(upstream, {});
      if (!reply.ok) throw new Error('expected a success');
      for await (const _ of reply.events());
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(connections.size - before).toBe(2);
  });
});
