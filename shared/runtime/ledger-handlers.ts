import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import { createDocumentClient } from '../adapters/dynamodb/client.js';
import { Reconciler } from '../billing/reconciler.js';
import { Settlement } from '../billing/settlement.js';
import { parseUsageEvent } from '../billing/usage-event.js';
import type { BillingConfig, GuardrailConfig, ReconcilerConfig } from '../config.js';
import { SpendGuardrail } from '../guardrail/spend-guardrail.js';
import type { Log } from '../http.js';
import { recordUsageMetrics } from './metrics.js';
import { traceClient, tracingMiddleware } from './tracing.js';

/**
 * The handlers of the functions behind the usage pipeline: billing and guardrail (EventBridge
 * targets) and the scheduled reconciler. Each is built from its configuration once per instance.
 */

export interface EventHandlerDeps {
  logger: Logger;
  metrics: Metrics;
}

const settlementFor = (config: BillingConfig, db: ReturnType<typeof createDocumentClient>) =>
  new Settlement(db, config.ledgerTable, config.requestLogTable, Date.now, config.requestLogRetentionDays);

/** Settles one request's hold per usage event. Malformed events throw and go to the DLQ. */
export function createBillingHandler(config: BillingConfig, { logger, metrics }: EventHandlerDeps) {
  const settlement = settlementFor(config, createDocumentClient(config.dynamodbEndpoint, traceClient));
  async function billing(event: unknown): Promise<void> {
    const { eventId, usage } = parseUsageEvent(event);
    const result = await settlement.settle(usage);
    logger.info(result.settled ? 'settled' : 'duplicate ignored', {
      eventId,
      requestId: usage.requestId,
      chargeMicros: result.chargeMicros,
      refundMicros: result.refundMicros,
    });
    // Counted once per request: a duplicate delivery emits no metrics either.
    if (result.settled) recordUsageMetrics(metrics, usage);
  }
  return middy().use(tracingMiddleware()).handler(billing);
}

/** Adds one request to today's aggregates; trips the day at the cap. */
export function createGuardrailHandler(config: GuardrailConfig, { logger, metrics }: EventHandlerDeps) {
  const guardrail = new SpendGuardrail(
    createDocumentClient(config.dynamodbEndpoint, traceClient),
    config.ledgerTable,
    config.dailySpendCapMicros,
  );
  async function recordSpend(event: unknown): Promise<void> {
    const { eventId, usage } = parseUsageEvent(event);
    const outcome = await guardrail.record(usage);
    if (outcome.trippedNow) {
      logger.warn('daily spend guardrail tripped', {
        day: outcome.day,
        capMicros: config.dailySpendCapMicros,
      });
      metrics.addMetric('GuardrailTripped', 'Count', 1);
      metrics.publishStoredMetrics();
    }
    logger.info(outcome.counted ? 'counted' : 'duplicate ignored', { eventId, requestId: usage.requestId });
  }
  return middy().use(tracingMiddleware()).handler(recordSpend);
}

/** Scheduled: settles stale holds from the outbox or releases them. */
export function createReconcilerHandler(config: ReconcilerConfig, { log }: { log: Log }) {
  const db = createDocumentClient(config.dynamodbEndpoint, traceClient);
  const reconciler = new Reconciler(
    db,
    config.ledgerTable,
    settlementFor(config, db),
    new SpendGuardrail(db, config.ledgerTable, config.dailySpendCapMicros),
    log,
  );
  async function reconcile(): Promise<void> {
    const report = await reconciler.reconcile(config.reconcileAfterMs);
    log.info('reconciled', { ...report });
  }
  return middy().use(tracingMiddleware()).handler(reconcile);
}
