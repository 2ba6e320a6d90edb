import { describe, expect, it } from 'vitest';
import { chatUsage, PromptCache } from '../../local/demo-usage.js';
import { toPrice } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { priceUsage } from '../../shared/domain/money.js';
import { normaliseUsage } from '../../shared/domain/usage-normalise.js';

/** The demo upstream's usage reports: a prompt cache, reasoning tokens and a cost, as OpenRouter reports them. */

const long = { role: 'system', content: 'Follow the style guide. '.repeat(250) };
const ask = { role: 'user', content: 'tokens:5' };

describe('the demo prompt cache', () => {
  it('writes a long prefix the first time a model sees it and reads it afterwards', () => {
    const cache = new PromptCache();
    const first = cache.split('openai/gpt-4.1-mini', [long, ask]);
    expect(first.cacheWriteTokens).toBeGreaterThanOrEqual(1024);
    expect(first.cachedTokens).toBe(0);
    const second = cache.split('openai/gpt-4.1-mini', [long, ask]);
    expect(second).toEqual({ ...first, cachedTokens: first.cacheWriteTokens, cacheWriteTokens: 0 });
    // Another model has a cache of its own.
    expect(cache.split('google/gemini-2.5-flash', [long, ask]).cachedTokens).toBe(0);
  });

  it('caches nothing below 1,024 prefix tokens, nor a single message', () => {
    const cache = new PromptCache();
    for (let i = 0; i < 2; i++) {
      expect(cache.split('m', [{ role: 'system', content: 'short' }, ask])).toMatchObject({
        cachedTokens: 0,
        cacheWriteTokens: 0,
      });
      expect(cache.split('m', [long])).toMatchObject({ cachedTokens: 0, cacheWriteTokens: 0 });
    }
  });
});

describe('the demo usage block', () => {
  it("reports a cost the gateway reads as the model's list price of the split, cache rates included", () => {
    const model = 'openai/gpt-4.1-mini';
    const split = { promptTokens: 21_500, cachedTokens: 20_000, cacheWriteTokens: 1_000 };
    const usage = chatUsage(model, split, 800);
    expect(usage).toMatchObject({
      prompt_tokens: 21_500,
      completion_tokens: 800,
      cost: 0.00388,
      prompt_tokens_details: { cached_tokens: 20_000, cache_write_tokens: 1_000 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    const normalised = normaliseUsage(usage);
    const listPrice = toPrice(
      DEFAULT_CATALOG.tiers['tier-2'].models[0] ?? { inputUsdPerMTok: 0, outputUsdPerMTok: 0 },
    );
    expect(normalised?.upstreamCostMicros).toBe(normalised && priceUsage(listPrice, normalised));
  });

  it('reports half the completion of a reasoning model as reasoning', () => {
    const split = { promptTokens: 10, cachedTokens: 0, cacheWriteTokens: 0 };
    expect(chatUsage('openai/o4-mini', split, 9).completion_tokens_details).toEqual({ reasoning_tokens: 4 });
    expect(chatUsage('deepseek/deepseek-r1', split, 10).completion_tokens_details).toEqual({
      reasoning_tokens: 5,
    });
    expect(chatUsage('openai/gpt-4o-mini', split, 10).completion_tokens_details).toEqual({
      reasoning_tokens: 0,
    });
  });
});
