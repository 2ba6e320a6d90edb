// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import OpenAI, { type APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { MINUTE_MS, roomInMinute } from '../support/e2e-helpers.js';
import { createAccount, openHolds } from '../support/money-helpers.js';
import { assertValid, validateError } from '../support/openai-schema.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Keys with per-minute limits: standard 429s with retry-after and x-ratelimit-* headers, no charge
 * and no hold left for a refused request, and the official SDK's retry honouring retry-after.
 * The limiter counts per calendar minute, so each scenario starts with enough of the minute left.
 */

let runtime: LocalRuntime;
let db: DynamoDBDocumentClient;
const CREDIT = 2_000_000;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0 });
  db = createDocumentClient(runtime.dynamodbEndpoint);
});
afterAll(async () => {
  await runtime?.close();
});

/** Seconds until the limiter's window ends, as the gateway computes retry-after. */
const secondsToNextMinute = (): number =>
  Math.max(1, Math.ceil((MINUTE_MS - (Date.now() % MINUTE_MS)) / 1000));

interface LimitedKey {
  accountId: string;
  key: string;
}

async function limitedKey(
  limits: { rpm?: number; tpm?: number },
  creditMicros = CREDIT,
): Promise<LimitedKey> {
  const account = await createAccount(runtime, 'limited', creditMicros);
  const res = await admin(runtime, 'POST', `/admin/accounts/${account.accountId}/keys`, {
    name: 'limited',
    ...limits,
  });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return { accountId: account.accountId, key: (res.json as { key: string }).key };
}

const BODY = { model: 'tier-1', max_tokens: 16, messages: [{ role: 'user', content: 'limited tokens:2' }] };

