import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import type { CatalogDocument } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { marker, rawRequest, servedUpstreamRequest, waitFor } from '../support/e2e-helpers.js';
import { assertValid, validateError } from '../support/openai-schema.js';
import { admin, startTestRuntime } from '../support/runtime.js';

let runtime: LocalRuntime;

const CACHE_TTL_MS = 300;
// Bounded polls: many cache lifetimes, never a timing assertion.
const POLL = { timeoutMs: 5_000, intervalMs: 50 };

beforeAll(async () => {
  runtime = await startTestRuntime({
    env: { CATALOG_CACHE_TTL_MS: String(CACHE_TTL_MS), KEY_CACHE_TTL_MS: String(CACHE_TTL_MS) },
  });
});
afterAll(async () => {
  await runtime?.close();
});

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

interface ActiveCatalog {
  version: number;
  publishedAt: string;
  catalog: CatalogDocument;
}

async function activeCatalog(): Promise<ActiveCatalog> {
  const res = await admin(runtime, 'GET', '/admin/tiers');
  expect(res.status).toBe(200);
  return res.json as unknown as ActiveCatalog;
}

/** One tier-1 completion: which model served it upstream and which catalog version the gateway named. */
async function tier1Probe(): Promise<{ model: string; version: string | null }> {
  const tag = marker();
  const res = await rawRequest(runtime, {
    model: 'tier-1',
    max_tokens: 16,
    messages: [{ role: 'user', content: `probe ${tag} tokens:2` }],
  });
  expect(res.status).toBe(200);
  await res.text();
  return {
    model: servedUpstreamRequest(runtime, tag).model,
    version: res.headers.get('x-tier-catalog-version'),
  };
}

async function completionStatus(key: string): Promise<number> {
  const res = await rawRequest(
    runtime,
    { model: 'tier-1', max_tokens: 16, messages: [{ role: 'user', content: 'ping tokens:1' }] },
    { apiKey: key },
  );
  await res.text();
  return res.status;
}

/** Checks the OpenAI error contract of an admin error and returns its body. */
function expectAdminError(
  res: { status: number; json: Record<string, unknown> },
  status: number,
): { message: string; type: string; param: string | null; code: string | null } {
  expect(res.status, JSON.stringify(res.json)).toBe(status);
  return assertValid(
    validateError,
    res.json as { error: { message: string; type: string; param: string | null; code: string | null } },
  ).error;
}

