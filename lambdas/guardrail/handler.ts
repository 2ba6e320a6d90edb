import middy from '@middy/core';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import {
  DynamoGuardrailReader,
  MAX_GUARDRAIL_CACHE_TTL_MS,
} from '../../shared/adapters/dynamodb/guardrail-reader.js';
import { parseUsageEvent } from '../../shared/billing/usage-event.js';
import { ENV, intEnv, optionalEnv, requireEnv } from '../../shared/config.js';
import { usdToMicros } from '../../shared/domain/money.js';
import { SpendGuardrail } from '../../shared/guardrail/spend-guardrail.js';
import { createLogger } from '../../shared/runtime/logger.js';
import { createMetrics, publishGuardrailState } from '../../shared/runtime/metrics.js';
import { traceClient, tracingMiddleware } from '../../shared/runtime/tracing.js';

const capRaw = requireEnv(ENV.dailySpendCapUsd);
const capMicros = usdToMicros(capRaw);
if (capMicros === undefined) throw new Error(`${ENV.dailySpendCapUsd} must be a USD amount, got "${capRaw}"`);

const logger = createLogger();
const metrics = createMetrics();
const db = createDocumentClient(optionalEnv(ENV.dynamodbEndpoint), traceClient);
const ledgerTable = requireEnv(ENV.ledgerTable);
const guardrail = new SpendGuardrail(db, ledgerTable, capMicros);
// Today's state as the completions function reads it (and no more often).
const state = new DynamoGuardrailReader(
  db,
  ledgerTable,
  intEnv(ENV.guardrailCacheTtlMs, MAX_GUARDRAIL_CACHE_TTL_MS),
);

/** EventBridge target: adds one request to today's aggregates; trips the day at the cap. */
async function recordSpend(event: unknown): Promise<void> {
  const { eventId, usage } = parseUsageEvent(event);
  const outcome = await guardrail.record(usage);
  if (outcome.trippedNow) logger.warn('daily spend guardrail tripped', { day: outcome.day, capMicros });
  // Every invocation, not only the trip: the alarm holds for as long as the gateway refuses requests.
  publishGuardrailState(metrics, outcome.trippedNow || (await state.state()).tripped);
  logger.info(outcome.counted ? 'counted' : 'duplicate ignored', { eventId, requestId: usage.requestId });
}

export const handler = middy().use(tracingMiddleware()).handler(recordSpend);
