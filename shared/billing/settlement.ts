import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionFailedAt, transactWrite } from '../adapters/dynamodb/client.js';
import type { UsageRecord } from '../domain/usage.js';
import { ledgerKeys, requestLogKeys } from '../tables.js';
import { LateUsage, releaseRecordPut } from './late-usage.js';

/** Request-log items live this long (DynamoDB TTL), unless configured otherwise. */
export const DEFAULT_REQUEST_LOG_RETENTION_DAYS = 90;

const holdIsOpen = 'attribute_exists(pk) AND holdMicros = :hold';
/**
 * A release also needs the hold to have no outbox: the reconciler finds holds through an index that
 * may not show an outbox written a moment before, and a hold with usage parked on it is settled, not
 * released uncharged.
 */
const holdIsOpenWithoutOutbox = `${holdIsOpen} AND attribute_not_exists(outbox)`;
const walletExists = 'attribute_exists(pk)';
const logIsNew = 'attribute_not_exists(pk)';

export type LogStatus = UsageRecord['status'] | 'abandoned';

export interface SettlementResult {
  /** false when the hold was already settled: a duplicate delivery, changed nothing. */
  settled: boolean;
  chargeMicros: number;
  refundMicros: number;
  /** Set when the usage arrived after the reconciler had released its hold (see LateUsage). */
  late?: true;
  /** The part of a late charge the balance could not cover, recorded as a debt on the wallet. */
  debtMicros?: number;
}

const NOT_SETTLED: SettlementResult = { settled: false, chargeMicros: 0, refundMicros: 0 };

export const requestLogKey = requestLogKeys.item;

/**
 * Settles a request's hold in one transaction: the hold item goes (it must still be open, with
 * the amount we think), the wallet gets back `hold - charge`, and the request-log item is put
 * (once). A second delivery of the same usage finds no hold and changes nothing, so settlement
 * is idempotent; no path charges more than was held. Usage whose hold the reconciler already
 * released is charged once from its release record (LateUsage).
 */
export class Settlement {
  private readonly late: LateUsage;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly ledgerTable: string,
    private readonly requestLogTable: string,
    private readonly now: () => number = Date.now,
    private readonly retentionDays = DEFAULT_REQUEST_LOG_RETENTION_DAYS,
  ) {
    this.late = new LateUsage(db, ledgerTable, requestLogTable);
  }

  async settle(usage: UsageRecord): Promise<SettlementResult> {
    const result = await this.close(usage, usage.status);
    if (result !== 'no_hold') return result;
    const late = await this.late.settle(usage, (chargeMicros, startedAt) =>
      this.logItem({ ...usage, startedAt }, usage.status, chargeMicros),
    );
    return late ? { settled: true, refundMicros: 0, late: true, ...late } : NOT_SETTLED;
  }

  /**
   * Releases an abandoned request's hold in full and logs it as `abandoned`, leaving a release
   * record in the same transaction, so its usage, should it still arrive, is charged then.
   */
  async release(abandoned: UsageRecord): Promise<SettlementResult> {
    const result = await this.close(
      { ...abandoned, chargeMicros: 0 },
      'abandoned',
      [releaseRecordPut(this.ledgerTable, abandoned, this.now())],
      holdIsOpenWithoutOutbox,
    );
    return result === 'no_hold' ? NOT_SETTLED : result;
  }

  private logItem(usage: UsageRecord, status: LogStatus, chargeMicros: number) {
    return {
      ...requestLogKey(usage.accountId, usage.startedAt, usage.requestId),
      day: usage.startedAt.slice(0, 10),
      expiresAt: Math.floor(this.now() / 1000) + this.retentionDays * 86_400,
      ...usage,
      status,
      chargeMicros,
    };
  }

  /** Deletes the open hold, refunds `hold - charge` and logs; `extra` items commit with the wallet. */
  private async close(
    usage: UsageRecord,
    status: LogStatus,
    extra: Array<Record<string, unknown>> = [],
    holdCondition = holdIsOpen,
  ): Promise<SettlementResult | 'no_hold'> {
    const holdMicros = usage.holdMicros;
    const chargeMicros = Math.min(Math.max(0, usage.chargeMicros), holdMicros);
    const refundMicros = holdMicros - chargeMicros;
    const deleteHold = {
      Delete: {
        TableName: this.ledgerTable,
        Key: ledgerKeys.hold(usage.accountId, usage.requestId),
        ConditionExpression: holdCondition,
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
      Put: {
        TableName: this.requestLogTable,
        Item: this.logItem(usage, status, chargeMicros),
        ConditionExpression: logIsNew,
      },
    };
    try {
      await transactWrite(this.db, [deleteHold, refundWallet, putLog, ...extra]);
      return { settled: true, chargeMicros, refundMicros };
    } catch (err) {
      if (conditionFailedAt(err, 0)) return 'no_hold';
      if (conditionFailedAt(err, 2)) return NOT_SETTLED;
      if (!conditionFailedAt(err, 1)) throw err;
    }
    // The account was deleted while the request ran: close the hold and keep the log. No release
    // record: there is no wallet left to charge.
    try {
      await transactWrite(this.db, [deleteHold, putLog]);
      return { settled: true, chargeMicros, refundMicros: 0 };
    } catch (err) {
      if (conditionFailedAt(err, 0)) return 'no_hold';
      if (conditionFailedAt(err, 1)) return NOT_SETTLED;
      throw err;
    }
  }
}