describe('tier catalog versions', () => {
  it('publishes a new version, serves it after the cache expires, and rolls back', async () => {
    const v1 = await activeCatalog();
    expect(v1.version).toBe(1);
    expect(v1.catalog).toEqual(DEFAULT_CATALOG);
    const oldModel = DEFAULT_CATALOG.tiers['tier-1'].models[0]?.id;
    expect(await tier1Probe()).toEqual({ model: oldModel, version: '1' });

    const next = clone(v1.catalog);
    const firstModel = next.tiers['tier-1'].models[0];
    if (!firstModel) throw new Error('tier-1 has no model');
    firstModel.id = 'test/new-model';
    const published = await admin(runtime, 'PUT', '/admin/tiers', next);
    expect(published.status, JSON.stringify(published.json)).toBe(201);
    expect(published.json.version).toBe(2);
    expect(typeof published.json.publishedAt).toBe('string');

    const v2 = await activeCatalog();
    expect(v2.version).toBe(2);
    expect(v2.catalog.tiers['tier-1'].models[0]?.id).toBe('test/new-model');

    await waitFor(
      async () => {
        const probe = await tier1Probe();
        return probe.model === 'test/new-model' && probe.version === '2' ? probe : undefined;
      },
      { ...POLL, what: 'tier-1 to be served by the new catalog' },
    );
    // Once switched it stays switched, and other tiers are untouched.
    expect(await tier1Probe()).toEqual({ model: 'test/new-model', version: '2' });
    const tag = marker();
    await rawRequest(runtime, {
      model: 'tier-2',
      max_tokens: 16,
      messages: [{ role: 'user', content: tag }],
    }).then((r) => r.text());
    expect(servedUpstreamRequest(runtime, tag).model).toBe(DEFAULT_CATALOG.tiers['tier-2'].models[0]?.id);

    const rolledBack = await admin(runtime, 'POST', '/admin/tiers/rollback', { version: 1 });
    expect(rolledBack.status, JSON.stringify(rolledBack.json)).toBe(200);
    expect(rolledBack.json.active).toBe(1);
    expect((await activeCatalog()).version).toBe(1);

    await waitFor(
      async () => {
        const probe = await tier1Probe();
        return probe.model === oldModel && probe.version === '1' ? probe : undefined;
      },
      { ...POLL, what: 'tier-1 to be served by version 1 again' },
    );

    const versions = await admin(runtime, 'GET', '/admin/tiers/versions');
    expect(versions.status).toBe(200);
    expect(versions.json.active).toBe(1);
    const listed = (versions.json.versions as Array<{ version: number; publishedAt: string }>).map(
      (v) => v.version,
    );
    expect(listed.sort()).toEqual([1, 2]);

    const missing = await admin(runtime, 'POST', '/admin/tiers/rollback', { version: 99 });
    expectAdminError(missing, 404);
    expect((await activeCatalog()).version).toBe(1);
  });

  it('rejects invalid catalogs with a 400 naming the field and keeps the active version', async () => {
    const before = await activeCatalog();
    const base = clone(DEFAULT_CATALOG) as unknown as {
      tiers: Record<
        string,
        Record<string, unknown> & { price: Record<string, unknown>; models: Array<Record<string, unknown>> }
      >;
    } & Record<string, unknown>;
    const cases: Array<[string, (c: typeof base) => void, string]> = [
      ['unknown top-level field', (c) => Object.assign(c, { extra: true }), 'extra'],
      ['unknown tier field', (c) => Object.assign(c.tiers['tier-1'] ?? {}, { turbo: true }), 'turbo'],
      [
        'unknown model field',
        (c) => Object.assign(c.tiers['tier-2']?.models[0] ?? {}, { vendor: 'x' }),
        'vendor',
      ],
      ['unknown tier', (c) => Object.assign(c.tiers, { 'tier-5': c.tiers['tier-1'] }), 'tier-5'],
      ['missing tier', (c) => delete c.tiers['tier-4'], 'tier-4'],
      [
        'negative price',
        (c) => Object.assign(c.tiers['tier-2']?.price ?? {}, { inputUsdPerMTok: -1 }),
        'inputUsdPerMTok',
      ],
      [
        'too many decimals',
        (c) => Object.assign(c.tiers['tier-3']?.price ?? {}, { outputUsdPerMTok: 0.1234567 }),
        'outputUsdPerMTok',
      ],
      ['no models', (c) => Object.assign(c.tiers['tier-1'] ?? {}, { models: [] }), 'models'],
      [
        'bad cap',
        (c) => Object.assign(c.tiers['tier-1'] ?? {}, { maxOutputTokens: 'lots' }),
        'maxOutputTokens',
      ],
    ];
    for (const [label, mutate, field] of cases) {
      const doc = clone(base);
      mutate(doc);
      const res = await admin(runtime, 'PUT', '/admin/tiers', doc);
      const error = expectAdminError(res, 400);
      expect(error.type, label).toBe('invalid_request_error');
      expect(error.param, label).toContain(field);
    }
    const res = await fetch(`${runtime.adminUrl}/tiers`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
      body: '{"tiers": ',
    });
    expect(res.status).toBe(400);
    assertValid(validateError, await res.json());

    const after = await activeCatalog();
    expect(after.version).toBe(before.version);
    expect(after.catalog).toEqual(before.catalog);
    const versions = await admin(runtime, 'GET', '/admin/tiers/versions');
    expect((versions.json.versions as unknown[]).length).toBeLessThanOrEqual(2);
  });
});

