// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import { type DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { DynamoAccountStore } from '../../shared/adapters/dynamodb/account-store.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { DynamoWalletStore } from '../../shared/adapters/dynamodb/wallet-store.js';
import { RELEASE_RECORD_TTL_DAYS } from '../../shared/billing/late-usage.js';
import { Settlement } from '../../shared/billing/settlement.js';
import { DEBT_RECORDED_METRIC } from '../../shared/runtime/metric-names.js';
import {
  booksOf,
  chargeFor,
  createAccount,
  creditedBy,
  holdFor,
  logItems,
  openHolds,
  queryAll,
  uniqueId,
  usageRecord,
  walletOf,
} from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Usage that arrives after the reconciler released its hold (a DLQ redrive, an archive replay, a
 * slow consumer) is charged exactly once from the release record; what the balance cannot cover
 * becomes a debt on the wallet, never a negative balance, and the next top-up pays it.
 */

let runtime: LocalRuntime;
let db: DynamoDBDocumentClient;
/** EMF documents the handlers printed (Powertools Metrics writes them to stdout). */
const emf: Array<Record<string, unknown>> = [];
const writeStdout = process.stdout.write.bind(process.stdout);

beforeAll(async () => {
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = String(chunk);
    if (!text.includes('"_aws"')) return (writeStdout as (...a: unknown[]) => boolean)(chunk, ...rest);
    for (const line of text.split('\n').filter(Boolean))
      emf.push(JSON.parse(line) as Record<string, unknown>);
    return true;
  }) as typeof process.stdout.write;
  runtime = await startTestRuntime({
    reconcileEveryMs: 0,
    bus: { maxAttempts: 2, retryDelayMs: 1 },
    env: { RECONCILE_AFTER_MS: '0', POWERTOOLS_METRICS_DISABLED: 'false' },
  });
  db = createDocumentClient(runtime.dynamodbEndpoint);
});
afterEach(() => {
  runtime.bus.setFaults({});
});
afterAll(async () => {
  await runtime?.close();
  process.stdout.write = writeStdout;
});

const BODY = JSON.stringify({
  model: 'tier-2',
  max_tokens: 200,
  messages: [{ role: 'user', content: 'late usage tokens:120' }],
});

interface Served {
  requestId: string;
  hold: number;
  charge: number;
}

