// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { DynamoWalletStore } from '../../shared/adapters/dynamodb/wallet-store.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { estimateOutputTokens } from '../../shared/lifecycle/estimate.js';
import {
  assertAnthropic,
  cachingMessagesBody,
  messagesRequest,
  readMessagesStream,
  validateMessage,
  validateStreamEvent,
} from '../support/anthropic-helpers.js';
import { demoUpstream, marker, roomInUtcDay, upstreamRequestsWith, waitFor } from '../support/e2e-helpers.js';
import { chargeFor, createAccount, logItems, openHolds, sumOf, walletOf } from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Money on the Messages path: the same hold, usage record and settlement as chat, with Anthropic's
 * usage normalised (cache reads and writes are prompt tokens), estimates when no usage came, and
 * a client that leaves billed for what was generated.
 */

let runtime: LocalRuntime;
let db: DynamoDBDocumentClient;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0 });
  db = createDocumentClient(runtime.dynamodbEndpoint);
});
// A daily budget spent and then refused: both on the same UTC day.
beforeEach(() => roomInUtcDay(30_000));
afterEach(() => demoUpstream(runtime).clearFaults());
afterAll(async () => {
  await runtime?.close();
});

const tier2Primary = DEFAULT_CATALOG.tiers['tier-2'].models[0]?.id ?? '';

async function logItem(accountId: string, requestId: string | null): Promise<Record<string, unknown>> {
  await runtime.bus.drain();
  const items = await logItems(db, runtime.tables.requestLog, accountId);
  const item = items.find((i) => i.requestId === requestId);
  if (!item) throw new Error(`no request-log item for ${requestId}`);
  return item;
}

interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

