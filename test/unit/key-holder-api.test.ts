import { describe, expect, it } from 'vitest';
import type { AccountBalance } from '../../shared/adapters/dynamodb/account-reader.js';
import type { GatewayError } from '../../shared/domain/errors.js';
import {
  type AccountReader,
  type AccountReports,
  KEY_VIEW_CACHE_TTL_MS,
  KeyHolderApi,
  MAX_USAGE_QUERIES_PER_MINUTE,
  USAGE_CACHE_TTL_MS,
} from '../../shared/keyholder/key-holder-api.js';
import type { ApiKeyRecord } from '../../shared/ports.js';

const NOW = Date.parse('2026-03-10T15:30:00.000Z');
const record: ApiKeyRecord = { keyId: 'key_1', accountId: 'acct_1', status: 'active', name: 'ci', rpm: 60 };

/** In-memory ports that count their reads and remember what the reports were asked. */
function fakes(
  balance: AccountBalance | 'gone' = { name: 'acme', balanceMicros: 7_000_000, heldMicros: 12_000 },
) {
  const calls = {
    balance: 0,
    spent: 0,
    accountSpent: 0,
    usage: [] as Array<Record<string, string | undefined>>,
  };
  const accounts: AccountReader = {
    balance: async () => {
      calls.balance++;
      return balance === 'gone' ? undefined : balance;
    },
    keyChargesOn: async (day, keyId) => {
      calls.spent++;
      return day === '2026-03-10' && keyId === 'key_1' ? 4_500 : 0;
    },
    accountChargesOn: async (day, accountId) => {
      calls.accountSpent++;
      return day === '2026-03-10' && accountId === 'acct_1' ? 9_100 : 0;
    },
  };
  const reports: AccountReports = {
    usageRows: async (query) => {
      calls.usage.push(query);
      return {
        rows: [
          {
            group: 'tier-1',
            requests: 2,
            inputTokens: 10,
            outputTokens: 20,
            chargeMicros: 300,
            upstreamCostMicros: 100,
          },
          {
            group: 'tier-2',
            requests: 1,
            inputTokens: 5,
            outputTokens: 6,
            chargeMicros: 700,
            upstreamCostMicros: 200,
          },
        ] as never,
        truncated: false,
      };
    },
    requests: async () => ({
      requests: [
        {
          requestId: 'r1',
          tier: 'tier-1',
          model: 'vendor/secret-model',
          upstreamCostMicros: 5,
          chargeMicros: 9,
        },
      ],
      truncated: false,
    }),
  };
  return { accounts, reports, calls };
}

const refusal = async (promise: Promise<unknown>): Promise<GatewayError> => {
  try {
    await promise;
  } catch (err) {
    return err as GatewayError;
  }
  throw new Error('expected a refusal');
};