/** One completion; its usage event goes wherever the bus's faults send it. */
async function complete(apiKey: string): Promise<Served> {
  const res = await fetch(`${runtime.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: BODY,
  });
  expect(res.status).toBe(200);
  const { usage } = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
  await runtime.bus.drain();
  return {
    requestId: res.headers.get('x-request-id') ?? '',
    hold: holdFor('tier-2', BODY, 200),
    charge: chargeFor('tier-2', usage.prompt_tokens, usage.completion_tokens),
  };
}

/** A completion whose usage event billing never gets: it ends in the billing DLQ. Returns the event detail too. */
async function completeWithBillingDown(apiKey: string): Promise<Served & { detail: unknown }> {
  runtime.bus.setFaults({ failTargets: ['billing'] });
  const served = await complete(apiKey);
  runtime.bus.setFaults({});
  const letters = runtime.bus.deadLetters.filter((d) => d.rule === 'BillingUsage');
  expect(letters.map((d) => (d.event.detail as { requestId: string }).requestId)).toEqual([served.requestId]);
  return { ...served, detail: letters[0]?.event.detail };
}

/** The usage event published again, as an archive replay does: both consumers, a new event id. */
async function replay(detail: unknown): Promise<void> {
  const out = await runtime.bus.putEvents([
    { Source: 'tiergate', DetailType: 'usage.recorded', Detail: JSON.stringify(detail) },
  ]);
  expect(out.FailedEntryCount).toBe(0);
  await runtime.bus.drain();
  expect(runtime.bus.deadLetters).toEqual([]);
}

async function reconcile(): Promise<void> {
  await runtime.runReconciler();
  await runtime.bus.drain();
}

async function redriveBilling(): Promise<void> {
  expect(runtime.bus.redrive('BillingUsage')).toBe(1);
  await runtime.bus.drain();
  expect(runtime.bus.deadLetters).toEqual([]);
}

const releaseRecords = (accountId: string) =>
  queryAll(db, runtime.tables.ledger, `ACCOUNT#${accountId}`, 'RELEASED#');

async function guardrailRequests(): Promise<{ requests: number; chargeMicros: number }> {
  const res = await admin(runtime, 'GET', '/admin/guardrail');
  const { requests, chargeMicros } = res.json as { requests: number; chargeMicros: number };
  return { requests, chargeMicros };
}

describe('usage before the reconciler', () => {
  it('settles normally; the reconciler then finds nothing and leaves no release record', async () => {
    const credit = 500_000;
    const { accountId, apiKey } = await createAccount(runtime, 'in-order', credit);
    const { charge } = await complete(apiKey);
    const settled = await walletOf(db, runtime.tables.ledger, accountId);
    expect(settled).toEqual({ balanceMicros: credit - charge, heldMicros: 0 });
    const log = await logItems(db, runtime.tables.requestLog, accountId);

    await reconcile();
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual(settled);
    expect(await logItems(db, runtime.tables.requestLog, accountId)).toEqual(log);
    expect(await releaseRecords(accountId)).toEqual([]);
  });
});

describe('usage after the reconciler released the hold', () => {
  it('charges a redriven DLQ event exactly once, replacing the abandoned log item', async () => {
    const credit = 500_000;
    const { accountId, apiKey, keyId } = await createAccount(runtime, 'redrive', credit);
    const guardBefore = await guardrailRequests();
    const { requestId, hold, charge, detail } = await completeWithBillingDown(apiKey);
    expect(charge).toBeGreaterThan(0);
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual({
      balanceMicros: credit - hold,
      heldMicros: hold,
    });

    // The reconciler gives up on the request: released in full, logged abandoned, a release record left.
    const releasedAt = Date.now();
    await reconcile();
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual({
      balanceMicros: credit,
      heldMicros: 0,
    });
    const [abandoned, ...more] = await logItems(db, runtime.tables.requestLog, accountId);
    expect(more).toEqual([]);
    expect(abandoned).toMatchObject({ requestId, status: 'abandoned', chargeMicros: 0, holdMicros: hold });
    const [record, ...others] = await releaseRecords(accountId);
    expect(others).toEqual([]);
    expect(record).toMatchObject({
      sk: `RELEASED#${requestId}`,
      holdMicros: hold,
      tier: 'tier-2',
      keyId,
      startedAt: abandoned?.startedAt,
    });
    // Released during the reconcile; the expiry counts from that moment, in whole seconds (so measured
    // from the test's own clock it could pass the TTL by the part of a second the reconcile began in).
    const recordReleasedAt = Date.parse(String(record?.releasedAt));
    expect(recordReleasedAt).toBeGreaterThanOrEqual(releasedAt);
    expect(recordReleasedAt).toBeLessThanOrEqual(Date.now());
    const ttlDays = (Number(record?.expiresAt) * 1000 - recordReleasedAt) / 86_400_000;
    expect(ttlDays).toBeGreaterThan(RELEASE_RECORD_TTL_DAYS - 1);
    expect(ttlDays).toBeLessThanOrEqual(RELEASE_RECORD_TTL_DAYS);

    await redriveBilling();
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toEqual({
      balanceMicros: credit - charge,
      heldMicros: 0,
    });
    const log = await logItems(db, runtime.tables.requestLog, accountId);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ requestId, status: 'ok', chargeMicros: charge, sk: abandoned?.sk });
    expect(log[0]).not.toHaveProperty('debtMicros');
    expect(await releaseRecords(accountId)).toEqual([]);
    expect(await openHolds(db, runtime.tables.ledger, accountId)).toEqual([]);
    // The guardrail got the event when it was first published, and counts the request once.
    const guardAfter = await guardrailRequests();
    expect(guardAfter).toEqual({
      requests: guardBefore.requests + 1,
      chargeMicros: guardBefore.chargeMicros + charge,
    });

    // An archive replay of the same usage (both consumers, a new event id) changes nothing.
    const books = await booksOf(db, runtime.tables, accountId);
    await replay(detail);
    expect(await booksOf(db, runtime.tables, accountId)).toEqual(books);
    expect(await logItems(db, runtime.tables.requestLog, accountId)).toEqual(log);
    expect(await guardrailRequests()).toEqual(guardAfter);
    expect(creditedBy(books)).toBe(credit);
  });

  it('takes what the balance covers and records the rest as a debt, which the next top-up pays', async () => {
    const credit = 300_000;
    const { accountId, apiKey, keyId } = await createAccount(runtime, 'debt', credit);
    const { requestId, charge, detail } = await completeWithBillingDown(apiKey);
    await reconcile();
    expect((await walletOf(db, runtime.tables.ledger, accountId)).balanceMicros).toBe(credit);

    // Meanwhile another request holds all but 2 µ$ of the balance.
    const left = 2;
    expect(charge).toBeGreaterThan(left);
    const other = uniqueId('other');
    const placed = await new DynamoWalletStore(db, runtime.tables.ledger).placeHold({
      accountId,
      keyId,
      requestId: other,
      tier: 'tier-2',
      catalogVersion: 1,
      holdMicros: credit - left,
      startedAt: new Date().toISOString(),
    });
    expect(placed).toEqual({ ok: true });
    const emfBefore = emf.length;

    await redriveBilling();
    const books = await booksOf(db, runtime.tables, accountId);
    expect(books).toEqual({
      balanceMicros: 0,
      heldMicros: credit - left,
      chargedMicros: charge,
      debtMicros: charge - left,
    });
    expect(creditedBy(books)).toBe(credit);
    const [item] = (await logItems(db, runtime.tables.requestLog, accountId)).filter(
      (i) => i.requestId === requestId,
    );
    expect(item).toMatchObject({ status: 'ok', chargeMicros: charge, debtMicros: charge - left });
    const view = await admin(runtime, 'GET', `/admin/accounts/${accountId}`);
    expect(view.json).toMatchObject({
      balanceMicros: 0,
      heldMicros: credit - left,
      debtMicros: charge - left,
    });

    // The billing function emits the debt, for the alarm: namespace Tiergate, dimension service only.
    const debtMetrics = emf.slice(emfBefore).filter((doc) => DEBT_RECORDED_METRIC in doc);
    expect(debtMetrics).toHaveLength(1);
    expect(debtMetrics[0]).toMatchObject({ [DEBT_RECORDED_METRIC]: charge - left, service: 'tiergate' });
    expect(debtMetrics[0]?._aws).toMatchObject({
      CloudWatchMetrics: [{ Namespace: 'Tiergate', Dimensions: [['service']] }],
    });

    // A duplicate of the late event finds no release record: no second charge, no second debt.
    await replay(detail);
    expect(await booksOf(db, runtime.tables, accountId)).toEqual(books);

    // Top-ups pay the debt first: 1 µ$ goes to the debt alone, then $1 pays the rest.
    let credited = credit;
    const topUp = async (amountUsd: number, reference: string) => {
      const res = await admin(runtime, 'POST', `/admin/accounts/${accountId}/credit`, {
        amountUsd,
        reference,
      });
      expect(res.status).toBe(200);
      return res.json;
    };
    expect(await topUp(0.000001, 'late-1')).toMatchObject({
      balanceMicros: 0,
      debtMicros: charge - left - 1,
      applied: true,
    });
    credited += 1;
    const paid = await topUp(1, 'late-2');
    credited += 1_000_000;
    expect(paid).toMatchObject({
      balanceMicros: 1_000_000 - (charge - left - 1),
      debtMicros: 0,
      applied: true,
    });
    expect(await topUp(1, 'late-2')).toMatchObject({
      balanceMicros: paid.balanceMicros,
      debtMicros: 0,
      applied: false,
    });
    expect(creditedBy(await booksOf(db, runtime.tables, accountId))).toBe(credited);
  });

  it('charges nothing and fails nothing when the account was deleted after the release', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'gone', 500_000);
    await completeWithBillingDown(apiKey);
    await reconcile();
    expect(await releaseRecords(accountId)).toHaveLength(1);
    expect((await admin(runtime, 'DELETE', `/admin/accounts/${accountId}`)).status).toBe(200);
    expect(await releaseRecords(accountId)).toEqual([]);
    await redriveBilling();
    const log = await logItems(db, runtime.tables.requestLog, accountId);
    expect(log.map((i) => i.status)).toEqual(['abandoned']);
  });
});

