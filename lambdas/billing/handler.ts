import middy from '@middy/core';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { Settlement } from '../../shared/billing/settlement.js';
import { parseUsageEvent } from '../../shared/billing/usage-event.js';
import { ENV, intEnv, optionalEnv, requireEnv } from '../../shared/config.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { createMetrics, recordUsageMetrics } from '../../shared/runtime/metrics.js';
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
  logger.info(result.settled ? 'settled' : 'duplicate ignored', {
    eventId,
    requestId: usage.requestId,
    chargeMicros: result.chargeMicros,
    refundMicros: result.refundMicros,
  });
  // Counted once per request: a duplicate delivery emits no metrics either.
  if (result.settled) recordUsageMetrics(metrics, usage);
}

export const handler = middy().use(tracingMiddleware()).handler(billing);
