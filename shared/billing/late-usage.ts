import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { cancelledItem, conditionFailedAt, transactWrite } from '../adapters/dynamodb/client.js';
import type { UsageRecord } from '../domain/usage.js';
import { ledgerKeys } from '../tables.js';

/**
 * Release records live this long (DynamoDB TTL): past EventBridge's 24 h of retries and the usage
 * archive's 90 days (infra ARCHIVE_RETENTION), so a DLQ redrive or an archive replay still charges.
 */
export const RELEASE_RECORD_TTL_DAYS = 90;

/** Tries to debit a wallet that keeps changing under us before giving up (and failing the event). */
const MAX_ATTEMPTS = 10;

const releaseIsNew = 'attribute_not_exists(pk)';
const releaseExists = 'attribute_exists(pk)';
/** The late usage replaces the `abandoned` log item the release wrote (or one that expired). */
const logIsAbandoned = 'attribute_not_exists(pk) OR #status = :abandoned';

/** What a late charge did: the request's charge, and the part of it that became a debt. */
export interface LateCharge {
  chargeMicros: number;
  debtMicros: number;
}

/** The record a released hold leaves, put in the reconciler's release transaction. */
export function releaseRecordPut(ledgerTable: string, hold: UsageRecord, nowMs: number) {
  return {
    Put: {
      TableName: ledgerTable,
      Item: {
        ...ledgerKeys.released(hold.accountId, hold.requestId),
        requestId: hold.requestId,
        keyId: hold.keyId,
        tier: hold.tier,
        holdMicros: hold.holdMicros,
        startedAt: hold.startedAt,
        releasedAt: new Date(nowMs).toISOString(),
        expiresAt: Math.floor(nowMs / 1000) + RELEASE_RECORD_TTL_DAYS * 86_400,
      },
      ConditionExpression: releaseIsNew,
    },
  };
}

/** Builds the request-log item for a charge; `startedAt` is the released hold's, the item's key. */
export type LogItemFor = (chargeMicros: number, startedAt: string) => Record<string, unknown>;

/**
 * Usage that arrives after the reconciler released its hold (a DLQ redrive, an archive replay, a
 * slow consumer) is charged exactly once: one transaction consumes the release record, debits the
 * wallet and replaces the `abandoned` log item. What the balance cannot cover becomes a debt on
 * the wallet (`debtMicros`), which the next top-up pays; no balance goes below zero. A duplicate
 * finds no release record and changes nothing (undefined).
 */
export class LateUsage {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly ledgerTable: string,
    private readonly requestLogTable: string,
  ) {}

  async settle(usage: UsageRecord, logItemFor: LogItemFor): Promise<LateCharge | undefined> {
    const releaseKey = ledgerKeys.released(usage.accountId, usage.requestId);
    const { Item: released } = await this.db.send(
      new GetCommand({ TableName: this.ledgerTable, Key: releaseKey, ConsistentRead: true }),
    );
    if (!released) return undefined;
    const heldMicros = Math.min(Number(released.holdMicros), usage.holdMicros);
    const chargeMicros = Math.min(Math.max(0, usage.chargeMicros), heldMicros);
    const consumeRelease = {
      Delete: { TableName: this.ledgerTable, Key: releaseKey, ConditionExpression: releaseExists },
    };
    const putLog = (debtMicros: number) => ({
      Put: {
        TableName: this.requestLogTable,
        Item: {
          ...logItemFor(chargeMicros, String(released.startedAt)),
          ...(debtMicros ? { debtMicros } : {}),
        },
        ConditionExpression: logIsAbandoned,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':abandoned': 'abandoned' },
      },
    });
    // First the whole charge; if the balance falls short, exactly the balance seen plus a debt.
    let seenBalance: number | undefined;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const debit = seenBalance ?? chargeMicros;
      const debtMicros = chargeMicros - debit;
      try {
        await transactWrite(this.db, [
          consumeRelease,
          this.debitWallet(usage.accountId, debit, debtMicros, seenBalance),
          putLog(debtMicros),
        ]);
        return { chargeMicros, debtMicros };
      } catch (err) {
        // Another delivery consumed the release first, or the request is logged with real usage.
        if (conditionFailedAt(err, 0) || conditionFailedAt(err, 2)) return undefined;
        if (!conditionFailedAt(err, 1)) throw err;
        const wallet = cancelledItem(err, 1);
        if (!wallet) return this.settleWithoutWallet(consumeRelease, putLog(0), chargeMicros);
        const balance = Number(wallet.balanceMicros);
        seenBalance = balance >= chargeMicros ? undefined : balance;
      }
    }
    throw new Error(`late usage ${usage.requestId}: the wallet kept changing; retry the event`);
  }

  private debitWallet(accountId: string, debit: number, debtMicros: number, seenBalance?: number) {
    const update =
      seenBalance === undefined
        ? {
            UpdateExpression: 'SET balanceMicros = balanceMicros - :debit',
            ConditionExpression: 'balanceMicros >= :debit',
            ExpressionAttributeValues: { ':debit': debit },
          }
        : {
            UpdateExpression:
              'SET balanceMicros = balanceMicros - :debit, debtMicros = if_not_exists(debtMicros, :zero) + :debt',
            ConditionExpression: 'balanceMicros = :seen',
            ExpressionAttributeValues: {
              ':debit': debit,
              ':debt': debtMicros,
              ':zero': 0,
              ':seen': seenBalance,
            },
          };
    return {
      Update: {
        TableName: this.ledgerTable,
        Key: ledgerKeys.wallet(accountId),
        ...update,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
      },
    };
  }

  /** The account was deleted since the release: there is no wallet to charge; keep the real log. */
  private async settleWithoutWallet(
    consumeRelease: Record<string, unknown>,
    putLog: Record<string, unknown>,
    chargeMicros: number,
  ): Promise<LateCharge | undefined> {
    try {
      await transactWrite(this.db, [consumeRelease, putLog]);
      return { chargeMicros, debtMicros: 0 };
    } catch (err) {
      if (conditionFailedAt(err, 0) || conditionFailedAt(err, 1)) return undefined;
      throw err;
    }
  }
}
