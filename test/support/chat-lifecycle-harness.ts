import { expect } from 'vitest';
import { AnthropicMessagesDialect } from '../../shared/dialects/anthropic-messages/dialect.js';
import { OpenAiChatDialect } from '../../shared/dialects/openai-chat/dialect.js';
import { type Catalog, compileCatalog } from '../../shared/domain/catalog.js';
import { parseCatalogDocument } from '../../shared/domain/catalog-schema.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { generateApiKey } from '../../shared/domain/keys.js';
import { ToolCallIds } from '../../shared/domain/tool-call-ids.js';
import type { UsageRecord } from '../../shared/domain/usage.js';
import { Authenticator } from '../../shared/gateway/auth.js';
import { type HttpRequest, silentLog } from '../../shared/http.js';
import type { CircuitBreaker } from '../../shared/lifecycle/circuit-breaker.js';
import { type LifecycleDeps, RequestLifecycle } from '../../shared/lifecycle/lifecycle.js';
import type {
  ApiKeyRecord,
  HoldRequest,
  HoldResult,
  RateLimiter,
  Upstream,
  UpstreamReply,
  WalletStore,
} from '../../shared/ports.js';
import type { Router } from '../../shared/routing/router.js';
import { classifyFailure } from '../../shared/upstreams/openai-http.js';

/** The request lifecycle with in-memory fakes of every port: no network, no storage (chat-lifecycle-*.test.ts). */

const catalogDoc = structuredClone(DEFAULT_CATALOG);
catalogDoc.tiers['tier-1'].ttftTimeoutMs = 200;
export const catalog: Catalog = compileCatalog(
  parseCatalogDocument(catalogDoc),
  3,
  '2026-01-01T00:00:00.000Z',
);
export const tier1 = catalog.tiers['tier-1'];
export const [primary, secondary] = tier1.models as [(typeof tier1.models)[0], (typeof tier1.models)[0]];
export const KEY = generateApiKey();
export const toolIds = new ToolCallIds('test tool-call ids');

export type Script = (body: Record<string, unknown>, signal: AbortSignal) => Promise<UpstreamReply>;

export function sse(events: string[], opts: { failAfter?: number; hangAfter?: number } = {}): UpstreamReply {
  return {
    ok: true,
    text: async () => '',
    async *events() {
      for (const [i, e] of events.entries()) {
        if (opts.failAfter === i) throw new Error('socket hang up');
        if (opts.hangAfter === i) await new Promise(() => {});
        yield { event: undefined, data: e };
      }
    },
  };
}

export const chunk = (content: string | null, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: 'gen-1',
    provider: 'OpenAI',
    choices: [{ index: 0, delta: content === null ? {} : { content } }],
    ...extra,
  });

export function json(status: number, body: unknown): UpstreamReply {
  if (status >= 300) return { ok: false, failure: classifyFailure(status, JSON.stringify(body)) };
  return { ok: true, text: async () => JSON.stringify(body), events: async function* () {} };
}

export const okCompletion = (model: string) =>
  json(200, {
    id: 'gen-9',
    model,
    provider: 'OpenAI',
    choices: [{ index: 0, message: { role: 'assistant', content: 'hello there' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  });

export interface HarnessOptions {
  balance?: number;
  /** The wallet item is gone (the account was deleted). */
  deleted?: boolean;
  deadlineMs?: number;
  script: Script;
  publishFails?: boolean;
  tripped?: boolean;
  key?: Partial<ApiKeyRecord>;
  rate?: RateLimiter;
  catalog?: Catalog;
  breaker?: CircuitBreaker;
  router?: Router;
  /** Serve Anthropic's Messages (`x-api-key`, `max_tokens` 256 unless set) instead of chat completions. */
  messages?: boolean;
  /** The lifecycle's clock (Date.now by default). */
  now?: () => number;
}

export function harness(opts: HarnessOptions) {
  let balance = opts.balance ?? 1_000_000_000;
  const events: string[] = [];
  const holds: HoldRequest[] = [];
  const usage: UsageRecord[] = [];
  const outbox: UsageRecord[] = [];
  const calls: Array<{ body: Record<string, unknown>; signal: AbortSignal }> = [];
  const wallet: WalletStore = {
    async placeHold(hold): Promise<HoldResult> {
      events.push('hold');
      await new Promise((r) => setTimeout(r, 5));
      if (opts.deleted) return { ok: false, reason: 'no_wallet' };
      if (balance < hold.holdMicros) return { ok: false, reason: 'insufficient', balanceMicros: balance };
      balance -= hold.holdMicros;
      holds.push(hold);
      return { ok: true };
    },
    async readBalance() {
      return opts.deleted ? undefined : balance;
    },
    async writeOutbox(_a, _r, u) {
      outbox.push(u);
    },
  };
  const upstream: Upstream = {
    send({ body }, signal) {
      events.push('upstream');
      calls.push({ body, signal });
      return opts.script(body, signal);
    },
  };
  const deps: LifecycleDeps = {
    auth: new Authenticator({
      findByHash: async () => ({ keyId: 'key1', accountId: 'acct1', status: 'active', ...opts.key }),
    }),
    catalog: async () => opts.catalog ?? catalog,
    ...(opts.rate ? { rateLimiter: opts.rate } : {}),
    ...(opts.breaker ? { breaker: opts.breaker } : {}),
    ...(opts.router ? { router: opts.router } : {}),
    wallet,
    usage: {
      async publish(u) {
        if (opts.publishFails) throw new Error('PutEvents failed');
        usage.push(u);
      },
    },
    guardrail: {
      state: async () => ({ tripped: opts.tripped === true, resetsAt: Date.now() + 3_600_000 }),
    },
    upstream,
    log: silentLog,
    ...(opts.now ? { now: opts.now } : {}),
  };
  const completions = opts.messages
    ? new RequestLifecycle(deps, new AnthropicMessagesDialect(async () => toolIds))
    : new RequestLifecycle(deps, new OpenAiChatDialect(async () => toolIds));
  const request = (body: Record<string, unknown>): HttpRequest => {
    const text = JSON.stringify(body);
    return {
      method: 'POST',
      path: opts.messages ? '/v1/messages' : '/v1/chat/completions',
      headers: opts.messages ? { 'x-api-key': KEY } : { authorization: `Bearer ${KEY}` },
      query: {},
      body: text,
      bodyBytes: Buffer.byteLength(text),
    };
  };
  const call = (body: Record<string, unknown>) =>
    completions.handle(
      request({
        model: 'tier-1',
        ...(opts.messages ? { max_tokens: 256 } : {}),
        messages: [{ role: 'user', content: 'hi' }],
        ...body,
      }),
      {
        requestId: `r${Math.random().toString(16).slice(2)}`,
        deadline: Date.now() + (opts.deadlineMs ?? 60_000),
      },
    );
  return {
    call,
    events,
    holds,
    usage,
    outbox,
    calls,
    balance: () => balance,
    setBalance: (micros: number) => {
      balance = micros;
    },
  };
}

export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}

export async function collect(body: string | AsyncIterable<string>): Promise<string> {
  if (typeof body === 'string') return body;
  let out = '';
  for await (const part of body) out += part;
  return out;
}
