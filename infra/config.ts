import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { DEFAULT_UPSTREAM_BASE_URL, MAX_PROBE_INTERVAL_MINUTES } from '../shared/config.js';
import { usdToMicros } from '../shared/domain/money.js';

/**
 * Deployment settings, read from CDK context in this one place (`cdk deploy -c key=value`, or the `context`
 * block of cdk.json). Every value is validated here, so a typo fails `cdk synth` with the key's name instead of
 * deploying a broken gateway.
 */
export interface TiergateConfig {
  /** `dailySpendCapUsd`: global daily (UTC) upstream spend at which the guardrail trips. Default 50. */
  readonly dailySpendCapUsd: number;
  /** `probeIntervalMinutes`: how often the synthetic probe runs; /health and the probe alarm use it. Default 360. */
  readonly probeIntervalMinutes: number;
  /** `alarmEmail`: optional address subscribed to the alarm topic (AWS sends a confirmation mail first). */
  readonly alarmEmail: string | undefined;
  /** `upstreamBaseUrl`: OpenAI-compatible upstream the gateway calls. Default OpenRouter. */
  readonly upstreamBaseUrl: string;
  /** `reconcileIntervalMinutes`: how often abandoned holds are settled. Default 5. */
  readonly reconcileIntervalMinutes: number;
  /** `logRetentionDays`: CloudWatch Logs retention of every function; one of the values CloudWatch accepts. Default 30. */
  readonly logRetentionDays: RetentionDays;
}

export const CONFIG_DEFAULTS = {
  dailySpendCapUsd: 50,
  probeIntervalMinutes: 360,
  upstreamBaseUrl: DEFAULT_UPSTREAM_BASE_URL,
  reconcileIntervalMinutes: 5,
  logRetentionDays: RetentionDays.ONE_MONTH,
} as const;

/** Thrown for a context value that cannot be deployed; the message names the key and what it accepts. */
export class ConfigError extends Error {
  constructor(key: string, expected: string, raw: unknown) {
    super(`Invalid CDK context "${key}": expected ${expected}, got ${JSON.stringify(raw)}`);
    this.name = 'ConfigError';
  }
}

const RETENTION_VALUES = Object.values(RetentionDays).filter((v): v is number => typeof v === 'number');
// Deliberately loose: one @, no spaces, a dot in the domain. SNS does the real check by mailing a confirmation.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Reads and validates every setting; throws `ConfigError` on the first bad value. */
export function readConfig(scope: Construct): TiergateConfig {
  const context = (key: string): unknown => scope.node.tryGetContext(key);
  return {
    dailySpendCapUsd: positiveUsd(
      'dailySpendCapUsd',
      context('dailySpendCapUsd'),
      CONFIG_DEFAULTS.dailySpendCapUsd,
    ),
    // At most a day: the probe alarm's period equals the interval and CloudWatch caps periods at one day.
    probeIntervalMinutes: integerInRange(
      'probeIntervalMinutes',
      context('probeIntervalMinutes'),
      CONFIG_DEFAULTS.probeIntervalMinutes,
      1,
      MAX_PROBE_INTERVAL_MINUTES,
    ),
    alarmEmail: optionalEmail('alarmEmail', context('alarmEmail')),
    upstreamBaseUrl: httpsUrl('upstreamBaseUrl', context('upstreamBaseUrl'), CONFIG_DEFAULTS.upstreamBaseUrl),
    reconcileIntervalMinutes: integerInRange(
      'reconcileIntervalMinutes',
      context('reconcileIntervalMinutes'),
      CONFIG_DEFAULTS.reconcileIntervalMinutes,
      1,
      60,
    ),
    logRetentionDays: retention(
      'logRetentionDays',
      context('logRetentionDays'),
      CONFIG_DEFAULTS.logRetentionDays,
    ),
  };
}

// `-c key=value` on the command line arrives as a string, cdk.json values keep their JSON type: accept both.
function numberFrom(raw: unknown): number | undefined {
  if (typeof raw === 'number') return raw;
  if (typeof raw === 'string' && raw.trim() !== '') return Number(raw);
  return undefined;
}

/** The functions read it as exact micro-USD (shared/config.ts): what they would refuse fails synth instead. */
function positiveUsd(key: string, raw: unknown, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = numberFrom(raw);
  const micros = n === undefined ? undefined : usdToMicros(n);
  if (n === undefined || micros === undefined || micros <= 0) {
    throw new ConfigError(key, 'a positive number of USD with at most 6 decimals', raw);
  }
  return n;
}

function integerInRange(key: string, raw: unknown, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = numberFrom(raw);
  if (n === undefined || !Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(key, `an integer from ${min} to ${max}`, raw);
  }
  return n;
}

function optionalEmail(key: string, raw: unknown): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string' || !EMAIL.test(raw)) throw new ConfigError(key, 'an e-mail address', raw);
  return raw;
}

function httpsUrl(key: string, raw: unknown, fallback: string): string {
  if (raw === undefined) return fallback;
  // The upstream key travels with every request, so plain http is refused.
  if (typeof raw !== 'string' || !URL.canParse(raw) || new URL(raw).protocol !== 'https:') {
    throw new ConfigError(key, 'an https:// URL', raw);
  }
  return raw.replace(/\/+$/, '');
}

function retention(key: string, raw: unknown, fallback: RetentionDays): RetentionDays {
  if (raw === undefined) return fallback;
  const n = numberFrom(raw);
  if (n === undefined || !RETENTION_VALUES.includes(n)) {
    throw new ConfigError(key, `one of ${RETENTION_VALUES.join(', ')}`, raw);
  }
  return n as RetentionDays;
}
