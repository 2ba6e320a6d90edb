import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { rawRequest } from '../support/e2e-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * A repeated query parameter through the local runtime, which builds the event as a Lambda Function
 * URL does: the values joined with commas in `queryStringParameters`. Every route that reads a
 * one-value parameter refuses the joined value with a 400 naming it, as it would in AWS; none
 * answers a 500 or quietly keeps one of the values.
 */

let runtime: LocalRuntime;
let accountId: string;
let apiKey: string;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0 });
  const created = await admin(runtime, 'POST', '/admin/accounts', { name: 'repeated-query', creditUsd: 1 });
  expect(created.status, JSON.stringify(created.json)).toBe(201);
  accountId = (created.json.account as { id: string }).id;
  apiKey = (created.json.apiKey as { key: string }).key;
});
afterAll(async () => {
  await runtime?.close();
});

interface ErrorShape {
  error: { type: string; code: string; param: string | null; message: string };
}

async function adminGet(path: string) {
  return admin(runtime, 'GET', path) as Promise<{ status: number; json: Record<string, unknown> }>;
}

async function keyHolderGet(path: string) {
  const res = await rawRequest(runtime, undefined, { apiKey, method: 'GET', path });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function expectRefused(reply: { status: number; json: Record<string, unknown> }, param: string) {
  expect(reply.status, JSON.stringify(reply.json)).toBe(400);
  const { error } = reply.json as unknown as ErrorShape;
  expect(error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', param });
  expect(error.message).toMatch(/more than once/);
}

describe('a repeated query parameter', () => {
  it('is refused by the admin usage and requests reports with a 400 naming it', async () => {
    const a = `accountId=${accountId}`;
    expectRefused(await adminGet(`/admin/usage?${a}&since=2026-01-01&since=2026-01-02`), 'since');
    expectRefused(await adminGet(`/admin/usage?${a}&until=2026-01-01&until=2026-01-02`), 'until');
    expectRefused(await adminGet(`/admin/requests?${a}&limit=5&limit=6`), 'limit');
    expectRefused(await adminGet(`/admin/usage?accountId=${accountId}&accountId=${accountId}`), 'accountId');
  });

  it('is refused by the key holder usage and requests with a 400 naming it', async () => {
    expectRefused(await keyHolderGet('/v1/usage?since=2026-01-01&since=2026-01-02'), 'since');
    expectRefused(await keyHolderGet('/v1/usage?until=2026-01-01&until=2026-01-02'), 'until');
    expectRefused(await keyHolderGet('/v1/requests?limit=5&limit=6'), 'limit');
  });

  it('is the same as one comma-joined value, as a Function URL passes it', async () => {
    expectRefused(await adminGet(`/admin/usage?accountId=${accountId}&since=a,b`), 'since');
    expectRefused(
      await keyHolderGet(`/v1/usage?since=${encodeURIComponent('2026-01-01,2026-01-02')}`),
      'since',
    );
    // `by` takes a comma list of its own: `by=day&by=tier` is the `day,tier` grouping, in AWS and here.
    const joined = await keyHolderGet('/v1/usage?by=day&by=tier');
    expect(joined.status, JSON.stringify(joined.json)).toBe(200);
    expect(joined.json.by).toBe('day,tier');
    const reversed = await keyHolderGet('/v1/usage?by=tier&by=day');
    expect(reversed.status).toBe(400);
    expect((reversed.json as unknown as ErrorShape).error.param).toBe('by');
  });
});
