import { Aws, Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type CreateAlarmOptions,
  type Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Topic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  DEBT_RECORDED_METRIC,
  GUARDRAIL_TRIPPED_METRIC,
  PROBE_SUCCESS_METRIC,
  RECONCILE_FAILED_HOLDS_METRIC,
  TIER_METRICS,
} from '../../shared/runtime/metric-names.js';
import type { TiergateConfig } from '../config.js';
import { createAlarmTopic } from './alarm-topic.js';
import type { GatewayFunction } from './gateway-function.js';
import { createDashboard } from './observability-dashboard.js';
import { allTiersRate, FIVE_MINUTES, gatewayMetric, serverErrorRate } from './observability-metrics.js';

/** Completions error rate (percent) above which an alarm fires, sustained over ERROR_RATE_PERIODS periods. */
export const ERROR_RATE_THRESHOLD_PERCENT = 5;
const ERROR_RATE_PERIODS = 3;

export interface ObservabilityProps {
  readonly config: TiergateConfig;
  readonly completions: GatewayFunction;
  readonly reconciler: GatewayFunction;
  /** Every dead-letter queue: any message in one is money or spend that was not accounted. */
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
}

type AlarmOptions = Omit<CreateAlarmOptions, 'alarmName'>;

/**
 * Alarms to an (encrypted) SNS topic that CloudWatch may publish to, and the dashboard. Every alarm is named
 * `<stack name>-<id>` (e.g. `Tiergate-GuardrailTripped`): the topic accepts alarms with that prefix only, and the
 * README's test commands use the names. What each alarm means and what to do: README, "Alarms".
 */
