import middy from '@middy/core';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { parseUsageEvent } from '../../shared/billing/usage-event.js';
import { ENV, optionalEnv, requireEnv } from '../../shared/config.js';
import { usdToMicros } from '../../shared/domain/money.js';
import { SpendGuardrail } from '../../shared/guardrail/spend-guardrail.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { createMetrics } from '../../shared/runtime/metrics.js';
import { traceClient, tracingMiddleware } from '../../shared/runtime/tracing.js';

const capRaw = requireEnv(ENV.dailySpendCapUsd);
const capMicros = usdToMicros(capRaw);
if (capMicros === undefined) throw new Error(`${ENV.dailySpendCapUsd} must be a USD amount, got "${capRaw}"`);

const logger = createLogger();
const metrics = createMetrics();
const guardrail = new SpendGuardrail(
  createDocumentClient(optionalEnv(ENV.dynamodbEndpoint), traceClient),
  requireEnv(ENV.ledgerTable),
  capMicros,
);

/** EventBridge target: adds one request to today's aggregates; trips the day at the cap. */
async function recordSpend(event: unknown): Promise<void> {
  const { eventId, usage } = parseUsageEvent(event);
  const outcome = await guardrail.record(usage);
  if (outcome.trippedNow) {
    logger.warn('daily spend guardrail tripped', { day: outcome.day, capMicros });
    metrics.addMetric('GuardrailTripped', 'Count', 1);
    metrics.publishStoredMetrics();
  }
  logger.info(outcome.counted ? 'counted' : 'duplicate ignored', { eventId, requestId: usage.requestId });
}

export const handler = middy().use(tracingMiddleware()).handler(recordSpend);
