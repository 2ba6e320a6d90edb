import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  conditionFailedAt,
  isConditionalCheckFailed,
  queryPartition,
  transactWrite,
} from '../adapters/dynamodb/client.js';
import { GUARDRAIL_STATE_SCOPE } from '../adapters/dynamodb/guardrail-reader.js';
import { utcDay } from '../domain/clock.js';
import { shardOf } from '../domain/shard.js';
import type { UsageRecord } from '../domain/usage.js';
import { USAGE_ARCHIVE_RETENTION_DAYS } from '../events/rules.js';
import { guardrailScopes, ledgerKeys } from '../tables.js';

/**
 * Dedupe markers outlive any redelivery: EventBridge's retries (24 h), a dead letter's redrive (its
 * queue keeps it 14 days) and a replay from the bus's archive.
 */
export const DEDUPE_TTL_SECONDS = (USAGE_ARCHIVE_RETENTION_DAYS + 1) * 86_400;
/** Aggregates are kept for reports, then expire. */
const AGGREGATE_TTL_SECONDS = 400 * 86_400;

const firstDelivery = 'attribute_not_exists(pk)';
const notYetTripped = 'attribute_not_exists(tripped)';

/**
 * Every usage event updates the global and its tier's counters: on one item each, concurrent
 * guardrail invocations would keep cancelling each other's transactions. They are spread over
 * shards (by request id) and summed when read; account and key counters stay single items, as
 * the hold transaction checks budgets against them.
 */
const SHARDS = 8;
const isSharded = (scope: string): boolean =>
  scope === guardrailScopes.global || scope.startsWith(guardrailScopes.tierPrefix);
const shardKey = (scope: string, shard: number): string => `${scope}#S${shard}`;

export const scopes = guardrailScopes;

export interface GuardrailOutcome {
  /** false for a duplicate: nothing was counted. */
  counted: boolean;
  day: string;
  /**
   * Whether `day` is the current UTC day by the guardrail's clock. Only a trip of today makes the gateway
   * refuse requests; late usage may still trip a past day, which is recorded but refuses nothing.
   */
  today: boolean;
  /** true when this event took the day's global upstream spend to the cap (of `day`, which may be past). */
  trippedNow: boolean;
}

export interface DayTotals {
  requests: number;
  upstreamCostMicros: number;
  chargeMicros: number;
  inputTokens: number;
  outputTokens: number;
}

/**
 * Daily (UTC) aggregates of upstream cost and charges, global, per tier, per account and per
 * key, counted once per request however often its event is delivered. When the global upstream
 * spend reaches the cap, the day trips; a new day has new items and so starts untripped.
 */
