import { describe, expect, it } from 'vitest';
import { anthropicErrorResponse } from '../../shared/dialects/anthropic-messages/errors.js';
import { invalidApiKey, invalidRequest, upstreamError } from '../../shared/domain/errors.js';
import { IDEMPOTENCY_TTL_MS, LEASE_MARGIN_MS } from '../../shared/gateway/idempotency.js';
import { errorResponse, type HttpRequest, type HttpResponse } from '../../shared/http.js';
import {
  BODY,
  completion,
  controlledStream,
  DEADLINE_MS,
  errorOf,
  FRAMES,
  gate,
  harness,
  read,
} from '../support/idempotency-harness.js';

/** The Idempotency-Key state machine (DESIGN §16) around a scripted route, over an in-memory store. */

describe('Idempotency-Key: buffered responses', () => {
  it('runs the first request, then replays its stored result for an equal JSON body', async () => {
    const h = harness(async (call, req) => completion(call, req));
    const first = await h.send(BODY, { key: 'k-1' });
    expect(first.status).toBe(200);
    expect(h.store.state('acct-1', 'k-1')).toBe('completed');

    const reordered = '{ "messages": [{"content":"Hello","role":"user"}], "model": "tier-1" }';
    const repeat = await h.send(reordered, { key: 'k-1' });
    expect(h.counts.calls).toBe(1);
    expect(repeat.status).toBe(200);
    expect(repeat.body).toBe(first.body);
    expect(repeat.headers).toEqual({
      'content-type': 'application/json',
      'x-request-id': 'call1',
      'x-tier': 'tier-1',
      'x-tier-catalog-version': '3',
      'idempotent-replayed': 'true',
    });
    expect(first.headers['idempotent-replayed']).toBeUndefined();
  });

  it('answers 422 idempotency_key_reused for a different body, and runs nothing', async () => {
    const h = harness(async (call, req) => completion(call, req));
    await h.send(BODY, { key: 'k-1' });
    const other = await h.send({ ...BODY, temperature: 0 }, { key: 'k-1' });
    expect(other.status).toBe(422);
    expect(errorOf(other)).toMatchObject({ type: 'invalid_request_error', code: 'idempotency_key_reused' });
    expect(h.counts.calls).toBe(1);
  });

  it('answers 409 idempotency_in_progress while the first is in flight, then replays it', async () => {
    const hold = gate();
    const h = harness(async (call, req) => {
      await hold.promise;
      return completion(call, req);
    });
    const first = h.send(BODY, { key: 'k-1' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.counts.calls).toBe(1);
    const during = await h.send(BODY, { key: 'k-1' });
    expect(during.status).toBe(409);
    expect(errorOf(during)).toMatchObject({ type: 'invalid_request_error', code: 'idempotency_in_progress' });
    // A different body is refused as such, even while the first runs.
    expect((await h.send({ ...BODY, n: 2 }, { key: 'k-1' })).status).toBe(422);
    hold.open();
    expect((await first).status).toBe(200);
    expect((await h.send(BODY, { key: 'k-1' })).headers['idempotent-replayed']).toBe('true');
    expect(h.counts.calls).toBe(1);
  });

  it('gives concurrent requests with one key exactly one run', async () => {
    const hold = gate();
    const h = harness(async (call, req) => {
      await hold.promise;
      return completion(call, req);
    });
    const all = Array.from({ length: 8 }, () => h.send(BODY, { key: 'race' }));
    await new Promise((resolve) => setImmediate(resolve));
    hold.open();
    const statuses = (await Promise.all(all)).map((r) => r.status).sort();
    expect(h.counts.calls).toBe(1);
    expect(statuses).toEqual([200, 409, 409, 409, 409, 409, 409, 409]);
  });

  it('releases the key after a failed first attempt, so a retry with it runs', async () => {
    const h = harness(async (call, req) =>
      call === 1 ? errorResponse(upstreamError(), 'call1') : completion(call, req),
    );
    expect((await h.send(BODY, { key: 'k-1' })).status).toBe(502);
    expect(h.store.state('acct-1', 'k-1')).toBe('released');
    const retry = await h.send(BODY, { key: 'k-1' });
    expect(retry.status).toBe(200);
    expect(retry.headers['x-request-id']).toBe('call2');
    expect(h.counts.calls).toBe(2);
    expect((await h.send(BODY, { key: 'k-1' })).headers['x-request-id']).toBe('call2');
    expect(h.counts.calls).toBe(2);
  });

  it('releases the key when the route throws, and passes the error on', async () => {
    const h = harness(async (call, req) => {
      if (call === 1) throw new Error('boom');
      return completion(call, req);
    });
    await expect(h.send(BODY, { key: 'k-1' })).rejects.toThrow('boom');
    expect(h.store.state('acct-1', 'k-1')).toBe('released');
    expect((await h.send(BODY, { key: 'k-1' })).status).toBe(200);
  });

  it('keeps keys per account', async () => {
    const h = harness(async (call, req) => completion(call, req));
    await h.send(BODY, { key: 'shared', account: 'acct-1' });
    const other = await h.send({ model: 'tier-2', messages: [] }, { key: 'shared', account: 'acct-2' });
    expect(other.status).toBe(200);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(h.counts.calls).toBe(2);
  });

  it('frees a key held by a crashed attempt once its lease ends, and a key after 24 h', async () => {
    const hang = gate<HttpResponse>();
    const h = harness(async (call, req) => (call === 1 ? hang.promise : completion(call, req)));
    void h.send(BODY, { key: 'k-1' });
    await new Promise((resolve) => setImmediate(resolve));
    h.clock.now += DEADLINE_MS + LEASE_MARGIN_MS - 1;
    expect((await h.send(BODY, { key: 'k-1' })).status).toBe(409);
    h.clock.now += 1;
    const taken = await h.send(BODY, { key: 'k-1' });
    expect(taken.status).toBe(200);
    expect(taken.headers['x-request-id']).toBe('call2');
    // The first attempt finishing late cannot overwrite the result of the one that took its key.
    hang.open(completion(1, { headers: {} } as HttpRequest));
    await new Promise((resolve) => setImmediate(resolve));
    expect((await h.send(BODY, { key: 'k-1' })).headers['x-request-id']).toBe('call2');

    h.clock.now += IDEMPOTENCY_TTL_MS;
    const later = await h.send(BODY, { key: 'k-1' });
    expect(later.headers['idempotent-replayed']).toBeUndefined();
    expect(h.counts.calls).toBe(3);
  });

  it('stores a result past the size cap as too large: a repeat is 409 and is not retried', async () => {
    const h = harness(async (call, req) => completion(call, req), { maxStoredBytes: 50 });
    const first = await h.send(BODY, { key: 'big' });
    expect(first.status).toBe(200);
    expect(h.store.state('acct-1', 'big')).toBe('completed_too_large');
    const repeat = await h.send(BODY, { key: 'big' });
    expect(repeat.status).toBe(409);
    expect(errorOf(repeat)).toMatchObject({
      type: 'invalid_request_error',
      code: 'idempotency_result_too_large',
    });
    expect(repeat.headers['x-should-retry']).toBe('false');
    expect(h.counts.calls).toBe(1);
  });

  it('frees a key held by a crashed attempt once the longest a tier lets a request run has passed, not at the function deadline', async () => {
    const hang = gate<HttpResponse>();
    const longest = 10_000;
    const h = harness(async (call, req) => (call === 1 ? hang.promise : completion(call, req)), {
      longestRequestMs: async () => longest,
    });
    void h.send(BODY, { key: 'k-1' });
    await new Promise((resolve) => setImmediate(resolve));
    h.clock.now += longest + LEASE_MARGIN_MS - 1;
    expect((await h.send(BODY, { key: 'k-1' })).status).toBe(409);
    h.clock.now += 1;
    expect((await h.send(BODY, { key: 'k-1' })).headers['x-request-id']).toBe('call2');

    // Without the catalog, the function's deadline bounds the lease.
    const unknown = harness(async (call, req) => (call === 1 ? hang.promise : completion(call, req)), {
      longestRequestMs: async () => {
        throw new Error('catalog unavailable');
      },
    });
    void unknown.send(BODY, { key: 'k-1' });
    await new Promise((resolve) => setImmediate(resolve));
    unknown.clock.now += DEADLINE_MS + LEASE_MARGIN_MS - 1;
    expect((await unknown.send(BODY, { key: 'k-1' })).status).toBe(409);
    unknown.clock.now += 1;
    expect((await unknown.send(BODY, { key: 'k-1' })).status).toBe(200);
  });

  it('marks a completed request whose result cannot be stored: a repeat is 409 and never runs or charges again', async () => {
    const h = harness(async (call, req) => completion(call, req));
    h.store.failResults = true;
    const first = await h.send(BODY, { key: 'k-1' });
    expect(first.status).toBe(200);
    expect(h.store.state('acct-1', 'k-1')).toBe('completed_unstored');
    // Not "in progress" for the lease's length, then run again: refused now and after the lease too.
    for (const wait of [0, DEADLINE_MS + LEASE_MARGIN_MS]) {
      h.clock.now += wait;
      const repeat = await h.send(BODY, { key: 'k-1' });
      expect(repeat.status).toBe(409);
      expect(errorOf(repeat)).toMatchObject({
        type: 'invalid_request_error',
        code: 'idempotency_result_not_stored',
      });
      expect(repeat.headers['x-should-retry']).toBe('false');
    }
    expect(h.counts.calls).toBe(1);
  });

  it('still answers when the result cannot be stored', async () => {
    const h = harness(async (call, req) => completion(call, req));
    h.store.failWrites = true;
    const first = await h.send(BODY, { key: 'k-1' });
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body as string).id).toBe('chatcmpl-call1');
  });
});

