import { Duration } from 'aws-cdk-lib';
import {
  Dashboard,
  GraphWidget,
  GraphWidgetView,
  type IMetric,
  MathExpression,
  SingleValueWidget,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { TIER_DESCRIPTIONS, TIER_IDS, type TierId } from '../../shared/domain/catalog.js';
import { API_SURFACES } from '../../shared/domain/usage.js';
import {
  ERROR_RESPONSE_METRICS,
  GUARDRAIL_TRIPPED_METRIC,
  RECONCILE_FAILED_HOLDS_METRIC,
  SURFACE_METRICS,
  TIER_METRICS,
} from '../../shared/runtime/metric-names.js';
import type { GatewayFunction } from './gateway-function.js';
import {
  errorsByCode,
  gatewayMetric,
  serverErrorRate,
  surfaceMetric,
  tierMetric,
} from './observability-metrics.js';

export interface DashboardProps {
  readonly completions: GatewayFunction;
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
  /** The reconciler's schedule: the period of its metrics. */
  readonly reconcilePeriod: Duration;
}

/** The gateway's dashboard: health and errors on top, then requests by API surface, then one row per tier. */
export function createDashboard(scope: Construct, props: DashboardProps): Dashboard {
  const { completions } = props;
  const dashboard = new Dashboard(scope, 'Dashboard', { defaultInterval: Duration.hours(24) });
  dashboard.addWidgets(
    new TextWidget({
      markdown:
        '# Tiergate\nHealth and errors, then requests by API surface, then per-tier traffic, tokens, cost and latency.',
      width: 24,
      height: 1,
    }),
  );
  dashboard.addWidgets(
    new GraphWidget({
      title: 'Dead-letter queues (messages)',
      left: Object.values(props.deadLetterQueues).map((queue) =>
        queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' }),
      ),
      width: 8,
    }),
    new GraphWidget({
      title: 'Completions function errors / invocations',
      left: [completions.function.metricErrors(), completions.function.metricInvocations()],
      width: 8,
    }),
    new SingleValueWidget({
      title: 'Guardrail tripped (1 = tripped)',
      metrics: [
        gatewayMetric(GUARDRAIL_TRIPPED_METRIC, { statistic: 'Maximum', period: props.reconcilePeriod }),
      ],
      width: 8,
    }),
  );
  dashboard.addWidgets(
    new GraphWidget({
      title: '5xx responses, guardrail refusals excluded (% of invocations)',
      left: [
        serverErrorRate(
          completions.function.metricInvocations({ statistic: 'Sum', period: Duration.minutes(5) }),
        ),
      ],
      width: 8,
    }),
    new GraphWidget({
      title: 'Error responses by code',
      left: [errorsByCode(ERROR_RESPONSE_METRICS.server)],
      right: [errorsByCode(ERROR_RESPONSE_METRICS.client)],
      width: 8,
    }),
    new GraphWidget({
      title: 'Holds the reconciler failed on',
      left: [gatewayMetric(RECONCILE_FAILED_HOLDS_METRIC, { period: props.reconcilePeriod })],
      width: 8,
    }),
  );
  dashboard.addWidgets(
    new GraphWidget({
      title: 'tier-auto: requests per chosen tier',
      left: TIER_IDS.map((tier) => tierMetric(tier, TIER_METRICS.autoRouted)),
      view: GraphWidgetView.PIE,
      width: 8,
    }),
    new GraphWidget({
      title: 'tier-auto: requests per chosen tier over time',
      left: TIER_IDS.map((tier) => tierMetric(tier, TIER_METRICS.autoRouted)),
      stacked: true,
      width: 16,
    }),
  );
  dashboard.addWidgets(
    new TextWidget({ markdown: '## By API surface (chat completions, Messages)', width: 24, height: 1 }),
  );
  dashboard.addWidgets(...surfaceWidgets());
  for (const tier of TIER_IDS) {
    dashboard.addWidgets(
      new TextWidget({ markdown: `## ${tier} (${TIER_DESCRIPTIONS[tier]})`, width: 24, height: 1 }),
    );
    dashboard.addWidgets(...tierWidgets(tier));
  }
  return dashboard;
}

/** Each graph has one series per surface, so the surfaces compare at a glance. */
function surfaceWidgets(): GraphWidget[] {
  const each = (metricName: string, statistic = 'Sum'): IMetric[] =>
    API_SURFACES.map((surface) => surfaceMetric(surface, metricName, statistic));
  return [
    new GraphWidget({ title: 'Requests by API surface', left: each(SURFACE_METRICS.requests), width: 6 }),
    new GraphWidget({
      title: 'Failed requests by API surface',
      left: each(SURFACE_METRICS.errors),
      width: 6,
    }),
    new GraphWidget({
      title: 'Tokens by API surface',
      left: each(SURFACE_METRICS.inputTokens),
      right: each(SURFACE_METRICS.outputTokens),
      width: 6,
    }),
    new GraphWidget({
      title: 'Charged (USD) and time to first token (ms, p99) by API surface',
      left: API_SURFACES.map(
        (surface, i) =>
          new MathExpression({
            expression: `charged${i} / 1000000`,
            usingMetrics: { [`charged${i}`]: surfaceMetric(surface, SURFACE_METRICS.chargeMicros) },
            label: `${surface} charged`,
          }),
      ),
      right: each(SURFACE_METRICS.ttftMs, 'p99'),
      width: 6,
    }),
  ];
}

function tierWidgets(tier: TierId): GraphWidget[] {
  // Micro-USD to USD. Each expression needs its own metric id: ids are shared across one graph.
  const usd = (metricName: string, id: string, label: string): IMetric =>
    new MathExpression({
      expression: `${id} / 1000000`,
      usingMetrics: { [id]: tierMetric(tier, metricName) },
      label,
    });
  return [
    new GraphWidget({
      title: `${tier} requests and errors`,
      left: [tierMetric(tier, TIER_METRICS.requests), tierMetric(tier, TIER_METRICS.errors)],
      width: 6,
    }),
    new GraphWidget({
      title: `${tier} tokens`,
      left: [tierMetric(tier, TIER_METRICS.inputTokens), tierMetric(tier, TIER_METRICS.outputTokens)],
      width: 6,
    }),
    new GraphWidget({
      title: `${tier} cost (USD)`,
      left: [
        usd(TIER_METRICS.chargeMicros, 'charged', 'charged'),
        usd(TIER_METRICS.upstreamCostMicros, 'upstream', 'upstream cost'),
      ],
      width: 6,
    }),
    new GraphWidget({
      title: `${tier} latency (ms)`,
      left: [
        tierMetric(tier, TIER_METRICS.latencyMs, 'p50'),
        tierMetric(tier, TIER_METRICS.latencyMs, 'p99'),
        tierMetric(tier, TIER_METRICS.ttftMs, 'p50'),
        tierMetric(tier, TIER_METRICS.ttftMs, 'p99'),
      ],
      width: 6,
    }),
  ];
}
