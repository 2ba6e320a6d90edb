import { describe, expect, it } from 'vitest';
import { admin, canned, only, useFakeAdminApi } from '../support/fake-admin-api.js';

/** The CLI's reports against a fake admin API: usage, requests and the guardrail. */

useFakeAdminApi();

describe('usage, requests and guardrail', () => {
  it('usage sends every filter as a query parameter and prints rows with a total', async () => {
    canned.set('GET /admin/usage', {
      status: 200,
      body: {
        by: 'tier',
        since: '2025-01-01T00:00:00.000Z',
        until: '2025-02-01T00:00:00.000Z',
        accountId: 'acc_1',
        rows: [
          {
            group: 'tier-1',
            requests: 1200,
            inputTokens: 1_500_000,
            cachedInputTokens: 1_000_000,
            cacheWriteTokens: 200_000,
            outputTokens: 20_000,
            reasoningTokens: 4_000,
            chargeMicros: 1_500_000,
            upstreamCostMicros: 900_000,
            marginMicros: 600_000,
          },
          {
            group: 'tier-2',
            requests: 3,
            inputTokens: 10,
            cachedInputTokens: 0,
            cacheWriteTokens: 0,
            outputTokens: 5,
            reasoningTokens: 0,
            chargeMicros: 1,
            upstreamCostMicros: 2,
            marginMicros: -1,
          },
        ],
      },
    });
    const out = await admin(
      'usage',
      '--account',
      'acc_1',
      '--by',
      'tier',
      '--since',
      '2025-01-01T00:00:00Z',
      '--until',
      '2025-02-01',
    );
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const req = only();
    expect(req).toMatchObject({ method: 'GET', path: '/admin/usage' });
    expect(req.query).toEqual({
      accountId: 'acc_1',
      by: 'tier',
      since: '2025-01-01T00:00:00Z',
      until: '2025-02-01',
    });
    const [heading, blank, ...lines] = out.stdout.split('\n');
    // The report says what it covers.
    expect(heading).toBe(
      'Usage by tier, account acc_1, from 2025-01-01T00:00:00.000Z to 2025-02-01T00:00:00.000Z',
    );
    expect(blank).toBe('');
    expect(lines[0]).toMatch(
      /^TIER\s+REQUESTS\s+INPUT TOKENS\s+CACHED\s+CACHE WRITE\s+OUTPUT TOKENS\s+REASONING\s+CHARGE\s+UPSTREAM COST\s+MARGIN$/,
    );
    expect(lines[1]).toMatch(
      /^tier-1\s+1,200\s+1,500,000\s+1,000,000\s+200,000\s+20,000\s+4,000\s+\$1\.500000\s+\$0\.900000\s+\$0\.600000$/,
    );
    expect(lines[2]).toMatch(/^tier-2\s+3\s+10\s+0\s+0\s+5\s+0\s+\$0\.000001\s+\$0\.000002\s+-\$0\.000001$/);
    expect(lines[3]).toMatch(
      /^TOTAL\s+1,203\s+1,500,010\s+1,000,000\s+200,000\s+20,005\s+4,000\s+\$1\.500001\s+\$0\.900002\s+\$0\.599999$/,
    );
    // Numbers are right-aligned: every row of the table ends at the same column.
    expect(new Set(lines.slice(0, 4).map((l) => l.length)).size).toBe(1);
  });

  it('usage without filters sends no query', async () => {
    canned.set('GET /admin/usage', { status: 200, body: { by: 'day', rows: [] } });
    const out = await admin('usage');
    expect(out.code).toBe(0);
    expect(only().query).toEqual({});
    expect(out.stdout).toContain('No usage');
  });

  it('requests sends account and limit and prints a row per request', async () => {
    canned.set('GET /admin/requests', {
      status: 200,
      body: {
        requests: [
          {
            requestId: 'req_1',
            accountId: 'acc_1',
            keyId: 'key_a',
            tier: 'tier-2',
            status: 'completed',
            inputTokens: 1234,
            cachedInputTokens: 1000,
            cacheWriteTokens: 100,
            outputTokens: 56,
            reasoningTokens: 20,
            chargeMicros: 4321,
            upstreamCostMicros: 1000,
            marginMicros: 3321,
            startedAt: '2025-01-05T10:00:00.000Z',
            latencyMs: 1530,
            ttftMs: 210,
            stream: true,
          },
        ],
      },
    });
    const out = await admin('requests', '--account', 'acc_1', '--limit', '5');
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const req = only();
    expect(req).toMatchObject({ method: 'GET', path: '/admin/requests' });
    expect(req.query).toEqual({ accountId: 'acc_1', limit: '5' });
    const row = out.stdout.split('\n').find((l) => l.startsWith('req_1'));
    expect(row).toMatch(
      /^req_1\s+2025-01-05T10:00:00\.000Z\s+acc_1\s+key_a\s+tier-2\s+completed\s+1,234\s+1,000\s+100\s+56\s+20\s+\$0\.004321\s+\$0\.001000\s+\$0\.003321\s+210 ms\s+1,530 ms\s+yes$/,
    );
  });

  it('guardrail prints spend, cap, tripped and the per-tier spend', async () => {
    canned.set('GET /admin/guardrail', {
      status: 200,
      body: {
        day: '2025-01-05',
        spendMicros: 12_000_000,
        capMicros: 100_000_000,
        tripped: false,
        byTier: { 'tier-1': 2_000_000, 'tier-3': 10_000_000 },
      },
    });
    const out = await admin('guardrail');
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect(only()).toMatchObject({ method: 'GET', path: '/admin/guardrail' });
    expect(out.stdout).toMatch(/Day\s+2025-01-05/);
    expect(out.stdout).toMatch(/Spend\s+\$12\.000000/);
    expect(out.stdout).toMatch(/Cap\s+\$100\.000000/);
    expect(out.stdout).toMatch(/Tripped\s+no/);
    expect(out.stdout).toMatch(/tier-3\s+\$10\.000000/);
  });
});