export class SpendGuardrail {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly capMicros: number,
    private readonly now: () => number = Date.now,
  ) {}

  async record(usage: UsageRecord): Promise<GuardrailOutcome> {
    // The day's upstream spend is counted when it is spent (the request's end); an account's and a
    // key's on the day the request started, as the hold checks their budgets and the request log and
    // reports count it, so a request across midnight charges the budget of the day it was admitted on.
    const day = utcDay(Date.parse(usage.endedAt));
    const budgetDay = utcDay(Date.parse(usage.startedAt));
    const now = this.now();
    const nowSeconds = Math.floor(now / 1000);
    const outcome = (counted: boolean, trippedNow: boolean): GuardrailOutcome => ({
      counted,
      day,
      today: day === utcDay(now),
      trippedNow,
    });
    const add = {
      UpdateExpression:
        'ADD requests :one, upstreamCostMicros :cost, chargeMicros :charge, inputTokens :in, outputTokens :out SET expiresAt = :exp',
      ExpressionAttributeValues: {
        ':one': 1,
        ':cost': usage.upstreamCostMicros,
        ':charge': usage.chargeMicros,
        ':in': usage.inputTokens,
        ':out': usage.outputTokens,
        ':exp': nowSeconds + AGGREGATE_TTL_SECONDS,
      },
    };
    const shard = shardOf(usage.requestId, SHARDS);
    const counters: Array<[day: string, scope: string]> = [
      [day, shardKey(scopes.global, shard)],
      [day, shardKey(scopes.tier(usage.tier), shard)],
      [budgetDay, scopes.account(usage.accountId)],
      [budgetDay, scopes.key(usage.keyId)],
    ];
    try {
      await transactWrite(this.db, [
        {
          // Deduplicated on the request id: retries of one event and re-publications of one
          // request (e.g. from the outbox) are the same spend.
          Put: {
            TableName: this.tableName,
            Item: {
              ...ledgerKeys.eventDedupe('guardrail', usage.requestId),
              expiresAt: nowSeconds + DEDUPE_TTL_SECONDS,
            },
            ConditionExpression: firstDelivery,
          },
        },
        ...counters.map(([counterDay, scope]) => ({
          Update: {
            TableName: this.tableName,
            Key: ledgerKeys.guardrailAggregate(counterDay, scope),
            ...add,
          },
        })),
      ]);
    } catch (err) {
      if (!conditionFailedAt(err, 0)) throw err;
      // Counted before. The delivery that counted it may have failed before its trip check (a throttled
      // Query, a timeout), and this redelivery is the last chance to make it: the check is idempotent.
      if (usage.upstreamCostMicros <= 0) return outcome(false, false);
      return outcome(false, await this.tripIfOverCap(day));
    }
    // Spend that cost nothing upstream cannot take the day over the cap.
    if (usage.upstreamCostMicros <= 0) return outcome(true, false);
    return outcome(true, await this.tripIfOverCap(day));
  }

  /** Trips the day once its global upstream spend is at or over the cap (a day tripped once stays so). */
  private async tripIfOverCap(day: string): Promise<boolean> {
    const items = await this.aggregates(day, scopes.global);
    if (sum(items, 'upstreamCostMicros') < this.capMicros) return false;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.guardrailAggregate(day, GUARDRAIL_STATE_SCOPE),
          UpdateExpression: 'SET tripped = :true, trippedAt = :at, capMicros = :cap, expiresAt = :exp',
          ConditionExpression: notYetTripped,
          ExpressionAttributeValues: {
            ':true': true,
            ':at': new Date(this.now()).toISOString(),
            ':cap': this.capMicros,
            ':exp': Math.floor(this.now() / 1000) + AGGREGATE_TTL_SECONDS,
          },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false; // another delivery tripped it first
      throw err;
    }
  }

  /** A scope's totals for the day (summing its shards); `tripped` is the day's flag. */
  async totals(day: string, scope: string): Promise<DayTotals & { tripped: boolean }> {
    const [items, state] = await Promise.all([
      this.aggregates(day, scope),
      this.db.send(
        new GetCommand({
          TableName: this.tableName,
          Key: ledgerKeys.guardrailAggregate(day, GUARDRAIL_STATE_SCOPE),
          ConsistentRead: true,
        }),
      ),
    ]);
    return {
      requests: sum(items, 'requests'),
      upstreamCostMicros: sum(items, 'upstreamCostMicros'),
      chargeMicros: sum(items, 'chargeMicros'),
      inputTokens: sum(items, 'inputTokens'),
      outputTokens: sum(items, 'outputTokens'),
      tripped: state.Item?.tripped === true,
    };
  }

  /** A scope's aggregate items of the day: its shards, or its one item. */
  private aggregates(day: string, scope: string): Promise<Array<Record<string, unknown>>> {
    const key = ledgerKeys.guardrailAggregate(day, scope);
    return isSharded(scope)
      ? queryPartition(this.db, this.tableName, key.pk, `${scope}#S`)
      : this.db
          .send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }))
          .then(({ Item }) => (Item ? [Item] : []));
  }
}

const sum = (items: Array<Record<string, unknown>>, field: string): number =>
  items.reduce((n, item) => n + Number(item[field] ?? 0), 0);
