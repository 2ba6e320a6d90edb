import type { CatalogDocument } from './catalog.js';

/**
 * The catalog seeded on first use: OpenRouter model ids, first is primary, the rest are fallbacks.
 * Upstream costs are the providers' list prices, cache reads and writes included (OpenAI charges
 * nothing extra to write its automatic cache, so its write rate is the input rate; Gemini's write
 * rate includes five minutes of storage, as OpenRouter bills it; Anthropic's is the 5-minute
 * write). `price` is what clients are charged per tier.
 */
export const DEFAULT_CATALOG: CatalogDocument = {
  tiers: {
    'tier-1': {
      models: [
        {
          id: 'openai/gpt-4o-mini',
          inputUsdPerMTok: 0.15,
          outputUsdPerMTok: 0.6,
          cachedInputUsdPerMTok: 0.075,
          cacheWriteUsdPerMTok: 0.15,
          contextWindow: 128000,
        },
        {
          id: 'google/gemini-2.0-flash-001',
          inputUsdPerMTok: 0.1,
          outputUsdPerMTok: 0.4,
          cachedInputUsdPerMTok: 0.025,
          cacheWriteUsdPerMTok: 0.1833,
          contextWindow: 1048576,
        },
      ],
      price: {
        inputUsdPerMTok: 0.2,
        outputUsdPerMTok: 0.8,
        cachedInputUsdPerMTok: 0.1,
        cacheWriteUsdPerMTok: 0.2,
      },
      maxOutputTokens: 4096,
      ttftTimeoutMs: 10000,
      totalTimeoutMs: 120000,
    },
    'tier-2': {
      models: [
        {
          id: 'openai/gpt-4.1-mini',
          inputUsdPerMTok: 0.4,
          outputUsdPerMTok: 1.6,
          cachedInputUsdPerMTok: 0.1,
          cacheWriteUsdPerMTok: 0.4,
          contextWindow: 1047576,
        },
        {
          id: 'google/gemini-2.5-flash',
          inputUsdPerMTok: 0.3,
          outputUsdPerMTok: 2.5,
          cachedInputUsdPerMTok: 0.075,
          cacheWriteUsdPerMTok: 0.3833,
          contextWindow: 1048576,
        },
      ],
      price: {
        inputUsdPerMTok: 0.5,
        outputUsdPerMTok: 2.5,
        cachedInputUsdPerMTok: 0.125,
        cacheWriteUsdPerMTok: 0.5,
      },
      maxOutputTokens: 8192,
      ttftTimeoutMs: 15000,
      totalTimeoutMs: 180000,
    },
    'tier-3': {
      models: [
        {
          id: 'anthropic/claude-sonnet-4',
          inputUsdPerMTok: 3,
          outputUsdPerMTok: 15,
          cachedInputUsdPerMTok: 0.3,
          cacheWriteUsdPerMTok: 3.75,
          contextWindow: 200000,
        },
        {
          id: 'openai/gpt-4.1',
          inputUsdPerMTok: 2,
          outputUsdPerMTok: 8,
          cachedInputUsdPerMTok: 0.5,
          cacheWriteUsdPerMTok: 2,
          contextWindow: 1047576,
        },
      ],
      price: {
        inputUsdPerMTok: 3.5,
        outputUsdPerMTok: 16,
        cachedInputUsdPerMTok: 0.55,
        cacheWriteUsdPerMTok: 4.5,
      },
      maxOutputTokens: 16384,
      ttftTimeoutMs: 20000,
      totalTimeoutMs: 300000,
    },
    'tier-4': {
      models: [
        {
          id: 'openai/o4-mini',
          inputUsdPerMTok: 1.1,
          outputUsdPerMTok: 4.4,
          cachedInputUsdPerMTok: 0.275,
          cacheWriteUsdPerMTok: 1.1,
          contextWindow: 200000,
        },
        {
          id: 'deepseek/deepseek-r1',
          inputUsdPerMTok: 0.55,
          outputUsdPerMTok: 2.19,
          cachedInputUsdPerMTok: 0.14,
          cacheWriteUsdPerMTok: 0.55,
          contextWindow: 163840,
        },
      ],
      price: {
        inputUsdPerMTok: 1.5,
        outputUsdPerMTok: 6,
        cachedInputUsdPerMTok: 0.375,
        cacheWriteUsdPerMTok: 1.5,
      },
      maxOutputTokens: 32768,
      ttftTimeoutMs: 60000,
      totalTimeoutMs: 600000,
    },
  },
};