describe('Idempotency-Key: requests it leaves alone or refuses', () => {
  it('runs requests without a key as they are, and counts retries without one', async () => {
    const h = harness(async (call, req) => completion(call, req));
    await h.send(BODY);
    await h.send(BODY, { headers: { 'x-stainless-retry-count': '0' } });
    expect(h.counts.retries).toBe(0);
    await h.send(BODY, { headers: { 'x-stainless-retry-count': '1' } });
    await h.send(BODY, { headers: { 'x-stainless-retry-count': '2' } });
    expect(h.counts.retries).toBe(2);
    await h.send(BODY, { key: 'k-1', headers: { 'x-stainless-retry-count': '1' } });
    await h.send(BODY, { headers: { 'x-stainless-retry-count': 'many' } });
    expect(h.counts.retries).toBe(2);
    expect(h.counts.calls).toBe(6);
  });

  it('refuses a key that is empty, longer than 255 characters or not printable ASCII with 400', async () => {
    const h = harness(async (call, req) => completion(call, req));
    for (const key of ['', 'x'.repeat(256), 'clé', 'tab\there', 'line\nbreak', '\u007f']) {
      const res = await h.send(BODY, { key });
      expect(res.status, JSON.stringify(key)).toBe(400);
      expect(errorOf(res)).toEqual({
        type: 'invalid_request_error',
        code: 'invalid_request',
        param: 'Idempotency-Key',
        message: 'The Idempotency-Key header must be 1 to 255 printable ASCII characters.',
      });
    }
    expect(h.counts.calls).toBe(0);
    for (const key of ['x'.repeat(255), ' ', '~', 'a b!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}']) {
      expect((await h.send(BODY, { key })).status, key).toBe(200);
    }
    expect(h.counts.calls).toBe(4);
  });

  it('names the header in the error for an invalid key on the Messages surface, whose shape has no param', async () => {
    const h = harness(async (call, req) => completion(call, req), { errorResponse: anthropicErrorResponse });
    const res = await h.send(BODY, { key: 'clé' });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body as string)).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'The Idempotency-Key header must be 1 to 255 printable ASCII characters.',
      },
      request_id: 'req-1',
    });
    expect(h.counts.calls).toBe(0);
  });

  it('passes a body that is not JSON to the route, which refuses it, and records nothing', async () => {
    const h = harness(async () => errorResponse(invalidRequest('The request body is not valid JSON.'), 'r'));
    expect((await h.send('{"model":', { key: 'k-1' })).status).toBe(400);
    expect((await h.send('{"model":', { key: 'k-1' })).status).toBe(400);
    expect(h.counts.calls).toBe(2);
    expect(h.store.items.size).toBe(0);
  });

  it('leaves an unauthenticated request to the route (its 401), and fails on a broken key store', async () => {
    const h = harness(async () => errorResponse(invalidApiKey(), 'r'));
    expect((await h.send(BODY, { key: 'k-1', account: '' })).status).toBe(401);
    // A bad key header is no reason to answer before the 401.
    expect((await h.send(BODY, { key: 'clé', account: '' })).status).toBe(401);
    expect(h.store.items.size).toBe(0);
    await expect(h.send(BODY, { key: 'k-1', account: 'broken' })).rejects.toThrow('key store down');
    expect(h.counts.calls).toBe(2);
  });
});

