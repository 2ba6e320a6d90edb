import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalResponseStream } from '../../local/awslambda-shim.js';

/**
 * The local response stream keeps the rules of the Lambda runtime's, so code that breaks them
 * fails locally too: the status and headers leave with the first write, and `end` takes only a
 * callback.
 */
let handle: (stream: LocalResponseStream) => void = () => {};
const server = createServer((_req, res: ServerResponse) => handle(new LocalResponseStream(res)));
let url = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

// Set by the shim's import above, as the runtime sets it before a handler module loads.
const { HttpResponseStream } = (
  globalThis as unknown as {
    awslambda: { HttpResponseStream: { from(s: LocalResponseStream, m: object): LocalResponseStream } };
  }
).awslambda;

describe('LocalResponseStream', () => {
  it('sends the status and headers given to HttpResponseStream.from with the first write', async () => {
    handle = (stream) => {
      const out = HttpResponseStream.from(stream, {
        statusCode: 201,
        headers: { 'x-tier': 'tier-2' },
      });
      out.write('a');
      out.end();
    };
    const res = await fetch(url);
    expect(res.status).toBe(201);
    expect(res.headers.get('x-tier')).toBe('tier-2');
    expect(await res.text()).toBe('a');
  });

  it('answers 502 when the handler ends without writing, as the runtime never sends the prelude then', async () => {
    handle = (stream) => {
      HttpResponseStream.from(stream, { statusCode: 200, headers: {} }).end();
    };
    const res = await fetch(url);
    expect(res.status).toBe(502);
  });

  it('refuses a body passed to end, which the runtime would send without the prelude', async () => {
    let thrown: unknown;
    handle = (stream) => {
      const out = HttpResponseStream.from(stream, { statusCode: 200, headers: {} });
      try {
        out.end('body');
      } catch (err) {
        thrown = err;
        out.write('x');
        out.end();
      }
    };
    await (await fetch(url)).text();
    expect(String(thrown)).toMatch(/end\(\) takes only a callback/);
  });
});
