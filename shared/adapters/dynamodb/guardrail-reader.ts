import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { nextUtcMidnight, utcDay } from '../../domain/clock.js';
import { TtlCache } from '../../domain/ttl-cache.js';
import type { GuardrailReader, GuardrailState } from '../../ports.js';
import { ledgerKeys } from '../../tables.js';

/** The guardrail state is read at most every 10 s per instance. */
export const MAX_GUARDRAIL_CACHE_TTL_MS = 10_000;
/** The day's trip flag lives on its own item, apart from the (sharded) spend counters. */
export const GUARDRAIL_STATE_SCOPE = 'STATE';

/** Reads whether today has tripped; a new UTC day has new items and so starts untripped. */
export class DynamoGuardrailReader implements GuardrailReader {
  private readonly cache: TtlCache<string, boolean>;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    ttlMs: number = MAX_GUARDRAIL_CACHE_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.cache = new TtlCache(Math.min(ttlMs, MAX_GUARDRAIL_CACHE_TTL_MS), now);
  }

  async state(): Promise<GuardrailState> {
    const now = this.now();
    const day = utcDay(now);
    const tripped = await this.cache.get(day, async () => {
      const { Item } = await this.db.send(
        new GetCommand({
          TableName: this.tableName,
          Key: ledgerKeys.guardrailAggregate(day, GUARDRAIL_STATE_SCOPE),
          ProjectionExpression: 'tripped',
        }),
      );
      return Item?.tripped === true;
    });
    return { tripped, resetsAt: nextUtcMidnight(now) };
  }
}
