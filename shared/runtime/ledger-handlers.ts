import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import { createDocumentClient } from '../adapters/dynamodb/client.js';
import { DynamoGuardrailReader } from '../adapters/dynamodb/guardrail-reader.js';
import { Reconciler } from '../billing/reconciler.js';
import { Settlement, type SettlementResult } from '../billing/settlement.js';
import { parseUsageEvent } from '../billing/usage-event.js';
import type { BillingConfig, GuardrailConfig, ReconcilerConfig } from '../config.js';
import type { UsageRecord } from '../domain/usage.js';
import { SpendGuardrail } from '../guardrail/spend-guardrail.js';
import type { Log } from '../http.js';
import {
  publishGuardrailState,
  publishReconcileRun,
  recordDebtMetric,
  recordUsageMetrics,
} from './metrics.js';
import { traceClient, tracingMiddleware } from './tracing.js';

/**
 * The handlers of the functions behind the usage pipeline: billing and guardrail (EventBridge
 * targets) and the scheduled reconciler. Each is built from its configuration once per instance.
 */

export interface EventHandlerDeps {
  logger: Logger;
  metrics: Metrics;
  /** The clock (tests set it); the UTC day it reads is the one the gateway enforces. */
  now?: () => number;
}

const settlementFor = (
  config: BillingConfig,
  db: ReturnType<typeof createDocumentClient>,
  now: () => number = Date.now,
) => new Settlement(db, config.ledgerTable, config.requestLogTable, now, config.requestLogRetentionDays);

/** A settled request's metrics, whoever settled it (billing, or the reconciler from the outbox). */
function recordSettled(metrics: Metrics, usage: UsageRecord, result: SettlementResult): void {
  recordUsageMetrics(metrics, usage);
  if (result.debtMicros) recordDebtMetric(metrics, result.debtMicros);
}

/** Settles one request's hold per usage event. Malformed events throw and go to the DLQ. */
export function createBillingHandler(config: BillingConfig, { logger, metrics }: EventHandlerDeps) {
  const settlement = settlementFor(config, createDocumentClient(config.dynamodbEndpoint, traceClient));
  async function billing(event: unknown): Promise<void> {
    const { eventId, usage } = parseUsageEvent(event);
    const result = await settlement.settle(usage);
    const fields = {
      eventId,
      requestId: usage.requestId,
      chargeMicros: result.chargeMicros,
      refundMicros: result.refundMicros,
    };
    if (result.late) {
      // Its hold had been released: charged now from the release record, any shortfall as a debt.
      logger.warn('late usage charged after release', { ...fields, debtMicros: result.debtMicros });
    } else logger.info(result.settled ? 'settled' : 'duplicate ignored', fields);
    // Counted once per request: a duplicate delivery emits no metrics either.
    if (result.settled) recordSettled(metrics, usage, result);
  }
  return middy().use(tracingMiddleware()).handler(billing);
}

/** Adds one request to its day's aggregates; trips the day at the cap. */
export function createGuardrailHandler(
  config: GuardrailConfig,
  { logger, metrics, now = Date.now }: EventHandlerDeps,
) {
  const db = createDocumentClient(config.dynamodbEndpoint, traceClient);
  const guardrail = new SpendGuardrail(db, config.ledgerTable, config.dailySpendCapMicros, now);
  // Today's state as the completions function reads it (and no more often).
  const state = new DynamoGuardrailReader(db, config.ledgerTable, config.guardrailCacheTtlMs, now);
  async function recordSpend(event: unknown): Promise<void> {
    const { eventId, usage } = parseUsageEvent(event);
    const outcome = await guardrail.record(usage);
    // A past day tripped by late usage is history: the gateway refuses nothing for it, so no alarm.
    const trippedToday = outcome.trippedNow && outcome.today;
    const trip = { day: outcome.day, capMicros: config.dailySpendCapMicros };
    if (trippedToday) logger.warn('daily spend guardrail tripped', trip);
    else if (outcome.trippedNow) logger.info('late usage tripped a day that is not today', trip);
    // Every invocation, not only the trip: the alarm holds for as long as the gateway refuses requests.
    publishGuardrailState(metrics, trippedToday || (await state.state()).tripped);
    logger.info(outcome.counted ? 'counted' : 'duplicate ignored', { eventId, requestId: usage.requestId });
  }
  return middy().use(tracingMiddleware()).handler(recordSpend);
}

/** Scheduled: settles stale holds from the outbox or releases them. */
export function createReconcilerHandler(
  config: ReconcilerConfig,
  { log, metrics, now = Date.now }: { log: Log; metrics: Metrics; now?: () => number },
) {
  const db = createDocumentClient(config.dynamodbEndpoint, traceClient);
  const guardrailState = new DynamoGuardrailReader(db, config.ledgerTable, config.guardrailCacheTtlMs, now);
  const reconciler = new Reconciler(
    db,
    config.ledgerTable,
    settlementFor(config, db, now),
    new SpendGuardrail(db, config.ledgerTable, config.dailySpendCapMicros, now),
    log,
    now,
    // Requests settled from the outbox never reach billing: their metrics are recorded here, once each.
    (usage, result) => recordSettled(metrics, usage, result),
  );
  async function reconcile(): Promise<void> {
    const report = await reconciler.reconcile(config.reconcileAfterMs);
    log.info('reconciled', { ...report });
    // Runs come on a schedule, so the state metric has a value even while no traffic flows.
    publishReconcileRun(metrics, {
      failedHolds: report.failed,
      guardrailTripped: report.trippedGuardrail || (await guardrailState.state()).tripped,
    });
  }
  return middy().use(tracingMiddleware()).handler(reconcile);
}
