import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type ResponseStream, writeBody } from '../../shared/runtime/completions-handler.js';
import { chunk, harness, sse } from '../support/chat-lifecycle-harness.js';

/**
 * `writeBody`, the completions handler's writer onto Lambda's response stream: client disconnects,
 * backpressure, and the rules of the runtime's own stream object.
 */

describe('client disconnect before any frame is read', () => {
  it('aborts upstream and records the request once when the response stream fails while a read waits', async () => {
    const h = harness({ script: async () => sse([chunk('a'), chunk('b')], { hangAfter: 1 }) });
    const res = await h.call({ stream: true });
    expect(res.cancel).toBeTypeOf('function');
    const out = new Writable({ write: (_chunk, _encoding, done) => done() });
    const written = writeBody(out, res.body as AsyncIterable<string>, res.cancel);
    // The first frames are written; the next read waits for an upstream that sends nothing more.
    await new Promise((resolve) => setImmediate(resolve));
    out.destroy(new Error('client disconnected'));
    await expect(written).rejects.toThrow('client disconnected');
    expect(h.calls[0]?.signal.aborted).toBe(true);
    expect(h.usage).toEqual([expect.objectContaining({ status: 'client_disconnected' })]);
  });

  it('cancels when the response stream had already failed before the body was written', async () => {
    const h = harness({ script: async () => sse([chunk('a'), chunk('b')], { hangAfter: 1 }) });
    const res = await h.call({ stream: true });
    const out = new Writable({ write: (_chunk, _encoding, done) => done() });
    out.on('error', () => {});
    out.destroy(new Error('client disconnected'));
    await expect(writeBody(out, res.body as AsyncIterable<string>, res.cancel)).rejects.toThrow(
      'client disconnected',
    );
    expect(h.calls[0]?.signal.aborted).toBe(true);
    expect(h.usage).toEqual([expect.objectContaining({ status: 'client_disconnected' })]);
  });

  it('writes every frame in order to a slow response stream, waiting for it to drain, then ends it', async () => {
    const good = Array.from({ length: 40 }, (_, i) => chunk(`t${i} `));
    const end = [chunk(null, { choices: [], usage: { prompt_tokens: 4, completion_tokens: 40 } }), '[DONE]'];
    const h = harness({ script: async () => sse([...good, ...end]) });
    const res = await h.call({ stream: true });
    const received: string[] = [];
    let writes = 0;
    const out = new Writable({
      highWaterMark: 64,
      decodeStrings: false,
      write: (frame: string, _encoding, done) => {
        received.push(frame);
        writes++;
        setImmediate(done);
      },
    });
    await writeBody(out, res.body as AsyncIterable<string>, res.cancel);
    expect(out.writableFinished).toBe(true);
    const text = received.join('');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    const contents = [...text.matchAll(/"content":"(t\d+ )"/g)].map((m) => m[1]);
    expect(contents).toEqual(good.map((_, i) => `t${i} `));
    expect(writes).toBeGreaterThan(1);
    expect(h.usage).toEqual([expect.objectContaining({ status: 'ok' })]);
  });

  it('writes a buffered body whole and ends the stream', async () => {
    const received: string[] = [];
    const out = new Writable({
      decodeStrings: false,
      write: (part: string, _encoding, done) => {
        received.push(part);
        done();
      },
    });
    await writeBody(out, '{"ok":true}');
    expect(received.join('')).toBe('{"ok":true}');
    expect(out.writableFinished).toBe(true);
  });
});

/**
 * A response stream shaped as the Lambda runtime's (aws-lambda-nodejs-runtime-interface-client,
 * src/ResponseStream.js and HttpResponseStream.js): a plain object of the Writable's bound methods
 * and a few properties, whose `end` takes only a callback (a body passed to it would bypass the
 * overridden `write` and go out without the prelude), and whose prelude (the status and headers
 * `HttpResponseStream.from` was given, then eight NUL bytes) leaves with the first write.
 */
function runtimeStream(prelude: { statusCode: number; headers: Record<string, string> }) {
  const received: string[] = [];
  const inner = new Writable({
    decodeStrings: false,
    write: (part: string | Buffer, _encoding, done) => {
      received.push(String(part));
      done();
    },
  }) as Writable & { _onBeforeFirstWrite?: (write: (chunk: string) => void) => void };
  const origEnd = inner.end.bind(inner) as (cb?: unknown) => void;
  const origWrite = inner.write.bind(inner) as (chunk: unknown, ...rest: unknown[]) => boolean;
  let ready = true;
  Object.assign(inner, {
    end(cb?: unknown) {
      origEnd(cb);
    },
    write(chunk: unknown, ...rest: unknown[]) {
      if (ready && typeof inner._onBeforeFirstWrite === 'function')
        inner._onBeforeFirstWrite((c) => origWrite(c));
      ready = false;
      return origWrite(chunk, ...rest);
    },
  });
  const methods = [
    'cork',
    'destroy',
    'end',
    'uncork',
    'write',
    'emit',
    'off',
    'on',
    'once',
    'removeListener',
  ];
  const stream = Object.fromEntries(
    methods.map((name) => [
      name,
      (inner[name as keyof Writable] as (...a: unknown[]) => unknown).bind(inner),
    ]),
  );
  for (const name of ['destroyed', 'writable', 'writableFinished', 'writableEnded', 'writableNeedDrain']) {
    Object.defineProperty(stream, name, { get: () => inner[name as keyof Writable] });
  }
  // HttpResponseStream.from
  inner._onBeforeFirstWrite = (write) => {
    write(JSON.stringify(prelude));
    write('\0'.repeat(8));
  };
  return { stream: stream as unknown as ResponseStream, received, inner };
}

describe("on a response stream shaped as the Lambda runtime's", () => {
  const prelude = { statusCode: 400, headers: { 'content-type': 'application/json' } };
  const head = `${JSON.stringify(prelude)}${'\0'.repeat(8)}`;

  it('sends the status and headers before a buffered body, and ends', async () => {
    const { stream, received, inner } = runtimeStream(prelude);
    await writeBody(stream, '{"error":{"message":"bad"}}');
    expect(received.join('')).toBe(`${head}{"error":{"message":"bad"}}`);
    expect(inner.writableFinished).toBe(true);
  });

  it('sends them before the first frame of a stream, and ends', async () => {
    const { stream, received, inner } = runtimeStream(prelude);
    async function* frames() {
      yield 'data: a\n\n';
      yield 'data: [DONE]\n\n';
    }
    await writeBody(stream, frames());
    expect(received.join('')).toBe(`${head}data: a\n\ndata: [DONE]\n\n`);
    expect(inner.writableFinished).toBe(true);
  });

  it('sends them for a stream that yields nothing, and an empty buffered body', async () => {
    for (const body of [(async function* () {})(), '']) {
      const { stream, received, inner } = runtimeStream(prelude);
      await writeBody(stream, body);
      expect(received.join('')).toBe(head);
      expect(inner.writableFinished).toBe(true);
    }
  });
});