function post(key: string, body: unknown = BODY): Promise<Response> {
  return fetch(`${runtime.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
}

async function walletOf(accountId: string): Promise<{ balanceMicros: number; heldMicros: number }> {
  await runtime.bus.drain();
  const res = await admin(runtime, 'GET', `/admin/accounts/${accountId}`);
  expect(res.status).toBe(200);
  return res.json as unknown as { balanceMicros: number; heldMicros: number };
}

async function logOf(accountId: string): Promise<Array<Record<string, unknown>>> {
  const res = await admin(runtime, 'GET', `/admin/requests?accountId=${accountId}&limit=1000`);
  expect(res.status).toBe(200);
  return (res.json as { requests: Array<Record<string, unknown>> }).requests;
}

/** A refusal in OpenAI's rate-limit shape; returns its retry-after in seconds. */
async function expectRateLimited(res: Response): Promise<number> {
  const text = await res.text();
  expect(res.status, text).toBe(429);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('x-request-id')).toBeTruthy();
  const { error } = assertValid(validateError, JSON.parse(text) as { error: { code: string; type: string } });
  expect(error).toMatchObject({ code: 'rate_limit_exceeded', type: 'rate_limit_error' });
  // Unlike insufficient_quota, a rate limit is worth retrying: the SDK must not be told otherwise.
  expect(res.headers.get('x-should-retry')).toBeNull();
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  // Seconds to the start of the next minute, when the window resets.
  expect(Math.abs(retryAfter - secondsToNextMinute())).toBeLessThanOrEqual(2);
  return retryAfter;
}

/** No charge and no hold for refused requests: any log item they left is a zero-charge rejection. */
async function expectRefusalsFree(
  accountId: string,
  before: { balanceMicros: number },
  refusedIds: string[],
): Promise<void> {
  const after = await walletOf(accountId);
  expect(after.balanceMicros).toBe(before.balanceMicros);
  expect(after.heldMicros).toBe(0);
  expect(await openHolds(db, runtime.tables.ledger, accountId)).toEqual([]);
  for (const item of await logOf(accountId)) {
    if (!refusedIds.includes(String(item.requestId))) continue;
    expect(item).toMatchObject({ status: 'rejected', chargeMicros: 0 });
  }
}

describe('requests per minute', () => {
  it('lets rpm requests through with x-ratelimit-* headers, then answers 429 with retry-after', async () => {
    const { accountId, key } = await limitedKey({ rpm: 3 });
    await roomInMinute(5_000);
    const remaining: Array<string | null> = [];
    for (let i = 0; i < 3; i++) {
      const res = await post(key, i === 1 ? { ...BODY, stream: true } : BODY);
      expect(res.status, await res.clone().text()).toBe(200);
      await res.text();
      expect(res.headers.get('x-ratelimit-limit-requests')).toBe('3');
      remaining.push(res.headers.get('x-ratelimit-remaining-requests'));
      const reset = res.headers.get('x-ratelimit-reset-requests') ?? '';
      expect(reset).toMatch(/^\d+s$/);
      expect(Math.abs(Number.parseInt(reset, 10) - secondsToNextMinute())).toBeLessThanOrEqual(2);
      // A key without a token limit gets no token headers.
      expect(res.headers.get('x-ratelimit-limit-tokens')).toBeNull();
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const before = await walletOf(accountId);
    expect(before.balanceMicros).toBeLessThan(CREDIT);

    // The fourth, streaming or not, is refused before the first byte with a real status code.
    const refusedIds: string[] = [];
    for (const body of [BODY, { ...BODY, stream: true }]) {
      const res = await post(key, body);
      refusedIds.push(res.headers.get('x-request-id') ?? '');
      const retryAfter = await expectRateLimited(res);
      expect(res.headers.get('x-ratelimit-limit-requests')).toBe('3');
      expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(res.headers.get('x-ratelimit-reset-requests')).toBe(`${retryAfter}s`);
    }
    await expectRefusalsFree(accountId, before, refusedIds);
    // The three admitted requests were billed, once each.
    const served = (await logOf(accountId)).filter((i) => !refusedIds.includes(String(i.requestId)));
    expect(served.map((i) => i.status)).toEqual(['ok', 'ok', 'ok']);
    expect(CREDIT - before.balanceMicros).toBe(served.reduce((s, i) => s + Number(i.chargeMicros), 0));
  });

  it('limits each key on its own: another key of the same account is not refused', async () => {
    const { accountId, key } = await limitedKey({ rpm: 1 });
    await roomInMinute(5_000);
    expect((await post(key)).status).toBe(200);
    await expectRateLimited(await post(key));
    const other = await admin(runtime, 'POST', `/admin/accounts/${accountId}/keys`, { name: 'unlimited' });
    const res = await post((other.json as { key: string }).key);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-ratelimit-limit-requests')).toBeNull();
    await res.text();
  });
});

describe('tokens per minute', () => {
  it('counts each request as its input bound plus its output cap, and refuses once the limit is used', async () => {
    const text = JSON.stringify(BODY);
    // The gateway's estimate: ~4 bytes a token of the body, plus max_tokens for the reply.
    const perRequest = Math.ceil(Buffer.byteLength(text) / 4) + BODY.max_tokens;
    const tpm = 2 * perRequest;
    const { accountId, key } = await limitedKey({ tpm });
    await roomInMinute(5_000);
    const remaining: Array<string | null> = [];
    for (let i = 0; i < 2; i++) {
      const res = await post(key);
      expect(res.status).toBe(200);
      await res.text();
      expect(res.headers.get('x-ratelimit-limit-tokens')).toBe(String(tpm));
      expect(res.headers.get('x-ratelimit-reset-tokens')).toMatch(/^\d+s$/);
      expect(res.headers.get('x-ratelimit-limit-requests')).toBeNull();
      remaining.push(res.headers.get('x-ratelimit-remaining-tokens'));
    }
    expect(remaining).toEqual([String(tpm - perRequest), '0']);
    const before = await walletOf(accountId);
    const refused = await post(key);
    const refusedId = refused.headers.get('x-request-id') ?? '';
    await expectRateLimited(refused);
    expect(refused.headers.get('x-ratelimit-limit-tokens')).toBe(String(tpm));
    expect(refused.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    await expectRefusalsFree(accountId, before, [refusedId]);
  });
});

describe('the OpenAI SDK against a rate-limited key', () => {
  /** A fetch for the SDK that records every attempt and lets the test adjust a response's headers. */
  function recordingFetch(rewrite: (headers: Headers) => void = () => {}) {
    const attempts: Array<{ at: number; status: number; retryAfter: string | null; limit: string | null }> =
      [];
    const recorder: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      attempts.push({
        at: performance.now(),
        status: res.status,
        retryAfter: res.headers.get('retry-after'),
        limit: res.headers.get('x-ratelimit-limit-requests'),
      });
      if (res.status !== 429) return res;
      const headers = new Headers(res.headers);
      rewrite(headers);
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
    };
    return { attempts, fetch: recorder };
  }

  it('retries a 429 after the retry-after the gateway sends', async () => {
    const { accountId, key } = await limitedKey({ rpm: 1 });
    // The gateway's retry-after runs to the end of the minute (up to 60 s). To keep the test short, the
    // recording fetch shortens it to 1.5 s, which is still well above the SDK's default first back-off
    // (0.375–0.5 s) and second (0.75–1 s): gaps of 1.5 s show that the SDK waited for the header.
    const SHORTENED_S = 1.5;
    const recorder = recordingFetch((headers) => headers.set('retry-after', String(SHORTENED_S)));
    const client = new OpenAI({
      baseURL: `${runtime.url}/v1`,
      apiKey: key,
      maxRetries: 2,
      fetch: recorder.fetch,
    });
    // Four requests and two 1.5 s waits, all in one minute: 3 s of waiting alone, so room for more
    // than twice that, as a loaded machine may answer each request slowly.
    await roomInMinute(15_000);
    const first = await client.chat.completions.create({
      model: 'tier-1',
      max_tokens: 16,
      messages: [{ role: 'user', content: 'hi tokens:1' }],
    });
    expect(first.model).toBe('tier-1');
    const before = await walletOf(accountId);

    let thrown: unknown;
    try {
      await client.chat.completions.create({
        model: 'tier-1',
        max_tokens: 16,
        messages: [{ role: 'user', content: 'again tokens:1' }],
      });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(OpenAI.RateLimitError);
    expect((thrown as APIError).code).toBe('rate_limit_exceeded');
    expect((thrown as APIError).headers?.get('x-ratelimit-remaining-requests')).toBe('0');

    // One success, then the refused call and its two retries, all refused within the same minute.
    const [ok, ...limited] = recorder.attempts;
    expect(ok?.status).toBe(200);
    expect(limited.map((a) => [a.status, a.limit])).toEqual([
      [429, '1'],
      [429, '1'],
      [429, '1'],
    ]);
    for (const a of limited) {
      // What the gateway itself sent: whole seconds to the next minute.
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(a.retryAfter)).toBeLessThanOrEqual(60);
    }
    for (let i = 1; i < limited.length; i++) {
      const gap = (limited[i]?.at ?? 0) - (limited[i - 1]?.at ?? 0);
      expect(gap).toBeGreaterThanOrEqual(SHORTENED_S * 1000 * 0.95);
    }
    await expectRefusalsFree(accountId, before, []);
    expect((await walletOf(accountId)).balanceMicros).toBe(before.balanceMicros);
  });

  it('does not retry insufficient_quota, which carries x-should-retry: false', async () => {
    const { key } = await limitedKey({ rpm: 100 }, 0);
    const recorder = recordingFetch();
    const client = new OpenAI({
      baseURL: `${runtime.url}/v1`,
      apiKey: key,
      maxRetries: 2,
      fetch: recorder.fetch,
    });
    await expect(
      client.chat.completions.create({ model: 'tier-1', messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toMatchObject({ status: 429, code: 'insufficient_quota' });
    expect(recorder.attempts).toHaveLength(1);
  });
});
