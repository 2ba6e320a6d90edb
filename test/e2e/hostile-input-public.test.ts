import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../shared/gateway/public-api.js';
import { demoUpstream } from '../support/e2e-helpers.js';
import {
  type AccountState,
  accountState,
  EMPTY_MESSAGES,
  expectClientError,
  isJsonObject,
  isUtf8,
  MAX_BODY_BYTES,
  MESSAGES,
  RUNS,
  requestLog,
  runtime,
  send,
  useHostileInputRuntime,
  VALID,
  VALID_TEXT,
} from '../support/hostile-input.js';

/**
 * Hostile input, property by property, against the public API: every case is a 4xx in OpenAI's
 * error shape, never a 5xx, and nothing is ever held, charged, logged or forwarded.
 */

useHostileInputRuntime();

let start: AccountState;
beforeAll(async () => {
  start = await accountState(runtime.accountId);
});

describe('hostile input to the public API (demo account)', () => {
  it('answers random and truncated JSON with a 400', async () => {
    const truncated = fc
      .nat({ max: VALID_TEXT.length - 1 })
      .map((n) => VALID_TEXT.slice(0, n))
      .map((text) => ({ text, object: false }));
    const truncatedJson = fc
      .tuple(fc.json({ maxDepth: 3 }), fc.nat())
      .map(([j, n]) => j.slice(0, n % (j.length + 1)))
      .map((text) => ({ text, object: isJsonObject(text) }));
    const random = fc
      .oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }))
      .map((text) => ({ text, object: isJsonObject(text) }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(truncated, truncatedJson, random), async ({ text, object }) => {
        const reply = await send({ body: text });
        // Anything but a JSON object is malformed; a random object is refused for its fields.
        expectClientError(reply, object ? {} : { status: 400, code: 'invalid_request' });
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('answers a body that is not valid UTF-8 with a 400', async () => {
    const badBytes = fc.uint8Array({ minLength: 1, maxLength: 24 }).filter((b) => !isUtf8(b));
    const whole = fc.uint8Array({ minLength: 1, maxLength: 512 }).filter((b) => !isUtf8(b));
    const prefix = Buffer.from('{"model":"tier-1","max_tokens":16,"messages":[{"role":"user","content":"');
    const suffix = Buffer.from('"}]}');
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          badBytes.map((b) => Buffer.concat([prefix, b, suffix])),
          // Bad bytes in a key or in the model name, not only in the content.
          badBytes.map((b) =>
            Buffer.concat([Buffer.from('{"model":"tier-1","messages":[],"'), b, Buffer.from('":1}')]),
          ),
          badBytes.map((b) =>
            Buffer.concat([Buffer.from('{"model":"tier-'), b, Buffer.from('","messages":[]}')]),
          ),
          whole.map((b) => Buffer.from(b)),
        ),
        async (bytes) => {
          expectClientError(await send({ body: bytes }), { status: 400, code: 'invalid_request' });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('answers deeply nested content with a 400', async () => {
    const nest = (depth: number, kind: 'array' | 'object', leaf: string): string =>
      kind === 'array' ? `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}` : nestObject(depth, leaf);
    const nestObject = (depth: number, leaf: string): string =>
      `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
    const where = fc.constantFrom(
      'content',
      'content-part',
      'metadata',
      'tools',
      'response_format',
      'messages',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 65, max: 30_000 }),
        fc.constantFrom<'array' | 'object'>('array', 'object'),
        where,
        async (depth, kind, place) => {
          const deep = nest(depth, kind, '"x"');
          const body =
            place === 'content'
              ? `{"model":"tier-1","messages":[{"role":"user","content":${deep}}]}`
              : place === 'content-part'
                ? `{"model":"tier-1","messages":[{"role":"user","content":[{"type":"text","text":"x","extra":${deep}}]}]}`
                : place === 'messages'
                  ? `{"model":"tier-1","messages":${nest(depth, 'array', '{"role":"user","content":"x"}')}}`
                  : `{"model":"tier-1","messages":${JSON.stringify(MESSAGES)},"${place}":${place === 'tools' ? `[${deep}]` : nestObject(depth, '"x"')}}`;
          expect(Buffer.byteLength(body)).toBeLessThan(MAX_BODY_BYTES);
          expectClientError(await send({ body }), { status: 400, code: 'invalid_request' });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('answers a body over the limit with a 413, with or without a content-length', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: MAX_BODY_BYTES + 1, max: MAX_BODY_BYTES + 2_097_152 }),
        fc.boolean(),
        fc.boolean(),
        async (size, chunked, validKey) => {
          // A valid request whose content makes it too large: only the size is wrong.
          const head = '{"model":"tier-1","messages":[{"role":"user","content":"';
          const tail = '"}]}';
          const body = Buffer.alloc(size, 'x');
          body.write(head, 0);
          body.write(tail, size - tail.length);
          const reply = await send({ body, chunked, ...(validKey ? {} : { auth: 'Bearer tg-nope' }) });
          expectClientError(reply, { status: 413, code: 'request_too_large' });
        },
      ),
      { numRuns: 12 },
    );
  });

  it('ignores unknown headers: the answer is the one the body deserves', async () => {
    const reserved = new Set([
      'authorization',
      'content-length',
      'content-type',
      'transfer-encoding',
      'host',
      'connection',
      'expect',
      'upgrade',
      'te',
      'trailer',
      'keep-alive',
    ]);
    const name = fc
      .oneof(
        fc.stringMatching(/^x-[a-z0-9-]{1,30}$/),
        fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/),
        fc.constantFrom(
          'content-encoding',
          'x-http-method-override',
          'x-forwarded-for',
          'x-forwarded-host',
          'forwarded',
          'x-api-key',
          'openai-organization',
          'openai-project',
          'x-request-id',
          'x-amzn-trace-id',
          'cookie',
          'accept-encoding',
          'range',
          'x-stainless-retry-count',
        ),
      )
      .filter((n) => !reserved.has(n));
    const value = fc.oneof(
      fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,200}$/),
      fc.constantFrom('gzip', 'GET', 'DELETE', '127.0.0.1', '1', `Bearer ${'A'.repeat(43)}`),
      // Large but under the server's header limit.
      // Large, but six of them stay under node's 16 KiB limit on the request head.
      fc.integer({ min: 1_000, max: 2_000 }).map((n) => 'v'.repeat(n)),
    );
    await fc.assert(
      fc.asyncProperty(fc.dictionary(name, value, { minKeys: 1, maxKeys: 6 }), async (extra) => {
        const reply = await send({ body: EMPTY_MESSAGES, headers: extra });
        expectClientError(reply, { status: 400, code: 'invalid_request', param: 'messages' });
      }),
      { numRuns: RUNS },
    );
  });

  it('answers headers over the server limit with a 4xx in the OpenAI shape', async () => {
    // node:http refuses request heads over 16 KiB itself. The client still deserves the error shape.
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 17 * 1024, max: 64 * 1024 }),
        fc.constantFrom('x-big', 'authorization', 'cookie'),
        async (size, header) => {
          const reply = await send({
            body: VALID_TEXT,
            ...(header === 'authorization'
              ? { auth: `Bearer ${'A'.repeat(size)}` }
              : { headers: { [header]: 'v'.repeat(size) } }),
          });
          expectClientError(reply, { status: 431 });
        },
      ),
      { numRuns: 4 },
    );
  });

  it('refuses keys that are almost valid with a 401, even with a valid body', async () => {
    const key = runtime.apiKey;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/=~ ';
    const char = fc.constantFrom(...alphabet.split(''));
    const index = fc.nat({ max: key.length - 1 });
    const mutated = fc.oneof(
      fc.tuple(index, char).map(([i, c]) => key.slice(0, i) + c + key.slice(i + 1)),
      index.map((i) => key.slice(0, i) + key.slice(i + 1)),
      fc.tuple(fc.nat({ max: key.length }), char).map(([i, c]) => key.slice(0, i) + c + key.slice(i)),
      index.map((i) => {
        const c = key[i] ?? 'a';
        const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
        return key.slice(0, i) + flipped + key.slice(i + 1);
      }),
      fc
        .constantFrom('tg_', 'TG-', 'Tg-', 'sk-', 'tg', 'tg--', 'gt-', '', 'sk-tg-')
        .map((p) => p + key.slice(3)),
      fc.nat({ max: key.length - 1 }).map((n) => key.slice(0, n)),
      fc.constant(`${key}${key.slice(3)}`),
      fc.constant(key.replace(/[A-Za-z]/, (c) => (c === 'O' ? '0' : 'O'))),
    );
    const header = fc.oneof(
      // Header values lose surrounding whitespace on the way in: a key with a space added at an end
      // is the key itself, so it is not a mutation.
      mutated.filter((k) => k.trim() !== key).map((k) => `Bearer ${k}`),
      fc.constantFrom(
        `Bearer${key}`,
        `Bearer: ${key}`,
        `Token ${key}`,
        `Basic ${key}`,
        `Basic ${Buffer.from(`user:${key}`).toString('base64')}`,
        key,
        `Bearer ${key} ${key}`,
        `Bearer ${key},${key}`,
        `Bearer ${key}, Bearer ${key}`,
        `Bearer "${key}"`,
        `Bearer '${key}'`,
        `Bearer <${key}>`,
        `Bearer ${key.slice(0, 10)}\u00ad${key.slice(10)}`,
        `Bearer ${encodeURIComponent(`${key}=`)}`,
        `Bearer Bearer ${key}`,
        'Bearer',
        'Bearer ',
        '',
      ),
    );
    await fc.assert(
      fc.asyncProperty(header, async (auth) => {
        expectClientError(await send({ body: VALID_TEXT, auth }), { status: 401, code: 'invalid_api_key' });
      }),
      { numRuns: RUNS * 2 },
    );
    // Two Authorization headers, the first wrong: never authenticated by the second.
    const twice = await send({ body: VALID_TEXT, auth: [`Bearer ${key.slice(0, -1)}x`, `Bearer ${key}`] });
    expectClientError(twice, { status: 401, code: 'invalid_api_key' });
    // The key in a header the gateway does not read.
    const apiKeyHeader = await send({ body: VALID_TEXT, auth: null, headers: { 'x-api-key': key } });
    expectClientError(apiKeyHeader, { status: 401, code: 'invalid_api_key' });
  });

  it('reads the auth scheme case-insensitively and tolerates extra spaces (RFC 9110), still charging nothing', async () => {
    const key = runtime.apiKey;
    const scheme = fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEaReR');
    const gap = fc.constantFrom(' ', '  ', '\t', ' \t ');
    await fc.assert(
      fc.asyncProperty(scheme, gap, fc.constantFrom('', ' ', '  '), async (s, g, trail) => {
        // Same key, so authentication passes; the invalid body is what is refused.
        const reply = await send({ body: EMPTY_MESSAGES, auth: `${s}${g}${key}${trail}` });
        expectClientError(reply, { status: 400, code: 'invalid_request', param: 'messages' });
      }),
      { numRuns: 20 },
    );
  });

  it('answers negative, fractional or huge token caps and choice counts with a 400 naming them', async () => {
    const param = fc.constantFrom('max_tokens', 'max_completion_tokens', 'n');
    const capValue = fc.oneof(
      fc.integer({ min: -(2 ** 31), max: 0 }).map(String),
      fc.constantFrom('-0', '0.0', '-1', '1.5', '16.000001', '9007199254740992', '9007199254740993'),
      fc.double({ min: 2 ** 53, max: 1e308, noNaN: true }).map(String),
      fc.double({ min: -1e308, max: -(2 ** -20), noNaN: true }).map(String),
      // JSON numbers beyond double range parse as ±Infinity.
      fc.constantFrom('1e309', '-1e309', '1e400', '123456789e999'),
    );
    // Every value above is wrong for n too; n also allows at most 128 choices.
    const tooManyChoices = fc.integer({ min: 129, max: 2 ** 31 }).map(String);
    const cases = fc.oneof(fc.tuple(param, capValue), fc.tuple(fc.constant('n'), tooManyChoices));
    await fc.assert(
      fc.asyncProperty(cases, async ([name, value]) => {
        const body = `{"model":"tier-1","messages":${JSON.stringify(MESSAGES)},"${name}":${value}}`;
        expectClientError(await send({ body }), { status: 400, code: 'invalid_request', param: name });
      }),
      { numRuns: RUNS },
    );
  });

  it("answers stream_options without stream with a 400 naming 'stream_options'", async () => {
    const options = fc.oneof(
      fc.constant({}),
      fc.record({ include_usage: fc.boolean() }),
      fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), {
        maxKeys: 4,
      }),
    );
    const stream = fc.constantFrom<Record<string, unknown>>({}, { stream: false }, { stream: null });
    await fc.assert(
      fc.asyncProperty(options, stream, async (streamOptions, streamField) => {
        const body = JSON.stringify({ ...VALID, ...streamField, stream_options: streamOptions });
        expectClientError(await send({ body }), {
          status: 400,
          code: 'invalid_request',
          param: 'stream_options',
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('answers unknown paths and wrong methods in the OpenAI shape', async () => {
    // The first segment after /v1/ of every real route (`key`, `models`, …): a random segment is never one.
    const routed = new Set(Object.keys(ROUTES).map((route) => route.split('/')[2]));
    const segment = fc
      .stringMatching(/^[A-Za-z0-9._~%-]{1,40}$/)
      // Not a dot segment, even percent-encoded (`%2e%2e` is `..`: the path resolves elsewhere).
      .filter((s) => !/^(?:\.|%2e){1,2}$/i.test(s) && !routed.has(s));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          segment.map((s) => ({ method: 'POST', path: `/v1/${s}`, status: 404 })),
          segment.map((s) => ({ method: 'POST', path: `/v1/chat/completions/${s}`, status: 404 })),
          fc
            .constantFrom('GET', 'PUT', 'DELETE', 'PATCH')
            .map((method) => ({ method, path: '/v1/chat/completions', status: 405 })),
        ),
        async ({ method, path, status }) => {
          expectClientError(await send({ method, path, body: VALID_TEXT }), { status });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('answers request targets that are not plain paths with a 4xx, never a 5xx', async () => {
    for (const path of [
      '//',
      '///',
      '//[::1',
      '//%zz/',
      '//admin/accounts',
      '//127.0.0.1/v1/chat/completions',
    ]) {
      expectClientError(await send({ path, body: VALID_TEXT }));
    }
  });

  it('left the demo wallet as it was: no charge, no hold, no request-log item, nothing forwarded', async () => {
    await runtime.bus.drain();
    const now = await accountState(runtime.accountId);
    expect(now.balanceMicros).toBe(start.balanceMicros);
    expect(now.heldMicros).toBe(0);
    expect(await requestLog(runtime.accountId)).toEqual([]);
    expect(demoUpstream(runtime).requests).toHaveLength(0);
  });
});
