import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { EventBus, type EventPattern, Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config.js';
import { USAGE_SOURCE } from '../../shared/domain/usage.js';
import { type RuleDefinition, USAGE_ARCHIVE_RETENTION_DAYS, USAGE_RULES } from '../../shared/events/rules.js';
import { GUARDRAIL_PARTITION_PREFIX } from '../../shared/tables.js';
import type { TiergateConfig } from '../config.js';
import { GatewayFunction } from './gateway-function.js';
import type { LedgerTables } from './ledger-tables.js';
import { schedulerRole } from './scheduler-role.js';

export type UsageConsumer = RuleDefinition['target'];

/** How long EventBridge keeps retrying a delivery before it goes to the DLQ (its maximum). */
export const RULE_MAX_EVENT_AGE = Duration.hours(24);
export const RULE_RETRY_ATTEMPTS = 185;
/** Archived usage events can be replayed after a billing or guardrail bug; consumers are idempotent. */
export const ARCHIVE_RETENTION = Duration.days(USAGE_ARCHIVE_RETENTION_DAYS);

// PutRule's JSON keys → CDK's EventPattern keys. Anything else (e.g. a top-level "$or") has no CDK equivalent
// and must fail synth rather than be dropped.
const PATTERN_KEYS: Readonly<Record<string, keyof EventPattern>> = {
  version: 'version',
  id: 'id',
  'detail-type': 'detailType',
  source: 'source',
  account: 'account',
  time: 'time',
  region: 'region',
  resources: 'resources',
  detail: 'detail',
};

/** Maps a shared rule pattern (EventBridge JSON) onto `events.EventPattern`, refusing keys it cannot carry. */
export function toCdkEventPattern(ruleId: string, pattern: RuleDefinition['pattern']): EventPattern {
  const mapped: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(pattern)) {
    const cdkKey = PATTERN_KEYS[key];
    if (cdkKey === undefined)
      throw new Error(`Usage rule ${ruleId}: pattern key "${key}" cannot be deployed`);
    // A copy: the shared patterns are frozen and CDK merges patterns in place.
    mapped[cdkKey] = structuredClone(value);
  }
  return mapped as EventPattern;
}

export interface UsagePipelineProps {
  readonly config: TiergateConfig;
  readonly tables: LedgerTables;
  /** Consumers built elsewhere; billing is built here. */
  readonly consumers: { readonly guardrail: GatewayFunction };
}

/**
 * The usage bus and everything that settles money after a request: one rule per shared rule definition, each
 * delivering to its consumer with an explicit 24 h retry policy and a DLQ; an archive for replay; billing; and
 * the reconciler that settles holds whose usage event never arrived.
 */
export class UsagePipeline extends Construct {
  readonly bus: EventBus;
  readonly billing: GatewayFunction;
  readonly reconciler: GatewayFunction;
  readonly rules: readonly Rule[];
  /** One per consumer: events EventBridge could not deliver and events the function failed on, both raw. */
  readonly deadLetterQueues: Readonly<Record<UsageConsumer, Queue>>;

  constructor(scope: Construct, id: string, props: UsagePipelineProps) {
    super(scope, id);
    const { config, tables } = props;

    this.bus = new EventBus(this, 'Bus', { description: 'Tiergate usage.recorded events' });
    this.bus.archive('Archive', {
      description: 'Every Tiergate usage event, for replay into billing and the guardrail',
      eventPattern: { source: [USAGE_SOURCE] },
      retention: ARCHIVE_RETENTION,
    });

    this.billing = new GatewayFunction(this, 'Billing', {
      entry: 'billing',
      description: 'Tiergate billing: settles each request hold from its usage event',
      logRetention: config.logRetentionDays,
    })
      // Settling = delete the hold (condition: exists) and adjust the wallet, in one transaction.
      .bindTable(tables.ledger, { items: ['GetItem', 'UpdateItem', 'DeleteItem', 'ConditionCheckItem'] })
      .bindTable(tables.requestLog, { items: ['PutItem', 'UpdateItem'] });

    this.reconciler = new GatewayFunction(this, 'Reconciler', {
      entry: 'reconciler',
      description: 'Tiergate reconciler: settles holds older than the completions timeout',
      logRetention: config.logRetentionDays,
      timeout: Duration.minutes(2),
    })
      // Settling from the outbox also feeds the guardrail (idempotent per request): it needs the cap, and
      // PutItem for the guardrail's dedupe marker.
      .setEnvironment(ENV.dailySpendCapUsd, String(config.dailySpendCapUsd))
      .bindTable(tables.ledger, {
        items: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'ConditionCheckItem'],
        query: ['holds-by-age'],
        // The guardrail counts what it settles from an outbox: a Query of its day's sharded counters.
        queryPartitionsStartingWith: [GUARDRAIL_PARTITION_PREFIX],
      })
      .bindTable(tables.requestLog, { items: ['PutItem'] });

    const consumers: Record<UsageConsumer, GatewayFunction> = {
      billing: this.billing,
      guardrail: props.consumers.guardrail,
    };
    const deadLetterQueues = {} as Record<UsageConsumer, Queue>;
    for (const [name, consumer] of Object.entries(consumers) as [UsageConsumer, GatewayFunction][]) {
      const queue = new Queue(this, `${capitalise(name)}Dlq`, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        // The maximum: time to notice the alarm, fix the consumer and redrive.
        retentionPeriod: Duration.days(14),
      });
      // Function errors on an async (EventBridge) invocation are retried by Lambda, then land here too.
      consumer.sendFailedAsyncEventsTo(queue);
      deadLetterQueues[name] = queue;
    }
    this.deadLetterQueues = deadLetterQueues;

    this.rules = USAGE_RULES.map(
      (definition) =>
        new Rule(this, definition.id, {
          eventBus: this.bus,
          description: definition.description,
          eventPattern: toCdkEventPattern(definition.id, definition.pattern),
          targets: [
            new LambdaFunction(consumers[definition.target].function, {
              deadLetterQueue: deadLetterQueues[definition.target],
              retryAttempts: RULE_RETRY_ATTEMPTS,
              maxEventAge: RULE_MAX_EVENT_AGE,
            }),
          ],
        }),
    );

    // Our own role rather than CDK's stack-wide singleton, so its one acknowledgement sits right here.
    const scheduleRole = schedulerRole(
      this,
      'ReconcileScheduleRole',
      'Lets EventBridge Scheduler invoke the Tiergate reconciler',
    );
    const interval = Duration.minutes(config.reconcileIntervalMinutes);
    new Schedule(this, 'ReconcileSchedule', {
      description: 'Runs the Tiergate reconciler',
      schedule: ScheduleExpression.rate(interval),
      // A missed run is covered by the next one, so retries stop before the next run starts.
      target: new LambdaInvoke(this.reconciler.function, {
        role: scheduleRole,
        retryAttempts: 2,
        maxEventAge: interval,
      }),
    });
    const reconcilerLogicalId = Stack.of(this).getLogicalId(
      this.reconciler.function.node.defaultChild as CfnFunction,
    );
    Validations.of(scheduleRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${reconcilerLogicalId}.Arn>:*]`,
      reason:
        'lambda:InvokeFunction as Function.grantInvoke writes it: the reconciler function and its own qualified ' +
        'ARNs (versions and aliases, the ":*"). No other function is reachable.',
    });
  }
}

function capitalise(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
