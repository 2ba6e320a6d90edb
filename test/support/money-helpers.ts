import { randomBytes } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { queryPartition } from '../../shared/adapters/dynamodb/client.js';
import { compileCatalog, type TierId } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { holdPrice, priceTokens, priceUsage, type TokenPrice } from '../../shared/domain/money.js';
import type { UsageRecord } from '../../shared/domain/usage.js';
import { ledgerKeys } from '../../shared/tables.js';
import { admin } from './runtime.js';

/**
 * Money helpers for the billing tests: the tier prices the gateway holds and charges with, the
 * hold it computes for a given body, and direct reads of wallets, holds and request-log items.
 */

/** The default catalog as the gateway compiles it (it seeds it as version 1). */
export const CATALOG_V1 = compileCatalog(DEFAULT_CATALOG, 1, '2020-01-01T00:00:00.000Z');

export function tierPrice(tier: TierId): TokenPrice {
  return CATALOG_V1.tiers[tier].price;
}

/** The hold the gateway places for `body` (sent byte for byte) with `outputCap` tokens per choice. */
export function holdFor(tier: TierId, body: string, outputCap: number, choices = 1): number {
  return priceTokens(holdPrice(tierPrice(tier)), Buffer.byteLength(body, 'utf8'), outputCap * choices);
}

/** The charge the gateway derives from a usage block (cache reads and writes are part of inputTokens). */
export function chargeFor(
  tier: TierId,
  inputTokens: number,
  outputTokens: number,
  cache: { cachedInputTokens?: number; cacheWriteTokens?: number } = {},
): number {
  return priceUsage(tierPrice(tier), { inputTokens, outputTokens, ...cache });
}

export function uniqueId(prefix: string): string {
  return `${prefix}${randomBytes(8).toString('hex')}`;
}

type Item = Record<string, unknown>;

/** Every item of a partition (optionally with a sort-key prefix), strongly consistent, all pages. */
export const queryAll = queryPartition;

export interface WalletState {
  balanceMicros: number;
  heldMicros: number;
}

export async function walletOf(
  db: DynamoDBDocumentClient,
  ledger: string,
  accountId: string,
): Promise<WalletState> {
  const { Item } = await db.send(
    new GetCommand({ TableName: ledger, Key: ledgerKeys.wallet(accountId), ConsistentRead: true }),
  );
  if (!Item) throw new Error(`no wallet for ${accountId}`);
  return { balanceMicros: Number(Item.balanceMicros), heldMicros: Number(Item.heldMicros) };
}

/** The account's open hold items (sk HOLD#…). */
export function openHolds(db: DynamoDBDocumentClient, ledger: string, accountId: string): Promise<Item[]> {
  return queryAll(db, ledger, `ACCOUNT#${accountId}`, 'HOLD#');
}

/** The account's request-log items. */
export function logItems(db: DynamoDBDocumentClient, requestLog: string, accountId: string): Promise<Item[]> {
  return queryAll(db, requestLog, `ACCOUNT#${accountId}`);
}

export const sumOf = (items: Item[], field: string): number =>
  items.reduce((sum, item) => sum + Number(item[field] ?? 0), 0);

/** An account's money as stored; conservation: Σ credited = balance + held + charged − debt. */
export interface Books {
  balanceMicros: number;
  heldMicros: number;
  /** Σ chargeMicros of the request log, late charges included. */
  chargedMicros: number;
  /** Late charges the balance could not cover, not yet paid by a top-up. */
  debtMicros: number;
}

export async function booksOf(
  db: DynamoDBDocumentClient,
  tables: { ledger: string; requestLog: string },
  accountId: string,
): Promise<Books> {
  const [{ Item: wallet }, log] = await Promise.all([
    db.send(
      new GetCommand({ TableName: tables.ledger, Key: ledgerKeys.wallet(accountId), ConsistentRead: true }),
    ),
    logItems(db, tables.requestLog, accountId),
  ]);
  if (!wallet) throw new Error(`no wallet for ${accountId}`);
  return {
    balanceMicros: Number(wallet.balanceMicros),
    heldMicros: Number(wallet.heldMicros),
    chargedMicros: sumOf(log, 'chargeMicros'),
    debtMicros: Number(wallet.debtMicros ?? 0),
  };
}