describe('Messages billing', () => {
  it('bills prompt caching on all prompt tokens: input, cache writes and cache reads', async () => {
    const credit = 5_000_000;
    const { accountId, apiKey } = await createAccount(runtime, 'caching', credit);
    const tag = marker();
    const request = (stream: boolean) => cachingMessagesBody(tag, stream);

    const first = await messagesRequest(runtime, request(false), { apiKey });
    expect(first.status).toBe(200);
    const written = (assertAnthropic(validateMessage, await first.json()) as { usage: AnthropicUsage }).usage;
    expect(written.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(written.cache_read_input_tokens).toBe(0);

    const second = await messagesRequest(runtime, request(true), { apiKey });
    const { events } = await readMessagesStream(second);
    for (const e of events) assertAnthropic(validateStreamEvent, e.data);
    const start = events[0]?.data.message as { usage: AnthropicUsage };
    const read = {
      ...start.usage,
      output_tokens: (events.at(-2)?.data.usage as AnthropicUsage | undefined)?.output_tokens,
    };
    expect(read.cache_read_input_tokens).toBe(written.cache_creation_input_tokens);
    expect(read.cache_creation_input_tokens).toBe(0);

    for (const [res, usage] of [
      [first, written],
      [second, read],
    ] as const) {
      const item = await logItem(accountId, res.headers.get('request-id'));
      const inputTokens =
        usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens;
      expect(item).toMatchObject({
        status: 'ok',
        usageSource: 'upstream',
        inputTokens,
        outputTokens: 5,
        tier: 'tier-2',
        surface: 'messages',
        cachedInputTokens: usage.cache_read_input_tokens,
        cacheWriteTokens: usage.cache_creation_input_tokens,
      });
      // DESIGN §13: cache reads and writes at their own rates.
      expect(item.chargeMicros).toBe(
        chargeFor('tier-2', inputTokens, 5, {
          cachedInputTokens: usage.cache_read_input_tokens,
          cacheWriteTokens: usage.cache_creation_input_tokens,
        }),
      );
    }
    const wallet = await walletOf(db, runtime.tables.ledger, accountId);
    const log = await logItems(db, runtime.tables.requestLog, accountId);
    expect(sumOf(log, 'chargeMicros')).toBe(credit - wallet.balanceMicros);
    expect(wallet.heldMicros).toBe(0);
  });

  it('bills a request whose upstream sent no usage on an estimate, marked as such', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'no-usage', 5_000_000);
    demoUpstream(runtime).injectFault({ fault: { kind: 'no-usage' }, model: tier2Primary, times: 2 });
    const plain = await messagesRequest(
      runtime,
      { model: 'tier-2', max_tokens: 64, messages: [{ role: 'user', content: 'tokens:4' }] },
      { apiKey },
    );
    const message = assertAnthropic(validateMessage, await plain.json()) as { usage: AnthropicUsage };
    const streamed = await messagesRequest(
      runtime,
      { model: 'tier-2', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'tokens:4' }] },
      { apiKey },
    );
    const { events } = await readMessagesStream(streamed);
    for (const e of events) assertAnthropic(validateStreamEvent, e.data);
    expect(events.at(-1)?.event).toBe('message_stop');
    const deltaUsage = events.at(-2)?.data.usage as AnthropicUsage;

    for (const [res, outputTokens] of [
      [plain, message.usage.output_tokens],
      [streamed, deltaUsage.output_tokens],
    ] as const) {
      const item = await logItem(accountId, res.headers.get('request-id'));
      // The client is told the counts it was billed on.
      expect(item).toMatchObject({ status: 'ok', usageSource: 'estimated', outputTokens });
      expect(Number(item.outputTokens)).toBeGreaterThan(0);
      expect(Number(item.chargeMicros)).toBeGreaterThan(0);
    }
  });

  it('bills a client that disconnects mid-stream for what was generated', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'leaver', 5_000_000);
    demoUpstream(runtime).injectFault({
      fault: { kind: 'slow', tokensPerSecond: 40 },
      model: tier2Primary,
      times: 1,
    });
    const tag = marker();
    const abort = new AbortController();
    const res = await messagesRequest(
      runtime,
      {
        model: 'tier-2',
        max_tokens: 2000,
        stream: true,
        messages: [{ role: 'user', content: `${tag} tokens:400` }],
      },
      { apiKey, signal: abort.signal },
    );
    const requestId = res.headers.get('request-id');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let seen = '';
    while ((seen.match(/"text_delta"/g) ?? []).length < 5) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    const seenText = [...seen.matchAll(/"text":"([^"]*)"/g)].map((m) => m[1]).join('');
    abort.abort();
    const item = await waitFor(
      async () => (await logItem(accountId, requestId).catch(() => undefined)) ?? false,
      { timeoutMs: 20_000, what: 'the disconnected request to be settled' },
    );
    expect(item).toMatchObject({ status: 'client_disconnected', usageSource: 'estimated' });
    // The estimate of what was generated covers at least what the client received.
    expect(Number(item.outputTokens)).toBeGreaterThanOrEqual(await estimateOutputTokens(seenText));
    expect(Number(item.chargeMicros)).toBeGreaterThan(0);
    expect(Number(item.chargeMicros)).toBeLessThanOrEqual(Number(item.holdMicros));
    const upstream = upstreamRequestsWith(runtime, tag)[0];
    expect(upstream?.aborted).toBe(true);
    expect(upstream?.outputTokens).toBeLessThan(400);
    expect(await openHolds(db, runtime.tables.ledger, accountId)).toEqual([]);
  });

  it('logs every request under the API surface its client spoke, a released hold included', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'surfaces', 5_000_000);
    const chat = await fetch(`${runtime.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tier-1', messages: [{ role: 'user', content: 'tokens:2' }] }),
    });
    expect(chat.status).toBe(200);
    await chat.text();
    const messages = await messagesRequest(
      runtime,
      { model: 'tier-1', max_tokens: 16, messages: [{ role: 'user', content: 'tokens:2' }] },
      { apiKey },
    );
    expect(messages.status).toBe(200);
    await messages.text();
    expect(await logItem(accountId, chat.headers.get('x-request-id'))).toMatchObject({ surface: 'chat' });
    expect(await logItem(accountId, messages.headers.get('request-id'))).toMatchObject({
      surface: 'messages',
    });
    // A Messages request whose end never came: the reconciler releases its hold and logs it as Messages.
    const wallet = new DynamoWalletStore(db, runtime.tables.ledger);
    const hold = {
      accountId,
      keyId: 'key_surface',
      requestId: `abandoned_${marker()}`,
      tier: 'tier-1' as const,
      catalogVersion: 1,
      holdMicros: 1_000,
      startedAt: '2000-01-01T00:00:00.000Z',
      surface: 'messages' as const,
    };
    expect(await wallet.placeHold(hold)).toEqual({ ok: true });
    await runtime.runReconciler();
    expect(await logItem(accountId, hold.requestId)).toMatchObject({
      status: 'abandoned',
      chargeMicros: 0,
      surface: 'messages',
    });
  });

  it('refuses a spent daily budget with 402 billing_error before any upstream call', async () => {
    const { accountId } = await createAccount(runtime, 'budget', 1_000_000);
    const created = await admin(runtime, 'POST', `/admin/accounts/${accountId}/keys`, {
      dailyBudgetUsd: 0.000001,
    });
    const apiKey = String(created.json.key);
    const ok = await messagesRequest(
      runtime,
      { model: 'tier-1', max_tokens: 16, messages: [{ role: 'user', content: 'tokens:2' }] },
      { apiKey },
    );
    expect(ok.status).toBe(200);
    await ok.text();
    await runtime.bus.drain();
    const tag = marker();
    const refused = await messagesRequest(
      runtime,
      { model: 'tier-1', max_tokens: 16, messages: [{ role: 'user', content: `${tag} tokens:2` }] },
      { apiKey },
    );
    expect(refused.status).toBe(402);
    expect(refused.headers.get('x-should-retry')).toBe('false');
    expect(refused.headers.get('x-tier')).toBe('tier-1');
    expect(refused.headers.get('x-tier-catalog-version')).toMatch(/^[1-9]\d*$/);
    expect(((await refused.json()) as { error: { type: string } }).error.type).toBe('billing_error');
    expect(upstreamRequestsWith(runtime, tag)).toEqual([]);
  });
});
