import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { request } from 'node:http';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { DEFAULT_MAX_BODY_BYTES } from '../../shared/config.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { demoUpstream } from '../support/e2e-helpers.js';
import { assertValid, validateError } from '../support/openai-schema.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Hostile input, property by property, against the public and the admin API: every case is a 4xx
 * in OpenAI's error shape, never a 5xx, and nothing is ever held, charged, logged or forwarded.
 * Every generated case is invalid by construction (a bad key or a bad body), so none may cost money.
 */

let runtime: LocalRuntime;
let start: AccountState;
/** A second account that admin properties aim at (keys, credit), so they never touch the demo wallet. */
let target: { id: string; balanceMicros: number };

const MAX_BODY_BYTES = DEFAULT_MAX_BODY_BYTES;
const RUNS = 60;

beforeAll(async () => {
  runtime = await startTestRuntime();
  start = await accountState(runtime.accountId);
  const created = await admin(runtime, 'POST', '/admin/accounts', { name: 'admin target', creditUsd: 1 });
  expect(created.status).toBe(201);
  target = { id: (created.json.account as { id: string }).id, balanceMicros: 1_000_000 };
});
afterAll(async () => {
  await runtime?.close();
});

interface AccountState {
  balanceMicros: number;
  heldMicros: number;
  keys: unknown[];
}

async function accountState(accountId: string): Promise<AccountState> {
  const res = await admin(runtime, 'GET', `/admin/accounts/${accountId}`);
  expect(res.status).toBe(200);
  return res.json as unknown as AccountState;
}

async function requestLog(accountId: string): Promise<Array<Record<string, unknown>>> {
  const res = await admin(runtime, 'GET', `/admin/requests?accountId=${accountId}&limit=1000`);
  expect(res.status).toBe(200);
  return (res.json as { requests: Array<Record<string, unknown>> }).requests;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

interface SendOptions {
  method?: string;
  path?: string;
  /** Default: the demo key; `null` sends no Authorization header. */
  auth?: string | string[] | null;
  headers?: OutgoingHttpHeaders;
  body?: string | Uint8Array;
  /** Send the body in pieces with chunked transfer encoding, without a content-length. */
  chunked?: boolean;
}

/**
 * One raw HTTP/1.1 exchange with node:http, which (unlike fetch) sends any bytes, repeated and
 * oversized headers as given. A response that arrives while the body is still being written (413)
 * wins over the write error that the server's early close may cause.
 */
function send(opts: SendOptions = {}): Promise<Reply> {
  const url = new URL(runtime.url);
  const auth = opts.auth === undefined ? `Bearer ${runtime.apiKey}` : opts.auth;
  // Typed loosely: node:http sends an array value as repeated header lines, Authorization included.
  const headers: Record<string, string | string[] | number | undefined> = {
    'content-type': 'application/json',
    ...(auth === null ? {} : { authorization: auth }),
    ...opts.headers,
  };
  const body = typeof opts.body === 'string' ? Buffer.from(opts.body, 'utf8') : opts.body;
  if (body && !opts.chunked) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    let replied = false;
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/v1/chat/completions',
        headers: headers as OutgoingHttpHeaders,
      },
      (res) => {
        replied = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('no response within 30 s')));
    req.on('error', (err) => {
      if (!replied) reject(err);
    });
    if (!body) return void req.end();
    if (!opts.chunked) return void req.end(body);
    const piece = 64 * 1024;
    for (let offset = 0; offset < body.length; offset += piece)
      req.write(body.subarray(offset, offset + piece));
    req.end();
  });
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** A 4xx in OpenAI's error shape, with JSON content type and a request id; returns the error. */
function expectClientError(reply: Reply, expected: { status?: number; code?: string; param?: string } = {}) {
  const label = `${reply.status} ${reply.text.slice(0, 300)}`;
  expect(reply.status, label).toBeGreaterThanOrEqual(400);
  expect(reply.status, label).toBeLessThan(500);
  if (expected.status !== undefined) expect(reply.status, label).toBe(expected.status);
  expect(reply.headers['content-type'] ?? '(none)', label).toMatch(/^application\/json/);
  expect(reply.headers['x-request-id'], label).toBeTruthy();
  const body = assertValid(validateError, JSON.parse(reply.text) as ErrorBody);
  if (expected.code !== undefined) expect(body.error.code, label).toBe(expected.code);
  if (expected.param !== undefined) expect(body.error.param, label).toBe(expected.param);
  return body.error;
}