/** What the books say was credited; equal to the real Σ credited exactly when money is conserved. */
export const creditedBy = (b: Books): number =>
  b.balanceMicros + b.heldMicros + b.chargedMicros - b.debtMicros;

/** A new account through the admin API, with exactly `creditMicros` of credit; returns its id and key. */
export async function createAccount(
  runtime: LocalRuntime,
  name: string,
  creditMicros: number,
  extra: { dailyBudgetUsd?: number } = {},
): Promise<{ accountId: string; apiKey: string; keyId: string }> {
  if (!Number.isSafeInteger(creditMicros) || creditMicros < 0) throw new Error('credit must be micros');
  const res = await admin(runtime, 'POST', '/admin/accounts', {
    name,
    ...(creditMicros > 0 ? { creditUsd: creditMicros / 1_000_000 } : {}),
    ...extra,
  });
  if (res.status !== 201)
    throw new Error(`account creation failed: ${res.status} ${JSON.stringify(res.json)}`);
  const account = res.json.account as { id: string; balanceMicros: number };
  const apiKey = res.json.apiKey as { id: string; key: string };
  if (account.balanceMicros !== creditMicros) {
    throw new Error(`account got ${account.balanceMicros} micros, wanted ${creditMicros}`);
  }
  return { accountId: account.id, apiKey: apiKey.key, keyId: apiKey.id };
}

/** A valid usage record (the `usage.recorded` detail), for driving settlement and the guardrail directly. */
export function usageRecord(overrides: Partial<UsageRecord> = {}): UsageRecord {
  const startedAt = overrides.startedAt ?? new Date().toISOString();
  return {
    requestId: uniqueId('req'),
    accountId: 'acct-test',
    keyId: 'key-test',
    tier: 'tier-1',
    catalogVersion: 1,
    model: 'openai/gpt-4o-mini',
    status: 'ok',
    inputTokens: 10,
    outputTokens: 10,
    usageSource: 'upstream',
    upstreamCostMicros: 1,
    chargeMicros: 1,
    holdMicros: 1,
    ttftMs: 5,
    latencyMs: 10,
    startedAt,
    endedAt: overrides.endedAt ?? startedAt,
    stream: false,
    surface: 'chat',
    ...overrides,
  };
}

export { setTimeout as sleep } from 'node:timers/promises';

/**
 * The books once every request has ended and every event was delivered: no wallet below zero,
 * nothing held, Σ logged charges = the wallet's decrease, and one `ok` log item per served request,
 * charged more than zero and at most its hold.
 */
export async function expectBooksBalanced(
  db: DynamoDBDocumentClient,
  runtime: LocalRuntime,
  accountId: string,
  creditMicros: number,
  servedIds: ReadonlyArray<string | null>,
): Promise<WalletState> {
  const wallet = await walletOf(db, runtime.tables.ledger, accountId);
  expect(wallet.balanceMicros, 'balance').toBeGreaterThanOrEqual(0);
  expect(wallet.heldMicros, 'held').toBe(0);
  expect(await openHolds(db, runtime.tables.ledger, accountId), 'open holds').toEqual([]);
  const log = await logItems(db, runtime.tables.requestLog, accountId);
  expect(sumOf(log, 'chargeMicros'), 'sum of logged charges = wallet decrease').toBe(
    creditMicros - wallet.balanceMicros,
  );
  expect(log.length, 'one log item per admitted request').toBe(servedIds.length);
  expect(servedIds.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
  expect(new Set(servedIds).size).toBe(servedIds.length);
  expect(new Set(log.map((i) => i.requestId))).toEqual(new Set(servedIds));
  for (const item of log) {
    expect(item.status, `status of ${String(item.requestId)}`).toBe('ok');
    expect(Number(item.chargeMicros)).toBeGreaterThan(0);
    expect(Number(item.chargeMicros)).toBeLessThanOrEqual(Number(item.holdMicros));
  }
  return wallet;
}
