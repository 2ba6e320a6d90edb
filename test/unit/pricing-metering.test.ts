import { describe, expect, it } from 'vitest';
import { OpenAiChatDialect } from '../../shared/dialects/openai-chat/dialect.js';
import { compileCatalog, type Tier } from '../../shared/domain/catalog.js';
import { parseCatalogDocument } from '../../shared/domain/catalog-schema.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { parseJsonObject } from '../../shared/domain/json-body.js';
import { priceUsage } from '../../shared/domain/money.js';
import { ToolCallIds } from '../../shared/domain/tool-call-ids.js';
import type { UsageRecord } from '../../shared/domain/usage.js';
import { normaliseUsage } from '../../shared/domain/usage-normalise.js';
import { silentLog } from '../../shared/http.js';
import { Meter } from '../../shared/lifecycle/metering.js';
import { validateChunk, validateCompletion } from '../support/openai-schema.js';

/** The meter and the chat dialect: what a request is charged, what its upstream cost, what the client sees. */

const catalog = compileCatalog(parseCatalogDocument(DEFAULT_CATALOG), 1, '2026-01-01T00:00:00.000Z');
const tier2 = catalog.tiers['tier-2'];
const primary = tier2.models[0] ?? tier2.models[1];
if (!primary) throw new Error('tier-2 has no model');

const AGENT_USAGE = {
  prompt_tokens: 21_500,
  completion_tokens: 800,
  total_tokens: 22_300,
  prompt_tokens_details: { cached_tokens: 20_000, cache_write_tokens: 1_000 },
  completion_tokens_details: { reasoning_tokens: 300 },
};

async function meter(
  tier: Tier,
  holdMicros: number,
  raw: unknown,
  { publishFails = false } = {},
): Promise<{ record: UsageRecord; chargeMicros: number }> {
  const records: UsageRecord[] = [];
  const m = new Meter(
    {
      // When publishing fails, the record must reach the hold's outbox instead.
      usage: {
        publish: async (r) => {
          if (publishFails) throw new Error('PutEvents failed');
          records.push(r);
        },
      },
      wallet: {
        placeHold: async () => ({ ok: true }),
        readBalance: async () => 0,
        writeOutbox: async (_account, _request, r) => void records.push(r),
      },
      log: silentLog,
      now: () => Date.parse('2026-01-01T00:00:01.000Z'),
    },
    {
      key: { keyId: 'key_1', accountId: 'acc_1', status: 'active' },
      tier,
      catalogVersion: 1,
      requestId: 'req_1',
      startedAt: Date.parse('2026-01-01T00:00:00.000Z'),
      surface: 'chat',
      stream: false,
      choices: 1,
      estimateInput: async () => 0,
    },
  );
  m.admitted(holdMicros, 1000);
  m.served = tier.models[0];
  m.usage = () => normaliseUsage(raw);
  const billed = await m.finish('ok');
  const record = records[0];
  if (!record) throw new Error('no usage recorded');
  return { record, chargeMicros: billed.chargeMicros };
}

