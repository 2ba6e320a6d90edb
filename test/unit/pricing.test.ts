import { describe, expect, it } from 'vitest';
import { compileCatalog } from '../../shared/domain/catalog.js';
import { catalogMargins, catalogWarnings } from '../../shared/domain/catalog-review.js';
import { parseCatalogDocument } from '../../shared/domain/catalog-schema.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { GatewayError } from '../../shared/domain/errors.js';
import { holdPrice, priceTokens, priceUsage, reportedCostToMicros } from '../../shared/domain/money.js';
import { normaliseUsage } from '../../shared/domain/usage-normalise.js';

/** DESIGN §13: cache-read and cache-write prices, one usage normaliser, the charge in integers. */

const catalog = compileCatalog(parseCatalogDocument(DEFAULT_CATALOG), 1, '2026-01-01T00:00:00.000Z');
const tier2 = catalog.tiers['tier-2'];

/** The README's agent turn: 20k cached + 1k written + 500 new input tokens, 800 output tokens. */
const AGENT_TURN = {
  inputTokens: 21_500,
  cachedInputTokens: 20_000,
  cacheWriteTokens: 1_000,
  outputTokens: 800,
};

describe('the charge (DESIGN §13)', () => {
  it('prices the README worked example on tier-2: $0.012750 before, $0.005250 after', () => {
    // Before: every prompt token at the input price.
    expect(priceTokens(tier2.price, AGENT_TURN.inputTokens, AGENT_TURN.outputTokens)).toBe(12_750);
    // After: 500 × 0.5 + 20,000 × 0.125 + 1,000 × 0.5 + 800 × 2.5 µ$ per token / 1e6.
    expect(priceUsage(tier2.price, AGENT_TURN)).toBe(5_250);
    // The primary model's cost for the same turn: 500 × 0.4 + 20,000 × 0.1 + 1,000 × 0.4 + 800 × 1.6.
    expect(priceUsage(tier2.models[0]?.cost ?? tier2.price, AGENT_TURN)).toBe(3_880);
  });

  it('rounds up once over the whole sum, not per part', () => {
    const price = {
      inputMicrosPerMTok: 1,
      outputMicrosPerMTok: 1,
      cachedInputMicrosPerMTok: 1,
      cacheWriteMicrosPerMTok: 1,
    };
    // Four parts of 0.25 µ$ each: 1 µ$, where rounding each part would make 4.
    expect(
      priceUsage(price, {
        inputTokens: 750_000,
        cachedInputTokens: 250_000,
        cacheWriteTokens: 250_000,
        outputTokens: 250_000,
      }),
    ).toBe(1);
    expect(priceUsage(price, { inputTokens: 1, outputTokens: 0 })).toBe(1);
    expect(priceUsage(price, { inputTokens: 0, outputTokens: 0 })).toBe(0);
  });

  it('defaults cache rates to the input rate and refuses counts that do not add up', () => {
    const plain = { inputMicrosPerMTok: 3_000_000, outputMicrosPerMTok: 15_000_000 };
    expect(
      priceUsage(plain, {
        inputTokens: 1000,
        cachedInputTokens: 400,
        cacheWriteTokens: 100,
        outputTokens: 10,
      }),
    ).toBe(priceTokens(plain, 1000, 10));
    expect(() =>
      priceUsage(plain, { inputTokens: 10, cachedInputTokens: 8, cacheWriteTokens: 3, outputTokens: 0 }),
    ).toThrow(/must not exceed inputTokens/);
    expect(() => priceUsage(plain, { inputTokens: 10, cachedInputTokens: -1, outputTokens: 0 })).toThrow(
      /cachedInputTokens must be a non-negative integer/,
    );
  });

  it('holds every input token at the highest of the input, cache-read and cache-write rates', () => {
    const tier3 = catalog.tiers['tier-3'].price; // cache writes at $4.5 above input at $3.5
    expect(holdPrice(tier3)).toEqual({ inputMicrosPerMTok: 4_500_000, outputMicrosPerMTok: 16_000_000 });
    expect(holdPrice(tier2.price).inputMicrosPerMTok).toBe(500_000);
  });

  it("reads an upstream's reported cost to the micro-USD, a fraction rounded up", () => {
    expect(reportedCostToMicros(0.00388)).toBe(3_880);
    expect(reportedCostToMicros(0.0000073)).toBe(8);
    expect(reportedCostToMicros(0.0038800000000000002)).toBe(3_880); // float noise is not a fraction
    expect(reportedCostToMicros(1e-7)).toBe(1);
    expect(reportedCostToMicros(0)).toBe(0);
    expect(reportedCostToMicros(12.5)).toBe(12_500_000);
    for (const bad of [-0.1, Number.NaN, Number.POSITIVE_INFINITY, '0.1', null, 1e21]) {
      expect(reportedCostToMicros(bad)).toBeUndefined();
    }
  });
});

