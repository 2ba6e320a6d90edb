import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { rawRequest, roomInUtcDay, waitFor } from '../support/e2e-helpers.js';
import { assertValid, validateError } from '../support/openai-schema.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/** GET /v1/key, /v1/usage and /v1/requests (DESIGN §15): a key holder's reads of their own account. */

let runtime: LocalRuntime;
const KEY_CACHE_TTL_MS = 300;
const POLL = { timeoutMs: 10_000, intervalMs: 50 };

beforeAll(async () => {
  runtime = await startTestRuntime({ env: { KEY_CACHE_TTL_MS: String(KEY_CACHE_TTL_MS) } });
});
afterAll(async () => {
  await runtime?.close();
});
// Spend, today's figures and the day rows of the reports fall on the same UTC day.
beforeEach(() => roomInUtcDay(30_000));

interface Account {
  accountId: string;
  key: string;
}

async function newAccount(
  name: string,
  creditUsd: number,
  keyOptions: Record<string, unknown> = {},
  accountOptions: Record<string, unknown> = {},
) {
  const created = await admin(runtime, 'POST', '/admin/accounts', { name, creditUsd, ...accountOptions });
  expect(created.status, JSON.stringify(created.json)).toBe(201);
  const accountId = (created.json.account as { id: string }).id;
  const key = await admin(runtime, 'POST', `/admin/accounts/${accountId}/keys`, {
    name: 'console',
    ...keyOptions,
  });
  expect(key.status, JSON.stringify(key.json)).toBe(201);
  return { accountId, key: (key.json as { key: string }).key, keyId: (key.json as { id: string }).id };
}

async function read(path: string, apiKey: string | null) {
  const res = await rawRequest(runtime, undefined, { apiKey, method: 'GET', path });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

/** Completions of `tier` for the account, then waits until billing has logged all of them. */
async function spend(account: Account, tier: string, count: number): Promise<void> {
  const before = await loggedRequests(account.accountId);
  for (let i = 0; i < count; i++) {
    const res = await rawRequest(
      runtime,
      { model: tier, max_tokens: 16, messages: [{ role: 'user', content: 'hello tokens:3' }] },
      { apiKey: account.key },
    );
    expect(res.status).toBe(200);
    await res.text();
  }
  await waitFor(async () => (await loggedRequests(account.accountId)) >= before + count, {
    ...POLL,
    what: 'the requests to be logged',
  });
}

async function loggedRequests(accountId: string): Promise<number> {
  const res = await admin(runtime, 'GET', `/admin/requests?accountId=${accountId}&limit=1000`);
  return (res.json.requests as unknown[]).length;
}

const today = () => new Date().toISOString().slice(0, 10);

describe('GET /v1/key', () => {
  it("shows the key's own account, balance, limits and today's spend, and never key material", async () => {
    const account = await newAccount('alpha', 2, { rpm: 120, dailyBudgetUsd: 1 });
    const fresh = await read('/v1/key', account.key);
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('cache-control')).toBe('private, no-store');
    expect(fresh.json).toEqual({
      account: {
        id: account.accountId,
        name: 'alpha',
        balanceMicros: 2_000_000,
        heldMicros: 0,
        dailyBudgetMicros: null,
        spentTodayMicros: 0,
      },
      key: {
        id: account.keyId,
        name: 'console',
        rpm: 120,
        tpm: null,
        dailyBudgetMicros: 1_000_000,
        spentTodayMicros: 0,
        budgetResetsAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T00:00:00\.000Z$/),
      },
    });
    const resets = Date.parse((fresh.json.key as { budgetResetsAt: string }).budgetResetsAt);
    expect(resets).toBeGreaterThan(Date.now());
    expect(resets - Date.now()).toBeLessThanOrEqual(86_400_000);
    expect(JSON.stringify(fresh.json)).not.toContain(account.key);

    await spend(account, 'tier-2', 2);
    // The view caches the balance and today's spend apart, each for a few seconds, so one may
    // refresh a poll before the other: wait until both show the spend.
    const after = await waitFor(
      async () => {
        const r = await read('/v1/key', account.key);
        const spent = (r.json.key as { spentTodayMicros: number }).spentTodayMicros;
        const balance = (r.json.account as { balanceMicros: number }).balanceMicros;
        return spent > 0 && balance < 2_000_000 ? r : undefined;
      },
      { ...POLL, what: 'the cached view to show the spend' },
    );
    const admins = await admin(runtime, 'GET', `/admin/accounts/${account.accountId}`);
    const { balanceMicros } = after.json.account as { balanceMicros: number };
    expect(balanceMicros).toBe(admins.json.balanceMicros);
    expect((after.json.key as { spentTodayMicros: number }).spentTodayMicros).toBe(2_000_000 - balanceMicros);
  });

  it("shows the account's daily budget and what all its keys spent today, also once it is spent", async () => {
    const account = await newAccount('capped', 1, {}, { dailyBudgetUsd: 0.000001 });
    const other = await admin(runtime, 'POST', `/admin/accounts/${account.accountId}/keys`, {
      name: 'other',
    });
    expect(other.status, JSON.stringify(other.json)).toBe(201);
    const otherKey = (other.json as { key: string }).key;

    const fresh = await read('/v1/key', otherKey);
    expect(fresh.json.account).toMatchObject({ dailyBudgetMicros: 1, spentTodayMicros: 0 });
    expect(fresh.json.key).toMatchObject({ dailyBudgetMicros: null, spentTodayMicros: 0 });

    await spend(account, 'tier-1', 1);
    // The other key spent nothing itself, yet its view shows the account's budget spent. The day's
    // counters are added when the spend is counted, which may come after the request is logged.
    const spent = await waitFor(
      async () => {
        const r = await read('/v1/key', otherKey);
        return (r.json.account as { spentTodayMicros: number }).spentTodayMicros > 0 ? r : undefined;
      },
      { ...POLL, what: "the cached view to show the account's spend" },
    );
    const admins = await admin(runtime, 'GET', `/admin/accounts/${account.accountId}`);
    expect(spent.json.account).toMatchObject({
      dailyBudgetMicros: 1,
      spentTodayMicros: 1_000_000 - Number(admins.json.balanceMicros),
    });
    expect(spent.json.key).toMatchObject({ dailyBudgetMicros: null, spentTodayMicros: 0 });

    // And that is the budget that refuses the other key's request.
    const refused = await rawRequest(
      runtime,
      { model: 'tier-1', max_tokens: 16, messages: [{ role: 'user', content: 'again' }] },
      { apiKey: otherKey },
    );
    expect(refused.status).toBe(429);
    const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('budget_exceeded');
    expect(error.message).toMatch(/account daily budget is spent/);
  });

  it('refuses a missing or unknown key in the OpenAI error shape', async () => {
    for (const key of [null, 'tg-not-a-real-key-0000000000000000000000']) {
      const res = await read('/v1/key', key);
      expect(res.status).toBe(401);
      assertValid(validateError, res.json);
      expect((res.json.error as { code: string }).code).toBe('invalid_api_key');
    }
  });

  it('answers only GET', async () => {
    const res = await rawRequest(runtime, {}, { method: 'POST', path: '/v1/key' });
    expect(res.status).toBe(405);
    assertValid(validateError, await res.json());
  });
});

