import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { ApiKeyRecord, KeyStore } from '../../ports.js';
import { ledgerKeys } from '../../tables.js';

export class DynamoKeyStore implements KeyStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async findByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: ledgerKeys.apiKey(keyHash) }),
    );
    if (!Item) return undefined;
    return {
      keyId: String(Item.keyId),
      accountId: String(Item.accountId),
      status: Item.status === 'active' ? 'active' : 'revoked',
      ...(typeof Item.name === 'string' ? { name: Item.name } : {}),
      ...(typeof Item.rpm === 'number' ? { rpm: Item.rpm } : {}),
      ...(typeof Item.tpm === 'number' ? { tpm: Item.tpm } : {}),
      ...(typeof Item.dailyBudgetMicros === 'number' ? { dailyBudgetMicros: Item.dailyBudgetMicros } : {}),
      ...(typeof Item.accountDailyBudgetMicros === 'number'
        ? { accountDailyBudgetMicros: Item.accountDailyBudgetMicros }
        : {}),
    };
  }
}