describe('metering with cache and reasoning tokens', () => {
  it('charges the tier price by §13, records every count and the catalog cost when none is reported', async () => {
    const { record, chargeMicros } = await meter(tier2, 1_000_000, AGENT_USAGE);
    expect(chargeMicros).toBe(5_250);
    expect(record).toMatchObject({
      inputTokens: 21_500,
      cachedInputTokens: 20_000,
      cacheWriteTokens: 1_000,
      outputTokens: 800,
      reasoningTokens: 300,
      chargeMicros: 5_250,
      upstreamCostMicros: 3_880,
      upstreamCostSource: 'catalog',
    });
    expect(record.clippedChargeMicros).toBeUndefined();
  });

  it("records the upstream's own reported cost as the upstream cost, rounded up", async () => {
    const { record } = await meter(tier2, 1_000_000, { ...AGENT_USAGE, cost: 0.0029991 });
    expect(record).toMatchObject({
      upstreamCostMicros: 3_000,
      upstreamCostSource: 'upstream',
      chargeMicros: 5_250,
    });
  });

  it("counts the provider's charge on a request billed to the operator's own key (BYOK), not just the fee", async () => {
    const byok = {
      ...AGENT_USAGE,
      cost: 0.0002,
      is_byok: true,
      cost_details: { upstream_inference_cost: 0.004 },
    };
    const { record } = await meter(tier2, 1_000_000, byok);
    expect(record).toMatchObject({ upstreamCostMicros: 4_200, upstreamCostSource: 'upstream' });
    // Without the provider's figure only the fee is known: the catalog's price applies instead.
    const { record: feeOnly } = await meter(tier2, 1_000_000, {
      ...AGENT_USAGE,
      cost: 0.0002,
      is_byok: true,
    });
    expect(feeOnly).toMatchObject({ upstreamCostMicros: 3_880, upstreamCostSource: 'catalog' });
    // Fractions of a micro-USD in both figures are rounded up once, on their sum: 0.2 µ$ is 1 µ$.
    const { record: tiny } = await meter(tier2, 1_000_000, {
      ...AGENT_USAGE,
      cost: 0.0000001,
      is_byok: true,
      cost_details: { upstream_inference_cost: 0.0000001 },
    });
    expect(tiny).toMatchObject({ upstreamCostMicros: 1, upstreamCostSource: 'upstream' });
  });

  it('charges a free tier 0 and still records the request and its upstream cost', async () => {
    const doc = structuredClone(DEFAULT_CATALOG);
    doc.tiers['tier-2'].price = { inputUsdPerMTok: 0, outputUsdPerMTok: 0 };
    const free = compileCatalog(parseCatalogDocument(doc), 2, '2026-01-01T00:00:00.000Z').tiers['tier-2'];
    const { record, chargeMicros } = await meter(free, 0, AGENT_USAGE);
    expect(chargeMicros).toBe(0);
    expect(record).toMatchObject({
      chargeMicros: 0,
      holdMicros: 0,
      upstreamCostMicros: 3_880,
      cachedInputTokens: 20_000,
    });
  });

  it("writes a free tier's record to its hold's outbox when the usage event cannot be published", async () => {
    const doc = structuredClone(DEFAULT_CATALOG);
    doc.tiers['tier-2'].price = { inputUsdPerMTok: 0, outputUsdPerMTok: 0 };
    const free = compileCatalog(parseCatalogDocument(doc), 2, '2026-01-01T00:00:00.000Z').tiers['tier-2'];
    const { record } = await meter(free, 0, AGENT_USAGE, { publishFails: true });
    expect(record).toMatchObject({ chargeMicros: 0, holdMicros: 0, upstreamCostMicros: 3_880 });
  });

  it('charges the hold, never more, and keeps what the usage came to', async () => {
    const { record, chargeMicros } = await meter(tier2, 5_000, AGENT_USAGE);
    expect(chargeMicros).toBe(5_000);
    expect(record).toMatchObject({ chargeMicros: 5_000, holdMicros: 5_000, clippedChargeMicros: 5_250 });
  });
});

describe('usage.cost on chat responses', () => {
  const dialect = new OpenAiChatDialect(async () => new ToolCallIds('pricing test ids'));
  const parse = async (body: Record<string, unknown>) => {
    const request = dialect.parse({
      method: 'POST',
      path: '/v1/chat/completions',
      headers: {},
      body: JSON.stringify(body),
    } as never);
    await dialect.prepare(request);
    return dialect.exchange(request, { requestId: 'abc123', tier: 'tier-2', created: 1_700_000_000 });
  };
  const billed = {
    ...normaliseUsage(AGENT_USAGE),
    inputTokens: 21_500,
    outputTokens: 800,
    chargeMicros: 5_250,
  };

  it('is the charge in USD on the body, next to the details the upstream reported, never its cost', async () => {
    const x = await parse({ model: 'tier-2', messages: [{ role: 'user', content: 'hi' }] });
    const upstream = {
      id: 'gen-1',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      usage: { ...AGENT_USAGE, cost: 0.00388, is_byok: false },
    };
    expect(x.complete(JSON.stringify(upstream))).toBe(true);
    expect(x.usage()).toMatchObject({ cachedInputTokens: 20_000, upstreamCostMicros: 3_880 });
    const body = x.body(billed) as { usage: Record<string, unknown> };
    expect(validateCompletion(body), JSON.stringify(validateCompletion.errors)).toBe(true);
    expect(body.usage).toEqual({
      prompt_tokens: 21_500,
      completion_tokens: 800,
      total_tokens: 22_300,
      prompt_tokens_details: { cached_tokens: 20_000, cache_write_tokens: 1_000 },
      completion_tokens_details: { reasoning_tokens: 300 },
      cost: 0.00525,
    });
    expect(priceUsage(tier2.price, billed)).toBe(5_250);
  });

  it('is on the final usage chunk of a stream, which stays a valid chunk', async () => {
    const x = await parse({
      model: 'tier-2',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'hi' }],
    });
    x.event({
      event: undefined,
      data: JSON.stringify({ choices: [{ index: 0, delta: { content: 'ok' } }] }),
    });
    x.event({
      event: undefined,
      data: JSON.stringify({ choices: [], usage: { ...AGENT_USAGE, cost: 0.00388 } }),
    });
    const [usageFrame] = x.endFrames(billed);
    const chunk = parseJsonObject((usageFrame ?? '').replace(/^data: /, '').trim());
    expect(validateChunk(chunk), JSON.stringify(validateChunk.errors)).toBe(true);
    expect(chunk.usage).toMatchObject({ cost: 0.00525, prompt_tokens_details: { cached_tokens: 20_000 } });
    expect(JSON.stringify(chunk)).not.toContain('0.00388');
  });
});
