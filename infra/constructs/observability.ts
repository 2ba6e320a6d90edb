import { Aws, Duration } from 'aws-cdk-lib';
import {
  type Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  SingleValueWidget,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TIER_DESCRIPTIONS, TIER_IDS, type TierId } from '../../shared/domain/catalog.js';
import { METRICS_NAMESPACE, PROBE_SUCCESS_METRIC, SERVICE_NAME } from '../../shared/runtime/metric-names.js';
import type { TiergateConfig } from '../config.js';
import type { GatewayFunction } from './gateway-function.js';

/** Per-tier metrics the completions function publishes, with dimension `tier`. */
export const TIER_METRICS = {
  requests: 'Requests',
  inputTokens: 'InputTokens',
  outputTokens: 'OutputTokens',
  chargeMicros: 'ChargeMicros',
  upstreamCostMicros: 'UpstreamCostMicros',
  latencyMs: 'LatencyMs',
  ttftMs: 'TtftMs',
  errors: 'Errors',
} as const;
export const GUARDRAIL_TRIPPED_METRIC = 'GuardrailTripped';
/** Published by the probe's Record task (shared/probe), 1 for a run that passed and was recorded, else 0. */
export { PROBE_SUCCESS_METRIC };

/**
 * Dimensions of a Tiergate metric. Powertools Metrics always adds `service` (POWERTOOLS_SERVICE_NAME, which
 * GatewayFunction sets to "tiergate"), and CloudWatch matches dimension sets exactly, so it is part of the key.
 */
export function metricDimensions(tier?: TierId): Record<string, string> {
  return tier === undefined ? { service: SERVICE_NAME } : { service: SERVICE_NAME, tier };
}

/** Completions error rate (percent) above which an alarm fires, sustained over ERROR_RATE_PERIODS periods. */
export const ERROR_RATE_THRESHOLD_PERCENT = 5;
const ERROR_RATE_PERIODS = 3;
const FIVE_MINUTES = Duration.minutes(5);

export interface ObservabilityProps {
  readonly config: TiergateConfig;
  readonly completions: GatewayFunction;
  readonly reconciler: GatewayFunction;
  /** Every dead-letter queue: any message in one is money or spend that was not accounted. */
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
}

