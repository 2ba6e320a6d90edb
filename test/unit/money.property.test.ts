import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatMicros,
  MICROS_PER_USD,
  maxOutputTokensWithin,
  priceTokens,
  type TokenPrice,
  usdToMicros,
} from '../../shared/domain/money.js';

/** Properties of the integer micro-USD arithmetic, checked against BigInt references. */

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** ceil(n / d) for non-negative BigInts, written independently of the code under test. */
function ceilDiv(n: bigint, d: bigint): bigint {
  const q = n / d;
  return n % d === 0n ? q : q + 1n;
}

function referencePrice(price: TokenPrice, inputTokens: number, outputTokens: number): bigint {
  return ceilDiv(
    BigInt(inputTokens) * BigInt(price.inputMicrosPerMTok) +
      BigInt(outputTokens) * BigInt(price.outputMicrosPerMTok),
    1_000_000n,
  );
}

/** Prices up to $1,000 per 1M tokens (1e9 micro-USD), as a catalog could hold. */
const priceArb = fc.record({
  inputMicrosPerMTok: fc.integer({ min: 0, max: 1_000_000_000 }),
  outputMicrosPerMTok: fc.integer({ min: 0, max: 1_000_000_000 }),
});
const tokensArb = fc.integer({ min: 0, max: 1_000_000_000 });

describe('priceTokens', () => {
  it('equals ceil((in × inPrice + out × outPrice) / 1e6) computed in BigInt', () => {
    fc.assert(
      fc.property(priceArb, tokensArb, tokensArb, (price, i, o) => {
        expect(BigInt(priceTokens(price, i, o))).toBe(referencePrice(price, i, o));
      }),
      { numRuns: 2_000 },
    );
  });

  it('is exact where a float product would round (token counts up to 2^53 − 1)', () => {
    fc.assert(
      fc.property(
        fc.record({
          inputMicrosPerMTok: fc.integer({ min: 0, max: 500 }),
          outputMicrosPerMTok: fc.integer({ min: 0, max: 500 }),
        }),
        fc.maxSafeNat(),
        fc.maxSafeNat(),
        (price, i, o) => {
          const expected = referencePrice(price, i, o);
          fc.pre(expected <= MAX);
          expect(BigInt(priceTokens(price, i, o))).toBe(expected);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('never charges less than the exact price and never a whole micro-dollar more', () => {
    fc.assert(
      fc.property(priceArb, tokensArb, tokensArb, (price, i, o) => {
        const exactTimesMillion =
          BigInt(i) * BigInt(price.inputMicrosPerMTok) + BigInt(o) * BigInt(price.outputMicrosPerMTok);
        const charged = BigInt(priceTokens(price, i, o)) * 1_000_000n;
        expect(charged >= exactTimesMillion).toBe(true);
        expect(charged - exactTimesMillion < 1_000_000n).toBe(true);
      }),
    );
  });

  it('is monotone in both token counts', () => {
    fc.assert(
      fc.property(priceArb, tokensArb, tokensArb, fc.nat(1_000_000), (price, i, o, extra) => {
        const base = priceTokens(price, i, o);
        expect(priceTokens(price, i + extra, o)).toBeGreaterThanOrEqual(base);
        expect(priceTokens(price, i, o + extra)).toBeGreaterThanOrEqual(base);
      }),
    );
  });

  it('rejects negative, fractional and unsafe token counts', () => {
    const price = { inputMicrosPerMTok: 1, outputMicrosPerMTok: 1 };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ max: -1 }),
          fc.double({ noNaN: true, min: -1e9, max: 1e9 }).filter((d) => !Number.isInteger(d)),
          fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, 2 ** 60),
        ),
        fc.boolean(),
        (bad, asInput) => {
          expect(() => (asInput ? priceTokens(price, bad, 0) : priceTokens(price, 0, bad))).toThrow(
            RangeError,
          );
        },
      ),
    );
  });
});

