import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, readConfig } from '../../infra/config.js';
import { defineTiergateApp } from '../../infra/tiergate-app.js';
import { removeTestOutput, testApp } from './support.js';

const configFrom = (context: Record<string, unknown>) => readConfig(testApp(context));

afterAll(removeTestOutput);

describe('readConfig', () => {
  it('defaults every setting', () => {
    expect(configFrom({})).toEqual({
      dailySpendCapUsd: 50,
      probeIntervalMinutes: 360,
      alarmEmail: undefined,
      upstreamBaseUrl: 'https://openrouter.ai/api/v1',
      reconcileIntervalMinutes: 5,
      logRetentionDays: RetentionDays.ONE_MONTH,
    });
  });

  it('accepts strings from `-c key=value` and numbers from cdk.json alike', () => {
    expect(
      configFrom({
        dailySpendCapUsd: '12.5',
        probeIntervalMinutes: 60,
        alarmEmail: 'ops@example.com',
        upstreamBaseUrl: 'https://api.example.com/v1/',
        reconcileIntervalMinutes: '10',
        logRetentionDays: '365',
      }),
    ).toEqual({
      dailySpendCapUsd: 12.5,
      probeIntervalMinutes: 60,
      alarmEmail: 'ops@example.com',
      upstreamBaseUrl: 'https://api.example.com/v1',
      reconcileIntervalMinutes: 10,
      logRetentionDays: RetentionDays.ONE_YEAR,
    });
  });

  it.each([
    [
      'dailySpendCapUsd',
      '0',
      /"dailySpendCapUsd": expected a positive number of USD with at most 6 decimals, got "0"/,
    ],
    ['dailySpendCapUsd', 'fifty', /"dailySpendCapUsd": expected a positive number/],
    [
      'dailySpendCapUsd',
      '0.0000001',
      /"dailySpendCapUsd": expected a positive number of USD with at most 6 decimals/,
    ],
    ['probeIntervalMinutes', 1.5, /"probeIntervalMinutes": expected an integer from 1 to 1440, got 1.5/],
    ['probeIntervalMinutes', '2000', /"probeIntervalMinutes": expected an integer from 1 to 1440/],
    ['alarmEmail', 'ops-at-example', /"alarmEmail": expected an e-mail address/],
    ['upstreamBaseUrl', 'http://openrouter.ai/api/v1', /"upstreamBaseUrl": expected an https:\/\/ URL/],
    ['upstreamBaseUrl', 'not a url', /"upstreamBaseUrl": expected an https:\/\/ URL/],
    ['reconcileIntervalMinutes', 0, /"reconcileIntervalMinutes": expected an integer from 1 to 60/],
    ['logRetentionDays', 31, /"logRetentionDays": expected one of 1, 3, 5, 7, 14, 30/],
  ])('rejects %s = %j with a message naming the key', (key, value, message) => {
    expect(() => configFrom({ [key]: value })).toThrow(ConfigError);
    expect(() => configFrom({ [key]: value })).toThrow(message);
  });

  it('fails synthesis of the app on a bad value', () => {
    expect(() => defineTiergateApp(testApp({ dailySpendCapUsd: '-5' }))).toThrow(/dailySpendCapUsd/);
  });
});
