import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { RateDecision, RateLimiter, RateLimits } from '../../ports.js';
import { ledgerKeys } from '../../tables.js';
import { conditionFailedItem, isConditionalCheckFailed } from './client.js';

const WINDOW_MS = 60_000;

/**
 * Per-key requests and tokens per minute, counted in DynamoDB with one conditional update per
 * request on a one-minute window item that expires by TTL. No in-memory counters: every instance
 * sees the same count. The update returns the new count, which gives exact rate-limit headers.
 */
export class DynamoRateLimiter implements RateLimiter {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  async consume(keyId: string, limits: RateLimits, tokens: number): Promise<RateDecision> {
    const now = this.now();
    const windowStart = Math.floor(now / WINDOW_MS) * WINDOW_MS;
    const resetsAt = windowStart + WINDOW_MS;
    const resetSeconds = Math.max(1, Math.ceil((resetsAt - now) / 1000));
    const conditions: string[] = [];
    const values: Record<string, number> = {
      ':one': 1,
      ':tokens': tokens,
      ':exp': Math.floor((windowStart + 2 * WINDOW_MS) / 1000),
    };
    if (limits.rpm !== undefined) {
      conditions.push('(attribute_not_exists(requests) OR requests < :rpm)');
      values[':rpm'] = limits.rpm;
    }
    if (limits.tpm !== undefined) {
      conditions.push('(attribute_not_exists(tokens) OR tokens < :tpm)');
      values[':tpm'] = limits.tpm;
    }
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.rateWindow(keyId, new Date(windowStart).toISOString()),
          UpdateExpression: 'ADD requests :one, tokens :tokens SET expiresAt = :exp',
          ...(conditions.length > 0 ? { ConditionExpression: conditions.join(' AND ') } : {}),
          ExpressionAttributeValues: values,
          ReturnValues: 'UPDATED_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      const requests = Number(out.Attributes?.requests ?? 1);
      const used = Number(out.Attributes?.tokens ?? tokens);
      return {
        allowed: true,
        resetSeconds,
        resetsAt,
        ...(limits.rpm !== undefined ? { remainingRequests: Math.max(0, limits.rpm - requests) } : {}),
        ...(limits.tpm !== undefined ? { remainingTokens: Math.max(0, limits.tpm - used) } : {}),
      };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      const item = conditionFailedItem(err);
      const requests = Number(item?.requests ?? 0);
      const used = Number(item?.tokens ?? 0);
      return {
        allowed: false,
        resetSeconds,
        resetsAt,
        ...(limits.rpm !== undefined ? { remainingRequests: Math.max(0, limits.rpm - requests) } : {}),
        ...(limits.tpm !== undefined ? { remainingTokens: Math.max(0, limits.tpm - used) } : {}),
      };
    }
  }
}
