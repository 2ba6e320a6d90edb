// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { createAccount, queryAll, uniqueId, walletOf } from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/** Top-ups are idempotent on the client-supplied reference. */

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
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual({
      balanceMicros: 1_000 + 2_500_000,
      heldMicros: 0,
    });
    expect(await queryAll(db, runtime.tables.ledger, `ACCOUNT#${accountId}`, 'CREDIT#')).toHaveLength(1);

    // A later retry is answered with the balance, and adds nothing.
    const retry = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 2.5,
      reference,
    });
    expect(retry).toEqual({
      status: 200,
      json: { balanceMicros: 2_501_000, applied: false, amountMicros: 2_500_000, reference },
    });

    // A new reference is a new top-up.
    const second = uniqueId('inv-');
    const again = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
      amountUsd: 0.000001,
      reference: second,
    });
    expect(again).toEqual({
      status: 200,
      json: { balanceMicros: 2_501_001, applied: true, amountMicros: 1, reference: second },
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
    expect(first).toEqual({
      status: 200,
      json: { balanceMicros: 1_000_000, applied: true, amountMicros: 1_000_000, reference },
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
});
