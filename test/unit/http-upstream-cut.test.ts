import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpUpstream } from '../../shared/upstreams/openai-http.js';

/**
 * An upstream that sends its response head, some events and then closes the connection, all in
 * one write, before the gateway asks for the events (its hold was still being placed): the events
 * that came before the close reach the reader, then the failure does.
 */

const chunked = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
const EVENTS = [
  'event: message_start\ndata: {"type":"message_start"}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"Lorem"}}\n\n',
];

let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((socket) => {
    socket.once('data', () => {
      // No terminating chunk: the body is cut, and head, events and FIN leave together.
      socket.end(
        `HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n${EVENTS.map(chunked).join('')}`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('HttpUpstream, a stream cut right after its head', () => {
  it('hands over every event that arrived before the connection closed, then fails', async () => {
    const upstream = new HttpUpstream({ baseUrl, apiKey: async () => 'k' });
    for (let i = 0; i < 5; i++) {
      const reply = await upstream.send(
        { path: '/messages', body: { stream: true } },
        new AbortController().signal,
      );
      if (!reply.ok) throw new Error('expected a 200');
      // The events are asked for later, as when the request's hold is placed first: by then
      // the connection has closed.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const events = reply.events()[Symbol.asyncIterator]();
      const seen: string[] = [];
      const failure = await (async () => {
        try {
          for (;;) {
            const next = await events.next();
            if (next.done) return undefined;
            seen.push(next.value.data);
          }
        } catch (err) {
          return err;
        }
      })();
      expect(seen.map((d) => JSON.parse(d).type)).toEqual(['message_start', 'content_block_delta']);
      expect(failure).toBeInstanceOf(Error);
    }
  });
});
