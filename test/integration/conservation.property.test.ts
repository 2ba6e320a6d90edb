import { randomBytes } from 'node:crypto';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createTables } from '../../local/dynamodb-local.js';
import { DynamoAccountStore } from '../../shared/adapters/dynamodb/account-store.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { DynamoWalletStore } from '../../shared/adapters/dynamodb/wallet-store.js';
import { Settlement } from '../../shared/billing/settlement.js';
import type { UsageRecord } from '../../shared/domain/usage.js';
import { ledgerKeys } from '../../shared/tables.js';
import {
  booksOf,
  creditedBy,
  logItems,
  openHolds,
  sumOf,
  usageRecord,
  walletOf,
} from '../support/money-helpers.js';

/**
 * Conservation of money on one wallet, against DynamoDB Local: whatever sequence of holds,
 * settlements (first and duplicate), reconciler releases, late usage after a release and top-ups
 * happens, balance + held + Σ charged − debt = Σ credited, nothing goes negative, a debt is paid
 * from the next top-ups, and a hold the balance cannot cover is refused.
 */

let db: DynamoDBDocumentClient;
let tables: { ledger: string; requestLog: string };
let wallets: DynamoWalletStore;
let accounts: DynamoAccountStore;
let settlement: Settlement;

beforeAll(async () => {
  const endpoint = inject('dynamodbEndpoint');
  db = createDocumentClient(endpoint);
  tables = await createTables(endpoint, `c${randomBytes(6).toString('hex')}`);
  wallets = new DynamoWalletStore(db, tables.ledger);
  accounts = new DynamoAccountStore(db, tables.ledger);
  settlement = new Settlement(db, tables.ledger, tables.requestLog);
});