describe('GET /v1/usage', () => {
  it('groups the last 30 days by day and by tier, with totals', async () => {
    const account = await newAccount('usage', 3);
    await spend(account, 'tier-1', 2);
    await spend(account, 'tier-3', 1);

    const byDay = await read('/v1/usage', account.key);
    expect(byDay.status).toBe(200);
    const since = new Date(Date.parse(`${today()}T00:00:00Z`) - 29 * 86_400_000).toISOString().slice(0, 10);
    expect(byDay.json).toMatchObject({ by: 'day', since, until: today(), truncated: false });
    const dayRows = byDay.json.rows as Array<{ key: string; requests: number; chargeMicros: number }>;
    expect(dayRows.map((r) => [r.key, r.requests])).toEqual([[today(), 3]]);

    const byTier = await read('/v1/usage?by=tier', account.key);
    const tierRows = byTier.json.rows as Array<{ key: string; requests: number; chargeMicros: number }>;
    expect(tierRows.map((r) => [r.key, r.requests])).toEqual([
      ['tier-1', 2],
      ['tier-3', 1],
    ]);
    const total = byTier.json.total as { requests: number; chargeMicros: number; inputTokens: number };
    expect(total.requests).toBe(3);
    expect(total.chargeMicros).toBe(tierRows.reduce((n, r) => n + r.chargeMicros, 0));
    expect(total).toEqual(byDay.json.total);
    // The wallet paid exactly what the report counts.
    const admins = await admin(runtime, 'GET', `/admin/accounts/${account.accountId}`);
    expect(3_000_000 - Number(admins.json.balanceMicros)).toBe(total.chargeMicros);
    // What it cost upstream is the operator's business.
    expect(JSON.stringify(byTier.json)).not.toMatch(/upstreamCost|model/i);

    // The console's stacked chart: one row per day and tier.
    const byDayAndTier = await read('/v1/usage?by=day,tier', account.key);
    expect(
      (byDayAndTier.json.rows as Array<{ key: string; requests: number }>).map((r) => [r.key, r.requests]),
    ).toEqual([
      [`${today()},tier-1`, 2],
      [`${today()},tier-3`, 1],
    ]);
    expect(byDayAndTier.json.total).toEqual(total);

    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const past = await read(`/v1/usage?by=day&since=${yesterday}&until=${yesterday}`, account.key);
    expect(past.json).toMatchObject({ since: yesterday, until: yesterday, rows: [], total: { requests: 0 } });
    // The default 30 days before the earliest date start at that date, not at an error about 'since'.
    const epoch = await read('/v1/usage?until=1970-01-01', account.key);
    expect(epoch.status).toBe(200);
    expect(epoch.json).toMatchObject({ since: '1970-01-01', until: '1970-01-01', rows: [] });
  });

  it('refuses a bad grouping or range with the parameter named', async () => {
    const account = await newAccount('bad ranges', 1);
    const cases: Array<[string, string]> = [
      ['/v1/usage?by=key', 'by'],
      ['/v1/usage?since=2026-02-30', 'since'],
      ['/v1/usage?until=yesterday', 'until'],
      ['/v1/usage?since=2026-03-02&until=2026-03-01', 'since'],
      ['/v1/usage?since=2020-01-01&until=2026-01-01', 'since'],
      // Before the epoch: named as the date the client sent, not the default start it never did.
      ['/v1/usage?until=0100-01-01', 'until'],
      ['/v1/usage?since=1969-12-31', 'since'],
      ['/v1/requests?limit=0', 'limit'],
      // Decimal digits only: JavaScript's Number() would read these as 16, 100 and 3.
      ['/v1/requests?limit=0x10', 'limit'],
      ['/v1/requests?limit=1e2', 'limit'],
      ['/v1/requests?limit=%2B3', 'limit'],
    ];
    for (const [path, param] of cases) {
      const res = await read(path, account.key);
      expect(res.status, path).toBe(400);
      assertValid(validateError, res.json);
      expect((res.json.error as { param: string }).param, path).toBe(param);
    }
  });
});