describe('usage normalisation', () => {
  it('reads the OpenAI shape: cache reads, cache writes and reasoning are parts of their totals', () => {
    expect(
      normaliseUsage({
        prompt_tokens: 21_500,
        completion_tokens: 800,
        total_tokens: 22_300,
        prompt_tokens_details: { cached_tokens: 20_000, cache_write_tokens: 1_000, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 300 },
        cost: 0.00388,
      }),
    ).toEqual({ ...AGENT_TURN, reasoningTokens: 300, upstreamCostMicros: 3_880 });
  });

  it('reads the Anthropic shape: input_tokens excludes cache reads and writes', () => {
    expect(
      normaliseUsage({
        input_tokens: 500,
        cache_read_input_tokens: 20_000,
        cache_creation_input_tokens: 1_000,
        output_tokens: 800,
      }),
    ).toEqual(AGENT_TURN);
  });

  it('gives the same normalised usage and the same charge for one turn in either shape', () => {
    const openai = normaliseUsage({
      prompt_tokens: 21_500,
      completion_tokens: 800,
      prompt_tokens_details: { cached_tokens: 20_000, cache_write_tokens: 1_000 },
    });
    const anthropic = normaliseUsage({
      input_tokens: 500,
      cache_read_input_tokens: 20_000,
      cache_creation_input_tokens: 1_000,
      output_tokens: 800,
    });
    expect(openai && priceUsage(tier2.price, openai)).toBe(5_250);
    expect(anthropic && priceUsage(tier2.price, anthropic)).toBe(5_250);
  });

  it('cuts parts reported larger than their whole, and ignores what is not a count', () => {
    expect(
      normaliseUsage({
        prompt_tokens: 100,
        completion_tokens: 10,
        prompt_tokens_details: { cached_tokens: 90, cache_write_tokens: 50 },
        completion_tokens_details: { reasoning_tokens: 99 },
        cost: 'free',
      }),
    ).toEqual({
      inputTokens: 100,
      outputTokens: 10,
      cachedInputTokens: 90,
      cacheWriteTokens: 10,
      reasoningTokens: 10,
    });
    expect(
      normaliseUsage({
        prompt_tokens: 5.7,
        completion_tokens: 2,
        prompt_tokens_details: { cached_tokens: -3 },
      }),
    ).toMatchObject({ inputTokens: 5, cachedInputTokens: 0 });
  });

  it('is undefined without both a prompt and an output count', () => {
    for (const raw of [
      undefined,
      null,
      [],
      { prompt_tokens: 10 },
      { completion_tokens: 10 },
      { input_tokens: 10, cache_read_input_tokens: 5 },
      { prompt_tokens: 'ten', completion_tokens: 1 },
    ]) {
      expect(normaliseUsage(raw)).toBeUndefined();
    }
  });
});

