/**
 * An account's API keys: the three items each key is written as (the key by hash, the account's
 * reference to it, the key-id index), creating and revoking a key, and reading one back as a summary.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { accountNotFound, resourceNotFound } from '../../domain/errors.js';
import { generateApiKey, hashApiKey, newId } from '../../domain/keys.js';
import { ledgerKeys } from '../../tables.js';
import { conditionFailedAt, transactWrite } from './client.js';

const itemIsNew = 'attribute_not_exists(pk)';
const itemExists = 'attribute_exists(pk)';

export interface KeyOptions {
  name?: string;
  rpm?: number;
  tpm?: number;
  dailyBudgetMicros?: number;
}

export interface KeySummary extends KeyOptions {
  id: string;
  status: 'active' | 'revoked';
  createdAt: string;
}

/** A new key: its plaintext (shown once), the puts that write its items, and its summary. */
export function newAccountKey(
  tableName: string,
  accountId: string,
  options: KeyOptions,
  createdAt: string,
  accountDailyBudgetMicros?: number,
) {
  const plaintext = generateApiKey();
  const keyHash = hashApiKey(plaintext);
  const keyId = newId('key');
  const limits = {
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.rpm !== undefined ? { rpm: options.rpm } : {}),
    ...(options.tpm !== undefined ? { tpm: options.tpm } : {}),
    ...(options.dailyBudgetMicros !== undefined ? { dailyBudgetMicros: options.dailyBudgetMicros } : {}),
  };
  const record = {
    keyId,
    accountId,
    status: 'active',
    createdAt,
    ...limits,
    ...(accountDailyBudgetMicros === undefined ? {} : { accountDailyBudgetMicros }),
  };
  const puts = [
    {
      Put: {
        TableName: tableName,
        Item: { ...ledgerKeys.apiKey(keyHash), ...record },
        ConditionExpression: itemIsNew,
      },
    },
    {
      Put: {
        TableName: tableName,
        Item: { ...ledgerKeys.accountKeyRef(accountId, keyId), ...record, keyHash },
        ConditionExpression: itemIsNew,
      },
    },
    {
      Put: {
        TableName: tableName,
        Item: { ...ledgerKeys.keyIdIndex(keyId), keyId, accountId, keyHash },
        ConditionExpression: itemIsNew,
      },
    },
  ];
  const summary: KeySummary = { id: keyId, status: 'active', createdAt, ...limits };
  return { plaintext, puts, summary };
}

/** The summary of a key from the account's reference item to it. */
export function keySummary(item: Record<string, unknown>): KeySummary {
  return {
    id: String(item.keyId),
    status: item.status === 'active' ? 'active' : 'revoked',
    createdAt: String(item.createdAt),
    ...(typeof item.name === 'string' ? { name: item.name } : {}),
    ...(typeof item.rpm === 'number' ? { rpm: item.rpm } : {}),
    ...(typeof item.tpm === 'number' ? { tpm: item.tpm } : {}),
    ...(typeof item.dailyBudgetMicros === 'number' ? { dailyBudgetMicros: item.dailyBudgetMicros } : {}),
  };
}

/** Adds a key to an existing account; the key carries the account's daily budget with it. */
export async function createAccountKey(
  db: DynamoDBDocumentClient,
  tableName: string,
  accountId: string,
  options: KeyOptions,
  createdAt: string,
): Promise<{ id: string; key: string }> {
  const { Item: profile } = await db.send(
    new GetCommand({
      TableName: tableName,
      Key: ledgerKeys.accountProfile(accountId),
      ConsistentRead: true,
    }),
  );
  if (!profile) throw accountNotFound(accountId);
  const accountBudget = typeof profile.dailyBudgetMicros === 'number' ? profile.dailyBudgetMicros : undefined;
  const key = newAccountKey(tableName, accountId, options, createdAt, accountBudget);
  try {
    await transactWrite(db, [
      {
        ConditionCheck: {
          TableName: tableName,
          Key: ledgerKeys.accountProfile(accountId),
          ConditionExpression: itemExists,
        },
      },
      ...key.puts,
    ]);
  } catch (err) {
    if (conditionFailedAt(err, 0)) throw accountNotFound(accountId);
    throw err;
  }
  return { id: key.summary.id, key: key.plaintext };
}

/** Marks a key revoked, both the item the gateway looks it up by and the account's reference. */
export async function revokeAccountKey(
  db: DynamoDBDocumentClient,
  tableName: string,
  keyId: string,
): Promise<void> {
  const { Item } = await db.send(
    new GetCommand({ TableName: tableName, Key: ledgerKeys.keyIdIndex(keyId), ConsistentRead: true }),
  );
  if (!Item) throw resourceNotFound('Key', keyId);
  const revoke = {
    UpdateExpression: 'SET #status = :revoked',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ':revoked': 'revoked' },
    ConditionExpression: itemExists,
  };
  await transactWrite(db, [
    {
      Update: { TableName: tableName, Key: ledgerKeys.apiKey(String(Item.keyHash)), ...revoke },
    },
    {
      Update: {
        TableName: tableName,
        Key: ledgerKeys.accountKeyRef(String(Item.accountId), keyId),
        ...revoke,
      },
    },
  ]);
}
