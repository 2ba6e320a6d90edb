import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAMING } from '../../local/awslambda-shim.js';
import { type DevServer, startDevServer } from '../../local/dev-server.js';

/**
 * The local server in front of the handlers, with stand-in handlers: request targets that are
 * not URLs, slow-loris clients, and a stream that outlasts the request timeout.
 */

const REQUEST_TIMEOUT_MS = 600;
const STREAM_PAUSES = 4;

interface Event {
  rawPath: string;
}
interface Stream {
  setMetadata(meta: { statusCode: number; headers: Record<string, string> }): void;
  write(text: string): void;
  end(): void;
}

const paths: string[] = [];
// `/v1/stream` streams with pauses that add up to more than the request timeout; anything else
// is a 404 that echoes the path the handler was given.
const completions = Object.assign(
  async (event: Event, stream: Stream) => {
    paths.push(event.rawPath);
    if (event.rawPath !== '/v1/stream') {
      stream.setMetadata({ statusCode: 404, headers: { 'content-type': 'application/json' } });
      stream.write(
        JSON.stringify({ error: { message: 'no route', type: 'x', param: null, code: 'not_found' } }),
      );
      return stream.end();
    }
    stream.setMetadata({ statusCode: 200, headers: { 'content-type': 'text/event-stream' } });
    for (let i = 0; i < STREAM_PAUSES; i++) {
      stream.write(`data: ${i}\n\n`);
      await sleep(REQUEST_TIMEOUT_MS / 2);
    }
    stream.write('data: [DONE]\n\n');
    stream.end();
  },
  { [STREAMING]: true },
);

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({
    port: 0,
    completions: completions as unknown as (...args: unknown[]) => Promise<unknown>,
    admin: async () => ({ statusCode: 200, body: '{}' }),
    adminToken: 'tga-test',
    maxBodyBytes: 1024,
    headersTimeoutMs: REQUEST_TIMEOUT_MS / 2,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    timeoutCheckIntervalMs: 50,
  });
});
afterAll(async () => {
  await server?.close();
});

/**
 * Sends `head`, then each of `drip` every 50 ms until the server closes the connection, and
 * returns everything the server sent.
 */
function exchange(head: string, drip: readonly string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    const received: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      clearInterval(timer);
      resolve(Buffer.concat(received).toString('utf8'));
    });
    socket.write(head, () => {
      let i = 0;
      if (drip.length > 0) timer = setInterval(() => socket.write(drip[i++ % drip.length] as string), 50);
    });
  });
}

const statusOf = (response: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
/** The error of a JSON body, whether sent with a content-length or chunked. */
const errorOf = (response: string) =>
  (
    JSON.parse(response.slice(response.indexOf('{'), response.lastIndexOf('}') + 1)) as {
      error: { code: string };
    }
  ).error;

describe('request targets that are not URLs', () => {
  it('reach the handler as the path they are, instead of failing to parse', async () => {
    for (const target of ['//', '///', '//[::1', '//%zz/', '//evil.example/v1/chat/completions']) {
      const response = await exchange(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(statusOf(response), target).toBe(404);
      expect(paths.at(-1)).toBe(target);
    }
  });

  it('answer a target no URL can hold with a 400 in the OpenAI shape', async () => {
    const response = await exchange('OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(statusOf(response)).toBe(400);
    expect(errorOf(response).code).toBe('invalid_request');
  });
});

describe('slow clients', () => {
  it('closes a connection whose request head drips in, with a 408', async () => {
    const response = await exchange('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n', ['X-Drip: 1\r\n']);
    expect(statusOf(response)).toBe(408);
    expect(errorOf(response).code).toBe('request_timeout');
  });

  it('closes a connection whose body drips in, with a 408', async () => {
    const head = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n';
    const response = await exchange(head, ['{']);
    expect(statusOf(response)).toBe(408);
  });

  it('closes a connection that sends nothing', async () => {
    expect(statusOf(await exchange(''))).toBe(408);
  });

  it('lets a response stream for longer than the request timeout', async () => {
    const response = await exchange('GET /v1/stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(statusOf(response)).toBe(200);
    for (let i = 0; i < STREAM_PAUSES; i++) expect(response).toContain(`data: ${i}\n\n`);
    expect(response).toContain('data: [DONE]');
  });
});
