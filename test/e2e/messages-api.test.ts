import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import {
  assertAnthropic,
  messagesRequest,
  readMessagesStream,
  validateAnthropicError,
  validateStreamEvent,
  validateTokenCount,
} from '../support/anthropic-helpers.js';
import {
  demoUpstream,
  marker,
  rawRequest,
  servedUpstreamRequest,
  upstreamRequestsWith,
} from '../support/e2e-helpers.js';
import { createAccount, logItems, walletOf } from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/** The Messages routes over raw HTTP: headers, protocol headers upstream, routing, count_tokens. */

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime({ demoCreditUsd: 100, reconcileEveryMs: 0 });
});
afterEach(() => demoUpstream(runtime).clearFaults());
afterAll(async () => {
  await runtime?.close();
});

const tier1Primary = DEFAULT_CATALOG.tiers['tier-1'].models[0]?.id ?? '';
const body = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'claude-haiku-4-5',
  max_tokens: 64,
  messages: [{ role: 'user', content }],
  ...extra,
});

async function expectAnthropicError(res: Response, status: number, type: string): Promise<string> {
  expect(res.status).toBe(status);
  const json = assertAnthropic(validateAnthropicError, await res.json()) as {
    error: { type: string; message: string };
    request_id: string;
  };
  expect(json.error.type).toBe(type);
  expect(res.headers.get('request-id')).toBe(json.request_id);
  expect(res.headers.get('x-request-id')).toBe(json.request_id);
  return json.error.message;
}

