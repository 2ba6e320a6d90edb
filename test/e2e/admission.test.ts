// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { marker, rawRequest, roomInUtcDay, upstreamRequestsWith, waitFor } from '../support/e2e-helpers.js';
import { createAccount, sleep } from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * No upstream call without admission: each way a key holder could make the operator pay the
 * upstream for a request nobody pays for, replayed against the local runtime, counting the
 * requests that reached the demo upstream. The bound is 0 for everything but a deleted account
 * whose key is still cached, where it is that account's first request on this instance.
 */

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0 });
});
afterAll(async () => {
  await runtime?.close();
});
// A daily budget spent and then refused: both on the same UTC day.
beforeEach(() => roomInUtcDay(30_000));

const say = (text: string) => [{ role: 'user', content: text }];

async function send(key: string, tag: string, extra: Record<string, unknown> = {}) {
  const res = await rawRequest(
    runtime,
    { model: 'tier-1', messages: say(`${tag} tokens:4`), ...extra },
    { apiKey: key },
  );
  const body = (await res.json()) as { error?: { code?: string } };
  return { status: res.status, code: body.error?.code };
}

function tally(results: Array<{ status: number; code?: string | undefined }>) {
  const out: Record<string, number> = {};
  for (const r of results) out[r.code ?? String(r.status)] = (out[r.code ?? String(r.status)] ?? 0) + 1;
  return out;
}

const report = (scenario: string, results: Array<{ status: number }>, upstream: number) =>
  console.log(`[admission] ${scenario}: ${JSON.stringify(tally(results))} upstream=${upstream}`);

describe('upstream calls never exceed admitted requests', () => {
  it('100 concurrent requests from a $0.002 wallet', async () => {
    const { apiKey } = await createAccount(runtime, 'tiny', 2_000);
    const tag = marker('tiny');
    const results = await Promise.all(Array.from({ length: 100 }, () => send(apiKey, tag)));
    const admitted = results.filter((r) => r.status === 200).length;
    const upstream = upstreamRequestsWith(runtime, tag).length;
    report('100 concurrent, $0.002', results, upstream);
    expect(admitted).toBeGreaterThan(0);
    expect(results.every((r) => r.status === 200 || r.code === 'insufficient_quota')).toBe(true);
    expect(upstream).toBeLessThanOrEqual(admitted);
  });

  it('20 concurrent 200 KB prompts from a $0.01 wallet, after one cheap success', async () => {
    const { apiKey } = await createAccount(runtime, 'big-prompts', 10_000);
    expect((await send(apiKey, marker('cheap'))).status).toBe(200);
    await sleep(200); // the instance now has a balance snapshot of this account
    const tag = marker('big');
    const padding = 'x'.repeat(200_000);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => send(apiKey, tag, { messages: say(`${tag} ${padding}`) })),
    );
    const upstream = upstreamRequestsWith(runtime, tag).length;
    report('20 x 200 KB, $0.01', results, upstream);
    expect(results.every((r) => r.code === 'insufficient_quota')).toBe(true);
    expect(upstream).toBe(0);
  });

  it('a key limited to 1 request a minute', async () => {
    const { accountId } = await createAccount(runtime, 'rpm1', 2_000_000);
    const created = await admin(runtime, 'POST', `/admin/accounts/${accountId}/keys`, { rpm: 1 });
    const key = (created.json as { key: string }).key;
    const tag = marker('rpm');
    const results: Array<{ status: number; code?: string | undefined }> = [];
    for (let i = 0; i < 10; i++) results.push(await send(key, tag));
    const admitted = results.filter((r) => r.status === 200).length;
    const upstream = upstreamRequestsWith(runtime, tag).length;
    report('rpm=1, 10 requests', results, upstream);
    expect(results.filter((r) => r.code === 'rate_limit_exceeded').length).toBeGreaterThanOrEqual(8);
    expect(upstream).toBe(admitted);
  });

  it('a key whose daily budget is spent', async () => {
    const { accountId } = await createAccount(runtime, 'budget', 2_000_000);
    const created = await admin(runtime, 'POST', `/admin/accounts/${accountId}/keys`, {
      dailyBudgetUsd: 0.000001,
    });
    const key = (created.json as { key: string }).key;
    expect((await send(key, marker('spend'))).status).toBe(200);
    // Spent once the first request is settled and counted.
    await waitFor(async () => (await send(key, marker('probe'))).code === 'budget_exceeded', {
      what: 'the budget to be spent',
    });
    const tag = marker('spent');
    const results = await Promise.all(Array.from({ length: 10 }, () => send(key, tag)));
    const upstream = upstreamRequestsWith(runtime, tag).length;
    report('spent budget, 10 requests', results, upstream);
    expect(results.every((r) => r.code === 'budget_exceeded')).toBe(true);
    expect(upstream).toBe(0);
  });

  it('a deleted account whose key is still cached: 401, and at most its first request reaches upstream', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'deleted', 2_000_000);
    expect((await send(apiKey, marker('warm'))).status).toBe(200);
    await sleep(200); // key cached, balance snapshot loaded
    expect((await admin(runtime, 'DELETE', `/admin/accounts/${accountId}`)).status).toBe(200);
    const tag = marker('gone');
    const results: Array<{ status: number; code?: string | undefined }> = [];
    for (let i = 0; i < 10; i++) results.push(await send(apiKey, tag));
    const upstream = upstreamRequestsWith(runtime, tag).length;
    report('deleted account, 10 requests', results, upstream);
    expect(results.every((r) => r.status === 401 && r.code === 'invalid_api_key')).toBe(true);
    expect(upstream).toBeLessThanOrEqual(1);
  });

  it("a brand-new account's first request with zero credit", async () => {
    const { apiKey } = await createAccount(runtime, 'zero', 0);
    const tag = marker('zero');
    const results = [await send(apiKey, tag)];
    const upstream = upstreamRequestsWith(runtime, tag).length;
    report('zero credit, first request', results, upstream);
    expect(results[0]?.code).toBe('insufficient_quota');
    expect(upstream).toBe(0);
  });
});
