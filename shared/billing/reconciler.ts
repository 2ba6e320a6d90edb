import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { HOLDS_INDEX_PARTITIONS } from '../adapters/dynamodb/wallet-store.js';
import { API_SURFACES, type UsageRecord } from '../domain/usage.js';
import { usageRecordSchema } from '../domain/usage-schema.js';
import type { SpendGuardrail } from '../guardrail/spend-guardrail.js';
import type { Log } from '../http.js';
import { LEDGER_TABLE } from '../tables.js';
import type { Settlement, SettlementResult } from './settlement.js';

export interface ReconcileReport {
  scanned: number;
  fromOutbox: number;
  released: number;
  alreadySettled: number;
  /** Holds that threw; each is retried on the next run. */
  failed: number;
  /** Whether spend settled from the outbox took today to the guardrail's cap in this run (a past day: no). */
  trippedGuardrail: boolean;
}

/**
 * Told of each request the reconciler settled from its outbox, once (not of one settled before, nor of a
 * released hold: a release charges nothing, and its usage, should it arrive, is settled by billing).
 */
export type OutboxSettledListener = (usage: UsageRecord, result: SettlementResult) => void;

const HOLDS_INDEX = LEDGER_TABLE.globalSecondaryIndexes[0]?.indexName ?? 'holds-by-age';
/** Stale holds read from one partition of the holds index at a time, at most. */
const PAGE_SIZE = 100;

/**
 * Settles holds that outlived the completions function: from the outbox when the function
 * wrote one (its usage event could not be published), else by releasing the hold in full and
 * logging the request as abandoned, with a release record so that usage arriving later still
 * charges. Settlement and guardrail are idempotent per request, so a hold the billing function
 * settles meanwhile is simply skipped.
 */
export class Reconciler {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly ledgerTable: string,
    private readonly settlement: Settlement,
    private readonly guardrail: SpendGuardrail,
    private readonly log: Log,
    private readonly now: () => number = Date.now,
    private readonly onOutboxSettled: OutboxSettledListener = () => {},
  ) {}

  async reconcile(olderThanMs: number, maxHolds = 1_000): Promise<ReconcileReport> {
    const report: ReconcileReport = {
      scanned: 0,
      fromOutbox: 0,
      released: 0,
      alreadySettled: 0,
      failed: 0,
      trippedGuardrail: false,
    };
    const cutoff = new Date(this.now() - olderThanMs).toISOString();
    // The partitions a page at a time, in turns: one with more stale holds than a run can take, or
    // with holds that fail every run (an outbox that does not parse stays), cannot keep the holds
    // of the others from being reached.
    const pageSize = Math.min(PAGE_SIZE, Math.ceil(maxHolds / HOLDS_INDEX_PARTITIONS.length));
    const cursors = new Map<string, Record<string, unknown> | undefined>(
      HOLDS_INDEX_PARTITIONS.map((partition) => [partition, undefined]),
    );
    while (cursors.size > 0 && report.scanned < maxHolds) {
      for (const [partition, startKey] of cursors) {
        if (report.scanned >= maxHolds) break;
        const page = await this.db.send(
          new QueryCommand({
            TableName: this.ledgerTable,
            IndexName: HOLDS_INDEX,
            KeyConditionExpression: 'gsi1pk = :p AND gsi1sk < :cutoff',
            ExpressionAttributeValues: { ':p': partition, ':cutoff': cutoff },
            ExclusiveStartKey: startKey,
            Limit: Math.min(pageSize, maxHolds - report.scanned),
          }),
        );
        for (const hold of page.Items ?? []) {
          report.scanned++;
          try {
            await this.settleOne(hold, report);
          } catch (err) {
            report.failed++;
            this.log.error('reconcile failed', { requestId: hold.requestId, err: (err as Error).message });
          }
        }
        if (page.LastEvaluatedKey) cursors.set(partition, page.LastEvaluatedKey);
        else cursors.delete(partition);
      }
    }
    return report;
  }

  private async settleOne(hold: Record<string, unknown>, report: ReconcileReport): Promise<void> {
    const outbox = usageRecordSchema.safeParse(hold.outbox);
    if (hold.outbox !== undefined && !outbox.success) {
      // Usage is parked here but cannot be read (written by another version, say). Releasing the hold
      // would let the request go uncharged for good: it stays, counted as failed, for someone to look.
      throw new Error(`outbox does not parse: ${outbox.error.issues[0]?.message ?? 'invalid'}`);
    }
    if (outbox.success) {
      // The spend first: the guardrail dedupes on the request id, so a run that fails after it
      // counts nothing twice, while settling first would delete the hold a failed count needs to
      // be tried again.
      const spend = await this.guardrail.record(outbox.data);
      const result = await this.settlement.settle(outbox.data);
      const trip = { day: spend.day, requestId: outbox.data.requestId };
      // A past day tripped by late usage is history: the gateway refuses nothing for it.
      if (spend.trippedNow && spend.today) {
        report.trippedGuardrail = true;
        this.log.warn('daily spend guardrail tripped', trip);
      } else if (spend.trippedNow) this.log.info('late usage tripped a day that is not today', trip);
      if (result.settled) {
        report.fromOutbox++;
        // The money is settled: a listener that fails (metrics) must not count the hold as failed.
        try {
          this.onOutboxSettled(outbox.data, result);
        } catch (err) {
          this.log.error('outbox settlement not reported', {
            requestId: outbox.data.requestId,
            err: (err as Error).message,
          });
        }
      } else report.alreadySettled++;
      return;
    }
    const abandoned = abandonedUsage(hold, this.now());
    // Not counted by the guardrail: nothing was spent as far as we know. Should the usage arrive
    // later, its event reaches the guardrail (counted once, by request id) and settlement charges
    // it from the release record.
    const result = await this.settlement.release(abandoned);
    if (result.settled) {
      report.released++;
      this.log.warn('hold released in full: request abandoned', { requestId: abandoned.requestId });
    } else report.alreadySettled++;
  }
}

/**
 * The usage record of a hold whose request is gone without usage: nothing generated, nothing
 * charged, the hold released in full. Released records are read back by late usage, if it comes.
 */
export function abandonedUsage(hold: Record<string, unknown>, now: number): UsageRecord {
  return {
    requestId: String(hold.requestId),
    accountId: String(hold.accountId),
    keyId: String(hold.keyId),
    tier: hold.tier as UsageRecord['tier'],
    catalogVersion: Number(hold.catalogVersion),
    model: '',
    status: 'rejected',
    inputTokens: 0,
    outputTokens: 0,
    usageSource: 'estimated',
    upstreamCostMicros: 0,
    chargeMicros: 0,
    holdMicros: Number(hold.holdMicros),
    ttftMs: null,
    latencyMs: Math.max(0, now - Date.parse(String(hold.startedAt))),
    startedAt: String(hold.startedAt),
    endedAt: new Date(now).toISOString(),
    stream: false,
    // Holds placed before surfaces were recorded came through chat completions.
    surface: API_SURFACES.find((surface) => surface === hold.surface) ?? 'chat',
  };
}