describe('KeyHolderApi', () => {
  it("builds the key view from the wallet and today's charges, and serves it from cache within its TTL", async () => {
    let now = NOW;
    const { accounts, reports, calls } = fakes();
    const api = new KeyHolderApi(accounts, reports, () => now);
    const view = await api.key(record);
    expect(view).toEqual({
      account: {
        id: 'acct_1',
        name: 'acme',
        balanceMicros: 7_000_000,
        heldMicros: 12_000,
        dailyBudgetMicros: null,
        spentTodayMicros: 9_100,
      },
      key: {
        id: 'key_1',
        name: 'ci',
        rpm: 60,
        tpm: null,
        dailyBudgetMicros: null,
        spentTodayMicros: 4_500,
        budgetResetsAt: '2026-03-11T00:00:00.000Z',
      },
    });
    // Half its life in, the view is served as it is (the cache reloads ahead only in its last fifth).
    now += KEY_VIEW_CACHE_TTL_MS / 2;
    await api.key(record);
    expect([calls.balance, calls.spent, calls.accountSpent]).toEqual([1, 1, 1]);
    now += KEY_VIEW_CACHE_TTL_MS / 2;
    await api.key(record);
    expect([calls.balance, calls.spent, calls.accountSpent]).toEqual([2, 2, 2]);
  });

  it("shows the account's daily budget, the one admission checks from the key record, beside the key's", async () => {
    const { accounts, reports } = fakes();
    const api = new KeyHolderApi(accounts, reports, () => NOW);
    const view = await api.key({ ...record, dailyBudgetMicros: 50_000, accountDailyBudgetMicros: 9_000 });
    expect(view.account).toMatchObject({ dailyBudgetMicros: 9_000, spentTodayMicros: 9_100 });
    expect(view.key).toMatchObject({ dailyBudgetMicros: 50_000, spentTodayMicros: 4_500 });
  });

  it('refuses the key of an account that is gone as an unknown key', async () => {
    const { accounts, reports } = fakes('gone');
    expect((await refusal(new KeyHolderApi(accounts, reports, () => NOW).key(record))).status).toBe(401);
  });

  it('asks the shared report for its own account over whole UTC days, the last 30 by default, without upstream cost', async () => {
    let now = NOW;
    const { accounts, reports, calls } = fakes();
    const api = new KeyHolderApi(accounts, reports, () => now);
    const report = await api.usage(record, { by: 'tier', accountId: 'acct_other' });
    expect(calls.usage).toEqual([
      {
        accountId: 'acct_1',
        by: 'tier',
        since: '2026-02-09T00:00:00.000Z',
        until: '2026-03-10T23:59:59.999Z',
      },
    ]);
    expect(report).toEqual({
      by: 'tier',
      since: '2026-02-09',
      until: '2026-03-10',
      rows: [
        { key: 'tier-1', requests: 2, inputTokens: 10, outputTokens: 20, chargeMicros: 300 },
        { key: 'tier-2', requests: 1, inputTokens: 5, outputTokens: 6, chargeMicros: 700 },
      ],
      total: { requests: 3, inputTokens: 15, outputTokens: 26, chargeMicros: 1_000 },
      truncated: false,
    });
    now += USAGE_CACHE_TTL_MS / 2;
    await api.usage(record, { by: 'tier' });
    expect(calls.usage).toHaveLength(1);
    await api.usage(record, { by: 'day' });
    expect(calls.usage).toHaveLength(2);
  });

  it('answers an account that asks for a new range every call from the log only so often a minute', async () => {
    let now = NOW;
    const { accounts, reports, calls } = fakes();
    const api = new KeyHolderApi(accounts, reports, () => now);
    const day = (i: number) => new Date(NOW - i * 86_400_000).toISOString().slice(0, 10);
    for (let i = 0; i < MAX_USAGE_QUERIES_PER_MINUTE; i++) await api.usage(record, { since: day(i + 1) });
    const err = await refusal(api.usage(record, { since: day(40) }));
    expect([err.status, err.code]).toEqual([429, 'rate_limit_exceeded']);
    // The bucket is the account's, shared by its keys: the message says so.
    expect(err.message).toMatch(/^Rate limit reached for this account's usage reports. Retry after \d+ s.$/);
    expect(err.headers['retry-after']).toBe('5'); // one query comes back every 5 s
    // The account's other keys share its allowance; the cache still answers what it holds.
    const other = await refusal(api.usage({ ...record, keyId: 'key_2' }, { since: day(41) }));
    expect(other.status).toBe(429);
    await api.usage(record, { since: day(1) });
    expect(calls.usage).toHaveLength(MAX_USAGE_QUERIES_PER_MINUTE);
    // The bucket refills evenly: one query after 5 s, not a whole minute's at a boundary.
    now += 5_000;
    await api.usage(record, { since: day(42) });
    expect((await refusal(api.usage(record, { since: day(43) }))).status).toBe(429);
    expect(calls.usage).toHaveLength(MAX_USAGE_QUERIES_PER_MINUTE + 1);
  });

  it('accepts only real dates in order, within 366 days', async () => {
    const { accounts, reports } = fakes();
    const api = new KeyHolderApi(accounts, reports, () => NOW);
    for (const [query, param] of [
      [{ by: 'key' }, 'by'],
      [{ since: '2026-02-29' }, 'since'],
      [{ until: '2026-3-1' }, 'until'],
      [{ since: '2026-03-02', until: '2026-03-01' }, 'since'],
      [{ since: '2025-03-09', until: '2026-03-10' }, 'since'],
    ] as const) {
      const err = await refusal(api.usage(record, query));
      expect([err.status, err.param], JSON.stringify(query)).toEqual([400, param]);
    }
    expect((await api.usage(record, { since: '2025-03-10', until: '2026-03-10' })).since).toBe('2025-03-10');
  });

  it('shows recent requests by named fields only: never the model or its cost', async () => {
    const { accounts, reports } = fakes();
    const { data } = await new KeyHolderApi(accounts, reports, () => NOW).requests(record, {});
    expect(data).toEqual([
      {
        requestId: 'r1',
        startedAt: '',
        tier: 'tier-1',
        stream: false,
        status: '',
        inputTokens: 0,
        outputTokens: 0,
        chargeMicros: 9,
        errorCode: null,
      },
    ]);
  });
});
