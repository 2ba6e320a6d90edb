import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { UsageRecord } from '../domain/usage.js';

/** Per-tier business metrics in the `Tiergate` namespace, emitted as EMF (no API calls). */
export const createMetrics = (): Metrics =>
  new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'Tiergate', serviceName: 'tiergate' });

/** Error responses by code, so 4xx floods and upstream failures show on the dashboard. */
export function errorCounter(metrics: Metrics) {
  return (code: string, status: number): void => {
    const single = metrics.singleMetric();
    single.addDimension('code', code);
    single.addMetric(status >= 500 ? 'ServerErrors' : 'ClientErrors', MetricUnit.Count, 1);
  };
}

/** Client retries without an Idempotency-Key: each one may be run, and billed, twice. */
export function retryWithoutIdempotencyKeyCounter(metrics: Metrics) {
  return (): void => {
    metrics.singleMetric().addMetric('RetriesWithoutIdempotencyKey', MetricUnit.Count, 1);
  };
}

export function recordUsageMetrics(metrics: Metrics, usage: UsageRecord): void {
  const single = metrics.singleMetric();
  single.addDimension('tier', usage.tier);
  single.addMetric('Requests', MetricUnit.Count, 1);
  single.addMetric('InputTokens', MetricUnit.Count, usage.inputTokens);
  single.addMetric('OutputTokens', MetricUnit.Count, usage.outputTokens);
  single.addMetric('ChargeMicros', MetricUnit.Count, usage.chargeMicros);
  single.addMetric('UpstreamCostMicros', MetricUnit.Count, usage.upstreamCostMicros);
  single.addMetric('LatencyMs', MetricUnit.Milliseconds, usage.latencyMs);
  if (usage.ttftMs !== null) single.addMetric('TtftMs', MetricUnit.Milliseconds, usage.ttftMs);
  single.addMetric('Errors', MetricUnit.Count, usage.status === 'ok' ? 0 : 1);
}

/** A late charge the wallet could not cover, recorded as a debt (dimension service only; alarmed). */
export const DEBT_RECORDED_METRIC = 'DebtRecordedMicros';

export function recordDebtMetric(metrics: Metrics, debtMicros: number): void {
  metrics.singleMetric().addMetric(DEBT_RECORDED_METRIC, MetricUnit.Count, debtMicros);
}
