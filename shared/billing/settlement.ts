import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionFailedAt, transactWrite } from '../adapters/dynamodb/client.js';
import type { UsageRecord } from '../domain/usage.js';
import { ledgerKeys } from '../tables.js';

/** Request-log items live this long (DynamoDB TTL), unless configured otherwise. */
export const DEFAULT_REQUEST_LOG_RETENTION_DAYS = 90;

const holdIsOpen = 'attribute_exists(pk) AND holdMicros = :hold';
const walletExists = 'attribute_exists(pk)';
const logIsNew = 'attribute_not_exists(pk)';

export type LogStatus = UsageRecord['status'] | 'abandoned';

export interface SettlementResult {
  /** false when the hold was already settled: a duplicate delivery, changed nothing. */
  settled: boolean;
  chargeMicros: number;
  refundMicros: number;
}

export const requestLogKey = (accountId: string, startedAt: string, requestId: string) => ({
  pk: `ACCOUNT#${accountId}`,
  sk: `${startedAt}#${requestId}`,
});

/**
 * Settles a request's hold in one transaction: the hold item goes (it must still be open, with
 * the amount we think), the wallet gets back `hold - charge`, and the request-log item is put
 * (once). A second delivery of the same usage finds no hold and changes nothing, so settlement
 * is idempotent; no path charges more than was held.
 */
export class Settlement {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly ledgerTable: string,
    private readonly requestLogTable: string,
    private readonly now: () => number = Date.now,
    private readonly retentionDays = DEFAULT_REQUEST_LOG_RETENTION_DAYS,
  ) {}

  async settle(usage: UsageRecord, status: LogStatus = usage.status): Promise<SettlementResult> {
    const holdMicros = usage.holdMicros;
    const chargeMicros = Math.min(Math.max(0, usage.chargeMicros), holdMicros);
    const refundMicros = holdMicros - chargeMicros;
    const logItem = {
      ...requestLogKey(usage.accountId, usage.startedAt, usage.requestId),
      day: usage.startedAt.slice(0, 10),
      expiresAt: Math.floor(this.now() / 1000) + this.retentionDays * 86_400,
      ...usage,
      status,
      chargeMicros,
    };
    const deleteHold = {
      Delete: {
        TableName: this.ledgerTable,
        Key: ledgerKeys.hold(usage.accountId, usage.requestId),
        ConditionExpression: holdIsOpen,
        ExpressionAttributeValues: { ':hold': holdMicros },
      },
    };
    const refundWallet = {
      Update: {
        TableName: this.ledgerTable,
        Key: ledgerKeys.wallet(usage.accountId),
        UpdateExpression: 'SET balanceMicros = balanceMicros + :refund, heldMicros = heldMicros - :hold',
        ConditionExpression: walletExists,
        ExpressionAttributeValues: { ':refund': refundMicros, ':hold': holdMicros },
      },
    };
    const putLog = {
      Put: { TableName: this.requestLogTable, Item: logItem, ConditionExpression: logIsNew },
    };
    try {
      await transactWrite(this.db, [deleteHold, refundWallet, putLog]);
      return { settled: true, chargeMicros, refundMicros };
    } catch (err) {
      if (conditionFailedAt(err, 0) || conditionFailedAt(err, 2)) {
        return { settled: false, chargeMicros: 0, refundMicros: 0 };
      }
      if (!conditionFailedAt(err, 1)) throw err;
    }
    // The account was deleted while the request ran: close the hold and keep the log.
    try {
      await transactWrite(this.db, [deleteHold, putLog]);
      return { settled: true, chargeMicros, refundMicros: 0 };
    } catch (err) {
      if (conditionFailedAt(err, 0) || conditionFailedAt(err, 1)) {
        return { settled: false, chargeMicros: 0, refundMicros: 0 };
      }
      throw err;
    }
  }
}
