// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { MAX_BALANCE_MICROS } from '../../shared/domain/money.js';
import { ledgerKeys } from '../../shared/tables.js';
import { createAccount, queryAll, uniqueId, walletOf } from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Top-ups are idempotent on the client-supplied reference, capped per top-up and per balance, and
 * pay an account's debt first.
 */

let runtime: LocalRuntime;
let db: DynamoDBDocumentClient;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0 });
  db = createDocumentClient(runtime.dynamodbEndpoint);
});
afterAll(async () => {
  await runtime?.close();
});

describe('top-ups', () => {
  it('applies a reference once however many times it is sent concurrently', async () => {
    const { accountId } = await createAccount(runtime, 'topup', 1_000);
    const reference = uniqueId('inv-');
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, { amountUsd: 2.5, reference }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(results.filter((r) => r.json.applied === true)).toHaveLength(1);
    expect(results.filter((r) => r.json.applied === false)).toHaveLength(4);
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toMatchObject({
      balanceMicros: 1_000 + 2_500_000,
      heldMicros: 0,
    });
    expect(await queryAll(db, runtime.tables.ledger, `ACCOUNT#${accountId}`, 'CREDIT#')).toHaveLength(1);

    // A later retry is answered with the balance, and adds nothing.
    const retry = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 2.5,
      reference,
    });
    expect(retry).toMatchObject({
      status: 200,
      json: { balanceMicros: 2_501_000, debtMicros: 0, applied: false, amountMicros: 2_500_000, reference },
    });

    // A new reference is a new top-up.
    const second = uniqueId('inv-');
    const again = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 0.000001,
      reference: second,
    });
    expect(again).toMatchObject({
      status: 200,
      json: { balanceMicros: 2_501_001, applied: true, amountMicros: 1, reference: second },
    });
    expect(again).toMatchObject({
      status: 200,
      json: { balanceMicros: 2_501_001, debtMicros: 0, applied: true },
    });
    const view = await admin(runtime, 'GET', `/admin/accounts/${accountId}`);
    expect(view.json.balanceMicros).toBe(2_501_001);
  });

  it('refuses the same reference with a different amount with 409 and changes nothing', async () => {
    const { accountId } = await createAccount(runtime, 'topup-conflict', 0);
    const reference = uniqueId('inv-');
    const first = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 1,
      reference,
    });
    expect(first).toMatchObject({
      status: 200,
      json: { balanceMicros: 1_000_000, debtMicros: 0, applied: true, amountMicros: 1_000_000, reference },
    });
    const conflict = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 1.000001,
      reference,
    });
    expect(conflict.status).toBe(409);
    expect((conflict.json.error as { code?: string; param?: string }).code).toBe('conflict');
    expect((conflict.json.error as { code?: string; param?: string }).param).toBe('reference');
    expect((await walletOf(db, runtime.tables.ledger, accountId)).balanceMicros).toBe(1_000_000);
  });

  it('answers 404 for an unknown account and creates nothing', async () => {
    const ghost = uniqueId('acct_');
    const res = await admin(runtime, 'POST', `/admin/accounts/${ghost}/credit`, {
      amountUsd: 1,
      reference: uniqueId('inv-'),
    });
    expect(res.status).toBe(404);
    expect((res.json.error as { code?: string }).code).toBe('not_found');
    expect(await queryAll(db, runtime.tables.ledger, `ACCOUNT#${ghost}`)).toEqual([]);
  });

  it('rejects amounts that are not positive USD with at most 6 decimals', async () => {
    const { accountId } = await createAccount(runtime, 'topup-invalid', 0);
    for (const amountUsd of [0, -1, 0.0000001, 1.1234567]) {
      const res = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
        amountUsd,
        reference: uniqueId('inv-'),
      });
      expect(res.status, String(amountUsd)).toBe(400);
    }
    expect((await walletOf(db, runtime.tables.ledger, accountId)).balanceMicros).toBe(0);
  });

  it('refuses a top-up or an opening credit over $1,000,000 with a 400 naming the field', async () => {
    const { accountId } = await createAccount(runtime, 'topup-cap', 0);
    const over = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 1_000_000.000001,
      reference: uniqueId('inv-'),
    });
    expect(over.status).toBe(400);
    expect(over.json.error).toMatchObject({ code: 'invalid_request', param: 'amountUsd' });
    expect((await walletOf(db, runtime.tables.ledger, accountId)).balanceMicros).toBe(0);
    const most = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 1_000_000,
      reference: uniqueId('inv-'),
    });
    expect(most.json).toMatchObject({ balanceMicros: 1_000_000_000_000, applied: true });

    const opening = await admin(runtime, 'POST', '/admin/accounts', { name: 'big', creditUsd: 1_000_001 });
    expect(opening.status).toBe(400);
    expect(opening.json.error).toMatchObject({ code: 'invalid_request', param: 'creditUsd' });
  });

  it('refuses a top-up that would take the balance over $1,000,000,000, and records nothing', async () => {
    const { accountId } = await createAccount(runtime, 'balance-cap', 0);
    await setWallet(accountId, { balanceMicros: MAX_BALANCE_MICROS - 500_000 });
    const reference = uniqueId('inv-');
    const over = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 1,
      reference,
    });
    expect(over.status).toBe(400);
    expect(over.json.error).toMatchObject({ code: 'invalid_request', param: 'amountUsd' });
    expect(String((over.json.error as { message: string }).message)).toContain('$1,000,000,000');
    expect((await walletOf(db, runtime.tables.ledger, accountId)).balanceMicros).toBe(
      MAX_BALANCE_MICROS - 500_000,
    );
    expect(await queryAll(db, runtime.tables.ledger, `ACCOUNT#${accountId}`, 'CREDIT#')).toEqual([]);

    // Up to the cap exactly is fine; the balance stays a safe integer.
    const exact = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 0.5,
      reference,
    });
    expect(exact.json).toMatchObject({ balanceMicros: MAX_BALANCE_MICROS, debtMicros: 0, applied: true });
    expect(Number.isSafeInteger(MAX_BALANCE_MICROS + 1_000_000_000_000)).toBe(true);
  });

  it('pays a debt first from the next top-ups, once per reference', async () => {
    const { accountId } = await createAccount(runtime, 'debt', 0);
    await setWallet(accountId, { debtMicros: 300_000 });
    expect((await admin(runtime, 'GET', `/admin/accounts/${accountId}`)).json.debtMicros).toBe(300_000);

    const small = uniqueId('inv-');
    const first = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 0.1,
      reference: small,
    });
    expect(first.json).toMatchObject({ balanceMicros: 0, debtMicros: 200_000, applied: true });
    const retried = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 0.1,
      reference: small,
    });
    expect(retried.json).toMatchObject({ balanceMicros: 0, debtMicros: 200_000, applied: false });

    const big = uniqueId('inv-');
    const second = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 1,
      reference: big,
    });
    expect(second.json).toMatchObject({ balanceMicros: 800_000, debtMicros: 0, applied: true });
    const { Item } = await db.send(
      new GetCommand({ TableName: runtime.tables.ledger, Key: ledgerKeys.credit(accountId, big) }),
    );
    expect(Item).toMatchObject({ amountMicros: 1_000_000, debtPaidMicros: 200_000 });
    const view = await admin(runtime, 'GET', `/admin/accounts/${accountId}`);
    expect(view.json).toMatchObject({ balanceMicros: 800_000, debtMicros: 0 });
  });

  it('pays a debt exactly once when top-ups race', async () => {
    const { accountId } = await createAccount(runtime, 'debt-race', 0);
    await setWallet(accountId, { debtMicros: 1_000_000 });
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
          amountUsd: 0.3,
          reference: uniqueId('inv-'),
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    // 5 × 300,000 credited: 1,000,000 paid the debt, the rest is balance.
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toMatchObject({
      balanceMicros: 500_000,
      heldMicros: 0,
    });
    const view = await admin(runtime, 'GET', `/admin/accounts/${accountId}`);
    expect(view.json.debtMicros).toBe(0);
    const credits = await queryAll(db, runtime.tables.ledger, `ACCOUNT#${accountId}`, 'CREDIT#');
    expect(credits.reduce((sum, c) => sum + Number(c.debtPaidMicros ?? 0), 0)).toBe(1_000_000);
  });
});

/** Sets wallet fields directly, as a late charge (debt) or years of top-ups (balance) would leave them. */
async function setWallet(accountId: string, fields: { balanceMicros?: number; debtMicros?: number }) {
  const entries = Object.entries(fields);
  await db.send(
    new UpdateCommand({
      TableName: runtime.tables.ledger,
      Key: ledgerKeys.wallet(accountId),
      UpdateExpression: `SET ${entries.map(([k]) => `${k} = :${k}`).join(', ')}`,
      ExpressionAttributeValues: Object.fromEntries(entries.map(([k, v]) => [`:${k}`, v])),
    }),
  );
}
