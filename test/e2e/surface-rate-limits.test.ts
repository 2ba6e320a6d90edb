// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { assertAnthropic, messagesRequest, validateAnthropicError } from '../support/anthropic-helpers.js';
import { MINUTE_MS, rawRequest, roomInMinute } from '../support/e2e-helpers.js';
import { createAccount } from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Rate-limit headers in each surface's own names: chat answers with OpenAI's `x-ratelimit-*`,
 * Messages with Anthropic's `anthropic-ratelimit-*` (an RFC 3339 reset) and `retry-after` on a
 * 429; neither surface shows the other's, and an idempotent replay repeats neither.
 */

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0 });
});
afterAll(async () => {
  await runtime?.close();
});

/** The end of the current minute, as Anthropic writes a reset: RFC 3339, whole seconds, UTC. */
const nextMinute = (): string =>
  new Date(Math.ceil((Date.now() + 1) / MINUTE_MS) * MINUTE_MS).toISOString().replace('.000Z', 'Z');

async function limitedKey(limits: { rpm?: number; tpm?: number }): Promise<string> {
  const { accountId } = await createAccount(runtime, 'limited', 2_000_000);
  const res = await admin(runtime, 'POST', `/admin/accounts/${accountId}/keys`, limits);
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return String(res.json.key);
}

const MESSAGE = {
  model: 'claude-haiku-4-5',
  max_tokens: 16,
  messages: [{ role: 'user', content: 'tokens:2' }],
};
const CHAT = { model: 'tier-1', max_tokens: 16, messages: [{ role: 'user', content: 'tokens:2' }] };

const names = (res: Response): string[] => [...res.headers.keys()];
const anthropicNames = (res: Response) => names(res).filter((n) => n.startsWith('anthropic-ratelimit-'));
const openAiNames = (res: Response) => names(res).filter((n) => n.startsWith('x-ratelimit-'));

describe('Messages', () => {
  it("answers with Anthropic's rate-limit headers, then a 429 rate_limit_error with retry-after", async () => {
    const key = await limitedKey({ rpm: 2 });
    await roomInMinute(5_000);
    const remaining: Array<string | null> = [];
    for (const stream of [false, true]) {
      const res = await messagesRequest(runtime, { ...MESSAGE, stream }, { apiKey: key });
      expect(res.status, await res.clone().text()).toBe(200);
      await res.text();
      expect(res.headers.get('anthropic-ratelimit-requests-limit')).toBe('2');
      remaining.push(res.headers.get('anthropic-ratelimit-requests-remaining'));
      expect(res.headers.get('anthropic-ratelimit-requests-reset')).toBe(nextMinute());
      // A key without a token limit gets no token headers; and no OpenAI names on this surface.
      expect(res.headers.get('anthropic-ratelimit-tokens-limit')).toBeNull();
      expect(openAiNames(res)).toEqual([]);
    }
    expect(remaining).toEqual(['1', '0']);

    const sentAt = Date.now();
    const refused = await messagesRequest(runtime, MESSAGE, { apiKey: key });
    const answeredAt = Date.now();
    expect(refused.status).toBe(429);
    const body = assertAnthropic(validateAnthropicError, await refused.json()) as { error: { type: string } };
    expect(body.error.type).toBe('rate_limit_error');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const reset = refused.headers.get('anthropic-ratelimit-requests-reset') ?? '';
    expect(reset).toBe(nextMinute());
    // retry-after counts the seconds to that reset, from some moment while the request was served.
    const secondsTo = (at: number) => Math.max(1, Math.ceil((Date.parse(reset) - at) / 1000));
    expect(retryAfter).toBeGreaterThanOrEqual(secondsTo(answeredAt));
    expect(retryAfter).toBeLessThanOrEqual(secondsTo(sentAt));
    expect(refused.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
    expect(refused.headers.get('x-should-retry')).toBeNull();
    expect(openAiNames(refused)).toEqual([]);
  });

  it('names the token window too, and the SDK sees the headers and a RateLimitError', async () => {
    const key = await limitedKey({ rpm: 1, tpm: 100_000 });
    await roomInMinute(5_000);
    const client = new Anthropic({ baseURL: runtime.url, apiKey: key, maxRetries: 0 });
    const { response } = await client.messages
      .create(MESSAGE as Anthropic.MessageCreateParamsNonStreaming)
      .withResponse();
    expect(response.headers.get('anthropic-ratelimit-requests-limit')).toBe('1');
    expect(response.headers.get('anthropic-ratelimit-tokens-limit')).toBe('100000');
    const tokensLeft = Number(response.headers.get('anthropic-ratelimit-tokens-remaining'));
    expect(tokensLeft).toBeGreaterThan(0);
    expect(tokensLeft).toBeLessThan(100_000);
    expect(response.headers.get('anthropic-ratelimit-tokens-reset')).toBe(nextMinute());
    const err = await client.messages
      .create(MESSAGE as Anthropic.MessageCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    const headers = (err as InstanceType<typeof Anthropic.RateLimitError>).headers;
    expect(Number(headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
  });
});

describe('chat completions', () => {
  it("keeps OpenAI's x-ratelimit-* names and shows no Anthropic ones, through the SDK too", async () => {
    const key = await limitedKey({ rpm: 2 });
    await roomInMinute(5_000);
    const ok = await rawRequest(runtime, CHAT, { apiKey: key });
    expect(ok.status).toBe(200);
    await ok.text();
    expect(ok.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(ok.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(ok.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+s$/);
    expect(anthropicNames(ok)).toEqual([]);
    const client = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: key, maxRetries: 0 });
    const { response } = await client.chat.completions
      .create(CHAT as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .withResponse();
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    const refused = await rawRequest(runtime, CHAT, { apiKey: key });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('x-ratelimit-reset-requests')).toBe(`${refused.headers.get('retry-after')}s`);
    expect(anthropicNames(refused)).toEqual([]);
  });
});

describe('idempotent replays', () => {
  it('repeat neither family of rate-limit headers, and are not counted against the window', async () => {
    const key = await limitedKey({ rpm: 3, tpm: 100_000 });
    await roomInMinute(5_000);
    // One key per route: a key answers for one request only.
    const messageKey = { 'idempotency-key': `replay-messages-${Date.now()}` };
    const chatKey = { 'idempotency-key': `replay-chat-${Date.now()}` };
    const firstMessage = await messagesRequest(runtime, MESSAGE, { apiKey: key, headers: messageKey });
    const firstChat = await rawRequest(runtime, CHAT, { apiKey: key, headers: chatKey });
    for (const res of [firstMessage, firstChat]) {
      expect(res.status, await res.clone().text()).toBe(200);
      await res.text();
    }
    expect(anthropicNames(firstMessage).length).toBe(6);
    expect(openAiNames(firstChat).length).toBe(6);

    const replayedMessage = await messagesRequest(runtime, MESSAGE, { apiKey: key, headers: messageKey });
    const replayedChat = await rawRequest(runtime, CHAT, { apiKey: key, headers: chatKey });
    for (const [replay, first] of [
      [replayedMessage, firstMessage],
      [replayedChat, firstChat],
    ] as const) {
      expect(replay.status).toBe(200);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await replay.text()).toBeTruthy();
      expect(replay.headers.get('x-request-id')).toBe(first.headers.get('x-request-id'));
      expect([...anthropicNames(replay), ...openAiNames(replay)]).toEqual([]);
    }
    // The two replays used no requests of the window: the third request is the last one allowed.
    const third = await messagesRequest(runtime, MESSAGE, { apiKey: key });
    expect(third.status).toBe(200);
    await third.text();
    expect(third.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
  });
});
