import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoFault } from '../../local/demo-upstream.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { TIER_IDS } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { messagesRequest, WEATHER_TOOL } from '../support/anthropic-helpers.js';
import { demoUpstream, marker, roomInMinute } from '../support/e2e-helpers.js';
import { LeakScan } from '../support/leak-scan.js';
import { createAccount } from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Leak bait on the Messages path: the demo upstream answers with Anthropic's own ids (`msg_01…`,
 * `toolu_01…`, `req_01…`), its model and provider, an organisation header and an inference region.
 * Nothing a Messages client sees (bodies, events, headers, errors) may carry any of it.
 */

let runtime: LocalRuntime;
const { seen, deny, denyModelId, record, recordResponse, leaksIn } = new LeakScan();
/** Anthropic's rate-limit headers the limited key's responses carried. */
const rateLimitHeaders: string[] = [];

const TRANSPORT_HEADERS = new Set([
  'content-type',
  'content-length',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'cache-control',
]);
/** Header names both the gateway and Anthropic use; their values are scanned all the same. */
const SHARED_HEADERS = new Set(['request-id', 'x-request-id', 'retry-after']);

const STATIC_DENYLIST = [
  'anthropic',
  'claude',
  'openai',
  'google',
  'gemini',
  'deepseek',
  'provider',
  'toolu_',
  'req_01',
  'demo-org',
  'organization',
  'x-upstream',
  'x-model-id',
  'inference_geo',
  'us-east-2',
  'Demo upstream',
];