/** Alarms to an (encrypted) SNS topic, and the per-tier dashboard. */
export class Observability extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];
  private readonly action: SnsAction;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { config, completions, reconciler } = props;

    // A customer managed key: the AWS managed SNS key does not let CloudWatch publish alarms to the topic.
    const key = new Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the Tiergate alarm topic',
      enableKeyRotation: true,
    });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new Topic(this, 'AlarmTopic', {
      displayName: 'Tiergate alarms',
      masterKey: key,
      enforceSSL: true,
    });
    if (config.alarmEmail !== undefined) this.topic.addSubscription(new EmailSubscription(config.alarmEmail));
    this.action = new SnsAction(this.topic);

    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      this.watch(
        queue
          .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' })
          .createAlarm(this, `${name}DlqNotEmpty`, {
            alarmDescription: `The ${name} dead-letter queue holds events that were not processed: inspect, fix, redrive.`,
            threshold: 0,
            comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluationPeriods: 1,
            treatMissingData: TreatMissingData.NOT_BREACHING,
          }),
      );
    }

    // Unhandled function errors (crashes, timeouts), from Lambda's own metrics.
    this.watch(
      new MathExpression({
        expression: 'IF(invocations > 0, 100 * errors / invocations, 0)',
        usingMetrics: {
          errors: completions.function.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
          invocations: completions.function.metricInvocations({ period: FIVE_MINUTES, statistic: 'Sum' }),
        },
        label: 'Completions function error rate (%)',
        period: FIVE_MINUTES,
      }).createAlarm(this, 'CompletionsFunctionErrorRate', {
        alarmDescription: `More than ${ERROR_RATE_THRESHOLD_PERCENT}% of completions invocations failed in Lambda.`,
        threshold: ERROR_RATE_THRESHOLD_PERCENT,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: ERROR_RATE_PERIODS,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    // Requests the gateway answered with an error (5xx, upstream failures), from its own per-tier metrics.
    this.watch(
      allTiersRate(TIER_METRICS.errors, TIER_METRICS.requests).createAlarm(this, 'CompletionsErrorRate', {
        alarmDescription: `More than ${ERROR_RATE_THRESHOLD_PERCENT}% of completions requests ended in an error.`,
        threshold: ERROR_RATE_THRESHOLD_PERCENT,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: ERROR_RATE_PERIODS,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    this.watch(
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: GUARDRAIL_TRIPPED_METRIC,
        dimensionsMap: metricDimensions(),
        statistic: 'Maximum',
        period: FIVE_MINUTES,
      }).createAlarm(this, 'GuardrailTripped', {
        alarmDescription:
          'The daily spend guardrail tripped: completions answer 503 until the next UTC midnight.',
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    // A failing reconciler leaves abandoned holds locked in wallets; two failed runs in a row is not noise.
    const reconcilePeriod = Duration.minutes(config.reconcileIntervalMinutes);
    this.watch(
      reconciler.function
        .metricErrors({ period: reconcilePeriod, statistic: 'Sum' })
        .createAlarm(this, 'ReconcilerFailing', {
          alarmDescription:
            'The reconciler failed on consecutive runs: abandoned holds are not being released.',
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 2,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
    );

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(24) });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: '# Tiergate\nPer-tier traffic, tokens, cost and latency.',
        width: 24,
        height: 1,
      }),
    );
    this.dashboard.addWidgets(
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
          new Metric({
            namespace: METRICS_NAMESPACE,
            metricName: GUARDRAIL_TRIPPED_METRIC,
            dimensionsMap: metricDimensions(),
            statistic: 'Maximum',
          }),
        ],
        width: 8,
      }),
    );
    for (const tier of TIER_IDS) {
      this.dashboard.addWidgets(
        new TextWidget({ markdown: `## ${tier} (${TIER_DESCRIPTIONS[tier]})`, width: 24, height: 1 }),
      );
      this.dashboard.addWidgets(...tierWidgets(tier));
    }
  }

  /**
   * The synthetic probe's two alarms, which SyntheticProbe hooks up with its schedule:
   * - `ProbeFailed`: a run failed (ProbeSuccess 0). Missing data keeps the state, so it stays in ALARM until a
   *   run passes; that no run reports at all is the other alarm's business.
   * - `ProbeMissing`: no run passed within two probe intervals, missing data counting as breaching, so a probe
   *   that stopped running (schedule, state machine or Record broken) alarms as loudly as one that fails.
   */
  addProbeAlarms(intervalMinutes: number): { failed: Alarm; missing: Alarm } {
    const probeSuccess = (statistic: string, period: Duration) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: PROBE_SUCCESS_METRIC,
        dimensionsMap: metricDimensions(),
        statistic,
        period,
      });
    const failed = probeSuccess('Minimum', FIVE_MINUTES).createAlarm(this, 'ProbeFailed', {
      alarmDescription:
        'The synthetic probe failed: sign-up, completions, billing or cleanup is broken. GET /health names ' +
        'the failing step; GET /admin/probe (or npm run probe) gives the error.',
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.IGNORE,
    });
    // One period per interval, so each holds one scheduled run; CloudWatch allows 2 periods of up to a day.
    const missing = probeSuccess('Maximum', Duration.minutes(intervalMinutes)).createAlarm(
      this,
      'ProbeMissing',
      {
        alarmDescription: `No synthetic probe passed within two probe intervals (${2 * intervalMinutes} minutes): it fails, or it does not run.`,
        threshold: 1,
        comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: TreatMissingData.BREACHING,
      },
    );
    this.watch(failed);
    this.watch(missing);
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Synthetic probe (1 = passed)',
        left: [failed.metric],
        leftAnnotations: [{ value: 1, label: 'pass' }],
        width: 24,
      }),
    );
    return { failed, missing };
  }

  private watch(alarm: Alarm): void {
    // OK actions too, so the operator also hears when it is over.
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms.push(alarm);
  }
}

function tierMetric(tier: TierId, metricName: string, statistic = 'Sum'): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: metricDimensions(tier),
    statistic,
    period: FIVE_MINUTES,
    label: `${metricName} ${statistic}`,
  });
}

/** 100 × Σ numerator / Σ denominator over all tiers, 0 without traffic. */
function allTiersRate(numerator: string, denominator: string): MathExpression {
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

function tierWidgets(tier: TierId): GraphWidget[] {
  // Micro-USD to USD. Each expression needs its own metric id: ids are shared across one graph.
  const usd = (metricName: string, id: string, label: string) =>
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

/** Console link to the dashboard, for the stack output. */
export function dashboardUrl(dashboard: Dashboard): string {
  return `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${dashboard.dashboardName}`;
}
