import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoFault } from '../../local/demo-upstream.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { TIER_ALIASES, TIER_IDS } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { demoUpstream, marker, rawRequest, readSse, WEATHER_TOOL } from '../support/e2e-helpers.js';
import { LeakScan } from '../support/leak-scan.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * The tier abstraction must not leak: nothing a client can see (bodies, chunks, header names and
 * values, error messages) may name the upstream model or provider or carry upstream-specific fields.
 */

let runtime: LocalRuntime;

const { seen, denied, deny, denyModelId, record, recordResponse, leaksIn } = new LeakScan();

// Headers every HTTP server sends; their values say nothing about the upstream.
const TRANSPORT_HEADERS = new Set([
  'content-type',
  'content-length',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'cache-control',
  'x-accel-buffering',
]);
// Gateway headers the design defines; their names are fine, their values are scanned anyway.
const GATEWAY_HEADERS = new Set(['x-request-id']);

/** Always denied, whatever the catalog or the demo upstream say. */
const STATIC_DENYLIST = [
  'openai',
  'google',
  'anthropic',
  'deepseek',
  'gemini',
  'claude',
  'DemoProvider',
  'provider',
  'system_fingerprint',
  'fp_demo',
  'gen-',
  'x-upstream',
  'openai-organization',
  'demo-org',
  'x-model-id',
  'x-generation-id',
  'native_finish_reason',
  'is_byok',
  'Demo upstream',
  'OPENROUTER',
];

/**
 * Asks the demo upstream directly what it leaks (provider names, fingerprints, id prefixes,
 * identifying headers and fields), so the denylist follows the emulator if it changes.
 */
