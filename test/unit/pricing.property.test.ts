import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  holdPrice,
  maxOutputTokensWithin,
  priceTokens,
  priceUsage,
  type TokenPrice,
} from '../../shared/domain/money.js';
import { normaliseUsage } from '../../shared/domain/usage-normalise.js';

/**
 * Properties of the §13 charge: exact integer arithmetic, nothing lost or made up between its
 * parts, monotonic in every count, never above the hold, and one charge whatever wire shape the
 * usage came in.
 */

const rate = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 200_000_000 }));
const priceArb: fc.Arbitrary<TokenPrice> = fc.record({
  inputMicrosPerMTok: rate,
  outputMicrosPerMTok: rate,
  cachedInputMicrosPerMTok: rate,
  cacheWriteMicrosPerMTok: rate,
});
const count = fc.integer({ min: 0, max: 50_000_000 });
/** Disjoint parts of a request: new input, cache reads, cache writes, output. */
const partsArb = fc.record({ fresh: count, cached: count, written: count, output: count });
type Parts = { fresh: number; cached: number; written: number; output: number };

const countsOf = (p: Parts) => ({
  inputTokens: p.fresh + p.cached + p.written,
  cachedInputTokens: p.cached,
  cacheWriteTokens: p.written,
  outputTokens: p.output,
});

/** Each part's exact cost in micro-USD × 1e6 (no rounding). */
function exactParts(price: TokenPrice, p: Parts): bigint[] {
  return [
    BigInt(p.fresh) * BigInt(price.inputMicrosPerMTok),
    BigInt(p.cached) * BigInt(price.cachedInputMicrosPerMTok ?? price.inputMicrosPerMTok),
    BigInt(p.written) * BigInt(price.cacheWriteMicrosPerMTok ?? price.inputMicrosPerMTok),
    BigInt(p.output) * BigInt(price.outputMicrosPerMTok),
  ];
}

describe('the charge, as properties', () => {
  it('is the exact sum of its parts rounded up once: nothing lost, nothing made up', () => {
    fc.assert(
      fc.property(priceArb, partsArb, (price, parts) => {
        const exact = exactParts(price, parts).reduce((a, b) => a + b, 0n);
        const charged = BigInt(priceUsage(price, countsOf(parts))) * 1_000_000n;
        expect(charged >= exact).toBe(true);
        expect(charged - exact < 1_000_000n).toBe(true);
        expect(Number.isSafeInteger(priceUsage(price, countsOf(parts)))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('never falls when any count grows', () => {
    const partNames = ['fresh', 'cached', 'written', 'output'] as const;
    fc.assert(
      fc.property(
        priceArb,
        partsArb,
        fc.constantFrom(...partNames),
        fc.integer({ min: 1, max: 1_000_000 }),
        (price, parts, part, extra) => {
          const more = { ...parts, [part]: parts[part] + extra };
          expect(priceUsage(price, countsOf(more))).toBeGreaterThanOrEqual(
            priceUsage(price, countsOf(parts)),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never exceeds the hold, however the cache splits a prompt within the bound', () => {
    fc.assert(
      fc.property(
        priceArb,
        fc.integer({ min: 0, max: 20_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (price, inputBound, cap, used, cachedShare, writtenShare, outputShare) => {
          const inputTokens = Math.floor(inputBound * used);
          const cached = Math.floor(inputTokens * cachedShare);
          const written = Math.floor((inputTokens - cached) * writtenShare);
          const usage = {
            inputTokens,
            cachedInputTokens: cached,
            cacheWriteTokens: written,
            outputTokens: Math.floor(cap * outputShare),
          };
          expect(priceUsage(price, usage)).toBeLessThanOrEqual(
            priceTokens(holdPrice(price), inputBound, cap),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('lowers the output cap so the worst case still fits what the wallet holds', () => {
    fc.assert(
      fc.property(
        priceArb,
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        (price, inputBound, budget) => {
          const worst = holdPrice(price);
          fc.pre(priceTokens(worst, inputBound, 0) <= budget && price.outputMicrosPerMTok > 0);
          const cap = maxOutputTokensWithin(worst, inputBound, budget);
          // Every prompt token written to the cache at the highest rate, and the whole cap generated.
          const allWritten = { inputTokens: inputBound, cacheWriteTokens: inputBound, outputTokens: cap };
          expect(priceUsage(price, allWritten)).toBeLessThanOrEqual(budget);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is the same for one request reported in the OpenAI or the Anthropic shape', () => {
    fc.assert(
      fc.property(priceArb, partsArb, (price, p) => {
        const openai = normaliseUsage({
          prompt_tokens: p.fresh + p.cached + p.written,
          completion_tokens: p.output,
          prompt_tokens_details: { cached_tokens: p.cached, cache_write_tokens: p.written },
        });
        const anthropic = normaliseUsage({
          input_tokens: p.fresh,
          cache_read_input_tokens: p.cached,
          cache_creation_input_tokens: p.written,
          output_tokens: p.output,
        });
        expect(openai).toEqual({ ...countsOf(p), reasoningTokens: 0 });
        expect(anthropic).toEqual(countsOf(p));
        if (!openai || !anthropic) return;
        expect(priceUsage(price, openai)).toBe(priceUsage(price, anthropic));
      }),
      { numRuns: 300 },
    );
  });

  it('normalises any upstream counts into parts that add up to their totals', () => {
    const anyCount = fc.oneof(
      fc.integer({ min: -10, max: 2_000_000_000 }),
      fc.double(),
      fc.constant(undefined),
    );
    fc.assert(
      fc.property(
        anyCount,
        anyCount,
        anyCount,
        anyCount,
        anyCount,
        (prompt, completion, cached, written, reasoning) => {
          const usage = normaliseUsage({
            prompt_tokens: prompt,
            completion_tokens: completion,
            prompt_tokens_details: { cached_tokens: cached, cache_write_tokens: written },
            completion_tokens_details: { reasoning_tokens: reasoning },
          });
          if (!usage) return;
          const parts = (usage.cachedInputTokens ?? 0) + (usage.cacheWriteTokens ?? 0);
          expect(parts).toBeLessThanOrEqual(usage.inputTokens);
          expect(usage.reasoningTokens ?? 0).toBeLessThanOrEqual(usage.outputTokens);
          expect(() => priceUsage({ inputMicrosPerMTok: 1, outputMicrosPerMTok: 1 }, usage)).not.toThrow();
        },
      ),
      { numRuns: 500 },
    );
  });
});