export class Observability extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];
  private readonly action: SnsAction;
  private readonly alarmNamePrefix: string;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { config, completions, reconciler } = props;
    this.alarmNamePrefix = `${Stack.of(this).stackName}-`;
    this.topic = createAlarmTopic(this, {
      alarmEmail: config.alarmEmail,
      alarmNamePrefix: this.alarmNamePrefix,
    });
    this.action = new SnsAction(this.topic);
    const reconcilePeriod = Duration.minutes(config.reconcileIntervalMinutes);

    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      this.alarm(
        `${name}DlqNotEmpty`,
        queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        {
          alarmDescription: `The ${name} dead-letter queue holds events that were not processed: inspect, fix, redrive.`,
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      );
    }

    // Unhandled function errors (crashes, timeouts), from Lambda's own metrics.
    const invocations = completions.function.metricInvocations({ period: FIVE_MINUTES, statistic: 'Sum' });
    this.alarm(
      'CompletionsFunctionErrorRate',
      new MathExpression({
        expression: 'IF(invocations > 0, 100 * errors / invocations, 0)',
        usingMetrics: {
          errors: completions.function.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
          invocations,
        },
        label: 'Completions function error rate (%)',
        period: FIVE_MINUTES,
      }),
      this.rateAlarm(
        `More than ${ERROR_RATE_THRESHOLD_PERCENT}% of completions invocations failed in Lambda.`,
      ),
    );

    // Admitted requests that did not end ok (upstream failures, timeouts, disconnects), from the per-tier metrics.
    this.alarm(
      'CompletionsErrorRate',
      allTiersRate(TIER_METRICS.errors, TIER_METRICS.requests),
      this.rateAlarm(`More than ${ERROR_RATE_THRESHOLD_PERCENT}% of completions requests ended in an error.`),
    );

    // Responses the gateway answered with a 5xx before the first byte, whether admitted or not.
    this.alarm(
      'ServerErrorRate',
      serverErrorRate(invocations),
      this.rateAlarm(
        `More than ${ERROR_RATE_THRESHOLD_PERCENT}% of public API responses were 5xx (guardrail refusals excluded).`,
      ),
    );

    // A state, not an event: 1 on every guardrail invocation and reconciler run while the day is tripped. The
    // reconciler's schedule keeps it reported without traffic; a period without a value (a run that came late)
    // keeps the alarm's state rather than mailing "OK" in the middle of a trip.
    this.alarm(
      'GuardrailTripped',
      gatewayMetric(GUARDRAIL_TRIPPED_METRIC, { statistic: 'Maximum', period: reconcilePeriod }),
      {
        alarmDescription:
          'The daily spend guardrail is tripped: completions answer 503 until the next UTC midnight.',
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.IGNORE,
      },
    );

    // Late usage the wallet could not cover: the shortfall is a debt, paid from the account's next top-up.
    this.alarm('DebtRecorded', gatewayMetric(DEBT_RECORDED_METRIC), {
      alarmDescription:
        'Usage that arrived after its hold was released exceeded the balance: the rest is a debt on the ' +
        'account (tiergate accounts show), paid from its next top-up.',
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    // A failing reconciler leaves abandoned holds locked in wallets; two failed runs in a row is not noise.
    this.alarm(
      'ReconcilerFailing',
      reconciler.function.metricErrors({ period: reconcilePeriod, statistic: 'Sum' }),
      {
        alarmDescription:
          'The reconciler failed on consecutive runs: abandoned holds are not being released.',
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 2,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      },
    );
    // Runs that complete but fail on single holds (each is retried next run): the same holds locked in wallets.
    this.alarm(
      'ReconcileHoldsFailing',
      gatewayMetric(RECONCILE_FAILED_HOLDS_METRIC, { period: reconcilePeriod }),
      {
        alarmDescription:
          'The reconciler failed to settle or release holds on consecutive runs: their money stays locked.',
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: TreatMissingData.IGNORE,
      },
    );

    this.dashboard = createDashboard(this, {
      completions,
      deadLetterQueues: props.deadLetterQueues,
      reconcilePeriod,
    });
  }

  /**
   * The synthetic probe's three alarms, which SyntheticProbe hooks up with its schedule:
   * - `ProbeFailed`: a run failed (ProbeSuccess 0). Missing data keeps the state, so it stays in ALARM until a
   *   run passes; that no run reports at all is the other alarm's business.
   * - `ProbeMissing`: no run passed within two probe intervals, missing data counting as breaching, so a probe
   *   that stopped running (schedule, state machine or Record broken) alarms as loudly as one that fails.
   * - `ProbeRunFailed`: a run of the state machine failed, timed out or was aborted, so it recorded nothing;
   *   at once, rather than when ProbeMissing's two intervals are up.
   */
  addProbeAlarms(
    intervalMinutes: number,
    stateMachine: IStateMachine,
  ): { failed: Alarm; missing: Alarm; runs: Alarm } {
    const probeSuccess = (statistic: string, period: Duration) =>
      gatewayMetric(PROBE_SUCCESS_METRIC, { statistic, period });
    const failed = this.alarm('ProbeFailed', probeSuccess('Minimum', FIVE_MINUTES), {
      alarmDescription:
        'The synthetic probe failed: sign-up, completions, billing or cleanup is broken. GET /health names ' +
        'the failing step; GET /admin/probe (or npm run probe) gives the error.',
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.IGNORE,
    });
    // One period per interval, so each holds one scheduled run; CloudWatch allows 2 periods of up to a day.
    const missing = this.alarm('ProbeMissing', probeSuccess('Maximum', Duration.minutes(intervalMinutes)), {
      alarmDescription: `No synthetic probe passed within two probe intervals (${2 * intervalMinutes} minutes): it fails, or it does not run.`,
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: TreatMissingData.BREACHING,
    });
    // A run that ends without its Record task (the probe function crashing at start-up, so that Record fails
    // too; the execution's 20-minute limit) publishes no ProbeSuccess, which only ProbeMissing would notice,
    // up to two intervals later. Step Functions' own counts of such runs say so at once.
    const runs = this.alarm(
      'ProbeRunFailed',
      new MathExpression({
        expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
        usingMetrics: {
          failed: stateMachine.metricFailed({ period: FIVE_MINUTES, statistic: 'Sum' }),
          timedOut: stateMachine.metricTimedOut({ period: FIVE_MINUTES, statistic: 'Sum' }),
          aborted: stateMachine.metricAborted({ period: FIVE_MINUTES, statistic: 'Sum' }),
        },
        label: 'Probe runs that failed, timed out or were aborted',
        period: FIVE_MINUTES,
      }),
      {
        alarmDescription:
          'A synthetic probe run ended without recording its result (failed, timed out or aborted): see the ' +
          'state machine execution in the Step Functions console.',
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      },
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Synthetic probe (1 = passed)',
        left: [failed.metric],
        leftAnnotations: [{ value: 1, label: 'pass' }],
        width: 24,
      }),
    );
    return { failed, missing, runs };
  }

  private rateAlarm(alarmDescription: string): AlarmOptions {
    return {
      alarmDescription,
      threshold: ERROR_RATE_THRESHOLD_PERCENT,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: ERROR_RATE_PERIODS,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    };
  }

  /** An alarm named `<stack>-<id>` that notifies the topic, and its recovery too (so the operator hears it is over). */
  private alarm(id: string, metric: IMetric, options: AlarmOptions): Alarm {
    const alarm = new Alarm(this, id, { metric, ...options, alarmName: `${this.alarmNamePrefix}${id}` });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms.push(alarm);
    return alarm;
  }
}

/** Console link to the dashboard, for the stack output. */
export function dashboardUrl(dashboard: Dashboard): string {
  return `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${dashboard.dashboardName}`;
}
