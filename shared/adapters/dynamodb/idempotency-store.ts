import { type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type {
  ClaimResult,
  IdempotencyClaim,
  IdempotencyOutcome,
  IdempotencyRecord,
  IdempotencyStore,
  StoredResponse,
} from '../../ports.js';
import { ledgerKeys } from '../../tables.js';
import { conditionFailedItem, isConditionalCheckFailed } from './client.js';

/**
 * A key is free when no record holds it, when its last attempt released it, when the record has
 * expired (DynamoDB TTL deletes lazily, so an expired item may still be there), or when an
 * unfinished attempt's lease ran out (its instance crashed or was killed).
 */
const keyIsFree =
  'attribute_not_exists(pk) OR #state = :released OR expiresAt <= :nowSeconds OR ' +
  '(#state = :inFlight AND leaseUntil <= :now)';
/** Only the request that holds the claim may complete or release it. */
const holdsClaim = '#state = :inFlight AND requestId = :requestId';

/**
 * One ledger item per (account, Idempotency-Key), TTL'd by `expiresAt`. A failed attempt marks
 * its item `released` instead of deleting it: the completions function has no DeleteItem, so it
 * can never delete a hold either.
 */
export class DynamoIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async claim(claim: IdempotencyClaim): Promise<ClaimResult> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...ledgerKeys.idempotency(claim.accountId, claim.key),
            state: 'in_flight',
            requestId: claim.requestId,
            bodyHash: claim.bodyHash,
            leaseUntil: claim.leaseUntil,
            createdAt: new Date(claim.now).toISOString(),
            expiresAt: Math.ceil(claim.expiresAt / 1000),
          },
          ConditionExpression: keyIsFree,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':released': 'released',
            ':inFlight': 'in_flight',
            ':now': claim.now,
            ':nowSeconds': Math.floor(claim.now / 1000),
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { claimed: true };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      const item = conditionFailedItem(err);
      if (!item) throw new Error('idempotency claim refused without the record that holds the key');
      return { claimed: false, record: toRecord(item) };
    }
  }

  async complete(
    accountId: string,
    key: string,
    requestId: string,
    result: IdempotencyOutcome,
  ): Promise<boolean> {
    if (typeof result === 'string') {
      return this.update(accountId, key, requestId, 'SET #state = :state REMOVE leaseUntil', {
        ':state': result === 'too_large' ? 'completed_too_large' : 'completed_unstored',
      });
    }
    return this.update(
      accountId,
      key,
      requestId,
      'SET #state = :state, #response = :response REMOVE leaseUntil',
      { ':state': 'completed', ':response': result },
      { '#response': 'response' },
    );
  }

  async release(accountId: string, key: string, requestId: string): Promise<void> {
    await this.update(accountId, key, requestId, 'SET #state = :state REMOVE leaseUntil', {
      ':state': 'released',
    });
  }

  private async update(
    accountId: string,
    key: string,
    requestId: string,
    expression: string,
    values: Record<string, unknown>,
    names: Record<string, string> = {},
  ): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.idempotency(accountId, key),
          UpdateExpression: expression,
          ConditionExpression: holdsClaim,
          ExpressionAttributeNames: { '#state': 'state', ...names },
          ExpressionAttributeValues: { ...values, ':inFlight': 'in_flight', ':requestId': requestId },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }
}

function toRecord(item: Record<string, unknown>): IdempotencyRecord {
  const common = { requestId: String(item.requestId), bodyHash: String(item.bodyHash) };
  switch (item.state) {
    case 'in_flight':
      return { state: 'in_flight', ...common, leaseUntil: Number(item.leaseUntil) };
    case 'completed': {
      const response = item.response as StoredResponse;
      return {
        state: 'completed',
        ...common,
        response: {
          status: Number(response.status),
          headers: { ...response.headers },
          body: Array.isArray(response.body) ? response.body.map(String) : String(response.body),
        },
      };
    }
    case 'completed_too_large':
    case 'completed_unstored':
      return { state: item.state, ...common };
    default:
      throw new Error(`unknown idempotency record state ${String(item.state).slice(0, 32)}`);
  }
}
