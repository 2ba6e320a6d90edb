import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import type { PushBody } from '../../shared/http.js';
import type { UpstreamEvent, UpstreamReply } from '../../shared/ports.js';
import { type ResponseStream, writeBody } from '../../shared/runtime/completions-handler.js';
import { chunk, harness, sse, until } from '../support/chat-lifecycle-harness.js';

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
    const { out, received } = collectingStream();
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

/** A Writable that records each write, whose writes complete only when `release` is called. */
function heldStream(highWaterMark = 16 * 1024) {
  const received: string[] = [];
  const pending: (() => void)[] = [];
  const out = new Writable({
    highWaterMark,
    decodeStrings: false,
    write: (part: string, _encoding, done) => {
      received.push(part);
      pending.push(() => done());
    },
  });
  const release = (): void => {
    for (const done of pending.splice(0)) done();
  };
  return { out, received, release };
}

/** An upstream whose events come in reads: the first of a read by `next`, the rest already buffered. */
function inReads(reads: string[][]): UpstreamReply {
  const event = (data: string): UpstreamEvent => ({ event: undefined, data });
  return {
    ok: true,
    text: async () => '',
    events: () => ({
      [Symbol.asyncIterator]() {
        let index = 0;
        let rest: string[] = [];
        return {
          async next(): Promise<IteratorResult<UpstreamEvent>> {
            const read = reads[index++];
            if (read === undefined) return { value: undefined, done: true };
            await new Promise((resolve) => setImmediate(resolve));
            [, ...rest] = read;
            return { value: event(read[0] as string), done: false };
          },
          takeBuffered: () => (rest.length > 0 ? event(rest.shift() as string) : undefined),
        };
      },
    }),
  };
}

const usageEnd = [chunk(null, { choices: [], usage: { prompt_tokens: 4, completion_tokens: 4 } }), '[DONE]'];

/** A response stream that keeps every write. */
function collectingStream(): { out: Writable; received: string[] } {
  const received: string[] = [];
  const out = new Writable({
    decodeStrings: false,
    write: (part: string, _encoding, done) => {
      received.push(part);
      done();
    },
  });
  return { out, received };
}

/** Writes a response's body with writeBody into a stream that keeps every write; spies on the body's reads. */
async function writeCollecting(res: { body: unknown; cancel?: () => Promise<void> }) {
  const next = vi.spyOn(res.body as AsyncIterator<string>, 'next');
  const { out, received } = collectingStream();
  await writeBody(out, res.body as AsyncIterable<string>, res.cancel);
  return { next, received, out };
}

describe('a relay body pushed to the response stream', () => {
  it('writes the frames of one upstream read in one write, without the body being read', async () => {
    const h = harness({
      script: async () => inReads([[chunk('a')], [chunk('b'), chunk('c'), chunk('d')], usageEnd]),
    });
    const res = await h.call({ stream: true });
    const { next, received } = await writeCollecting(res);
    expect(next).not.toHaveBeenCalled();
    const read = received.find((part) => part.includes('"content":"b"'));
    expect(read).toContain('"content":"c"');
    expect(read).toContain('"content":"d"');
    expect(received.join('').endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('queues frames while the stream is full and writes them in one write once it drains', async () => {
    const good = Array.from({ length: 20 }, (_, i) => chunk(`t${i} `));
    const h = harness({ script: async () => sse([...good, ...usageEnd]) });
    const res = await h.call({ stream: true });
    const next = vi.spyOn(res.body as unknown as AsyncIterator<string>, 'next');
    const { out, received, release } = heldStream(1);
    const written = writeBody(out, res.body as AsyncIterable<string>, res.cancel);
    // The upstream is read to its end and metered while the client is not draining.
    await until(() => h.usage.length === 1);
    expect(h.usage).toEqual([expect.objectContaining({ status: 'ok' })]);
    expect(received).toHaveLength(1);
    release();
    await until(() => received.length === 2);
    release();
    await written;
    expect(received).toHaveLength(2);
    const contents = [...received.join('').matchAll(/"content":"(t\d+ )"/g)].map((m) => m[1]);
    expect(contents).toEqual(good.map((_, i) => `t${i} `));
    expect(received[1]?.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(out.writableFinished).toBe(true);
    expect(next).not.toHaveBeenCalled();
  });

  it('cancels at once when the client leaves mid-stream, and rejects only once the cancel resolved', async () => {
    const h = harness({ script: async () => sse([chunk('a'), chunk('b'), chunk('c')], { hangAfter: 2 }) });
    const res = await h.call({ stream: true });
    const next = vi.spyOn(res.body as unknown as AsyncIterator<string>, 'next');
    const order: string[] = [];
    const cancel = async (): Promise<void> => {
      order.push('cancel');
      await res.cancel?.();
      order.push('recorded');
    };
    const { out, received } = heldStream();
    const written = writeBody(out, res.body as AsyncIterable<string>, cancel).catch((err: Error) => {
      order.push('rejected');
      throw err;
    });
    await until(() => received.join('').includes('"content":"b"'));
    out.destroy(new Error('client disconnected'));
    await expect(written).rejects.toThrow('client disconnected');
    expect(order).toEqual(['cancel', 'recorded', 'rejected']);
    expect(next).not.toHaveBeenCalled();
    expect(h.calls[0]?.signal.aborted).toBe(true);
    expect(h.usage).toEqual([expect.objectContaining({ status: 'client_disconnected' })]);
  });

  it('ends with an error frame, written and recorded, when the upstream fails or the deadline passes', async () => {
    const cases = [
      { opts: { failAfter: 2 }, deadlineMs: 60_000, status: 'upstream_error', code: 'upstream_error' },
      { opts: { hangAfter: 2 }, deadlineMs: 400, status: 'timeout', code: 'upstream_timeout' },
    ];
    for (const { opts, deadlineMs, status, code } of cases) {
      const h = harness({ script: async () => sse([chunk('a'), chunk('b'), chunk('c')], opts), deadlineMs });
      const res = await h.call({ stream: true });
      const { next, received, out } = await writeCollecting(res);
      const text = received.join('');
      expect(text).toContain('"content":"b"');
      expect(text).toContain(`"${code}"`);
      expect(text).not.toContain('[DONE]');
      expect(out.writableFinished).toBe(true);
      expect(next).not.toHaveBeenCalled();
      expect(h.usage).toEqual([expect.objectContaining({ status })]);
    }
  });

  it('writes once, empty, before the end of a pushed body that had no frame', async () => {
    const prelude = { statusCode: 200, headers: { 'content-type': 'text/event-stream' } };
    const { stream, received, inner } = runtimeStream(prelude);
    const writes: string[] = [];
    const body: PushBody = {
      pushTo: (sink) => {
        sink.end();
      },
      async *[Symbol.asyncIterator]() {},
    };
    const write = stream.write;
    stream.write = ((part: string) => {
      writes.push(part);
      return write(part);
    }) as typeof stream.write;
    await writeBody(stream, body);
    expect(writes).toEqual(['']);
    expect(received.join('')).toBe(`${JSON.stringify(prelude)}${'\0'.repeat(8)}`);
    expect(inner.writableFinished).toBe(true);
  });
});
