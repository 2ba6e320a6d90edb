import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { UsageRecord } from '../domain/usage.js';
import {
  DEBT_RECORDED_METRIC,
  DIMENSIONS,
  ERROR_RESPONSE_METRICS,
  GUARDRAIL_TRIPPED_METRIC,
  METRICS_NAMESPACE,
  PROBE_SUCCESS_METRIC,
  RECONCILE_FAILED_HOLDS_METRIC,
  SERVICE_NAME,
  SURFACE_METRICS,
  TIER_METRICS,
} from './metric-names.js';

/**
 * The gateway's metrics, emitted as EMF lines on stdout (no API calls); Lambda ships them to CloudWatch. Off when
 * POWERTOOLS_METRICS_DISABLED is true, which the local runtime sets unless told otherwise. Every function below
 * is synchronous from its first metric to its publication, so concurrent requests in one process never mix.
 */
export const createMetrics = (): Metrics =>
  new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE,
    serviceName: SERVICE_NAME,
  });

/** Error responses by code, and their total, so 4xx floods and 5xx show on the dashboard and alarm. */
export function errorCounter(metrics: Metrics) {
  return (code: string, status: number): void => {
    const name = status >= 500 ? ERROR_RESPONSE_METRICS.server : ERROR_RESPONSE_METRICS.client;
    const byCode = metrics.singleMetric();
    byCode.addDimension(DIMENSIONS.code, code);
    byCode.addMetric(name, MetricUnit.Count, 1);
    metrics.singleMetric().addMetric(name, MetricUnit.Count, 1);
  };
}

/** Client retries without an Idempotency-Key: each one may be run, and billed, twice. */
export function retryWithoutIdempotencyKeyCounter(metrics: Metrics) {
  return (): void => {
    metrics.singleMetric().addMetric('RetriesWithoutIdempotencyKey', MetricUnit.Count, 1);
  };
}

/**
 * One request's metrics in one EMF blob, every one with its tier, then a second blob with its API surface. (A
 * `singleMetric()` publishes, and drops its dimensions, on every addMetric: only the first metric would keep the
 * tier; and one blob with both dimensions would be a third series, {service, tier, surface}, that nothing reads.)
 */
export function recordUsageMetrics(metrics: Metrics, usage: UsageRecord): void {
  metrics.addDimension(DIMENSIONS.tier, usage.tier);
  metrics.addMetric(TIER_METRICS.requests, MetricUnit.Count, 1);
  metrics.addMetric(TIER_METRICS.inputTokens, MetricUnit.Count, usage.inputTokens);
  metrics.addMetric(TIER_METRICS.outputTokens, MetricUnit.Count, usage.outputTokens);
  metrics.addMetric(TIER_METRICS.chargeMicros, MetricUnit.Count, usage.chargeMicros);
  metrics.addMetric(TIER_METRICS.upstreamCostMicros, MetricUnit.Count, usage.upstreamCostMicros);
  metrics.addMetric(TIER_METRICS.latencyMs, MetricUnit.Milliseconds, usage.latencyMs);
  if (usage.ttftMs !== null) metrics.addMetric(TIER_METRICS.ttftMs, MetricUnit.Milliseconds, usage.ttftMs);
  metrics.addMetric(TIER_METRICS.errors, MetricUnit.Count, usage.status === 'ok' ? 0 : 1);
  metrics.addMetric(TIER_METRICS.autoRouted, MetricUnit.Count, usage.route?.mode === 'auto' ? 1 : 0);
  metrics.publishStoredMetrics();

  metrics.addDimension(DIMENSIONS.surface, usage.surface);
  metrics.addMetric(SURFACE_METRICS.requests, MetricUnit.Count, 1);
  metrics.addMetric(SURFACE_METRICS.errors, MetricUnit.Count, usage.status === 'ok' ? 0 : 1);
  metrics.addMetric(SURFACE_METRICS.inputTokens, MetricUnit.Count, usage.inputTokens);
  metrics.addMetric(SURFACE_METRICS.outputTokens, MetricUnit.Count, usage.outputTokens);
  metrics.addMetric(SURFACE_METRICS.chargeMicros, MetricUnit.Count, usage.chargeMicros);
  if (usage.ttftMs !== null) metrics.addMetric(SURFACE_METRICS.ttftMs, MetricUnit.Milliseconds, usage.ttftMs);
  metrics.publishStoredMetrics();
}

/** The guardrail's state (1 tripped, 0 not), so its alarm holds for as long as the gateway refuses requests. */
export function publishGuardrailState(metrics: Metrics, tripped: boolean): void {
  metrics.addMetric(GUARDRAIL_TRIPPED_METRIC, MetricUnit.Count, tripped ? 1 : 0);
  metrics.publishStoredMetrics();
}

/** A reconciler run: the holds it failed on, and the guardrail's state (the run is scheduled, so it is steady). */
export function publishReconcileRun(
  metrics: Metrics,
  run: { failedHolds: number; guardrailTripped: boolean },
): void {
  metrics.addMetric(RECONCILE_FAILED_HOLDS_METRIC, MetricUnit.Count, run.failedHolds);
  metrics.addMetric(GUARDRAIL_TRIPPED_METRIC, MetricUnit.Count, run.guardrailTripped ? 1 : 0);
  metrics.publishStoredMetrics();
}

/** A synthetic probe run: 1 when it passed and its result was recorded, else 0. */
export function publishProbeSuccess(metrics: Metrics, passed: boolean): void {
  metrics.addMetric(PROBE_SUCCESS_METRIC, MetricUnit.Count, passed ? 1 : 0);
  metrics.publishStoredMetrics();
}

/** A late charge the wallet could not cover, recorded as a debt (dimension service only; alarmed). */
export function recordDebtMetric(metrics: Metrics, debtMicros: number): void {
  metrics.singleMetric().addMetric(DEBT_RECORDED_METRIC, MetricUnit.Count, debtMicros);
}
