import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { shardOf } from '../../domain/shard.js';
import type { UsageRecord } from '../../domain/usage.js';
import type { HoldRequest, HoldResult, WalletStore } from '../../ports.js';
import { guardrailScopes, ledgerKeys } from '../../tables.js';
import { cancelledItem, conditionFailedAt, isConditionalCheckFailed, transactWrite } from './client.js';

const walletCovers = 'balanceMicros >= :hold';
const holdIsNew = 'attribute_not_exists(pk)';
const holdExists = 'attribute_exists(pk)';
const withinBudget = 'attribute_not_exists(pk) OR chargeMicros < :limit';

/** Sort key of the sparse holds-by-age index: creation time, then request id. */
export const holdAgeKey = (startedAt: string, requestId: string): string => `${startedAt}#${requestId}`;
/**
 * Holds are spread over this many partitions of the index, by request id: every hold is written to
 * the index and deleted from it, and on one partition (about 1,000 writes a second at most) that
 * would cap the whole gateway at about 500 requests a second.
 */
export const HOLDS_INDEX_SHARDS = 8;
/** A request's partition in the holds-by-age index. */
export const holdsIndexPartition = (requestId: string): string =>
  `HOLD#${shardOf(requestId, HOLDS_INDEX_SHARDS)}`;
/**
 * Every partition the reconciler reads: the shards, and `HOLD`, the one partition of holds placed
 * before the shards (they are at most the completions timeout old, so it empties soon after a deploy).
 */
export const HOLDS_INDEX_PARTITIONS: readonly string[] = [
  'HOLD',
  ...Array.from({ length: HOLDS_INDEX_SHARDS }, (_, shard) => `HOLD#${shard}`),
];

export class DynamoWalletStore implements WalletStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async placeHold(hold: HoldRequest): Promise<HoldResult> {
    const budgets = hold.budgets ?? [];
    try {
      await transactWrite(this.db, [
        {
          Update: {
            TableName: this.tableName,
            Key: ledgerKeys.wallet(hold.accountId),
            UpdateExpression: 'SET balanceMicros = balanceMicros - :hold, heldMicros = heldMicros + :hold',
            ConditionExpression: walletCovers,
            ExpressionAttributeValues: { ':hold': hold.holdMicros },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        },
        {
          Put: {
            TableName: this.tableName,
            Item: {
              ...ledgerKeys.hold(hold.accountId, hold.requestId),
              gsi1pk: holdsIndexPartition(hold.requestId),
              gsi1sk: holdAgeKey(hold.startedAt, hold.requestId),
              accountId: hold.accountId,
              keyId: hold.keyId,
              requestId: hold.requestId,
              tier: hold.tier,
              catalogVersion: hold.catalogVersion,
              holdMicros: hold.holdMicros,
              startedAt: hold.startedAt,
              ...(hold.surface ? { surface: hold.surface } : {}),
            },
            ConditionExpression: holdIsNew,
          },
        },
        ...budgets.map((b) => ({
          ConditionCheck: {
            TableName: this.tableName,
            Key: ledgerKeys.guardrailAggregate(
              b.day,
              b.scope === 'key' ? guardrailScopes.key(hold.keyId) : guardrailScopes.account(hold.accountId),
            ),
            ConditionExpression: withinBudget,
            ExpressionAttributeValues: { ':limit': b.limitMicros },
          },
        })),
      ]);
      return { ok: true };
    } catch (err) {
      const spent = budgets.findIndex((_, i) => conditionFailedAt(err, i + 2));
      if (spent !== -1) return { ok: false, reason: 'budget', scope: budgets[spent]?.scope ?? 'key' };
      if (conditionFailedAt(err, 0)) {
        const wallet = cancelledItem(err, 0);
        if (!wallet) return { ok: false, reason: 'no_wallet' };
        return { ok: false, reason: 'insufficient', balanceMicros: Number(wallet.balanceMicros ?? 0) };
      }
      throw err;
    }
  }

  async readBalance(accountId: string): Promise<number | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: ledgerKeys.wallet(accountId),
        ProjectionExpression: 'balanceMicros',
      }),
    );
    return Item ? Number(Item.balanceMicros ?? 0) : undefined;
  }

  async writeOutbox(accountId: string, requestId: string, usage: UsageRecord): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ledgerKeys.hold(accountId, requestId),
          UpdateExpression: 'SET outbox = :usage',
          ConditionExpression: holdExists,
          ExpressionAttributeValues: { ':usage': usage },
        }),
      );
    } catch (err) {
      // The hold is already settled (the event did get through after all): nothing to keep.
      if (!isConditionalCheckFailed(err)) throw err;
    }
  }
}
