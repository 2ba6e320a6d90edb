import { Construct } from 'constructs';
import { ENV } from '../../shared/config.js';
import { GUARDRAIL_PARTITION_PREFIX } from '../../shared/tables.js';
import type { TiergateConfig } from '../config.js';
import { GatewayFunction } from './gateway-function.js';
import type { LedgerTables } from './ledger-tables.js';

export interface SpendGuardrailProps {
  readonly config: TiergateConfig;
  readonly tables: LedgerTables;
}

/**
 * The daily spend guardrail: counts upstream cost from usage events (the usage pipeline subscribes it) and trips
 * at the cap. It publishes `GuardrailTripped` through EMF (log lines), so it needs no CloudWatch permission.
 */
export class SpendGuardrail extends Construct {
  readonly function: GatewayFunction;

  constructor(scope: Construct, id: string, props: SpendGuardrailProps) {
    super(scope, id);
    this.function = new GatewayFunction(this, 'Guardrail', {
      entry: 'guardrail',
      description: 'Tiergate spend guardrail: daily upstream spend aggregates and the trip switch',
      logRetention: props.config.logRetentionDays,
    })
      .setEnvironment(ENV.dailySpendCapUsd, String(props.config.dailySpendCapUsd))
      // Aggregates, dedupe markers and the tripped state: conditional puts and atomic counters, no deletes;
      // Query of the guardrail's own partitions only, to sum a day's sharded counters.
      .bindTable(props.tables.ledger, {
        items: ['GetItem', 'PutItem', 'UpdateItem', 'ConditionCheckItem'],
        queryPartitionsStartingWith: [GUARDRAIL_PARTITION_PREFIX],
      });
  }
}
