// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { rawRequest, roomInUtcDay } from '../support/e2e-helpers.js';
import { createAccount, logItems, openHolds, walletOf } from '../support/money-helpers.js';
import { assertValid, validateError } from '../support/openai-schema.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Per-key and per-account daily budgets: checked in the hold transaction against today's settled
 * charges, refused with 429 budget_exceeded (not worth retrying today).
 */

let runtime: LocalRuntime;
let db: DynamoDBDocumentClient;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0, env: { KEY_CACHE_TTL_MS: '100' } });
  db = createDocumentClient(runtime.dynamodbEndpoint);
});
afterAll(async () => {
  await runtime?.close();
});
// Spend and the reads or refusals that follow it fall on the same UTC day.
beforeEach(() => roomInUtcDay(30_000));

const body = () => ({ model: 'tier-1', messages: [{ role: 'user', content: 'budget tokens:4' }] });

async function expectServed(apiKey: string): Promise<void> {
  const res = await rawRequest(runtime, body(), { apiKey });
  expect(res.status).toBe(200);
  await res.text();
}

async function expectBudgetExceeded(apiKey: string, scope: 'key' | 'account'): Promise<void> {
  for (const stream of [false, true]) {
    const res = await rawRequest(runtime, { ...body(), stream }, { apiKey });
    expect(res.status, `stream=${stream}`).toBe(429);
    expect(res.headers.get('x-should-retry')).toBe('false');
    const json = assertValid(validateError, await res.json()) as {
      error: { code: string; type: string; message: string };
    };
    expect(json.error.code).toBe('budget_exceeded');
    expect(json.error.type).toBe('insufficient_quota');
    expect(json.error.message).toContain(scope);
  }
}

describe('daily budgets', () => {
  it('refuses a key whose daily budget is spent, while the account’s other keys still work', async () => {
    const { accountId, apiKey: defaultKey } = await createAccount(runtime, 'key-budget', 1_000_000);
    const created = await admin(runtime, 'POST', `/admin/accounts/${accountId}/keys`, {
      name: 'tiny',
      dailyBudgetUsd: 0.000001,
    });
    expect(created.status).toBe(201);
    const tinyKey = String(created.json.key);

    await expectServed(tinyKey);
    await runtime.bus.drain();
    const before = await walletOf(db, runtime.tables.ledger, accountId);

    await expectBudgetExceeded(tinyKey, 'key');
    // The refusal held nothing and logged nothing.
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual(before);
    expect(await openHolds(db, runtime.tables.ledger, accountId)).toEqual([]);
    expect(await logItems(db, runtime.tables.requestLog, accountId)).toHaveLength(1);

    // The key without a budget is unaffected.
    await expectServed(defaultKey);
    await expectServed(defaultKey);
    await runtime.bus.drain();
    expect(await logItems(db, runtime.tables.requestLog, accountId)).toHaveLength(3);
  });

  it('refuses every key of an account whose daily budget is spent', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'account-budget', 1_000_000, {
      dailyBudgetUsd: 0.000001,
    });
    await expectServed(apiKey);
    await runtime.bus.drain();
    await expectBudgetExceeded(apiKey, 'account');

    // A key created later, without a budget of its own, shares the account's budget.
    const created = await admin(runtime, 'POST', `/admin/accounts/${accountId}/keys`, { name: 'second' });
    expect(created.status).toBe(201);
    await expectBudgetExceeded(String(created.json.key), 'account');
    await runtime.bus.drain();
    expect(await logItems(db, runtime.tables.requestLog, accountId)).toHaveLength(1);
    expect((await walletOf(db, runtime.tables.ledger, accountId)).heldMicros).toBe(0);
  });

  it('refuses the first request of the day under a budget of zero, key or account', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'zero-budget', 1_000_000, {
      dailyBudgetUsd: 0,
    });
    await expectBudgetExceeded(apiKey, 'account');
    const other = await createAccount(runtime, 'zero-key-budget', 1_000_000);
    const created = await admin(runtime, 'POST', `/admin/accounts/${other.accountId}/keys`, {
      name: 'zero',
      dailyBudgetUsd: 0,
    });
    expect(created.status).toBe(201);
    await expectBudgetExceeded(String(created.json.key), 'key');
    await runtime.bus.drain();
    for (const id of [accountId, other.accountId]) {
      expect(await logItems(db, runtime.tables.requestLog, id)).toHaveLength(0);
      expect(await walletOf(db, runtime.tables.ledger, id)).toMatchObject({
        balanceMicros: 1_000_000,
        heldMicros: 0,
      });
    }
  });

  it('admits requests while the settled charges are below the budget', async () => {
    // A budget far above one request's charge: several requests in a row are all served.
    const { accountId, apiKey } = await createAccount(runtime, 'roomy-budget', 1_000_000, {
      dailyBudgetUsd: 0.01,
    });
    for (let i = 0; i < 3; i++) {
      await expectServed(apiKey);
      await runtime.bus.drain();
    }
    expect(await logItems(db, runtime.tables.requestLog, accountId)).toHaveLength(3);
  });
});
