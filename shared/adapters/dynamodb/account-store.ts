/**
 * The admin side of the ledger: accounts (create, read, delete, list) and their wallets (top-ups
 * with their debt and retry rules, balance). An account's keys are written by account-keys.ts.
 */
import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { accountNotFound, GatewayError, invalidRequest } from '../../domain/errors.js';
import { newId } from '../../domain/keys.js';
import { MAX_BALANCE_MICROS, MICROS_PER_USD } from '../../domain/money.js';
import { accountItems, ledgerKeys } from '../../tables.js';
import {
  createAccountKey,
  type KeyOptions,
  type KeySummary,
  keySummary,
  newAccountKey,
  revokeAccountKey,
} from './account-keys.js';
import { cancelledItem, conditionFailedAt, queryPartition, transactWrite } from './client.js';

export type { KeyOptions, KeySummary } from './account-keys.js';

const itemIsNew = 'attribute_not_exists(pk)';
const noDebt = '(attribute_not_exists(debtMicros) OR debtMicros = :debt)';
const debtIs = 'debtMicros = :debt';
/** Attempts of a top-up whose wallet debt keeps changing under it (late charges racing it). */
const MAX_CREDIT_ATTEMPTS = 10;

/** One row of `listAccounts`. */
export interface AccountSummary {
  id: string;
  name: string;
  createdAt: string;
  balanceMicros: number;
}

export interface AccountPage {
  accounts: AccountSummary[];
  /** Pass back as `cursor` for the next page; absent on the last one. */
  nextCursor?: string;
}

export interface AccountView {
  id: string;
  name: string;
  createdAt: string;
  balanceMicros: number;
  heldMicros: number;
  /** Late usage the balance could not cover; paid from the next top-up. */
  debtMicros: number;
  dailyBudgetMicros?: number;
  keys: KeySummary[];
}

export interface CreditResult {
  balanceMicros: number;
  debtMicros: number;
  /** false for a repeated reference: nothing was added. */
  applied: boolean;
}

const usd = (micros: number): string => (micros / MICROS_PER_USD).toLocaleString('en-US');
const balanceCapExceeded = () =>
  invalidRequest(
    `amountUsd: a balance may hold at most $${usd(MAX_BALANCE_MICROS)}; this top-up would pass it.`,
    'amountUsd',
  );