describe('maxOutputTokensWithin', () => {
  /** Output price at least 1 micro-USD per 1M tokens; budgets up to $1,000, so m stays a safe integer. */
  const paidOutput = fc.record({
    inputMicrosPerMTok: fc.integer({ min: 0, max: 100_000_000 }),
    outputMicrosPerMTok: fc.integer({ min: 1, max: 100_000_000 }),
  });
  const budgetArb = fc.integer({ min: 0, max: 1_000_000_000 });

  it('is the largest output cap whose price, with the input, fits the budget', () => {
    fc.assert(
      fc.property(paidOutput, fc.integer({ min: 0, max: 10_000_000 }), budgetArb, (price, input, budget) => {
        fc.pre(priceTokens(price, input, 0) <= budget); // the input fits
        const m = maxOutputTokensWithin(price, input, budget);
        expect(Number.isSafeInteger(m)).toBe(true);
        expect(m).toBeGreaterThanOrEqual(0);
        expect(priceTokens(price, input, m)).toBeLessThanOrEqual(budget);
        expect(priceTokens(price, input, m + 1)).toBeGreaterThan(budget);
      }),
      { numRuns: 2_000 },
    );
  });

  it('returns 0 when the input alone does not fit', () => {
    fc.assert(
      fc.property(paidOutput, fc.integer({ min: 1, max: 10_000_000 }), budgetArb, (price, input, budget) => {
        fc.pre(priceTokens(price, input, 0) > budget);
        expect(maxOutputTokensWithin(price, input, budget)).toBe(0);
      }),
    );
  });

  it('is unbounded (MAX_SAFE_INTEGER) when output is free and the input fits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000_000 }),
        fc.nat(10_000_000),
        budgetArb,
        (pi, input, budget) => {
          const price = { inputMicrosPerMTok: pi, outputMicrosPerMTok: 0 };
          fc.pre(priceTokens(price, input, 0) <= budget);
          expect(maxOutputTokensWithin(price, input, budget)).toBe(Number.MAX_SAFE_INTEGER);
        },
      ),
    );
  });

  it('treats negative and fractional budgets as their floor, at least 0', () => {
    fc.assert(
      fc.property(paidOutput, fc.double({ min: -1e6, max: 1e6, noNaN: true }), (price, budget) => {
        const whole = Math.max(0, Math.floor(budget));
        expect(maxOutputTokensWithin(price, 0, budget)).toBe(maxOutputTokensWithin(price, 0, whole));
      }),
    );
  });
});

describe('usdToMicros and formatMicros', () => {
  it('round-trips every safe micro amount through its decimal string', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (micros) => {
        const text = formatMicros(micros);
        expect(text).toMatch(/^\d+\.\d{6}$/);
        expect(usdToMicros(text)).toBe(micros);
      }),
      { numRuns: 2_000 },
    );
  });

  it('round-trips amounts given as JSON numbers (up to 15 significant digits)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999_999_999 }), (micros) => {
        const usd = Number(formatMicros(micros));
        expect(usdToMicros(usd)).toBe(micros);
      }),
      { numRuns: 2_000 },
    );
  });

  it('formats exactly: whole dollars and six decimal places', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (micros) => {
        const [whole, frac] = formatMicros(micros).split('.');
        expect(BigInt(whole ?? 'x') * 1_000_000n + BigInt(frac ?? 'x')).toBe(BigInt(micros));
      }),
    );
    expect(formatMicros(0)).toBe('0.000000');
    expect(formatMicros(1)).toBe('0.000001');
    expect(formatMicros(MICROS_PER_USD)).toBe('1.000000');
    expect(formatMicros(-1_500_000)).toBe('-1.500000');
  });

  it('rejects more than six significant decimal places', () => {
    fc.assert(
      fc.property(
        fc.nat(1_000_000),
        fc.stringMatching(/^\d{6}$/),
        fc.stringMatching(/^\d{0,5}[1-9]$/),
        (whole, six, more) => {
          expect(usdToMicros(`${whole}.${six}${more}`)).toBeUndefined();
        },
      ),
    );
    for (const n of [1e-7, 0.1234567, 1.0000001]) expect(usdToMicros(n), String(n)).toBeUndefined();
    // Trailing zeros are not extra precision.
    expect(usdToMicros('1.5000000000')).toBe(1_500_000);
  });

  it('rejects every positive amount below one micro-dollar, however small', () => {
    fc.assert(
      fc.property(fc.double({ min: Number.MIN_VALUE, max: 1e-6, maxExcluded: true, noNaN: true }), (usd) => {
        expect(usdToMicros(usd)).toBeUndefined();
      }),
      // Always try the far end too: 1e-21 and below print as zero in 20 fixed decimals.
      { examples: [[Number.MIN_VALUE], [1e-21], [4e-21], [1e-7]], numRuns: 500 },
    );
  });

  it('rejects negative, non-finite and non-decimal amounts', () => {
    fc.assert(
      fc.property(fc.double({ max: -Number.MIN_VALUE, noNaN: true }), (negative) => {
        expect(usdToMicros(negative)).toBeUndefined();
        expect(usdToMicros(String(negative))).toBeUndefined();
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000_000 }), (micros) => {
        expect(usdToMicros(`-${formatMicros(micros)}`)).toBeUndefined();
      }),
    );
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(usdToMicros(bad)).toBeUndefined();
    }
    for (const bad of ['', '.5', '1.', '1e3', '0x10', '1,5', ' ', 'abc', '+1']) {
      expect(usdToMicros(bad), JSON.stringify(bad)).toBeUndefined();
    }
    // Beyond 2^53 − 1 micro-USD there is no exact number to return.
    expect(usdToMicros('9007199254.740992')).toBeUndefined();
    expect(usdToMicros('9007199254.740991')).toBe(Number.MAX_SAFE_INTEGER);
  });
});
