/**
 * The gateway's own CloudWatch metrics: what the functions emit (Powertools EMF, shared/runtime/metrics.ts) and
 * what the stack's alarms and dashboard read (infra/constructs/observability*.ts). Powertools adds the `service`
 * dimension to every metric, and CloudWatch matches dimension sets exactly, so `service` is part of every key.
 * test/infra/metrics-contract.test.ts checks that both sides agree.
 */

export const METRICS_NAMESPACE = 'Tiergate';
export const SERVICE_NAME = 'tiergate';

/** Per admitted request (billing function, once per settled request), with dimensions {service, tier}. */
export const TIER_METRICS = {
  requests: 'Requests',
  inputTokens: 'InputTokens',
  outputTokens: 'OutputTokens',
  chargeMicros: 'ChargeMicros',
  upstreamCostMicros: 'UpstreamCostMicros',
  latencyMs: 'LatencyMs',
  ttftMs: 'TtftMs',
  /** 1 for a request that did not end `ok`, else 0. */
  errors: 'Errors',
  /** 1 for a request tier-auto routed to this tier, else 0: the dashboard's tier shares of auto traffic. */
  autoRouted: 'AutoRouted',
} as const;

/**
 * Per admitted request, again with dimensions {service, surface}: the same request broken down by the API surface
 * its client spoke (chat, messages). A separate EMF blob, so the per-tier series keep their exact dimension set.
 */
export const SURFACE_METRICS = {
  requests: TIER_METRICS.requests,
  errors: TIER_METRICS.errors,
  inputTokens: TIER_METRICS.inputTokens,
  outputTokens: TIER_METRICS.outputTokens,
  chargeMicros: TIER_METRICS.chargeMicros,
  ttftMs: TIER_METRICS.ttftMs,
} as const;

/**
 * Error responses of the public API (completions function), each emitted twice: with {service, code} for the
 * breakdown, and with {service} alone for the total an alarm can read (an alarm cannot sum over a SEARCH).
 */
export const ERROR_RESPONSE_METRICS = { server: 'ServerErrors', client: 'ClientErrors' } as const;

/** 1 while the day's spend guardrail is tripped, else 0: on every guardrail invocation and reconciler run. */
export const GUARDRAIL_TRIPPED_METRIC = 'GuardrailTripped';
/** Holds a reconciler run failed to settle or release (each is retried on the next run). */
export const RECONCILE_FAILED_HOLDS_METRIC = 'ReconcileFailedHolds';
/** 1 for a probe run that passed and was recorded, else 0: the Record task, `npm start` and `npm run probe`. */
export const PROBE_SUCCESS_METRIC = 'ProbeSuccess';

export const DIMENSIONS = { tier: 'tier', surface: 'surface', code: 'code' } as const;

/** A late charge the wallet could not cover, recorded as a debt on the account (µ$). */
export const DEBT_RECORDED_METRIC = 'DebtRecordedMicros';