async function learnUpstreamIdentity(baseUrl: string, model: string): Promise<void> {
  const res = await fetch(`${baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'tokens:1' }] }),
  });
  for (const [name, value] of res.headers.entries()) {
    if (TRANSPORT_HEADERS.has(name)) continue;
    if (!GATEWAY_HEADERS.has(name)) deny(name);
    if (/[a-z]/i.test(value)) deny(value);
  }
  const body = (await res.json()) as Record<string, unknown>;
  deny(String(body.provider ?? ''));
  const fingerprint = String(body.system_fingerprint ?? '');
  deny(fingerprint);
  deny(fingerprint.replace(/[0-9a-f]+$/, ''));
  const id = String(body.id ?? '');
  deny(id);
  deny(/^[a-z]+-/i.exec(id)?.[0]);
  // Top-level fields beyond the OpenAI schema are upstream-specific.
  const openAiFields = new Set(['id', 'object', 'created', 'model', 'choices', 'usage', 'service_tier']);
  for (const field of Object.keys(body)) if (!openAiFields.has(field)) deny(field);
  // Nested fields beyond the OpenAI schema (native finish reasons, BYOK flags), as JSON keys. `cost`
  // is not one: the gateway sends its own charge there (DESIGN §13), never the upstream's cost.
  const usageFields = new Set([
    'prompt_tokens',
    'completion_tokens',
    'total_tokens',
    'prompt_tokens_details',
    'completion_tokens_details',
    'cost',
  ]);
  for (const field of Object.keys((body.usage as object | undefined) ?? {})) {
    if (!usageFields.has(field)) deny(`"${field}"`);
  }
  const choiceFields = new Set(['index', 'message', 'logprobs', 'finish_reason']);
  const choice = (Array.isArray(body.choices) ? body.choices[0] : undefined) as object | undefined;
  for (const field of Object.keys(choice ?? {})) if (!choiceFields.has(field)) deny(`"${field}"`);

  const models = (await (await fetch(`${baseUrl}/models`)).json()) as {
    data?: Array<{ name?: string; owned_by?: string }>;
  };
  for (const m of models.data ?? []) {
    deny(m.owned_by);
    deny(m.name?.split(':')[0]);
  }
}

beforeAll(async () => {
  runtime = await startTestRuntime({ demoCreditUsd: 100 });
  for (const term of STATIC_DENYLIST) deny(term);
  for (const tier of Object.values(DEFAULT_CATALOG.tiers)) for (const m of tier.models) denyModelId(m.id);
  // The active catalog, too, in case the seeded one differs from the default.
  const active = await admin(runtime, 'GET', '/admin/tiers');
  const catalog = active.json.catalog as { tiers: Record<string, { models: Array<{ id: string }> }> };
  for (const tier of Object.values(catalog.tiers)) for (const m of tier.models) denyModelId(m.id);
  for (const tier of Object.values(catalog.tiers)) {
    for (const m of tier.models) await learnUpstreamIdentity(runtime.upstreamBaseUrl, m.id);
  }

  await exercise();
});
afterAll(async () => {
  await runtime?.close();
});

/** Sends a broad mix of requests and records everything clients get back. */
async function exercise(): Promise<void> {
  const upstream = demoUpstream(runtime);
  const say = (text: string) => [{ role: 'user' as const, content: `${text} ${marker()}` }];

  for (const model of [...TIER_IDS, ...Object.keys(TIER_ALIASES)]) {
    const res = await rawRequest(runtime, { model, max_tokens: 64, messages: say('hello tokens:4') });
    expect(res.status, model).toBe(200);
    await recordResponse(`non-stream ${model}`, res);

    const stream = await rawRequest(runtime, {
      model,
      max_tokens: 64,
      stream: true,
      stream_options: { include_usage: true },
      messages: say('stream tokens:4'),
    });
    expect(stream.status, model).toBe(200);
    for (const [name, value] of stream.headers.entries())
      record(`stream ${model} header`, `${name}: ${value}`);
    const sse = await readSse(stream);
    record(`stream ${model} body`, sse.text);
    expect(sse.text).toContain('"usage"');
  }

  for (const stream of [false, true]) {
    const res = await rawRequest(runtime, {
      model: 'tier-2',
      stream,
      tools: [WEATHER_TOOL],
      messages: say('What is the weather in Paris?'),
    });
    expect(res.status).toBe(200);
    const text = await recordResponse(`tools stream=${stream}`, res);
    expect(text).toContain('get_weather');
  }

  const multi = await rawRequest(runtime, {
    model: 'tier-1',
    n: 2,
    logprobs: true,
    stream: true,
    stream_options: { include_usage: true },
    messages: say('two tokens:3'),
  });
  await recordResponse('n=2 stream', multi);

  await recordResponse('models', await rawRequest(runtime, undefined, { method: 'GET', path: '/v1/models' }));
  await recordResponse('health', await rawRequest(runtime, undefined, { method: 'GET', path: '/health' }));
  await recordResponse(
    'health/live',
    await rawRequest(runtime, undefined, { method: 'GET', path: '/health/live' }),
  );

  // Client errors.
  const clientErrors: Array<[string, Parameters<typeof rawRequest>[1], Parameters<typeof rawRequest>[2]]> = [
    ['bad json', '{"model":', {}],
    ['bad param', { model: 'tier-1', messages: say('x'), temperature: 'hot' }, {}],
    ['unknown param', { model: 'tier-1', messages: say('x'), route: 'fallback' }, {}],
    ['unknown model', { model: 'openai/gpt-4o-mini', messages: say('x') }, {}],
    ['no key', { model: 'tier-1', messages: say('x') }, { apiKey: null }],
    ['unknown path', undefined, { method: 'GET', path: '/v1/engines' }],
    ['wrong method', undefined, { method: 'GET' }],
  ];
  for (const [label, body, options] of clientErrors) {
    await recordResponse(`error ${label}`, await rawRequest(runtime, body, options));
  }

  // Upstream faults: the demo's error messages name the provider and the model on purpose.
  const faults: DemoFault[] = [
    { kind: 'status', status: 500 },
    { kind: 'status', status: 400 },
    { kind: 'status', status: 401 },
    { kind: 'status', status: 404 },
    { kind: 'status', status: 429, retryAfterSeconds: 7 },
    { kind: 'status', status: 503 },
    { kind: 'malformed-sse' },
  ];
  for (const fault of faults) {
    for (const stream of [false, true]) {
      upstream.injectFault({ fault });
      try {
        const res = await rawRequest(runtime, {
          model: 'tier-3',
          max_tokens: 64,
          stream,
          messages: say('fault'),
        });
        await recordResponse(`fault ${JSON.stringify(fault)} stream=${stream}`, res);
      } finally {
        upstream.clearFaults();
      }
    }
  }
  upstream.injectFault({ fault: { kind: 'disconnect', afterChunks: 2 }, times: 1 });
  const cut = await rawRequest(runtime, {
    model: 'tier-4',
    stream: true,
    max_tokens: 64,
    messages: say('cut tokens:8'),
  });
  await recordResponse('mid-stream disconnect', cut);

  // The same errors as the official SDK reports them.
  const client = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: runtime.apiKey, maxRetries: 0 });
  for (const status of [500, 400, 429]) {
    upstream.injectFault({ fault: { kind: 'status', status } });
    try {
      await client.chat.completions.create({ model: 'tier-2', max_tokens: 64, messages: say('sdk') });
      record(`sdk status ${status}`, 'no error raised');
    } catch (err) {
      record(`sdk status ${status} message`, err instanceof Error ? err.message : String(err));
      if (err instanceof OpenAI.APIError)
        record(`sdk status ${status} error`, JSON.stringify(err.error ?? null));
    } finally {
      upstream.clearFaults();
    }
  }
}

describe('no upstream identity reaches clients', () => {
  it('built a denylist from the catalog and the demo upstream', () => {
    const terms = [...denied];
    for (const tier of Object.values(DEFAULT_CATALOG.tiers)) {
      for (const m of tier.models) expect(terms).toContain(m.id.toLowerCase());
    }
    // What the demo upstream itself revealed when asked directly.
    for (const term of [
      'openai-organization',
      'x-upstream-provider',
      'demo-org',
      'gen-',
      'fp_demo_',
      '"is_byok"',
    ]) {
      expect(terms).toContain(term);
    }
    expect(seen.length).toBeGreaterThan(100);
  });

  it('flags the upstream responses themselves, so the scan can fail', async () => {
    const model = DEFAULT_CATALOG.tiers['tier-2'].models[0]?.id ?? '';
    const res = await fetch(`${runtime.upstreamBaseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'tokens:2' }] }),
    });
    const raw = [...res.headers.entries()].map(([n, v]) => ({ source: 'raw header', text: `${n}: ${v}` }));
    raw.push({ source: 'raw body', text: await res.text() });
    const found = new Set(leaksIn(raw).map((l) => l.term));
    for (const term of [
      model,
      'provider',
      'system_fingerprint',
      'gen-',
      'openai-organization',
      'openrouter',
    ]) {
      expect([...found]).toContain(term.toLowerCase());
    }
  });

  it('leaks no model id, provider or upstream field in any body, chunk, header or error', () => {
    expect(leaksIn(seen).map((l) => l.where)).toEqual([]);
  });

  it('reports the tier, never a model, in every model field', () => {
    const models = new Set<string>();
    for (const { text } of seen) for (const m of text.matchAll(/"model":"([^"]*)"/g)) models.add(m[1] ?? '');
    expect(models.size).toBeGreaterThan(0);
    for (const model of models) expect(TIER_IDS as readonly string[]).toContain(model);
  });

  it('uses the gateway ids, never the upstream ones', () => {
    const ids = new Set<string>();
    for (const { text } of seen) for (const m of text.matchAll(/"id":"([^"]*)"/g)) ids.add(m[1] ?? '');
    // Tool-call ids and the model list's ids (the tiers and tier-auto) are not completion ids.
    const listed = new Set<string>([...TIER_IDS, 'tier-auto']);
    const completionIds = [...ids].filter((id) => !id.startsWith('call_') && !listed.has(id));
    expect(completionIds.length).toBeGreaterThan(0);
    for (const id of completionIds) expect(id).toMatch(/^chatcmpl-[0-9a-f]+$/);
  });
});
