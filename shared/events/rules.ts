import { USAGE_DETAIL_TYPE, USAGE_SOURCE } from '../domain/usage.js';

/** An EventBridge event pattern, in the JSON form PutRule accepts. */
export interface EventPattern {
  [field: string]: unknown;
}

export interface RuleDefinition {
  /** Rule id: the CDK construct id and the local bus's rule name. */
  id: string;
  description: string;
  target: 'billing' | 'guardrail';
  pattern: EventPattern;
}

/** Each rule gets its own pattern object, so no consumer can change another rule's pattern through a shared one. */
function usageRecordedPattern(): EventPattern {
  return { source: [USAGE_SOURCE], 'detail-type': [USAGE_DETAIL_TYPE] };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * How long the bus archives usage events, which can be replayed after a billing or guardrail bug
 * (the consumers are idempotent for at least this long).
 */
export const USAGE_ARCHIVE_RETENTION_DAYS = 90;

/**
 * The rules on the usage bus. The CDK stack and the local bus both read these, so what runs locally is what is
 * deployed. Both consumers need every usage event: billing settles every hold, and the guardrail counts upstream
 * cost whatever the request's outcome (a failed request can still have been charged upstream).
 */
export const USAGE_RULES: readonly RuleDefinition[] = deepFreeze([
  {
    id: 'BillingUsage',
    description: 'Every usage.recorded event settles its request against the account wallet.',
    target: 'billing',
    pattern: usageRecordedPattern(),
  },
  {
    id: 'GuardrailUsage',
    description: 'Every usage.recorded event adds its upstream cost to the daily spend guardrail.',
    target: 'guardrail',
    pattern: usageRecordedPattern(),
  },
]);
