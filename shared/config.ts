/**
 * Every environment variable the functions read, read once at module scope. A function's
 * handler module calls the getter for what it needs at cold start, so a missing variable
 * fails fast with its name rather than on the first request.
 */

export const ENV = {
  ledgerTable: 'LEDGER_TABLE_NAME',
  requestLogTable: 'REQUEST_LOG_TABLE_NAME',
  eventBus: 'EVENT_BUS_NAME',
  upstreamBaseUrl: 'UPSTREAM_BASE_URL',
  /** Locally: the upstream key itself. */
  upstreamApiKey: 'UPSTREAM_API_KEY',
  /** In AWS: the Secrets Manager secret that holds the upstream key. */
  upstreamApiKeySecretArn: 'UPSTREAM_API_KEY_SECRET_ARN',
  dailySpendCapUsd: 'DAILY_SPEND_CAP_USD',
  maxBodyBytes: 'MAX_BODY_BYTES',
  catalogCacheTtlMs: 'CATALOG_CACHE_TTL_MS',
  keyCacheTtlMs: 'KEY_CACHE_TTL_MS',
  guardrailCacheTtlMs: 'GUARDRAIL_CACHE_TTL_MS',
  probeIntervalMinutes: 'PROBE_INTERVAL_MINUTES',
  /** Milliseconds before the function's own timeout at which the handler aborts upstream. */
  abortMarginMs: 'ABORT_MARGIN_MS',
  requestLogRetentionDays: 'REQUEST_LOG_RETENTION_DAYS',
  /** Holds older than this are settled by the reconciler (completions timeout plus a margin). */
  reconcileAfterMs: 'RECONCILE_AFTER_MS',
  dynamodbEndpoint: 'DYNAMODB_ENDPOINT',
  logPrompts: 'TIERGATE_LOG_PROMPTS',
} as const;

export const DEFAULT_UPSTREAM_BASE_URL = 'https://openrouter.ai/api/v1';
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`Missing required environment variable ${name}`);
  }
  return value;
}

export function optionalEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** A positive integer from the environment, capped at `max`, or the default when unset. */
export function intEnv(name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = optionalEnv(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`Environment variable ${name} must be a non-negative integer, got "${raw}"`);
  return Math.min(n, max);
}