describe('recent requests', () => {
  it('answers every limit from one read of the newest, newest first, saying whether there are more', async () => {
    const account = await newAccount('recent', 1);
    await spend(account, 'tier-1', 3);
    const all = (await read('/v1/requests', account.key)).json;
    expect(all.hasMore).toBe(false);
    const ids = (all.data as Array<{ requestId: string; startedAt: string }>).map((r) => r.requestId);
    expect(ids).toHaveLength(3);
    for (const limit of [1, 2, 3, 4]) {
      const page = (await read(`/v1/requests?limit=${limit}`, account.key)).json;
      expect((page.data as Array<{ requestId: string }>).map((r) => r.requestId)).toEqual(
        ids.slice(0, limit),
      );
      expect(page.hasMore, `limit ${limit}`).toBe(limit < 3);
    }
  });
});

describe('isolation and revocation', () => {
  it("never shows one account's balance, usage or requests to another account's key", async () => {
    const mine = await newAccount('mine', 1);
    const theirs = await newAccount('theirs', 4);
    await spend(theirs, 'tier-4', 2);
    await spend(mine, 'tier-1', 1);

    const key = await read('/v1/key', mine.key);
    expect((key.json.account as { id: string }).id).toBe(mine.accountId);
    const usage = await read('/v1/usage?by=tier', mine.key);
    expect((usage.json.rows as Array<{ key: string }>).map((r) => r.key)).toEqual(['tier-1']);
    expect((usage.json.total as { requests: number }).requests).toBe(1);

    const recent = await read('/v1/requests', mine.key);
    const rows = recent.json.data as Array<Record<string, unknown>>;
    expect(rows.map((r) => r.tier)).toEqual(['tier-1']);
    const theirRequests = (await read('/v1/requests', theirs.key)).json.data as Array<{ requestId: string }>;
    expect(theirRequests).toHaveLength(2);
    const shown = JSON.stringify([key.json, usage.json, recent.json]);
    expect(shown).not.toContain(theirs.accountId);
    for (const r of theirRequests) expect(shown).not.toContain(r.requestId);
    // A recent request names its tier, tokens and charge, never the model that served it.
    expect(Object.keys(rows[0] ?? {}).sort()).toEqual(
      [
        'chargeMicros',
        'errorCode',
        'inputTokens',
        'outputTokens',
        'requestId',
        'startedAt',
        'status',
        'stream',
        'tier',
      ].sort(),
    );
  });

  it('answers while the budget is spent and the rate limit used up, and not once the key is revoked', async () => {
    const account = await newAccount('limited', 1, { rpm: 1, dailyBudgetUsd: 0.000001 });
    await spend(account, 'tier-1', 1);
    const refused = await rawRequest(
      runtime,
      { model: 'tier-1', max_tokens: 16, messages: [{ role: 'user', content: 'again' }] },
      { apiKey: account.key },
    );
    expect([402, 429]).toContain(refused.status);
    await refused.text();
    for (let i = 0; i < 3; i++) {
      expect((await read('/v1/key', account.key)).status).toBe(200);
      expect((await read('/v1/usage', account.key)).status).toBe(200);
      expect((await read('/v1/requests', account.key)).status).toBe(200);
    }

    const revoked = await admin(runtime, 'DELETE', `/admin/keys/${account.keyId}`);
    expect(revoked.status).toBe(200);
    await waitFor(async () => (await read('/v1/key', account.key)).status === 401, {
      ...POLL,
      what: 'the revoked key to lose /v1/key',
    });
    for (const path of ['/v1/key', '/v1/usage', '/v1/requests']) {
      const res = await read(path, account.key);
      expect(res.status, path).toBe(401);
      assertValid(validateError, res.json);
    }
  });
});