describe('catalog cache prices', () => {
  const withPrice = (price: Record<string, unknown>) => {
    const doc = structuredClone(DEFAULT_CATALOG) as unknown as {
      tiers: Record<string, { price: Record<string, unknown>; models: Array<Record<string, unknown>> }>;
    };
    Object.assign((doc.tiers['tier-1'] as { price: Record<string, unknown> }).price, price);
    return doc;
  };
  const refusal = (doc: unknown): GatewayError => {
    try {
      parseCatalogDocument(doc);
    } catch (err) {
      if (err instanceof GatewayError) return err;
      throw err;
    }
    throw new Error('the catalog was accepted');
  };

  it('names the bad cache price field', () => {
    for (const [field, value] of [
      ['cachedInputUsdPerMTok', -0.1],
      ['cacheWriteUsdPerMTok', 'cheap'],
      ['cachedInputUsdPerMTok', 0.0000001],
    ] as const) {
      const err = refusal(withPrice({ [field]: value }));
      expect(err.status).toBe(400);
      expect(err.param).toBe(`tiers.tier-1.price.${field}`);
      expect(err.message).toContain(field);
    }
    const doc = withPrice({});
    (doc.tiers['tier-2']?.models[1] as Record<string, unknown>).cacheWriteUsdPerMTok = -1;
    expect(refusal(doc).param).toBe('tiers.tier-2.models.1.cacheWriteUsdPerMTok');
  });

  it('allows a price of 0 everywhere, and compiles absent cache prices to the input price', () => {
    const free = withPrice({
      inputUsdPerMTok: 0,
      outputUsdPerMTok: 0,
      cachedInputUsdPerMTok: 0,
      cacheWriteUsdPerMTok: 0,
    });
    const compiled = compileCatalog(parseCatalogDocument(free), 2, '2026-01-01T00:00:00.000Z');
    expect(priceUsage(compiled.tiers['tier-1'].price, AGENT_TURN)).toBe(0);
    const plain = withPrice({});
    delete plain.tiers['tier-1']?.price.cachedInputUsdPerMTok;
    delete plain.tiers['tier-1']?.price.cacheWriteUsdPerMTok;
    const price = compileCatalog(parseCatalogDocument(plain), 2, '2026-01-01T00:00:00.000Z').tiers['tier-1']
      .price;
    expect(price.cachedInputMicrosPerMTok).toBe(200_000);
    expect(price.cacheWriteMicrosPerMTok).toBe(200_000);
  });

  it('shows each tier margin at 0, 50 and 90% cache hits and warns about a tier selling below cost', () => {
    const margins = catalogMargins(DEFAULT_CATALOG);
    expect(margins.map((m) => m.tier)).toEqual(['tier-1', 'tier-2', 'tier-3', 'tier-4']);
    const t2 = margins[1];
    // 20,000 prompt + 1,000 output tokens on tier-2 against openai/gpt-4.1-mini.
    expect(t2?.at).toEqual([
      { cacheHitPercent: 0, chargeMicros: 12_500, upstreamCostMicros: 9_600, marginMicros: 2_900 },
      { cacheHitPercent: 50, chargeMicros: 8_750, upstreamCostMicros: 6_600, marginMicros: 2_150 },
      { cacheHitPercent: 90, chargeMicros: 5_750, upstreamCostMicros: 4_200, marginMicros: 1_550 },
    ]);
    expect(catalogWarnings(DEFAULT_CATALOG)).toEqual([]);

    // A fallback is billed at the tier's price too: its rates are checked like the primary's.
    const cheapFallback = structuredClone(DEFAULT_CATALOG) as unknown as {
      tiers: Record<string, { price: Record<string, unknown> }>;
    };
    Object.assign((cheapFallback.tiers['tier-3'] as { price: Record<string, unknown> }).price, {
      cachedInputUsdPerMTok: 0.35,
    });
    expect(catalogWarnings(parseCatalogDocument(cheapFallback))).toContain(
      'tier-3: the cache-read price $0.350000/MTok is below fallback "openai/gpt-4.1"\'s cost $0.500000/MTok: each such token loses money.',
    );

    // Cache reads sold below their cost: the tier loses money once most of the prompt is cached.
    const subsidised = withPrice({ cachedInputUsdPerMTok: 0.01 });
    const warnings = catalogWarnings(parseCatalogDocument(subsidised));
    expect(warnings).toContain(
      "tier-1: the cache-read price $0.010000/MTok is below the primary model's cost $0.075000/MTok: each such token loses money.",
    );
    expect(warnings.some((w) => /^tier-1 sells below cost at 90% cache hits/.test(w))).toBe(true);
    // A free tier is allowed, and said.
    const free = withPrice({
      inputUsdPerMTok: 0,
      outputUsdPerMTok: 0,
      cachedInputUsdPerMTok: 0,
      cacheWriteUsdPerMTok: 0,
    });
    expect(catalogWarnings(parseCatalogDocument(free))).toContain(
      'tier-1 sells below cost at 0%, 50%, 90% cache hits: a request of 20000 prompt and 1000 output tokens costs more upstream than it is charged.',
    );
  });
});
