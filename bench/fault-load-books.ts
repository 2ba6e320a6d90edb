/**
 * The books of the fault-load run, read straight from DynamoDB Local after the bus has drained:
 * wallets, open holds and request-log items per account, and the money-conservation checks.
 */

import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { queryPartition } from '../shared/adapters/dynamodb/client.js';
import { ledgerKeys } from '../shared/tables.js';

/** One funded account of the run and what it started with. */
export interface LoadAccount {
  accountId: string;
  /** The key the load uses: the account's own, or a rate-limited one. */
  apiKey: string;
  kind: 'funded' | 'low' | 'limited';
  creditMicros: number;
}

export interface AccountBooks {
  accountId: string;
  kind: LoadAccount['kind'];
  creditMicros: number;
  balanceMicros: number;
  heldMicros: number;
  openHolds: number;
  logItems: number;
  chargeMicros: number;
  /** Log items by status (ok, upstream_error, timeout, client_disconnected, rejected, abandoned). */
  statuses: Record<string, number>;
  /** Log items whose request needed more than one upstream attempt. */
  fallbacks: number;
  estimatedUsage: number;
  requestIds: string[];
}

const queryAll = queryPartition;

export async function readBooks(
  db: DynamoDBDocumentClient,
  tables: { ledger: string; requestLog: string },
  account: LoadAccount,
): Promise<AccountBooks> {
  const { Item: wallet } = await db.send(
    new GetCommand({
      TableName: tables.ledger,
      Key: ledgerKeys.wallet(account.accountId),
      ConsistentRead: true,
    }),
  );
  if (!wallet) throw new Error(`no wallet for ${account.accountId}`);
  const holds = await queryAll(db, tables.ledger, `ACCOUNT#${account.accountId}`, 'HOLD#');
  const log = await queryAll(db, tables.requestLog, `ACCOUNT#${account.accountId}`);
  const statuses: Record<string, number> = {};
  for (const item of log) statuses[String(item.status)] = (statuses[String(item.status)] ?? 0) + 1;
  return {
    accountId: account.accountId,
    kind: account.kind,
    creditMicros: account.creditMicros,
    balanceMicros: Number(wallet.balanceMicros),
    heldMicros: Number(wallet.heldMicros),
    openHolds: holds.length,
    logItems: log.length,
    chargeMicros: log.reduce((sum, item) => sum + Number(item.chargeMicros ?? 0), 0),
    statuses,
    fallbacks: log.filter((item) => Array.isArray(item.attempts) && item.attempts.length > 0).length,
    estimatedUsage: log.filter((item) => item.usageSource === 'estimated').length,
    requestIds: log.map((item) => String(item.requestId)),
  };
}

export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

/** A response the client saw that means the request was admitted (and so must be in the log). */
export interface ClientOutcome {
  requestId: string | null;
  status: number;
}

const ADMITTED_STATUSES = new Set([200, 502, 504]);

/** Money conservation over every account of the run, and one log item per admitted request. */
export function conservationChecks(
  books: readonly AccountBooks[],
  outcomes: readonly ClientOutcome[],
): Check[] {
  const charged = books.reduce((sum, b) => sum + b.chargeMicros, 0);
  const decreased = books.reduce((sum, b) => sum + (b.creditMicros - b.balanceMicros), 0);
  const unbalanced = books.filter((b) => b.creditMicros - b.balanceMicros !== b.chargeMicros);
  const withHolds = books.filter((b) => b.openHolds > 0 || b.heldMicros !== 0);
  const negative = books.filter((b) => b.balanceMicros < 0);
  const logged = new Set(books.flatMap((b) => b.requestIds));
  const admitted = outcomes.filter((o) => ADMITTED_STATUSES.has(o.status));
  const lost = admitted.filter((o) => o.requestId === null || !logged.has(o.requestId));
  const duplicates = books.flatMap((b) => b.requestIds).length - logged.size;
  const abandoned = books.reduce((sum, b) => sum + (b.statuses.abandoned ?? 0), 0);
  const ids = (list: readonly AccountBooks[]) =>
    list
      .slice(0, 5)
      .map((b) => b.accountId)
      .join(', ');
  return [
    {
      name: 'sum of charges equals sum of wallet decreases',
      pass: charged === decreased && unbalanced.length === 0,
      detail: `charges ${charged} µ$, decreases ${decreased} µ$${unbalanced.length ? `; off: ${ids(unbalanced)}` : ''}`,
    },
    {
      name: 'no hold remains',
      pass: withHolds.length === 0,
      detail: `${books.reduce((s, b) => s + b.openHolds, 0)} HOLD# items, ${books.reduce((s, b) => s + b.heldMicros, 0)} µ$ held${withHolds.length ? `; in ${ids(withHolds)}` : ''}`,
    },
    {
      name: 'no wallet below zero',
      pass: negative.length === 0,
      detail: `lowest balance ${Math.min(...books.map((b) => b.balanceMicros))} µ$`,
    },
    {
      name: 'every admitted request has exactly one request-log item',
      pass: lost.length === 0 && duplicates === 0 && abandoned === 0,
      detail: `${admitted.length} admitted (200/502/504), ${lost.length} without a log item, ${duplicates} duplicated, ${abandoned} abandoned`,
    },
  ];
}
