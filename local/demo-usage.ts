/**
 * The usage the demo upstream reports for chat completions, as OpenRouter reports it: prompt
 * tokens with the part read from and written to a prompt cache, completion tokens with the part
 * spent reasoning, and the request's cost in USD at the default catalog's list prices.
 */
import { createHash } from 'node:crypto';
import { type PriceDocument, toPrice } from '../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../shared/domain/default-catalog.js';

/** Prompts with a shorter cacheable prefix are not cached (OpenAI's threshold). */
export const MIN_CACHED_PREFIX_TOKENS = 1024;
/** The cache forgets everything past this many prefixes, so a long load run cannot grow it for ever. */
const MAX_CACHED_PREFIXES = 10_000;
const FALLBACK_PRICE: PriceDocument = { inputUsdPerMTok: 1, outputUsdPerMTok: 2 };
/** Models that think before they answer: half their completion tokens are reasoning. */
const REASONING_MODEL = /(^|\/)(o\d|deepseek-r\d)/;

/** List prices of every model in the default catalog. */
export const PRICES = new Map<string, PriceDocument>();
for (const tier of Object.values(DEFAULT_CATALOG.tiers)) {
  for (const m of tier.models) PRICES.set(m.id, m);
}

const tokensOf = (value: unknown): number => Math.ceil(Buffer.byteLength(JSON.stringify(value)) / 4);

/** How a prompt splits: its tokens, and those read from and written to the cache. */
export interface PromptSplit {
  promptTokens: number;
  cachedTokens: number;
  cacheWriteTokens: number;
}

/**
 * The demo's prompt cache: every message but the last is a prefix; a prefix of at least 1,024
 * tokens is written to the cache the first time a model sees it and read from it afterwards.
 */
export class PromptCache {
  private readonly seen = new Set<string>();

  split(model: string, messages: unknown[]): PromptSplit {
    const promptTokens = tokensOf(messages);
    const prefix = messages.slice(0, -1);
    const prefixTokens = prefix.length === 0 ? 0 : Math.min(promptTokens, tokensOf(prefix));
    if (prefixTokens < MIN_CACHED_PREFIX_TOKENS)
      return { promptTokens, cachedTokens: 0, cacheWriteTokens: 0 };
    const key = createHash('sha256').update(model).update('\0').update(JSON.stringify(prefix)).digest('hex');
    const hit = this.seen.has(key);
    if (!hit && this.seen.size >= MAX_CACHED_PREFIXES) this.seen.clear();
    this.seen.add(key);
    return {
      promptTokens,
      cachedTokens: hit ? prefixTokens : 0,
      cacheWriteTokens: hit ? 0 : prefixTokens,
    };
  }
}

/** The `usage` block for a completion of `completionTokens` tokens on `model`. */
export function chatUsage(
  model: string,
  prompt: PromptSplit,
  completionTokens: number,
): Record<string, unknown> {
  const price = toPrice(PRICES.get(model) ?? FALLBACK_PRICE);
  const reasoningTokens = REASONING_MODEL.test(model) ? Math.floor(completionTokens / 2) : 0;
  const newInput = prompt.promptTokens - prompt.cachedTokens - prompt.cacheWriteTokens;
  // Exact in micro-USD per million tokens; one division to USD, as an upstream bills to the fraction.
  const picoUsd =
    newInput * price.inputMicrosPerMTok +
    prompt.cachedTokens * (price.cachedInputMicrosPerMTok ?? price.inputMicrosPerMTok) +
    prompt.cacheWriteTokens * (price.cacheWriteMicrosPerMTok ?? price.inputMicrosPerMTok) +
    completionTokens * price.outputMicrosPerMTok;
  return {
    prompt_tokens: prompt.promptTokens,
    completion_tokens: completionTokens,
    total_tokens: prompt.promptTokens + completionTokens,
    cost: picoUsd / 1e12,
    is_byok: false,
    prompt_tokens_details: {
      cached_tokens: prompt.cachedTokens,
      cache_write_tokens: prompt.cacheWriteTokens,
      audio_tokens: 0,
    },
    completion_tokens_details: { reasoning_tokens: reasoningTokens },
  };
}