type Op =
  | { kind: 'hold'; amount: number }
  | { kind: 'settle'; pick: number; chargeFraction: number }
  | { kind: 'duplicate'; pick: number }
  | { kind: 'release'; pick: number }
  | { kind: 'late'; pick: number; chargeFraction: number }
  | { kind: 'credit'; amount: number }
  | { kind: 'retryCredit'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({ kind: fc.constant('hold' as const), amount: fc.integer({ min: 1, max: 4_000 }) }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      pick: fc.nat(),
      chargeFraction: fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ kind: fc.constant('duplicate' as const), pick: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }), weight: 2 },
  {
    arbitrary: fc.record({
      kind: fc.constant('late' as const),
      pick: fc.nat(),
      chargeFraction: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('credit' as const),
      amount: fc.integer({ min: 1, max: 3_000 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('retryCredit' as const), pick: fc.nat() }), weight: 1 },
);

async function newWallet(): Promise<string> {
  const accountId = `acct_${randomBytes(8).toString('hex')}`;
  await db.send(
    new PutCommand({
      TableName: tables.ledger,
      Item: { ...ledgerKeys.wallet(accountId), balanceMicros: 0, heldMicros: 0 },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
  return accountId;
}

describe('money conservation on one wallet', () => {
  it('keeps balance + held + charged - debt = credited through any sequence of operations', async () => {
    let steps = 0;
    let refusedHolds = 0;
    let debtsRecorded = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5_000 }),
        fc.array(opArb, { minLength: 1, maxLength: 14 }),
        async (initialCredit, ops) => {
          const accountId = await newWallet();
          let credited = 0;
          const credits: Array<{ reference: string; amount: number }> = [];
          if (initialCredit > 0) {
            await accounts.credit(accountId, initialCredit, 'initial');
            credits.push({ reference: 'initial', amount: initialCredit });
            credited += initialCredit;
          }
          const open: Array<{ requestId: string; amount: number; startedAt: string }> = [];
          const released: typeof open = [];
          const settled: UsageRecord[] = [];
          let model = initialCredit; // the balance the model expects
          let modelDebt = 0;
          let logged = 0;
          const usageFor = (hold: (typeof open)[number], chargeMicros: number) =>
            usageRecord({
              requestId: hold.requestId,
              accountId,
              keyId: 'key-c',
              holdMicros: hold.amount,
              chargeMicros,
              startedAt: hold.startedAt,
            });

          for (const [index, op] of ops.entries()) {
            steps++;
            switch (op.kind) {
              case 'hold': {
                const requestId = `r${index}-${randomBytes(4).toString('hex')}`;
                const startedAt = new Date().toISOString();
                const result = await wallets.placeHold({
                  accountId,
                  keyId: 'key-c',
                  requestId,
                  tier: 'tier-1',
                  catalogVersion: 1,
                  holdMicros: op.amount,
                  startedAt,
                });
                if (op.amount <= model) {
                  expect(result).toEqual({ ok: true });
                  model -= op.amount;
                  open.push({ requestId, amount: op.amount, startedAt });
                } else {
                  // Would overdraw: refused, and nothing moved.
                  refusedHolds++;
                  expect(result.ok).toBe(false);
                  expect(result.ok === false && result.reason).toBe('insufficient');
                }
                break;
              }
              case 'settle': {
                if (open.length === 0) break;
                const [hold] = open.splice(op.pick % open.length, 1);
                if (!hold) break;
                const charge = Math.floor(hold.amount * op.chargeFraction);
                const usage = usageFor(hold, charge);
                const result = await settlement.settle(usage);
                expect(result).toEqual({
                  settled: true,
                  chargeMicros: charge,
                  refundMicros: hold.amount - charge,
                });
                model += hold.amount - charge;
                settled.push(usage);
                logged++;
                break;
              }
              case 'release': {
                const [hold] = open.splice(op.pick % Math.max(1, open.length), 1);
                if (!hold) break;
                const result = await settlement.release(usageFor(hold, 0));
                expect(result).toEqual({ settled: true, chargeMicros: 0, refundMicros: hold.amount });
                model += hold.amount;
                released.push(hold);
                logged++;
                break;
              }
              case 'late': {
                const [hold] = released.splice(op.pick % Math.max(1, released.length), 1);
                if (!hold) break;
                const charge = Math.floor(hold.amount * op.chargeFraction);
                const usage = usageFor(hold, charge);
                const debt = Math.max(0, charge - model);
                expect(await settlement.settle(usage)).toEqual({
                  settled: true,
                  late: true,
                  chargeMicros: charge,
                  refundMicros: 0,
                  debtMicros: debt,
                });
                if (debt > 0) debtsRecorded++;
                model -= charge - debt;
                modelDebt += debt;
                settled.push(usage);
                break;
              }
              case 'duplicate': {
                const usage = settled[op.pick % Math.max(1, settled.length)];
                if (!usage) break;
                expect(await settlement.settle(usage)).toEqual({
                  settled: false,
                  chargeMicros: 0,
                  refundMicros: 0,
                });
                break;
              }
              case 'credit': {
                const reference = `ref-${index}-${randomBytes(3).toString('hex')}`;
                const out = await accounts.credit(accountId, op.amount, reference);
                const paid = Math.min(modelDebt, op.amount);
                modelDebt -= paid;
                model += op.amount - paid;
                expect(out).toEqual({ balanceMicros: model, debtMicros: modelDebt, applied: true });
                credits.push({ reference, amount: op.amount });
                credited += op.amount;
                break;
              }
              case 'retryCredit': {
                const credit = credits[op.pick % Math.max(1, credits.length)];
                if (!credit) break;
                const out = await accounts.credit(accountId, credit.amount, credit.reference);
                expect(out.applied).toBe(false);
                break;
              }
            }

            // The invariant, from what is stored, after every step.
            const wallet = await walletOf(db, tables.ledger, accountId);
            const holds = await openHolds(db, tables.ledger, accountId);
            const log = await logItems(db, tables.requestLog, accountId);
            const books = await booksOf(db, tables, accountId);
            expect(books.debtMicros).toBe(modelDebt);
            expect(books.debtMicros).toBeGreaterThanOrEqual(0);
            expect(wallet.balanceMicros).toBe(model);
            expect(wallet.balanceMicros).toBeGreaterThanOrEqual(0);
            expect(wallet.heldMicros).toBeGreaterThanOrEqual(0);
            expect(wallet.heldMicros).toBe(sumOf(holds, 'holdMicros'));
            expect(holds.length).toBe(open.length);
            expect(log.length).toBe(logged);
            expect(creditedBy(books)).toBe(credited);
          }
        },
      ),
      {
        numRuns: 25,
        // Always also: a late charge the balance cannot cover (a debt), then top-ups that pay it.
        examples: [
          [
            1_000,
            [
              { kind: 'hold', amount: 1_000 },
              { kind: 'release', pick: 0 },
              { kind: 'hold', amount: 900 },
              { kind: 'late', pick: 0, chargeFraction: 1 },
              { kind: 'late', pick: 0, chargeFraction: 1 },
              { kind: 'duplicate', pick: 0 },
              { kind: 'credit', amount: 500 },
              { kind: 'credit', amount: 1_000 },
              { kind: 'retryCredit', pick: 1 },
              { kind: 'settle', pick: 0, chargeFraction: 0.5 },
            ],
          ],
        ],
      },
    );
    // The generated sequences really exercised refusals.
    expect(steps).toBeGreaterThan(25);
    expect(refusedHolds).toBeGreaterThan(0);
    expect(debtsRecorded).toBeGreaterThan(0);
  });

  it('a refused hold reports the balance it saw, so the gateway can lower the output cap', async () => {
    const accountId = await newWallet();
    await accounts.credit(accountId, 5_000, 'start');
    const result = await wallets.placeHold({
      accountId,
      keyId: 'key-c',
      requestId: 'too-big',
      tier: 'tier-1',
      catalogVersion: 1,
      holdMicros: 5_001,
      startedAt: new Date().toISOString(),
    });
    // ChatCompletions.placeHold computes the affordable cap from this number.
    expect(result).toEqual({ ok: false, reason: 'insufficient', balanceMicros: 5_000 });
    expect(await walletOf(db, tables.ledger, accountId)).toEqual({ balanceMicros: 5_000, heldMicros: 0 });
  });

  it('a hold for a missing wallet is refused as no_wallet', async () => {
    const result = await wallets.placeHold({
      accountId: `ghost_${randomBytes(4).toString('hex')}`,
      keyId: 'key-c',
      requestId: 'ghost',
      tier: 'tier-1',
      catalogVersion: 1,
      holdMicros: 1,
      startedAt: new Date().toISOString(),
    });
    expect(result).toEqual({ ok: false, reason: 'no_wallet' });
  });
});
