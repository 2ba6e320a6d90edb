import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import {
  accountState,
  expectClientError,
  isJsonObject,
  RUNS,
  runtime,
  send,
  useHostileInputRuntime,
} from '../support/hostile-input.js';
import { admin } from '../support/runtime.js';

/**
 * Hostile input, property by property, against the admin API: every case is a 4xx in OpenAI's
 * error shape, never a 5xx, and neither the account it aims at nor the catalog changes.
 */

useHostileInputRuntime();

/** A second account that admin properties aim at (keys, credit), so they never touch the demo wallet. */
let target: { id: string; balanceMicros: number };
beforeAll(async () => {
  const created = await admin(runtime, 'POST', '/admin/accounts', { name: 'admin target', creditUsd: 1 });
  expect(created.status).toBe(201);
  target = { id: (created.json.account as { id: string }).id, balanceMicros: 1_000_000 };
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
          // A reference is echoed in the ledger, in reports and by the CLI.
          controlled,
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

  it('takes a limit as decimal digits only, as a 400 naming it otherwise', async () => {
    for (const path of [
      '/admin/requests?limit=0x10',
      '/admin/requests?limit=1e2',
      '/admin/accounts?limit=0b11',
    ]) {
      const reply = await adminSend('GET', path);
      expect(reply.status, path).toBe(400);
      expect(JSON.parse(reply.text).error.param, path).toBe('limit');
    }
    expect((await adminSend('GET', '/admin/accounts?limit=2')).status).toBe(200);
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