/** Accounts, their wallets and keys: the admin side of the ledger. */
export class DynamoAccountStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async createAccount(
    name: string,
    creditMicros: number,
    dailyBudgetMicros?: number,
  ): Promise<{ account: AccountView; apiKey: { id: string; key: string } }> {
    const accountId = newId('acct');
    const createdAt = this.now().toISOString();
    const budget = dailyBudgetMicros === undefined ? {} : { dailyBudgetMicros };
    const key = newAccountKey(this.tableName, accountId, { name: 'default' }, createdAt, dailyBudgetMicros);
    await transactWrite(this.db, [
      {
        Put: {
          TableName: this.tableName,
          Item: { ...ledgerKeys.accountProfile(accountId), accountId, name, createdAt, ...budget },
          ConditionExpression: itemIsNew,
        },
      },
      {
        Put: {
          TableName: this.tableName,
          Item: { ...ledgerKeys.wallet(accountId), balanceMicros: creditMicros, heldMicros: 0 },
          ConditionExpression: itemIsNew,
        },
      },
      ...key.puts,
      {
        Put: {
          TableName: this.tableName,
          Item: { ...ledgerKeys.accountIndex(createdAt, accountId), accountId, name, createdAt },
          ConditionExpression: itemIsNew,
        },
      },
    ]);
    return {
      account: {
        id: accountId,
        name,
        ...budget,
        createdAt,
        balanceMicros: creditMicros,
        heldMicros: 0,
        debtMicros: 0,
        keys: [key.summary],
      },
      apiKey: { id: key.summary.id, key: key.plaintext },
    };
  }

  async getAccount(accountId: string): Promise<AccountView> {
    const items = await this.accountItems(accountId);
    const profile = items.find((i) => i.sk === accountItems.profile);
    if (!profile) throw accountNotFound(accountId);
    const wallet = items.find((i) => i.sk === accountItems.wallet);
    const keys = items.filter((i) => String(i.sk).startsWith(accountItems.keyPrefix)).map(keySummary);
    return {
      id: accountId,
      name: String(profile.name),
      ...(typeof profile.dailyBudgetMicros === 'number'
        ? { dailyBudgetMicros: profile.dailyBudgetMicros }
        : {}),
      createdAt: String(profile.createdAt),
      balanceMicros: Number(wallet?.balanceMicros ?? 0),
      heldMicros: Number(wallet?.heldMicros ?? 0),
      debtMicros: Number(wallet?.debtMicros ?? 0),
      keys,
    };
  }

  /** Deletes the account, its wallet, keys and credit references. Revoked key hashes go too. */
  async deleteAccount(accountId: string): Promise<void> {
    const items = await this.accountItems(accountId);
    if (!items.some((i) => i.sk === accountItems.profile)) throw accountNotFound(accountId);
    // Open holds stay: their requests are still running, and settlement (or the reconciler)
    // closes them and keeps their request-log items.
    type Key = Record<string, string>;
    const own: Key[] = items
      .filter((i) => !String(i.sk).startsWith(accountItems.holdPrefix) && i.sk !== accountItems.profile)
      .map((i) => ({ pk: String(i.pk), sk: String(i.sk) }));
    // Items outside the account's partition, found only through its KEY# items and its profile.
    const derived: Key[] = items
      .filter((i) => String(i.sk).startsWith(accountItems.keyPrefix))
      .flatMap((ref) => [ledgerKeys.apiKey(String(ref.keyHash)), ledgerKeys.keyIdIndex(String(ref.keyId))]);
    const profile = items.find((i) => i.sk === accountItems.profile);
    derived.push(ledgerKeys.accountIndex(String(profile?.createdAt), accountId));
    // In order, each step only once the one before is wholly done, so a delete that fails part-way
    // can be retried and still finds everything left: first the items found through others (a key's
    // hash item, which authenticates it), then the account's own, and the profile last. Within one
    // batch, DynamoDB may delete some items and return others as unprocessed.
    for (const step of [derived, own, [ledgerKeys.accountProfile(accountId)]]) {
      for (let i = 0; i < step.length; i += 25) await this.deleteBatch(step.slice(i, i + 25));
    }
  }

  /** One BatchWriteItem of deletes, repeated for its unprocessed items until none are left. */
  private async deleteBatch(keys: Array<Record<string, string>>): Promise<void> {
    let requests = keys.map((Key) => ({ DeleteRequest: { Key } }));
    for (let attempt = 0; requests.length > 0; attempt++) {
      if (attempt > 8) throw new Error('DynamoDB kept returning unprocessed deletes');
      const out = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }));
      requests = (out.UnprocessedItems?.[this.tableName] ?? []) as typeof requests;
      if (requests.length > 0) await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
    }
  }

  async createKey(accountId: string, options: KeyOptions): Promise<{ id: string; key: string }> {
    return createAccountKey(this.db, this.tableName, accountId, options, this.now().toISOString());
  }

  async revokeKey(keyId: string): Promise<void> {
    return revokeAccountKey(this.db, this.tableName, keyId);
  }

  /**
   * Adds credit once per reference: the reference item and the wallet change commit together,
   * so a retried top-up returns the balance without adding again. A debt (late usage the balance
   * could not cover) is paid first, in the same transaction, with a condition on the debt read,
   * so a concurrent change retries. No balance may pass MAX_BALANCE_MICROS.
   */
  async credit(accountId: string, amountMicros: number, reference: string): Promise<CreditResult> {
    let debtMicros = 0; // optimistic: most wallets owe nothing, and the condition checks it
    for (let attempt = 0; attempt < MAX_CREDIT_ATTEMPTS; attempt++) {
      const paidMicros = Math.min(debtMicros, amountMicros);
      const netMicros = amountMicros - paidMicros;
      try {
        await transactWrite(this.db, [
          {
            Put: {
              TableName: this.tableName,
              Item: {
                ...ledgerKeys.credit(accountId, reference),
                amountMicros,
                reference,
                createdAt: this.now().toISOString(),
                ...(paidMicros > 0 ? { debtPaidMicros: paidMicros } : {}),
              },
              ConditionExpression: itemIsNew,
            },
          },
          {
            Update: {
              TableName: this.tableName,
              Key: ledgerKeys.wallet(accountId),
              UpdateExpression:
                'SET balanceMicros = balanceMicros + :net' +
                (debtMicros > 0 ? ', debtMicros = debtMicros - :paid' : ''),
              ConditionExpression: `balanceMicros <= :room AND ${debtMicros > 0 ? debtIs : noDebt}`,
              ExpressionAttributeValues: {
                ':net': netMicros,
                ':room': MAX_BALANCE_MICROS - netMicros,
                ':debt': debtMicros,
                ...(debtMicros > 0 ? { ':paid': paidMicros } : {}),
              },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
        ]);
        return { ...(await this.wallet(accountId)), applied: true };
      } catch (err) {
        if (conditionFailedAt(err, 0)) return this.creditAgain(accountId, amountMicros, reference);
        if (!conditionFailedAt(err, 1)) throw err;
        const wallet = cancelledItem(err, 1);
        if (!wallet) throw accountNotFound(accountId);
        const owed = Number(wallet.debtMicros ?? 0);
        if (owed === debtMicros) throw balanceCapExceeded();
        debtMicros = owed; // the debt changed since we read it: pay what it is now
      }
    }
    throw new Error(`credit ${accountId}: the wallet kept changing`);
  }

  /** A top-up whose reference is already used: the same amount is answered, another is a 409. */
  private async creditAgain(accountId: string, amountMicros: number, reference: string) {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: ledgerKeys.credit(accountId, reference),
        ConsistentRead: true,
      }),
    );
    if (Item && Number(Item.amountMicros) !== amountMicros) {
      throw new GatewayError({
        status: 409,
        type: 'invalid_request_error',
        code: 'conflict',
        param: 'reference',
        message: 'This reference was already used with a different amount.',
      });
    }
    return { ...(await this.wallet(accountId)), applied: false };
  }

  async wallet(accountId: string): Promise<{ balanceMicros: number; debtMicros: number }> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: ledgerKeys.wallet(accountId), ConsistentRead: true }),
    );
    if (!Item) throw accountNotFound(accountId);
    return { balanceMicros: Number(Item.balanceMicros), debtMicros: Number(Item.debtMicros ?? 0) };
  }

  // --- Listing: the ACCOUNTS index items that createAccount writes and deleteAccount removes. ---

  /** A page of accounts, newest first, with their balances: one Query and one BatchGet. */
  async listAccounts(limit: number, cursor?: string): Promise<AccountPage> {
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'ACCOUNTS' },
        ScanIndexForward: false,
        Limit: limit,
        ...(cursor === undefined ? {} : { ExclusiveStartKey: { pk: 'ACCOUNTS', sk: cursor } }),
      }),
    );
    const rows = page.Items ?? [];
    const balances = new Map<string, number>();
    let keys = rows.map((row) => ledgerKeys.wallet(String(row.accountId)));
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt > 8) throw new Error('DynamoDB kept returning unprocessed reads');
      const out = await this.db.send(
        new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
      );
      for (const wallet of out.Responses?.[this.tableName] ?? []) {
        balances.set(String(wallet.pk), Number(wallet.balanceMicros ?? 0));
      }
      keys = (out.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as typeof keys;
      if (keys.length > 0) await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
    }
    const next = page.LastEvaluatedKey?.sk;
    return {
      accounts: rows.map((row) => ({
        id: String(row.accountId),
        name: String(row.name),
        createdAt: String(row.createdAt),
        balanceMicros: balances.get(ledgerKeys.wallet(String(row.accountId)).pk) ?? 0,
      })),
      ...(typeof next === 'string' ? { nextCursor: next } : {}),
    };
  }

  private accountItems(accountId: string): Promise<Array<Record<string, unknown>>> {
    return queryPartition(this.db, this.tableName, ledgerKeys.accountProfile(accountId).pk);
  }
}