describe('late usage racing a wallet change', () => {
  /** A client that runs `between` once, after the first transaction that fails, before it is retried. */
  function racingClient(between: () => Promise<void>): {
    client: DynamoDBDocumentClient;
    transactions: () => number;
  } {
    let transactions = 0;
    let raced = false;
    const client = new Proxy(db, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return async (command: object) => {
          if (!(command instanceof TransactWriteCommand)) return target.send(command as never);
          transactions++;
          try {
            return await target.send(command);
          } catch (err) {
            if (!raced) {
              raced = true;
              await between();
            }
            throw err;
          }
        };
      },
    });
    return { client, transactions: () => transactions };
  }

  /** An account whose released request will be charged 80 µ$ late while only `balance` µ$ are free. */
  async function releasedWithBalance(balance: number) {
    const hold = 100;
    const { accountId, keyId } = await createAccount(runtime, 'race', hold + balance);
    const wallets = new DynamoWalletStore(db, runtime.tables.ledger);
    const place = async (requestId: string) =>
      expect(
        await wallets.placeHold({
          accountId,
          keyId,
          requestId,
          tier: 'tier-1',
          catalogVersion: 1,
          holdMicros: hold,
          startedAt: new Date().toISOString(),
        }),
      ).toEqual({ ok: true });
    const late = usageRecord({
      requestId: uniqueId('late'),
      accountId,
      keyId,
      holdMicros: hold,
      chargeMicros: 0,
    });
    await place(late.requestId);
    const settlement = new Settlement(db, runtime.tables.ledger, runtime.tables.requestLog);
    expect((await settlement.release(late)).settled).toBe(true);
    await place(uniqueId('open')); // holds all but `balance`
    return { accountId, usage: { ...late, chargeMicros: 80 }, credited: hold + balance };
  }

  const topUp = (accountId: string, micros: number) =>
    new DynamoAccountStore(db, runtime.tables.ledger).credit(accountId, micros, uniqueId('ref'));

  it('debits exactly the balance it saw again when a top-up lands between its read and its debit', async () => {
    const { accountId, usage, credited } = await releasedWithBalance(5);
    const racing = racingClient(async () => {
      await topUp(accountId, 3); // balance 5 → 8 after the short balance was read
    });
    const settlement = new Settlement(racing.client, runtime.tables.ledger, runtime.tables.requestLog);
    expect(await settlement.settle(usage)).toMatchObject({ settled: true, chargeMicros: 80, debtMicros: 72 });
    expect(racing.transactions()).toBe(3); // whole charge; seen 5 (stale); seen 8
    const books = await booksOf(db, runtime.tables, accountId);
    expect(books).toMatchObject({ balanceMicros: 0, debtMicros: 72, chargedMicros: 80 });
    expect(creditedBy(books)).toBe(credited + 3);
  });

  it('takes the whole charge when a top-up made the balance cover it meanwhile', async () => {
    const { accountId, usage, credited } = await releasedWithBalance(5);
    const racing = racingClient(async () => {
      await topUp(accountId, 100);
    });
    const settlement = new Settlement(racing.client, runtime.tables.ledger, runtime.tables.requestLog);
    expect(await settlement.settle(usage)).toMatchObject({ settled: true, chargeMicros: 80, debtMicros: 0 });
    const books = await booksOf(db, runtime.tables, accountId);
    expect(books).toMatchObject({ balanceMicros: 25, debtMicros: 0, chargedMicros: 80 });
    expect(creditedBy(books)).toBe(credited + 100);
  });
});