const MESSAGES = [{ role: 'user', content: 'hi tokens:1' }];
/** A valid body: sent only with keys that must be refused, or with one field made invalid. */
const VALID = { model: 'tier-1', messages: MESSAGES, max_tokens: 16 };
const VALID_TEXT = JSON.stringify(VALID);
/** Valid JSON, valid key, invalid request: what a header or key variant must not change. */
const EMPTY_MESSAGES = JSON.stringify({ model: 'tier-1', messages: [] });

const isJsonObject = (text: string): boolean => {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
};

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const isUtf8 = (bytes: Uint8Array): boolean => {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
};

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
    const segment = fc
      .stringMatching(/^[A-Za-z0-9._~%-]{1,40}$/)
      // Not a dot segment, even percent-encoded (`%2e%2e` is `..`: the path resolves elsewhere).
      .filter((s) => !/^(?:\.|%2e){1,2}$/i.test(s) && s !== 'models');
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

describe('hostile input to the admin API', () => {
  /** A raw admin call: any body text, any method and path. */
  const adminSend = (method: string, path: string, body?: string) =>
    send({ method, path, auth: `Bearer ${runtime.adminToken}`, ...(body === undefined ? {} : { body }) });

  const postRoutes = () => [
    { method: 'POST', path: '/admin/accounts' },
    { method: 'POST', path: `/admin/accounts/${target.id}/keys` },
    { method: 'POST', path: `/admin/accounts/${target.id}/credit` },
    { method: 'POST', path: '/admin/tiers/rollback' },
    { method: 'PUT', path: '/admin/tiers' },
  ];

  it('answers malformed JSON with a 400 on every route that takes a body', async () => {
    const notAnObject = fc
      .oneof(
        fc.string({ maxLength: 100 }),
        fc.json({ maxDepth: 2 }).map((j) => j.slice(0, Math.max(0, j.length - 1))),
        fc.constantFrom('', ' ', 'null', '[]', '"x"', '{', '{"name":', '{"name":"x"', '[{"name":"x"}]'),
      )
      .filter((text) => !isJsonObject(text));
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 4 }), notAnObject, async (i, text) => {
        const route = postRoutes()[i] as { method: string; path: string };
        expectClientError(await adminSend(route.method, route.path, text), {
          status: 400,
          code: 'invalid_request',
        });
      }),
      { numRuns: RUNS },
    );
  });

  const wrongType = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.integer(), { maxLength: 2 }),
    fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
  );
  /** USD amounts the API must refuse: negative, not finite, too precise, or beyond any balance. */
  const badUsd = fc.oneof(
    fc.double({ min: -1e12, max: -1e-6, noNaN: true }),
    fc.constantFrom(1e-7, 0.1234567, 9.1e9, 1e15, 1e21, 1e300, Number.MAX_VALUE, 2 ** 53),
    fc.double({ min: 1e10, max: 1e300, noNaN: true }),
    wrongType,
  );
  const unknownField = fc
    .string({ minLength: 1, maxLength: 20 })
    .filter(
      (k) =>
        !['name', 'creditUsd', 'dailyBudgetUsd', 'rpm', 'tpm', 'amountUsd', 'reference', 'version'].includes(
          k,
        ),
    );
  const badCount = (max: number) =>
    fc.oneof(
      fc.integer({ min: -1_000_000, max: 0 }),
      fc.integer({ min: max + 1, max: Number.MAX_SAFE_INTEGER }),
      fc.double({ min: 0.01, max: max - 0.01, noNaN: true }).filter((v) => !Number.isInteger(v)),
      fc.constantFrom(2 ** 53, 1e300),
      wrongType,
    );
  /** Control characters inside a name: line breaks, terminal escapes, NUL, bidi overrides. */
  const controlled = fc
    .tuple(
      fc.stringMatching(/^[a-z]{1,8}$/),
      fc.constantFrom('\r\n', '\n', '\r', '\u001b[31m', '\u009b2J', '\u0000', '\u0007', '\u202e', '\u2028'),
      fc.stringMatching(/^[a-z]{1,8}$/),
    )
    .map(([a, c, b]) => `${a}${c}${b}`);
  const badName = fc.oneof(
    fc.constantFrom('', '   ', '\t\n'),
    fc.integer({ min: 201, max: 2000 }).map((n) => 'n'.repeat(n)),
    wrongType.filter((v) => typeof v !== 'string'),
    controlled,
  );

  it('answers wrong types, unknown fields, huge and negative numbers with a 400 naming the field', async () => {
    type Case = { route: number; body: Record<string, unknown>; param: string };
    const cases: fc.Arbitrary<Case> = fc.oneof(
      // POST /admin/accounts
      badName.map((name) => ({ route: 0, body: { name }, param: 'name' })),
      badUsd.map((v) => ({ route: 0, body: { name: 'x', creditUsd: v }, param: 'creditUsd' })),
      badUsd.map((v) => ({ route: 0, body: { name: 'x', dailyBudgetUsd: v }, param: 'dailyBudgetUsd' })),
      unknownField.map((k) => ({ route: 0, body: { name: 'x', [k]: 1 }, param: k })),
      // POST /admin/accounts/{id}/keys
      badCount(1_000_000).map((v) => ({ route: 1, body: { rpm: v }, param: 'rpm' })),
      badCount(1_000_000_000).map((v) => ({ route: 1, body: { tpm: v }, param: 'tpm' })),
      badUsd.map((v) => ({ route: 1, body: { dailyBudgetUsd: v }, param: 'dailyBudgetUsd' })),
      badName.map((name) => ({ route: 1, body: { name }, param: 'name' })),
      unknownField.map((k) => ({ route: 1, body: { [k]: 1 }, param: k })),
      // POST /admin/accounts/{id}/credit: negative, zero, huge or mistyped amounts, bad references
      fc
        .oneof(badUsd, fc.constant(0))
        .map((v) => ({ route: 2, body: { amountUsd: v, reference: 'r1' }, param: 'amountUsd' })),
      fc
        .oneof(
          fc.constantFrom('', '  '),
          fc.integer({ min: 129, max: 1000 }).map((n) => 'r'.repeat(n)),
          wrongType.filter((v) => typeof v !== 'string'),
        )
        .map((reference) => ({ route: 2, body: { amountUsd: 1, reference }, param: 'reference' })),
      fc.constant({ route: 2, body: { amountUsd: 1 }, param: 'reference' }),
      unknownField.map((k) => ({ route: 2, body: { amountUsd: 1, reference: 'r2', [k]: 1 }, param: k })),
      // POST /admin/tiers/rollback
      badCount(Number.MAX_SAFE_INTEGER - 1)
        .filter((v) => !(typeof v === 'number' && v > 0 && Number.isSafeInteger(v)))
        .map((v) => ({ route: 3, body: { version: v }, param: 'version' })),
      unknownField.map((k) => ({ route: 3, body: { version: 1, [k]: 1 }, param: k })),
    );
    await fc.assert(
      fc.asyncProperty(cases, async ({ route, body, param }) => {
        const r = postRoutes()[route] as { method: string; path: string };
        const reply = await adminSend(r.method, r.path, JSON.stringify(body));
        // A well-formed but absent catalog version may be a 404 instead; it names the field too.
        const expected = route === 3 && reply.status === 404 ? 'not_found' : 'invalid_request';
        const error = expectClientError(reply, { code: expected });
        expect([400, 404]).toContain(reply.status);
        expect(error.param, JSON.stringify(body)).toBe(param);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('refuses an invalid catalog with a 400 that names the field, and keeps the active version', async () => {
    type Fields = Record<string, unknown>;
    type Doc = { tiers: Record<string, Fields> };
    const tierOf = (d: Doc, t: string): Fields => d.tiers[t] ?? {};
    const firstModelOf = (d: Doc, t: string): Fields => (tierOf(d, t).models as Fields[])[0] ?? {};
    const set = (t: string, path: string, value: unknown, at: (d: Doc) => Fields = (d) => tierOf(d, t)) => ({
      apply: (d: Doc) => {
        // Defined, not assigned: assigning `__proto__` would set the prototype and add no field.
        Object.defineProperty(at(d), path, { value, enumerable: true, writable: true, configurable: true });
      },
      param: '',
    });
    const tiers = fc.constantFrom('tier-1', 'tier-2', 'tier-3', 'tier-4');
    const mutation = fc.oneof(
      fc.tuple(tiers, fc.constantFrom('inputUsdPerMTok', 'outputUsdPerMTok'), badUsd).map(([t, f, v]) => ({
        ...set(t, f, v, (d) => tierOf(d, t).price as Fields),
        param: `tiers.${t}.price.${f}`,
      })),
      fc.tuple(tiers, badUsd).map(([t, v]) => ({
        ...set(t, 'inputUsdPerMTok', v, (d) => firstModelOf(d, t)),
        param: `tiers.${t}.models.0.inputUsdPerMTok`,
      })),
      fc.tuple(tiers, badCount(1_000_000)).map(([t, v]) => ({
        ...set(t, 'maxOutputTokens', v),
        param: `tiers.${t}.maxOutputTokens`,
      })),
      fc.tuple(tiers, fc.oneof(fc.integer({ min: -1000, max: 99 }), wrongType)).map(([t, v]) => ({
        ...set(t, 'ttftTimeoutMs', v),
        param: `tiers.${t}.ttftTimeoutMs`,
      })),
      fc.tuple(tiers, unknownField).map(([t, k]) => ({ ...set(t, k, 1), param: `tiers.${t}.${k}` })),
      fc.tuple(tiers, controlled).map(([t, id]) => ({
        ...set(t, 'id', id, (d) => firstModelOf(d, t)),
        param: `tiers.${t}.models.0.id`,
      })),
      fc
        .tuple(
          tiers,
          fc.oneof(
            wrongType.filter((v) => !Array.isArray(v)),
            fc.constant([]),
          ),
        )
        .map(([t, v]) => ({
          ...set(t, 'models', v),
          param: `tiers.${t}.models`,
        })),
    );
    await fc.assert(
      fc.asyncProperty(mutation, async ({ apply, param }) => {
        const doc = JSON.parse(JSON.stringify(DEFAULT_CATALOG)) as Doc;
        apply(doc);
        const error = expectClientError(await adminSend('PUT', '/admin/tiers', JSON.stringify(doc)), {
          status: 400,
          code: 'invalid_request',
        });
        expect(error.param).toBe(param);
      }),
      { numRuns: RUNS },
    );
    const active = await admin(runtime, 'GET', '/admin/tiers');
    expect(active.json.version).toBe(1);
  });

  it('answers ids with odd characters with a 4xx on every route that takes one', async () => {
    // Path segments, already percent-encoded as a client would send them.
    const id = fc.oneof(
      fc
        .oneof(
          fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
          fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/),
          fc.integer({ min: 129, max: 600 }).map((n) => 'a'.repeat(n)),
          fc.constantFrom('*', "'", '"', '\\', '$', '{}', 'acct_\r\nX-Injected: 1'),
        )
        .filter((s) => s !== '.' && s !== '..' && s !== target.id && s !== runtime.accountId)
        .map(encodeURIComponent),
      fc.constantFrom('%00', '%2F', '%2e%2e', '%2E', 'acct_%0d%0aX-Injected:1', '%ZZ', '%', '%%41'),
    );
    const routes = [
      { method: 'GET', path: (i: string) => `/admin/accounts/${i}` },
      { method: 'DELETE', path: (i: string) => `/admin/accounts/${i}` },
      { method: 'POST', path: (i: string) => `/admin/accounts/${i}/keys`, body: '{}' },
      {
        method: 'POST',
        path: (i: string) => `/admin/accounts/${i}/credit`,
        body: '{"amountUsd":1,"reference":"odd"}',
      },
      { method: 'DELETE', path: (i: string) => `/admin/keys/${i}` },
      // Reports take ids and figures in the query: an odd one may also be a fine, empty answer.
      { method: 'GET', path: (i: string) => `/admin/requests?accountId=${i}&limit=${i}`, query: true },
      { method: 'GET', path: (i: string) => `/admin/usage?by=${i}&since=${i}&accountId=${i}`, query: true },
    ];
    await fc.assert(
      fc.asyncProperty(id, fc.nat({ max: routes.length - 1 }), async (segment, r) => {
        const route = routes[r] as (typeof routes)[number];
        const reply = await adminSend(route.method, route.path(segment), route.body);
        if (route.query && reply.status === 200) return;
        // `%2E` is a dot segment: /admin/accounts/%2E is /admin/accounts/, the account list.
        if (segment === '%2E' && route.method === 'GET' && reply.status === 200) return;
        expectClientError(reply);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('refuses a key given twice in an admin body with a 400 naming it', async () => {
    const catalog = JSON.stringify(DEFAULT_CATALOG);
    const cases: Array<[string, string, string, string]> = [
      ['POST', '/admin/accounts', '{"name":"a","name":"b"}', 'name'],
      ['POST', '/admin/accounts', '{"name":"a","creditUsd":1,"\\u0063reditUsd":100}', 'creditUsd'],
      [
        'POST',
        `/admin/accounts/${target.id}/credit`,
        '{"amountUsd":1,"reference":"d1","amountUsd":1000}',
        'amountUsd',
      ],
      ['POST', `/admin/accounts/${target.id}/keys`, '{"rpm":1,"rpm":1000000}', 'rpm'],
      ['PUT', '/admin/tiers', catalog.replace('"tiers":{', '"tiers":{"tier-1":{},'), 'tiers.tier-1'],
      [
        'PUT',
        '/admin/tiers',
        catalog.replace('"inputUsdPerMTok":', '"inputUsdPerMTok":0,"inputUsdPerMTok":'),
        'tiers.tier-1.models.0.inputUsdPerMTok',
      ],
    ];
    for (const [method, path, body, param] of cases) {
      expectClientError(await adminSend(method, path, body), { status: 400, code: 'invalid_request', param });
    }
  });

  it('answers report dates outside the representable range with a 400 naming the field', async () => {
    const dates = [
      '-271821-04-20T00:00:00Z',
      '+275760-09-13T00:00:00Z',
      '-000001-01-01T00:00:00Z',
      '1969-12-31',
    ];
    for (const date of dates) {
      for (const param of ['since', 'until']) {
        const query = `${param}=${encodeURIComponent(date)}&accountId=${target.id}`;
        const reply = await adminSend('GET', `/admin/usage?${query}`);
        expectClientError(reply, { status: 400, code: 'invalid_request', param });
      }
    }
  });

  it('left the admin target account and the catalog as they were', async () => {
    const now = await accountState(target.id);
    expect(now.balanceMicros).toBe(target.balanceMicros);
    expect(now.heldMicros).toBe(0);
    expect(now.keys).toHaveLength(1);
    const versions = await admin(runtime, 'GET', '/admin/tiers/versions');
    expect(versions.status).toBe(200);
    expect(JSON.stringify(versions.json)).not.toContain('"version":2');
  });
});

/**
 * OpenAI's type for each chat parameter, as its OpenAPI schema gives it (checked against the schema
 * below). `integer` is a JSON number without a fraction; `float` one with.
 */
type Kind = 'string' | 'integer' | 'float' | 'boolean' | 'array' | 'object';
const NUMBER: Kind[] = ['integer', 'float'];
const PARAM_TYPES: Record<string, Kind[]> = {
  messages: ['array'],
  model: ['string'],
  audio: ['object'],
  frequency_penalty: NUMBER,
  function_call: ['string', 'object'],
  functions: ['array'],
  logit_bias: ['object'],
  logprobs: ['boolean'],
  max_completion_tokens: ['integer'],
  max_tokens: ['integer'],
  metadata: ['object'],
  modalities: ['array'],
  moderation: ['object'],
  n: ['integer'],
  parallel_tool_calls: ['boolean'],
  prediction: ['object'],
  presence_penalty: NUMBER,
  prompt_cache_key: ['string'],
  prompt_cache_options: ['object'],
  prompt_cache_retention: ['string'],
  reasoning_effort: ['string'],
  response_format: ['object'],
  safety_identifier: ['string'],
  seed: ['integer'],
  service_tier: ['string'],
  stop: ['string', 'array'],
  store: ['boolean'],
  stream: ['boolean'],
  stream_options: ['object'],
  temperature: NUMBER,
  tool_choice: ['string', 'object'],
  tools: ['array'],
  top_logprobs: ['integer'],
  top_p: NUMBER,
  user: ['string'],
  verbosity: ['string'],
  web_search_options: ['object'],
};

const KIND_VALUES: Record<Kind, fc.Arbitrary<unknown>> = {
  string: fc.string({ maxLength: 12 }),
  integer: fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.constantFrom(0, 1, -1)),
  float: fc.double({ min: -1e6, max: 1e6, noNaN: true }).filter((v) => !Number.isInteger(v)),
  boolean: fc.boolean(),
  array: fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.boolean()), { maxLength: 3 }),
  object: fc.dictionary(
    fc.string({ minLength: 1, maxLength: 6 }),
    fc.oneof(fc.string({ maxLength: 5 }), fc.integer()),
    {
      maxKeys: 3,
    },
  ),
};

/** OpenAI's own request schema, from the same OpenAPI subset the response validators use. */
function openAiRequestValidator() {
  const raw = JSON.parse(readFixture()) as { components: { schemas: Record<string, unknown> } };
  const toJsonSchema = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(toJsonSchema);
    if (typeof node !== 'object' || node === null) return node;
    const src = node as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(src)) {
      if (k === 'nullable' || k === 'discriminator' || k === 'example' || k.startsWith('x-')) continue;
      if (k === '$ref' && typeof v === 'string') out.$ref = v.replace('#/components/schemas/', '#/$defs/');
      else out[k] = toJsonSchema(v);
    }
    if (src.nullable === true) {
      if (typeof out.type === 'string') out.type = [out.type, 'null'];
      else return { anyOf: [out, { type: 'null' }] };
    }
    return out;
  };
  const defs = toJsonSchema(raw.components.schemas) as Record<string, Record<string, unknown>>;
  const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
  ajv.addSchema({ $id: 'req', $defs: defs });
  const validate = ajv.getSchema('req#/$defs/CreateChatCompletionRequest');
  if (!validate) throw new Error('CreateChatCompletionRequest not in the fixture');
  // Top-level properties, collected through allOf and $ref.
  const names = new Set<string>();
  const collect = (schema: Record<string, unknown> | undefined): void => {
    if (!schema) return;
    if (typeof schema.$ref === 'string') {
      collect(defs[schema.$ref.replace('#/$defs/', '')]);
      return;
    }
    for (const part of (schema.allOf as Array<Record<string, unknown>> | undefined) ?? []) collect(part);
    for (const name of Object.keys((schema.properties as Record<string, unknown> | undefined) ?? {}))
      names.add(name);
  };
  collect(defs.CreateChatCompletionRequest);
  return { validate: (body: unknown) => validate(body) === true, names };
}

function readFixture(): string {
  // Synchronous read at test time; the fixture is small.
  return readFileSync(new URL('../fixtures/openai-chat-subset.json', import.meta.url), 'utf8');
}

/** A funded account of its own, for cases that may slip through and cost money if the gateway errs. */
async function ownAccount(name: string): Promise<{ accountId: string; key: string; before: AccountState }> {
  const created = await admin(runtime, 'POST', '/admin/accounts', { name, creditUsd: 1 });
  expect(created.status).toBe(201);
  const accountId = (created.json.account as { id: string }).id;
  return {
    accountId,
    key: (created.json.apiKey as { key: string }).key,
    before: await accountState(accountId),
  };
}

async function expectUntouched(accountId: string, before: AccountState): Promise<void> {
  await runtime.bus.drain();
  const after = await accountState(accountId);
  expect(after.balanceMicros).toBe(before.balanceMicros);
  expect(after.heldMicros).toBe(0);
  expect(await requestLog(accountId)).toEqual([]);
}

describe('input the gateway must refuse, each on an account of its own', () => {
  it('refuses a key followed by a non-breaking space, which is not HTTP whitespace', async () => {
    const { accountId, key, before } = await ownAccount('nbsp');
    // U+00A0 travels as the latin1 byte 0xA0. HTTP's whitespace is SP and HTAB only (RFC 9110 5.6.3).
    for (const auth of [`Bearer ${key}\u00a0`, `Bearer\u00a0${key}`, `Bearer ${key}\u00a0\u00a0`]) {
      expectClientError(await send({ body: VALID_TEXT, auth }), { status: 401, code: 'invalid_api_key' });
    }
    await expectUntouched(accountId, before);
  });

  it('answers a wrong type for every OpenAI parameter with a 400 naming it, and charges nothing', async () => {
    const { accountId, key, before } = await ownAccount('wrong types');
    const openAi = openAiRequestValidator();
    // The table covers exactly OpenAI's parameters, and the base body is one OpenAI accepts.
    expect(Object.keys(PARAM_TYPES).sort()).toEqual([...openAi.names].sort());
    expect(openAi.validate(VALID)).toBe(true);

    const accepted: string[] = [];
    for (const [name, kinds] of Object.entries(PARAM_TYPES)) {
      const wrong = fc.oneof(
        ...(Object.keys(KIND_VALUES) as Kind[]).filter((k) => !kinds.includes(k)).map((k) => KIND_VALUES[k]),
      );
      const result = await fc.check(
        fc.asyncProperty(wrong, async (value) => {
          const body = { ...VALID, [name]: value };
          // The oracle: OpenAI's own schema refuses this body.
          expect(openAi.validate(body), `${name}=${JSON.stringify(value)}`).toBe(false);
          const reply = await send({ body: JSON.stringify(body), auth: `Bearer ${key}` });
          expectClientError(reply, { status: 400, code: 'invalid_request', param: name });
        }),
        { numRuns: 6, endOnFailure: true },
      );
      if (result.failed) {
        const [value] = (result.counterexample ?? []) as unknown[];
        accepted.push(`${name}=${JSON.stringify(value)}`);
      }
    }
    expect(accepted, 'parameters whose wrong type was not refused with a 400 naming them').toEqual([]);
    await expectUntouched(accountId, before);
  });
});