describe('accounts and keys', () => {
  it('creates an account whose key is shown once, and never shows it again', async () => {
    const created = await admin(runtime, 'POST', '/admin/accounts', { name: 'lifecycle', creditUsd: 1 });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const account = created.json.account as { id: string; name: string; balanceMicros: number };
    const apiKey = created.json.apiKey as { id: string; key: string };
    expect(account.name).toBe('lifecycle');
    expect(account.balanceMicros).toBe(1_000_000);
    expect(apiKey.key).toMatch(/^tg-/);
    expect(apiKey.id).toBeTruthy();

    const shown = await admin(runtime, 'GET', `/admin/accounts/${account.id}`);
    expect(shown.status).toBe(200);
    expect(shown.json.id).toBe(account.id);
    expect(shown.json.balanceMicros).toBe(1_000_000);
    expect(shown.json.heldMicros).toBe(0);
    const keys = shown.json.keys as Array<{ id: string; status: string }>;
    expect(keys.map((k) => k.id)).toEqual([apiKey.id]);
    expect(keys[0]?.status).toBe('active');
    const text = JSON.stringify(shown.json);
    expect(text).not.toContain(apiKey.key);
    expect(text).not.toContain(apiKey.key.slice(3));

    const client = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: apiKey.key, maxRetries: 0 });
    const res = await client.chat.completions.create({
      model: 'tier-1',
      max_tokens: 16,
      messages: [{ role: 'user', content: 'hello tokens:2' }],
    });
    expect(res.model).toBe('tier-1');
  });

  it('revokes one key without affecting the others', async () => {
    const created = await admin(runtime, 'POST', '/admin/accounts', { name: 'two keys', creditUsd: 1 });
    const accountId = (created.json.account as { id: string }).id;
    const first = (created.json.apiKey as { key: string }).key;

    const second = await admin(runtime, 'POST', `/admin/accounts/${accountId}/keys`, {
      name: 'ci',
      rpm: 600,
    });
    expect(second.status, JSON.stringify(second.json)).toBe(201);
    const secondKey = second.json as { id: string; key: string };
    expect(secondKey.key).toMatch(/^tg-/);
    expect(secondKey.key).not.toBe(first);
    expect(await completionStatus(secondKey.key)).toBe(200);

    const shown = await admin(runtime, 'GET', `/admin/accounts/${accountId}`);
    expect((shown.json.keys as unknown[]).length).toBe(2);
    expect(JSON.stringify(shown.json)).not.toContain(secondKey.key);

    const revoked = await admin(runtime, 'DELETE', `/admin/keys/${secondKey.id}`);
    expect(revoked.status, JSON.stringify(revoked.json)).toBe(200);
    await waitFor(async () => (await completionStatus(secondKey.key)) === 401, {
      ...POLL,
      what: 'the revoked key to be refused',
    });
    expect(await completionStatus(first)).toBe(200);
    // Stays revoked after further cache expiries.
    await new Promise((resolve) => setTimeout(resolve, CACHE_TTL_MS * 2));
    expect(await completionStatus(secondKey.key)).toBe(401);

    const after = await admin(runtime, 'GET', `/admin/accounts/${accountId}`);
    const statuses = Object.fromEntries(
      (after.json.keys as Array<{ id: string; status: string }>).map((k) => [k.id, k.status]),
    );
    expect(statuses[secondKey.id]).toBe('revoked');
    expect(Object.values(statuses).filter((s) => s === 'active')).toHaveLength(1);

    expectAdminError(await admin(runtime, 'DELETE', '/admin/keys/key_doesnotexist'), 404);
    expectAdminError(await admin(runtime, 'POST', '/admin/accounts/acct_doesnotexist/keys', {}), 404);
  });

  it('adds credit once per reference and refuses a reused reference with another amount', async () => {
    const created = await admin(runtime, 'POST', '/admin/accounts', { name: 'wallet', creditUsd: 1 });
    const accountId = (created.json.account as { id: string }).id;

    const firstTopUp = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 2,
      reference: 'r1',
    });
    expect(firstTopUp.status, JSON.stringify(firstTopUp.json)).toBe(200);
    expect(firstTopUp.json.balanceMicros).toBe(3_000_000);
    const retried = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 2,
      reference: 'r1',
    });
    expect(retried.status).toBe(200);
    expect(retried.json.balanceMicros).toBe(3_000_000);
    expect((await admin(runtime, 'GET', `/admin/accounts/${accountId}`)).json.balanceMicros).toBe(3_000_000);

    const conflict = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 5,
      reference: 'r1',
    });
    expectAdminError(conflict, 409);
    expect((await admin(runtime, 'GET', `/admin/accounts/${accountId}`)).json.balanceMicros).toBe(3_000_000);

    const another = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 0.5,
      reference: 'r2',
    });
    expect(another.json.balanceMicros).toBe(3_500_000);

    expectAdminError(
      await admin(runtime, 'POST', '/admin/accounts/acct_doesnotexist/credit', {
        amountUsd: 1,
        reference: 'x',
      }),
      404,
    );
  });

  it('deletes an account: its key stops working and the account is gone', async () => {
    const created = await admin(runtime, 'POST', '/admin/accounts', { name: 'doomed', creditUsd: 1 });
    const accountId = (created.json.account as { id: string }).id;
    const key = (created.json.apiKey as { key: string }).key;
    expect(await completionStatus(key)).toBe(200);

    const deleted = await admin(runtime, 'DELETE', `/admin/accounts/${accountId}`);
    expect(deleted.status, JSON.stringify(deleted.json)).toBe(200);
    await waitFor(async () => (await completionStatus(key)) === 401, {
      ...POLL,
      what: 'the deleted account key to be refused',
    });

    const gone = await admin(runtime, 'GET', `/admin/accounts/${accountId}`);
    const error = expectAdminError(gone, 404);
    expect(error.code).toBe('not_found');
    expectAdminError(await admin(runtime, 'DELETE', `/admin/accounts/${accountId}`), 404);
  });
});

