import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  DEFAULT_MAX_BODY_BYTES,
  type Env,
  readAdminConfig,
  readBillingConfig,
  readCompletionsConfig,
  readGuardrailConfig,
  readReconcilerConfig,
} from '../../shared/config.js';

/** Enough for every function; each test breaks one variable. */
const GOOD: Env = {
  LEDGER_TABLE_NAME: 'ledger',
  REQUEST_LOG_TABLE_NAME: 'requests',
  EVENT_BUS_NAME: 'bus',
  DAILY_SPEND_CAP_USD: '50',
  TOOL_CALL_ID_SECRET: 'a-local-key-of-32-characters-xxx',
};

const READERS = {
  completions: readCompletionsConfig,
  admin: readAdminConfig,
  billing: readBillingConfig,
  guardrail: readGuardrailConfig,
  reconciler: readReconcilerConfig,
} as const;
const WITH_CAP = ['admin', 'guardrail', 'reconciler'] as const;

function errorOf(read: (env: Env) => unknown, env: Env): ConfigError {
  try {
    read(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('function configuration', () => {
  it.each(['abc', '0', '-5', '1.1234567', ' ', '1e3'])(
    'refuses DAILY_SPEND_CAP_USD=%j with the same error in every function that reads it',
    (raw) => {
      const env = { ...GOOD, DAILY_SPEND_CAP_USD: raw };
      const messages = WITH_CAP.map((name) => errorOf(READERS[name], env).message);
      expect(new Set(messages).size).toBe(1);
      expect(messages[0]).toMatch(/DAILY_SPEND_CAP_USD/);
    },
  );

  it('reads the cap as exact micro-USD everywhere (never a silent 0)', () => {
    for (const name of WITH_CAP) {
      expect(READERS[name]({ ...GOOD, DAILY_SPEND_CAP_USD: '12.5' })).toMatchObject({
        dailySpendCapMicros: 12_500_000,
      });
    }
    const missing = { ...GOOD, DAILY_SPEND_CAP_USD: undefined };
    for (const name of WITH_CAP) {
      expect(errorOf(READERS[name], missing).message).toBe(
        'Missing required environment variable DAILY_SPEND_CAP_USD (a non-empty value)',
      );
    }
  });

  it('refuses a missing table, a bad endpoint and a bad integer the same way in every function', () => {
    const cases: Array<[Env, RegExp]> = [
      [{ ...GOOD, LEDGER_TABLE_NAME: '' }, /^Missing required environment variable LEDGER_TABLE_NAME/],
      [{ ...GOOD, DYNAMODB_ENDPOINT: 'not a url' }, /^Environment variable DYNAMODB_ENDPOINT must be/],
    ];
    for (const [env, pattern] of cases) {
      const messages = Object.values(READERS).map((read) => errorOf(read, env).message);
      expect(new Set(messages).size, messages.join('\n')).toBe(1);
      expect(messages[0]).toMatch(pattern);
    }
    const days = { ...GOOD, REQUEST_LOG_RETENTION_DAYS: 'ninety' };
    expect(errorOf(readBillingConfig, days).message).toBe(errorOf(readReconcilerConfig, days).message);
    expect(errorOf(readBillingConfig, days).message).toBe(
      'Environment variable REQUEST_LOG_RETENTION_DAYS must be a non-negative integer, got "ninety"',
    );
  });

  it('gives completions a tool-call id key of its own, never the upstream key, and refuses a weak one', () => {
    expect(readCompletionsConfig(GOOD).toolCallIdKey).toEqual({ value: GOOD.TOOL_CALL_ID_SECRET });
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tool-ids-AbCdEf';
    expect(
      readCompletionsConfig({ ...GOOD, TOOL_CALL_ID_SECRET_ARN: arn, UPSTREAM_API_KEY: 'sk-x' }),
    ).toMatchObject({ toolCallIdKey: { secretArn: arn }, upstreamKey: { value: 'sk-x' } });
    const missing = errorOf(readCompletionsConfig, { ...GOOD, TOOL_CALL_ID_SECRET: undefined });
    expect(missing.message).toMatch(/TOOL_CALL_ID_SECRET_ARN or TOOL_CALL_ID_SECRET/);
    const weak = errorOf(readCompletionsConfig, { ...GOOD, TOOL_CALL_ID_SECRET: 'short' });
    expect(weak.message).not.toContain('short');
    expect(errorOf(readCompletionsConfig, { ...GOOD, TOOL_CALL_ID_SECRET_ARN: 'tool-ids' }).message).toMatch(
      /TOOL_CALL_ID_SECRET_ARN must be a Secrets Manager secret ARN/,
    );
  });

  it('defaults the body limit to what a Function URL takes, less the envelope, and caps it there', () => {
    expect(DEFAULT_MAX_BODY_BYTES).toBe(6_291_456 - 65_536);
    expect(readCompletionsConfig(GOOD).maxBodyBytes).toBe(6_225_920);
    expect(readCompletionsConfig({ ...GOOD, MAX_BODY_BYTES: '1000' }).maxBodyBytes).toBe(1000);
    expect(readCompletionsConfig({ ...GOOD, MAX_BODY_BYTES: '99999999' }).maxBodyBytes).toBe(6_225_920);
  });
});

describe('handler modules', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    vi.resetModules();
  });

  const modules = {
    admin: () => import('../../lambdas/admin/handler.js'),
    guardrail: () => import('../../lambdas/guardrail/handler.js'),
    reconciler: () => import('../../lambdas/reconciler/handler.js'),
  } as const;

  it.each(Object.keys(modules) as Array<keyof typeof modules>)(
    '%s fails at cold start on a bad DAILY_SPEND_CAP_USD, with the same ConfigError',
    async (name) => {
      vi.resetModules();
      process.env = { ...saved, ...GOOD, DAILY_SPEND_CAP_USD: 'fifty', POWERTOOLS_TRACE_ENABLED: 'false' };
      await expect(modules[name]()).rejects.toThrow(
        'Environment variable DAILY_SPEND_CAP_USD must be a positive USD amount with at most 6 decimals, got "fifty"',
      );
    },
  );

  it('completions fails at cold start without a tool-call id key', async () => {
    vi.resetModules();
    process.env = { ...saved, ...GOOD, TOOL_CALL_ID_SECRET: '', POWERTOOLS_TRACE_ENABLED: 'false' };
    await expect(import('../../lambdas/completions/handler.js')).rejects.toThrow(/TOOL_CALL_ID_SECRET/);
  });
});
