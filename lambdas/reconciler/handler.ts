import middy from '@middy/core';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import {
  DynamoGuardrailReader,
  MAX_GUARDRAIL_CACHE_TTL_MS,
} from '../../shared/adapters/dynamodb/guardrail-reader.js';
import { Reconciler } from '../../shared/billing/reconciler.js';
import { Settlement } from '../../shared/billing/settlement.js';
import { ENV, intEnv, optionalEnv, requireEnv } from '../../shared/config.js';
import { usdToMicros } from '../../shared/domain/money.js';
import { SpendGuardrail } from '../../shared/guardrail/spend-guardrail.js';
import { createLogger, powertoolsLog } from '../../shared/runtime/logger.js';
import { createMetrics, publishReconcileRun } from '../../shared/runtime/metrics.js';
import { traceClient, tracingMiddleware } from '../../shared/runtime/tracing.js';

/** Holds older than this outlived the completions function (its timeout plus a margin). */
const reconcileAfterMs = intEnv(ENV.reconcileAfterMs, 16 * 60_000);
const ledgerTable = requireEnv(ENV.ledgerTable);
const db = createDocumentClient(optionalEnv(ENV.dynamodbEndpoint), traceClient);
const log = powertoolsLog(createLogger());
const metrics = createMetrics();
const reconciler = new Reconciler(
  db,
  ledgerTable,
  new Settlement(
    db,
    ledgerTable,
    requireEnv(ENV.requestLogTable),
    Date.now,
    intEnv(ENV.requestLogRetentionDays, 90),
  ),
  new SpendGuardrail(db, ledgerTable, usdToMicros(requireEnv(ENV.dailySpendCapUsd)) ?? 0),
  log,
);
const guardrailState = new DynamoGuardrailReader(
  db,
  ledgerTable,
  intEnv(ENV.guardrailCacheTtlMs, MAX_GUARDRAIL_CACHE_TTL_MS),
);

/**
 * Scheduled: settles stale holds from the outbox or releases them. Each run reports the holds it failed on and
 * the guardrail's state: runs come on a schedule, so the state metric has a value even while no traffic flows.
 */
async function reconcile(): Promise<void> {
  const report = await reconciler.reconcile(reconcileAfterMs);
  log.info('reconciled', { ...report });
  publishReconcileRun(metrics, {
    failedHolds: report.failed,
    guardrailTripped: report.trippedGuardrail || (await guardrailState.state()).tripped,
  });
}

export const handler = middy().use(tracingMiddleware()).handler(reconcile);
