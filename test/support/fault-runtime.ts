// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { DemoFault } from '../../local/demo-upstream.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import type { CatalogDocument, TierId } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { demoUpstream, jsonFrames, type SseResult, upstreamRequestsWith, waitFor } from './e2e-helpers.js';
import { chargeFor, createAccount, openHolds } from './money-helpers.js';
import { assertValid, validateChunk, validateError } from './openai-schema.js';
import { admin, startTestRuntime } from './runtime.js';

/**
 * The runtime of the calling test file and a DynamoDB client on its tables, set by `useFaultRuntime`'s
 * beforeAll: read them inside tests and hooks only. Each test file has its own copy of this module.
 */
export let runtime: LocalRuntime;
export let db: DynamoDBDocumentClient;

export const CREDIT = 2_000_000;
/** tier-1's time-to-first-token budget in the catalog `useFaultRuntime` publishes, so hangs time out fast. */
export const TTFT_MS = 400;
export const PACING = { ttftMs: 20, tokensPerSecond: 500 };

export const primaryOf = (tier: TierId): string => DEFAULT_CATALOG.tiers[tier].models[0]?.id ?? '';
export const secondaryOf = (tier: TierId): string => DEFAULT_CATALOG.tiers[tier].models[1]?.id ?? '';

/**
 * Starts one runtime for the calling file (beforeAll), publishes a catalog with tier-1's short TTFT and
 * warms every primary with successes; clears faults and pacing after each test and closes it afterwards.
 */
export function useFaultRuntime(): void {
  beforeAll(async () => {
    runtime = await startTestRuntime({
      reconcileEveryMs: 0,
      demoUpstream: PACING,
      env: { CATALOG_CACHE_TTL_MS: '200' },
    });
    db = createDocumentClient(runtime.dynamodbEndpoint);
    const catalog = JSON.parse(JSON.stringify(DEFAULT_CATALOG)) as CatalogDocument;
    catalog.tiers['tier-1'].ttftTimeoutMs = TTFT_MS;
    const published = await admin(runtime, 'PUT', '/admin/tiers', catalog);
    expect(published.status, JSON.stringify(published.json)).toBe(201);
    const warm = await createAccount(runtime, 'warm-up', CREDIT);
    await waitFor(
      async () => {
        const res = await post(warm, { model: 'tier-1', max_tokens: 16, messages: say('tokens:1') });
        await res.text();
        return res.headers.get('x-tier-catalog-version') === String(published.json.version);
      },
      { timeoutMs: 5_000, intervalMs: 50, what: 'the catalog with the short TTFT to be active' },
    );
    // Successes on every primary, so the failures below never make half of a model's recent outcomes.
    for (const tier of ['tier-1', 'tier-2', 'tier-3', 'tier-4'] as const) {
      for (let i = 0; i < 6; i++) {
        const res = await post(warm, { model: tier, max_tokens: 16, messages: say('tokens:1') });
        expect(res.status).toBe(200);
        await res.text();
      }
    }
  });
  afterEach(() => {
    demoUpstream(runtime).clearFaults();
    demoUpstream(runtime).setPacing(PACING);
  });
  afterAll(async () => {
    await runtime?.close();
  });
}

export interface Account {
  accountId: string;
  apiKey: string;
}

export const say = (text: string) => [{ role: 'user', content: text }];

export function post(account: Account, body: unknown): Promise<Response> {
  return fetch(`${runtime.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${account.apiKey}` },
    body: JSON.stringify(body),
  });
}

export function inject(fault: DemoFault, options: { model?: string; times?: number } = {}): void {
  demoUpstream(runtime).injectFault({ fault, ...options });
}

/** The upstream models that a tagged request reached, in order, with the fault each one got. */
export function attemptsUpstream(tag: string): Array<{ model: string; fault: string | undefined }> {
  return upstreamRequestsWith(runtime, tag).map((r) => ({ model: r.model, fault: r.fault }));
}

