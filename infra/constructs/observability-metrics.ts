import { Duration } from 'aws-cdk-lib';
import { type IMetric, MathExpression, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { TIER_IDS, type TierId } from '../../shared/domain/catalog.js';
import type { ApiSurface } from '../../shared/domain/usage.js';
import {
  DIMENSIONS,
  ERROR_RESPONSE_METRICS,
  METRICS_NAMESPACE,
  SERVICE_NAME,
} from '../../shared/runtime/metric-names.js';

/** The gateway's own metrics as the alarms and the dashboard read them (names: shared/runtime/metric-names.ts). */

export const FIVE_MINUTES = Duration.minutes(5);
/** The guardrail's error code: its 503s are intended, and have their own alarm. */
export const GUARDRAIL_REFUSAL_CODE = 'daily_spend_limit';

/**
 * Dimensions of a Tiergate metric. Powertools Metrics always adds `service` (POWERTOOLS_SERVICE_NAME, which
 * GatewayFunction sets to "tiergate"), and CloudWatch matches dimension sets exactly, so it is part of the key.
 */
export function metricDimensions(extra: Record<string, string> = {}): Record<string, string> {
  return { service: SERVICE_NAME, ...extra };
}

export interface GatewayMetricOptions {
  readonly dimensions?: Record<string, string>;
  /** @default 'Sum' */
  readonly statistic?: string;
  /** @default five minutes */
  readonly period?: Duration;
  readonly label?: string;
}

export function gatewayMetric(metricName: string, options: GatewayMetricOptions = {}): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: metricDimensions(options.dimensions),
    statistic: options.statistic ?? 'Sum',
    period: options.period ?? FIVE_MINUTES,
    ...(options.label === undefined ? {} : { label: options.label }),
  });
}

export function tierMetric(tier: TierId, metricName: string, statistic = 'Sum'): Metric {
  return gatewayMetric(metricName, {
    dimensions: { [DIMENSIONS.tier]: tier },
    statistic,
    label: `${metricName} ${statistic}`,
  });
}

/** A per-request metric of one API surface (chat, messages), labelled with it. */
export function surfaceMetric(surface: ApiSurface, metricName: string, statistic = 'Sum'): Metric {
  return gatewayMetric(metricName, {
    dimensions: { [DIMENSIONS.surface]: surface },
    statistic,
    label: `${surface} ${metricName} ${statistic}`,
  });
}

/** 100 × Σ numerator / Σ denominator over all tiers, 0 without traffic. */
export function allTiersRate(numerator: string, denominator: string): MathExpression {
  const usingMetrics: Record<string, IMetric> = {};
  const num: string[] = [];
  const den: string[] = [];
  TIER_IDS.forEach((tier, i) => {
    usingMetrics[`n${i}`] = tierMetric(tier, numerator);
    usingMetrics[`d${i}`] = tierMetric(tier, denominator);
    // FILL: a tier without traffic in a period has no datapoint, which would blank out the whole sum.
    num.push(`FILL(n${i}, 0)`);
    den.push(`FILL(d${i}, 0)`);
  });
  const requests = `(${den.join(' + ')})`;
  return new MathExpression({
    expression: `IF(${requests} > 0, 100 * (${num.join(' + ')}) / ${requests}, 0)`,
    usingMetrics,
    label: `${numerator} / ${denominator} (%)`,
    period: FIVE_MINUTES,
  });
}

/**
 * 5xx responses of the public API as a percentage of its invocations, the guardrail's intended 503s left out.
 * It reads the total ServerErrors (dimensions {service}) minus those of the guardrail's code: an alarm cannot
 * add up a SEARCH over codes, and the total is emitted next to the per-code series for that reason.
 */
export function serverErrorRate(invocations: IMetric): MathExpression {
  return new MathExpression({
    expression: 'IF(calls > 0, 100 * (FILL(all5xx, 0) - FILL(refused, 0)) / calls, 0)',
    usingMetrics: {
      all5xx: gatewayMetric(ERROR_RESPONSE_METRICS.server),
      refused: gatewayMetric(ERROR_RESPONSE_METRICS.server, {
        dimensions: { [DIMENSIONS.code]: GUARDRAIL_REFUSAL_CODE },
      }),
      calls: invocations,
    },
    label: '5xx responses, guardrail refusals excluded (% of invocations)',
    period: FIVE_MINUTES,
  });
}

/** Every error code's series of `ServerErrors` or `ClientErrors`, for a graph (alarms cannot read a SEARCH). */
export function errorsByCode(metricName: string): MathExpression {
  return new MathExpression({
    expression: `SEARCH('{${METRICS_NAMESPACE},${DIMENSIONS.code},service} MetricName="${metricName}"', 'Sum', 300)`,
    usingMetrics: {},
    label: metricName,
    period: FIVE_MINUTES,
  });
}