/** What the demo upstream reveals on its Messages route when asked directly. */
async function learnUpstreamIdentity(model: string): Promise<void> {
  const res = await fetch(`${runtime.upstreamBaseUrl}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, max_tokens: 8, messages: [{ role: 'user', content: 'tokens:1' }] }),
  });
  for (const [name, value] of res.headers.entries()) {
    if (TRANSPORT_HEADERS.has(name)) continue;
    if (!SHARED_HEADERS.has(name)) deny(name);
    if (/[a-z]/i.test(value)) deny(value);
  }
  const body = (await res.json()) as Record<string, unknown>;
  deny(String(body.id ?? ''));
  const messageFields = new Set([
    'id',
    'type',
    'role',
    'model',
    'content',
    'stop_reason',
    'stop_sequence',
    'usage',
  ]);
  for (const field of Object.keys(body)) if (!messageFields.has(field)) deny(`"${field}"`);
}

const say = (text: string) => [{ role: 'user' as const, content: `${text} ${marker()}` }];

async function exercise(): Promise<void> {
  const upstream = demoUpstream(runtime);
  const names = ['tier-1', 'claude-sonnet-4-5', 'claude-opus-4-1', 'reasoning', 'claude-3-5-haiku-latest'];
  for (const model of names) {
    for (const stream of [false, true]) {
      const res = await messagesRequest(runtime, {
        model,
        max_tokens: 64,
        stream,
        messages: say('hello tokens:4'),
      });
      expect(res.status, model).toBe(200);
      await recordResponse(`${model} stream=${stream}`, res);
    }
  }
  const system = [
    { type: 'text', text: `cached ${'rule '.repeat(100)}`, cache_control: { type: 'ephemeral' } },
  ];
  for (const stream of [false, true]) {
    await recordResponse(
      `cache stream=${stream}`,
      await messagesRequest(runtime, {
        model: 'tier-2',
        max_tokens: 64,
        stream,
        system,
        messages: say('tokens:3'),
      }),
    );
    const tools = await messagesRequest(runtime, {
      model: 'tier-3',
      max_tokens: 64,
      stream,
      tools: [WEATHER_TOOL],
      messages: say('What is the weather in Paris?'),
    });
    expect(tools.status).toBe(200);
    expect(await recordResponse(`tools stream=${stream}`, tools)).toContain('get_weather');
  }
  const count = { model: 'tier-3', messages: say('count me') };
  await recordResponse(
    'count_tokens',
    await messagesRequest(runtime, count, { path: '/v1/messages/count_tokens' }),
  );
  upstream.injectFault({ fault: { kind: 'status', status: 500 }, times: 1 });
  await recordResponse(
    'count_tokens fault',
    await messagesRequest(runtime, count, { path: '/v1/messages/count_tokens' }),
  );

  const clientErrors: Array<[string, unknown, Parameters<typeof messagesRequest>[2]]> = [
    ['bad json', '{"model":', {}],
    ['bad param', { model: 'tier-1', max_tokens: 8, messages: say('x'), temperature: 'hot' }, {}],
    ['unknown param', { model: 'tier-1', max_tokens: 8, messages: say('x'), fallbacks: ['x'] }, {}],
    ['unknown model', { model: 'anthropic/claude-sonnet-4', max_tokens: 8, messages: say('x') }, {}],
    ['no key', { model: 'tier-1', max_tokens: 8, messages: say('x') }, { apiKey: null }],
    ['unknown path', {}, { path: '/v1/messages/batches' }],
  ];
  for (const [label, body, options] of clientErrors) {
    await recordResponse(`error ${label}`, await messagesRequest(runtime, body, options));
  }
  // A rate-limited key, answered and then refused, and an idempotent replay of a stream: Anthropic's rate-limit
  // header names are the protocol's own (the client chose it), like request-id; their values are scanned.
  const limited = await createAccount(runtime, 'limited', 1_000_000);
  const limitedKey = String(
    (await admin(runtime, 'POST', `/admin/accounts/${limited.accountId}/keys`, { rpm: 1, tpm: 100_000 })).json
      .key,
  );
  const replayed = { model: 'tier-2', max_tokens: 32, stream: true, messages: say('tokens:3') };
  await roomInMinute(5_000); // the three requests in one window
  for (const label of ['limited', 'limited replay', 'limited refused']) {
    const headers = { 'idempotency-key': label === 'limited refused' ? 'other' : 'leak-replay' };
    const res = await messagesRequest(runtime, replayed, { apiKey: limitedKey, headers });
    for (const [name, value] of res.headers.entries()) {
      if (name.startsWith('anthropic-ratelimit-')) rateLimitHeaders.push(name);
      record(`${label} header`, name.startsWith('anthropic-ratelimit-') ? value : `${name}: ${value}`);
    }
    record(`${label} body`, await res.text());
  }

  const { apiKey: emptyKey } = await createAccount(runtime, 'empty', 0);
  await recordResponse(
    'error empty wallet',
    await messagesRequest(
      runtime,
      { model: 'tier-1', max_tokens: 8, messages: say('x') },
      { apiKey: emptyKey },
    ),
  );

  // The demo's error messages name the provider and the model on purpose.
  const faults: DemoFault[] = [
    { kind: 'status', status: 500 },
    { kind: 'status', status: 529 },
    { kind: 'status', status: 400 },
    { kind: 'status', status: 401 },
    { kind: 'status', status: 402 },
    { kind: 'status', status: 404 },
    { kind: 'status', status: 429, retryAfterSeconds: 7 },
    { kind: 'malformed-sse' },
    { kind: 'no-usage' },
    { kind: 'disconnect', afterChunks: 2 },
  ];
  for (const fault of faults) {
    for (const stream of [false, true]) {
      upstream.injectFault({ fault });
      try {
        const res = await messagesRequest(runtime, {
          model: 'tier-3',
          max_tokens: 64,
          stream,
          messages: say('fault tokens:6'),
        });
        await recordResponse(`fault ${JSON.stringify(fault)} stream=${stream}`, res);
      } finally {
        upstream.clearFaults();
      }
    }
  }

  // The same errors as the official SDK reports them.
  const client = new Anthropic({ baseURL: runtime.url, apiKey: runtime.apiKey, maxRetries: 0 });
  for (const status of [500, 400, 429]) {
    upstream.injectFault({ fault: { kind: 'status', status } });
    try {
      await client.messages.create({ model: 'tier-2', max_tokens: 64, messages: say('sdk') });
      seen.push({ source: `sdk status ${status}`, text: 'no error raised' });
    } catch (err) {
      seen.push({
        source: `sdk status ${status} message`,
        text: err instanceof Error ? err.message : String(err),
      });
    } finally {
      upstream.clearFaults();
    }
  }
}

beforeAll(async () => {
  runtime = await startTestRuntime({ demoCreditUsd: 100 });
  for (const term of STATIC_DENYLIST) deny(term);
  for (const tier of Object.values(DEFAULT_CATALOG.tiers)) {
    for (const m of tier.models) {
      denyModelId(m.id);
      await learnUpstreamIdentity(m.id);
    }
  }
  await exercise();
});
afterAll(async () => {
  await runtime?.close();
});

describe('no upstream identity reaches Messages clients', () => {
  it('flags the upstream Messages responses themselves, so the scan can fail', async () => {
    const model = DEFAULT_CATALOG.tiers['tier-3'].models[0]?.id ?? '';
    for (const stream of [false, true]) {
      const res = await fetch(`${runtime.upstreamBaseUrl}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model,
          max_tokens: 64,
          stream,
          tools: [WEATHER_TOOL],
          messages: say('weather'),
        }),
      });
      const raw = [...res.headers.entries()].map(([n, v]) => ({ source: 'raw header', text: `${n}: ${v}` }));
      raw.push({ source: 'raw body', text: await res.text() });
      const found = leaksIn(raw).map((l) => l.term);
      for (const term of [
        model,
        'toolu_',
        'req_01',
        'provider',
        'inference_geo',
        'anthropic-organization-id',
      ]) {
        expect(found, `stream=${stream}`).toContain(term.toLowerCase());
      }
    }
  });

  it('leaks no model id, provider, upstream id or upstream field in any body, event, header or error', () => {
    expect(seen.length).toBeGreaterThan(100);
    // The limited key's answer and its refusal carried the rate-limit family; the replay repeated none of it.
    expect(rateLimitHeaders.length).toBe(12);
    expect(seen.some((s) => s.source === 'limited refused body' && s.text.includes('rate_limit_error'))).toBe(
      true,
    );
    expect(leaksIn(seen).map((l) => l.where)).toEqual([]);
  });

  it('reports the tier as every model and the gateway id as every message id', () => {
    const models = new Set<string>();
    const ids = new Set<string>();
    for (const { text } of seen) {
      for (const m of text.matchAll(/"model":"([^"]*)"/g)) models.add(m[1] ?? '');
      for (const m of text.matchAll(/msg_[A-Za-z0-9_-]*/g)) ids.add(m[0]);
    }
    expect([...models].sort()).toEqual([...TIER_IDS].sort());
    expect(ids.size).toBeGreaterThan(10);
    for (const id of ids) expect(id).toMatch(/^msg_[0-9a-f]{24}$/);
  });
});