export type LogItem = Record<string, unknown> & {
  requestId: string;
  model: string;
  status: string;
  tier: TierId;
  inputTokens: number;
  outputTokens: number;
  chargeMicros: number;
  holdMicros: number;
  usageSource: string;
  errorCode?: string;
  attempts?: Array<{ model: string; outcome: string; ms: number }>;
};

/**
 * The books of a fresh account after its requests: no open hold, exactly one request-log item per
 * admitted request, each charged at the tier's price for its tokens, and the wallet lower by exactly
 * the sum of the charges. Returns the log items by request id.
 */
export async function books(account: Account, requestIds: string[]): Promise<Map<string, LogItem>> {
  await runtime.bus.drain();
  const state = await admin(runtime, 'GET', `/admin/accounts/${account.accountId}`);
  expect(state.status).toBe(200);
  const wallet = state.json as { balanceMicros: number; heldMicros: number };
  expect(wallet.heldMicros).toBe(0);
  expect(await openHolds(db, runtime.tables.ledger, account.accountId)).toEqual([]);
  const log = await admin(runtime, 'GET', `/admin/requests?accountId=${account.accountId}&limit=1000`);
  expect(log.status).toBe(200);
  const items = (log.json as { requests: LogItem[] }).requests;
  expect(items.map((i) => i.requestId).sort()).toEqual([...requestIds].sort());
  for (const item of items) {
    const price = chargeFor(item.tier, item.inputTokens, item.outputTokens);
    expect(item.chargeMicros, item.requestId).toBe(Math.min(price, item.holdMicros));
  }
  const charged = items.reduce((sum, i) => sum + i.chargeMicros, 0);
  expect(CREDIT - wallet.balanceMicros).toBe(charged);
  return new Map(items.map((i) => [i.requestId, i]));
}

export function requestIdOf(res: Response): string {
  const id = res.headers.get('x-request-id');
  expect(id).toBeTruthy();
  return id ?? '';
}

/** Content text per frame, from the client's side of a stream. */
export function contentOf(sse: SseResult): string[] {
  return jsonFrames(sse)
    .filter((f) => f.error === undefined)
    .map((f) => {
      const choice = (f.choices as Array<{ delta?: { content?: string | null } }> | undefined)?.[0];
      return choice?.delta?.content ?? '';
    })
    .filter((c) => c !== '');
}

/** A stream that completed: chunks in the OpenAI schema, named by the tier, ending with [DONE]. */
export function expectCompleteStream(sse: SseResult, tier: TierId): void {
  expect(sse.status).toBe(200);
  expect(sse.text).toContain('data: [DONE]');
  expect(sse.text).not.toContain('"error"');
  for (const chunk of jsonFrames(sse)) {
    assertValid(validateChunk, chunk);
    expect(chunk.model).toBe(tier);
  }
}

/** A stream cut short: the content forwarded so far, then exactly one error frame and no [DONE]. */
export function expectTruncatedStream(sse: SseResult, tier: TierId, code: string): void {
  expect(sse.status).toBe(200);
  expect(sse.text).not.toContain('[DONE]');
  const frames = jsonFrames(sse);
  const last = frames.at(-1) as { error?: unknown };
  expect(assertValid(validateError, last).error).toMatchObject({ code, type: 'server_error' });
  expect(frames.filter((f) => f.error !== undefined)).toHaveLength(1);
  for (const chunk of frames.slice(0, -1)) {
    assertValid(validateChunk, chunk);
    expect(chunk.model).toBe(tier);
  }
}

export async function expectErrorResponse(res: Response, status: number, code: string): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(assertValid(validateError, JSON.parse(text) as { error: { code: string } }).error.code).toBe(code);
}

/** The request was served by the tier's second model after the first failed with `outcome`. */
export function expectFallback(item: LogItem | undefined, tier: TierId, outcome: string): void {
  expect(item).toBeDefined();
  expect(item?.status).toBe('ok');
  expect(item?.model).toBe(secondaryOf(tier));
  expect(item?.attempts).toEqual([{ model: primaryOf(tier), outcome, ms: expect.any(Number) }]);
}