describe('admin API guard and input', () => {
  it('refuses a missing or wrong admin token with 401', async () => {
    for (const authorization of [
      undefined,
      'Bearer wrong-token',
      `Bearer ${runtime.apiKey}`,
      runtime.adminToken,
    ]) {
      const res = await fetch(`${runtime.adminUrl}/tiers`, {
        headers: authorization === undefined ? {} : { authorization },
      });
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      assertValid(validateError, await res.json());
    }
    const write = await fetch(`${runtime.adminUrl}/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'sneaky', creditUsd: 1000 }),
    });
    expect(write.status).toBe(401);
  });

  it('answers bad admin input with a 400 in the OpenAI error shape', async () => {
    const bad: Array<[string, unknown, string | null]> = [
      ['negative credit', { name: 'x', creditUsd: -1 }, 'creditUsd'],
      ['too many decimals', { name: 'x', creditUsd: 0.0000001 }, 'creditUsd'],
      ['unknown field', { name: 'x', admin: true }, 'admin'],
      ['missing name', { creditUsd: 1 }, 'name'],
      ['empty name', { name: '  ' }, 'name'],
      ['credit as string', { name: 'x', creditUsd: '5' }, 'creditUsd'],
    ];
    for (const [label, body, param] of bad) {
      const error = expectAdminError(await admin(runtime, 'POST', '/admin/accounts', body), 400);
      expect(error.type, label).toBe('invalid_request_error');
      expect(error.param, label).toBe(param);
    }
    for (const body of ['{"name": ', 'not json', '[1,2]']) {
      const res = await fetch(`${runtime.adminUrl}/accounts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
        body,
      });
      expect(res.status, body).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('x-request-id')).toBeTruthy();
      assertValid(validateError, await res.json());
    }
    const created = await admin(runtime, 'POST', '/admin/accounts', { name: 'input checks' });
    const accountId = (created.json.account as { id: string }).id;
    expectAdminError(
      await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, { amountUsd: 0, reference: 'z' }),
      400,
    );
    expectAdminError(
      await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, { amountUsd: 1 }),
      400,
    );
    expectAdminError(await admin(runtime, 'POST', `/admin/accounts/${accountId}/keys`, { rpm: -5 }), 400);
    expectAdminError(await admin(runtime, 'POST', '/admin/tiers/rollback', { version: 'one' }), 400);
    expectAdminError(await admin(runtime, 'GET', '/admin/nothing'), 404);
    expectAdminError(await admin(runtime, 'PATCH', '/admin/tiers'), 405);
  });
});