describe('POST /v1/messages over raw HTTP', () => {
  it('names every event as its type, ignores the query string and forwards the protocol headers byte for byte', async () => {
    const tag = marker();
    const beta = 'prompt-caching-2024-07-31,  interleaved-thinking-2025-05-14';
    const res = await messagesRequest(runtime, body(`raw ${tag} tokens:3`, { stream: true }), {
      path: '/v1/messages?beta=true',
      headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': beta },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tier')).toBe('tier-1');
    expect(res.headers.get('request-id')).toBe(res.headers.get('x-request-id'));
    const { events } = await readMessagesStream(res);
    for (const e of events) {
      assertAnthropic(validateStreamEvent, e.data);
      expect(e.event).toBe(e.data.type);
    }
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const upstream = servedUpstreamRequest(runtime, tag);
    expect(upstream.headers['anthropic-beta']).toBe(beta);
    expect(upstream.headers['anthropic-version']).toBe('2023-06-01');
  });

  it('sends 2023-06-01 upstream when the client names no version, and accepts a bearer key', async () => {
    const tag = marker();
    const res = await fetch(`${runtime.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${runtime.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body(`bearer ${tag}`)),
    });
    expect(res.status).toBe(200);
    await res.text();
    const upstream = servedUpstreamRequest(runtime, tag);
    expect(upstream.headers['anthropic-version']).toBe('2023-06-01');
    expect(upstream.headers['anthropic-beta']).toBeUndefined();
    // The system prompt and cache_control reach the upstream untouched.
    const sysTag = marker();
    const system = [{ type: 'text', text: 'policy', cache_control: { type: 'ephemeral', ttl: '1h' } }];
    const cached = await messagesRequest(runtime, body(`sys ${sysTag}`, { system }));
    expect(cached.status).toBe(200);
    await cached.text();
    expect(servedUpstreamRequest(runtime, sysTag).body.system).toEqual(system);
  });

  it('names the catalog version on refusals before the tier is known, and the tier when the body names one', async () => {
    const version = String(
      ((await admin(runtime, 'GET', '/admin/tiers')).json as { version: number }).version,
    );
    const haiku = { model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] };
    const cases: Array<[string, Response, string | null]> = [
      ['bad key', await messagesRequest(runtime, haiku, { apiKey: 'tg-wrong' }), 'tier-1'],
      ['unknown field', await messagesRequest(runtime, { ...haiku, model: 'Sonnet', nope: 1 }), 'tier-2'],
      ['malformed JSON', await messagesRequest(runtime, '{"model":'), null],
      ['unknown model', await messagesRequest(runtime, { ...haiku, model: 'gpt-4o' }), null],
      ['unknown path', await messagesRequest(runtime, haiku, { path: '/v1/messages/nope' }), 'tier-1'],
      [
        'count_tokens, bad key',
        await messagesRequest(
          runtime,
          { model: 'opus', messages: [] },
          { path: '/v1/messages/count_tokens', apiKey: 'tg-wrong' },
        ),
        'tier-3',
      ],
    ];
    for (const [name, res, tier] of cases) {
      expect(res.status, name).toBeGreaterThanOrEqual(400);
      expect(res.headers.get('x-tier-catalog-version'), name).toBe(version);
      expect(res.headers.get('x-tier'), name).toBe(tier);
      expect(res.headers.get('request-id'), name).toBe(res.headers.get('x-request-id'));
      await res.text();
    }
  });

  it('answers request headers the HTTP server refuses as too large in the Anthropic shape', async () => {
    for (const path of ['/v1/messages', '/v1/messages/count_tokens?beta=true']) {
      const res = await messagesRequest(runtime, body('x'), {
        path,
        headers: { 'x-big': 'v'.repeat(40_000) },
      });
      const message = await expectAnthropicError(res, 431, 'invalid_request_error');
      expect(message).toBe('The request headers are too large.');
    }
  });

  it('answers HEAD / and GET /, and shapes routing and body errors as Anthropic errors', async () => {
    const head = await fetch(`${runtime.url}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const root = await fetch(`${runtime.url}/`);
    expect(root.status).toBe(200);
    for (const res of [head, root]) {
      expect(res.headers.get('request-id')).toMatch(/^[0-9a-f]{24}$/);
      expect(res.headers.get('x-request-id')).toBe(res.headers.get('request-id'));
    }
    await root.text();
    await expectAnthropicError(await fetch(`${runtime.url}/v1/messages`), 405, 'invalid_request_error');
    await expectAnthropicError(
      await messagesRequest(runtime, body('x'), { path: '/v1/messages/nope' }),
      404,
      'not_found_error',
    );
    await expectAnthropicError(await messagesRequest(runtime, '{"model":'), 400, 'invalid_request_error');
    // A body that is not UTF-8 is refused by the transport adapter, still in the path's shape.
    const notUtf8 = await fetch(`${runtime.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': runtime.apiKey, 'content-type': 'application/json' },
      body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
    });
    await expectAnthropicError(notUtf8, 400, 'invalid_request_error');
    const huge = JSON.stringify(body('x'.repeat(6_300_000)));
    await expectAnthropicError(await messagesRequest(runtime, huge), 413, 'request_too_large');
    const missing = await expectAnthropicError(
      await messagesRequest(runtime, { model: 'tier-1', messages: [{ role: 'user', content: 'hi' }] }),
      400,
      'invalid_request_error',
    );
    expect(missing).toContain('max_tokens');
  });
});

describe('one lifecycle for both surfaces', () => {
  it('shares the circuit breaker: a model that failed chat requests is skipped by Messages requests', async () => {
    const [primary, secondary] = DEFAULT_CATALOG.tiers['tier-4'].models.map((m) => m.id);
    demoUpstream(runtime).injectFault({ fault: { kind: 'status', status: 503 }, model: primary, times: 6 });
    for (let i = 0; i < 6; i++) {
      const chat = await rawRequest(runtime, {
        model: 'tier-4',
        max_tokens: 16,
        messages: [{ role: 'user', content: 'tokens:2' }],
      });
      expect(chat.status).toBe(200);
      await chat.text();
    }
    const tag = marker();
    const res = await messagesRequest(runtime, body(`${tag} tokens:2`, { model: 'reasoning' }));
    expect(res.status).toBe(200);
    await res.text();
    expect(upstreamRequestsWith(runtime, tag).map((r) => r.model)).toEqual([secondary]);
  });
});

describe('POST /v1/messages/count_tokens', () => {
  const countPath = { path: '/v1/messages/count_tokens' };

  async function count(tag: string): Promise<{ n: number; bytes: number; res: Response }> {
    const payload = JSON.stringify({
      model: 'claude-3-5-haiku-latest',
      messages: [{ role: 'user', content: `count ${tag} ${'word '.repeat(200)}` }],
    });
    const res = await messagesRequest(runtime, payload, countPath);
    expect(res.status).toBe(200);
    const json = assertAnthropic(validateTokenCount, await res.json()) as { input_tokens: number };
    return { n: json.input_tokens, bytes: Buffer.byteLength(payload), res };
  }

  it("answers the upstream's count for the tier's primary model", async () => {
    const tag = marker();
    const { n, bytes, res } = await count(tag);
    expect(res.headers.get('x-tier')).toBe('tier-1');
    expect(res.headers.get('request-id')).toMatch(/^[0-9a-f]{24}$/);
    const upstream = upstreamRequestsWith(runtime, tag);
    expect(upstream.map((r) => r.model)).toEqual([tier1Primary]);
    // The demo upstream counts about 4 bytes a token; the local estimate never goes below the bytes.
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(bytes / 2);
  });

  it('falls back to a local estimate, bounded like a hold, when the upstream cannot answer', async () => {
    const { n: upstreamCount } = await count(marker());
    for (const status of [404, 500]) {
      demoUpstream(runtime).injectFault({ fault: { kind: 'status', status }, model: tier1Primary, times: 1 });
      const { n, bytes } = await count(marker());
      expect(n, `estimate after ${status}`).toBeGreaterThanOrEqual(upstreamCount);
      expect(n, `estimate after ${status}`).toBeLessThanOrEqual(bytes);
    }
  });

  it('estimates a prompt with an inline image at its text and the image allowance, not zero', async () => {
    const text = `describe ${marker()} ${'word '.repeat(2_000)}`;
    const image = {
      type: 'base64',
      media_type: 'image/png',
      data: Buffer.alloc(300_000, 7).toString('base64'),
    };
    const countWith = async (content: unknown[]) => {
      demoUpstream(runtime).injectFault({
        fault: { kind: 'status', status: 404 },
        model: tier1Primary,
        times: 1,
      });
      const payload = { model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content }] };
      const res = await messagesRequest(runtime, payload, countPath);
      expect(res.status).toBe(200);
      return ((await res.json()) as { input_tokens: number }).input_tokens;
    };
    const textOnly = await countWith([{ type: 'text', text }]);
    const withImage = await countWith([
      { type: 'image', source: image },
      { type: 'text', text },
    ]);
    // The 400 KB of base64 count at the image's allowance, on top of the text (once counted as 0).
    expect(textOnly).toBeGreaterThan(2_000);
    expect(withImage).toBeGreaterThan(textOnly);
  });

  it('needs a key, refuses generation fields, and charges nothing', async () => {
    await expectAnthropicError(
      await messagesRequest(runtime, { model: 'tier-1', messages: [] }, { ...countPath, apiKey: null }),
      401,
      'authentication_error',
    );
    const refused = await expectAnthropicError(
      await messagesRequest(runtime, body('x'), countPath),
      400,
      'invalid_request_error',
    );
    expect(refused).toContain('max_tokens');

    const { accountId, apiKey } = await createAccount(runtime, 'counting', 1_000_000);
    for (let i = 0; i < 3; i++) {
      const res = await messagesRequest(
        runtime,
        { model: 'tier-2', messages: [{ role: 'user', content: 'how long is this' }] },
        { ...countPath, apiKey },
      );
      expect(res.status).toBe(200);
      await res.text();
    }
    await runtime.bus.drain();
    const db = createDocumentClient(runtime.dynamodbEndpoint);
    expect((await walletOf(db, runtime.tables.ledger, accountId)).balanceMicros).toBe(1_000_000);
    expect(await logItems(db, runtime.tables.requestLog, accountId)).toEqual([]);
  });
});