describe('Idempotency-Key: streams', () => {
  it('passes each frame on before the next exists, then stores the frames and replays them as a stream', async () => {
    const source = controlledStream(FRAMES);
    const h = harness(async () => source.response);
    const response = await h.send({ ...BODY, stream: true }, { key: 's-1' });
    const frames = (response.body as AsyncIterable<string>)[Symbol.asyncIterator]();
    for (const [i, frame] of FRAMES.entries()) {
      source.step(i);
      expect(await frames.next()).toEqual({ done: false, value: frame });
      // The consumer has frame i while the source has produced nothing past it.
      expect(source.produced).toHaveLength(i + 1);
      expect(h.store.state('acct-1', 's-1')).toBe('in_flight');
    }
    expect((await frames.next()).done).toBe(true);
    expect(h.store.state('acct-1', 's-1')).toBe('completed');

    const replay = await h.send({ stream: true, ...BODY }, { key: 's-1' });
    expect(replay.headers).toMatchObject({
      'content-type': 'text/event-stream; charset=utf-8',
      'x-request-id': 'call1',
      'idempotent-replayed': 'true',
    });
    expect(typeof replay.body).not.toBe('string');
    expect(await read(replay)).toEqual(FRAMES);
    expect(h.counts.calls).toBe(1);
  });

  it('releases the key when a stream ends without its final frame', async () => {
    const h = harness(async (call) => controlledStream(call === 1 ? FRAMES.slice(0, 2) : FRAMES).flowing());
    expect(await read(await h.send({ ...BODY, stream: true }, { key: 's-1' }))).toHaveLength(2);
    expect(h.store.state('acct-1', 's-1')).toBe('released');
    expect(await read(await h.send({ ...BODY, stream: true }, { key: 's-1' }))).toEqual(FRAMES);
    expect(h.store.state('acct-1', 's-1')).toBe('completed');
    expect(h.counts.calls).toBe(2);
  });

  it('releases the key when the client leaves mid-stream or before reading, and cancels the route', async () => {
    const sources = [controlledStream(FRAMES), controlledStream(FRAMES)];
    const h = harness(async (call) => (sources[call - 1] as (typeof sources)[0]).response);
    const first = await h.send({ ...BODY, stream: true }, { key: 's-1' });
    const frames = (first.body as AsyncIterable<string>)[Symbol.asyncIterator]();
    sources[0]?.step(0);
    await frames.next();
    await frames.return?.();
    expect(h.store.state('acct-1', 's-1')).toBe('released');

    const second = await h.send({ ...BODY, stream: true }, { key: 's-1' });
    await second.cancel?.();
    expect(sources[1]?.cancelled()).toBe(1);
    expect(h.store.state('acct-1', 's-1')).toBe('released');
    expect(h.counts.calls).toBe(2);
  });

  it('keeps a complete stream past the size cap as too large, and releases an incomplete one', async () => {
    const h = harness(
      async (call) => {
        return controlledStream(call === 1 ? FRAMES : FRAMES.slice(0, 2)).flowing();
      },
      { maxStoredBytes: 20 },
    );
    expect(await read(await h.send({ ...BODY, stream: true }, { key: 'big' }))).toEqual(FRAMES);
    expect(h.store.state('acct-1', 'big')).toBe('completed_too_large');
    expect((await h.send({ ...BODY, stream: true }, { key: 'big' })).status).toBe(409);

    expect(await read(await h.send({ ...BODY, stream: true }, { key: 'big-cut' }))).toHaveLength(2);
    expect(h.store.state('acct-1', 'big-cut')).toBe('released');
  });
});
