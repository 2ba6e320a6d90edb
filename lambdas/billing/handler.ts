import middy from '@middy/core';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { Settlement } from '../../shared/billing/settlement.js';
import { parseUsageEvent } from '../../shared/billing/usage-event.js';
import { ENV, intEnv, optionalEnv, requireEnv } from '../../shared/config.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { createMetrics, recordDebtMetric, recordUsageMetrics } from '../../shared/runtime/metrics.js';
import { traceClient, tracingMiddleware } from '../../shared/runtime/tracing.js';

const logger = createLogger();
const metrics = createMetrics();
const settlement = new Settlement(
  createDocumentClient(optionalEnv(ENV.dynamodbEndpoint), traceClient),
  requireEnv(ENV.ledgerTable),
  requireEnv(ENV.requestLogTable),
  Date.now,
  intEnv(ENV.requestLogRetentionDays, 90),
);

/** EventBridge target: settles one request's hold. Malformed events throw and go to the DLQ. */
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
  if (result.settled) recordUsageMetrics(metrics, usage);
  if (result.debtMicros) recordDebtMetric(metrics, result.debtMicros);
}

export const handler = middy().use(tracingMiddleware()).handler(billing);
