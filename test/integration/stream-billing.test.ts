// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import {
  demoUpstream,
  jsonFrames,
  marker,
  readSse,
  upstreamRequestsWith,
  waitFor,
} from '../support/e2e-helpers.js';
import { chargeFor, createAccount, logItems, openHolds, walletOf } from '../support/money-helpers.js';
import { startTestRuntime } from '../support/runtime.js';

/** Billing of streams: cut short by the client, without upstream usage, and against the same body. */

let runtime: LocalRuntime;
let db: DynamoDBDocumentClient;
let account: { accountId: string; apiKey: string };
const CREDIT = 2_000_000;

beforeAll(async () => {
  runtime = await startTestRuntime({
    reconcileEveryMs: 0,
    demoUpstream: { ttftMs: 20, tokensPerSecond: 500 },
  });
  db = createDocumentClient(runtime.dynamodbEndpoint);
  account = await createAccount(runtime, 'streams', CREDIT);
});
afterEach(() => {
  demoUpstream(runtime).clearFaults();
  demoUpstream(runtime).setPacing({ ttftMs: 20, tokensPerSecond: 500 });
});
afterAll(async () => {
  await runtime?.close();
});

function post(body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${runtime.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${account.apiKey}` },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

async function logItem(requestId: string): Promise<Record<string, unknown> | undefined> {
  const items = await logItems(db, runtime.tables.requestLog, account.accountId);
  return items.find((i) => i.requestId === requestId);
}

describe('stream billing', () => {
  it('bills what was generated when the client disconnects mid-stream, and stops upstream', async () => {
    demoUpstream(runtime).setPacing({ ttftMs: 20, tokensPerSecond: 40 });
    const tag = marker('cut');
    const controller = new AbortController();
    const res = await post(
      {
        model: 'tier-1',
        stream: true,
        messages: [{ role: 'user', content: `disconnect ${tag} tokens:200` }],
      },
      controller.signal,
    );
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id') ?? '';
    expect(requestId).not.toBe('');

    // Read raw SSE until five content chunks have arrived, then hang up.
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    let contentChunks = 0;
    for (let reads = 0; reads < 1_000 && contentChunks < 5; reads++) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      contentChunks = (text.match(/"content":"[^"]+"/g) ?? []).length;
    }
    expect(contentChunks).toBeGreaterThanOrEqual(5);
    expect(text).not.toContain('[DONE]');
    controller.abort();
    await reader.cancel().catch(() => {});

    const item = await waitFor(() => logItem(requestId), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'the request-log item of the disconnected stream',
    });
    // Not an upstream failure: the client left (the log item is shown when this fails).
    expect.soft(item.status, JSON.stringify(item)).toBe('client_disconnected');
    expect.soft(item.errorCode).toBe('client_disconnected');
    expect(item.usageSource).toBe('estimated');
    expect(Number(item.outputTokens)).toBeGreaterThan(0);
    expect(Number(item.outputTokens)).toBeLessThan(200);
    expect(Number(item.chargeMicros)).toBeGreaterThan(0);
    expect(item.chargeMicros).toBe(chargeFor('tier-1', Number(item.inputTokens), Number(item.outputTokens)));
    expect(Number(item.chargeMicros)).toBeLessThan(Number(item.holdMicros));

    // The upstream request was aborted rather than left to run to its 200 tokens.
    const upstream = await waitFor(
      () => {
        const reqs = upstreamRequestsWith(runtime, tag);
        return reqs.length === 1 && reqs[0]?.aborted ? reqs[0] : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 50, what: 'the upstream request to be marked aborted' },
    );
    expect(upstream.outputTokens).toBeLessThan(200);
    expect(upstream.completed).toBe(false);

    await runtime.bus.drain();
    expect((await walletOf(db, runtime.tables.ledger, account.accountId)).heldMicros).toBe(0);
    expect(await openHolds(db, runtime.tables.ledger, account.accountId)).toEqual([]);
  });

  it('bills on estimated usage when the upstream sends none (non-streaming and streaming)', async () => {
    const upstream = demoUpstream(runtime);
    const ids: string[] = [];

    upstream.injectFault({ fault: { kind: 'no-usage' }, times: 1 });
    const plain = await post({
      model: 'tier-2',
      messages: [{ role: 'user', content: `no usage ${marker()} tokens:10` }],
    });
    expect(plain.status).toBe(200);
    ids.push(plain.headers.get('x-request-id') ?? '');
    const completion = (await plain.json()) as {
      usage?: { prompt_tokens: number; completion_tokens: number };
    };

    upstream.injectFault({ fault: { kind: 'no-usage' }, times: 1 });
    const streamed = await post({
      model: 'tier-2',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: `no usage ${marker()} tokens:10` }],
    });
    expect(streamed.status).toBe(200);
    ids.push(streamed.headers.get('x-request-id') ?? '');
    const sse = await readSse(streamed);
    expect(sse.frames.at(-1)?.data).toBe('[DONE]');
    const streamUsage = jsonFrames(sse).find((f) => f.usage)?.usage as
      | { prompt_tokens: number; completion_tokens: number }
      | undefined;

    await runtime.bus.drain();
    const [plainItem, streamItem] = await Promise.all(ids.map((id) => logItem(id)));
    for (const [item, usage] of [
      [plainItem, completion.usage],
      [streamItem, streamUsage],
    ] as const) {
      expect(item).toBeDefined();
      expect(item?.status).toBe('ok');
      expect(item?.usageSource).toBe('estimated');
      expect(Number(item?.chargeMicros)).toBeGreaterThan(0);
      expect(Number(item?.outputTokens)).toBeGreaterThan(0);
      expect(item?.chargeMicros).toBe(
        chargeFor('tier-2', Number(item?.inputTokens), Number(item?.outputTokens)),
      );
      // The client is shown the usage it is billed for.
      expect(usage).toBeDefined();
      expect(usage?.prompt_tokens).toBe(item?.inputTokens);
      expect(usage?.completion_tokens).toBe(item?.outputTokens);
    }
    expect(await openHolds(db, runtime.tables.ledger, account.accountId)).toEqual([]);
  });

  it('bills a streamed request exactly like the same non-streamed request', async () => {
    const messages = [{ role: 'user', content: 'same request both ways tokens:33' }];
    const plain = await post({ model: 'tier-3', max_tokens: 200, messages });
    expect(plain.status).toBe(200);
    const plainId = plain.headers.get('x-request-id') ?? '';
    const completion = (await plain.json()) as {
      usage: { prompt_tokens: number; completion_tokens: number };
    };

    const streamed = await post({
      model: 'tier-3',
      max_tokens: 200,
      stream: true,
      stream_options: { include_usage: true },
      messages,
    });
    expect(streamed.status).toBe(200);
    const streamId = streamed.headers.get('x-request-id') ?? '';
    const sse = await readSse(streamed);
    expect(sse.frames.at(-1)?.data).toBe('[DONE]');
    const streamUsage = jsonFrames(sse).find((f) => f.usage)?.usage as {
      prompt_tokens: number;
      completion_tokens: number;
    };

    await runtime.bus.drain();
    const a = await logItem(plainId);
    const b = await logItem(streamId);
    expect(a?.usageSource).toBe('upstream');
    expect(b?.usageSource).toBe('upstream');
    expect(a?.stream).toBe(false);
    expect(b?.stream).toBe(true);
    const billed = (i: Record<string, unknown> | undefined) => ({
      status: i?.status,
      inputTokens: i?.inputTokens,
      outputTokens: i?.outputTokens,
      chargeMicros: i?.chargeMicros,
      upstreamCostMicros: i?.upstreamCostMicros,
    });
    expect(billed(b)).toEqual(billed(a));
    expect(a?.outputTokens).toBe(33);
    expect(a?.chargeMicros).toBe(
      chargeFor('tier-3', completion.usage.prompt_tokens, completion.usage.completion_tokens),
    );
    expect(streamUsage).toMatchObject({
      prompt_tokens: completion.usage.prompt_tokens,
      completion_tokens: completion.usage.completion_tokens,
    });
  });
});
