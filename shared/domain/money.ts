/**
 * Money is integer micro-USD (1 USD = 1,000,000). Prices are integer micro-USD per 1M tokens.
 * Arithmetic that could exceed 2^53 is done in BigInt, so nothing is ever rounded by a float.
 */

export const MICROS_PER_USD = 1_000_000;
/** The most one top-up, or an account's opening credit, may add: $1,000,000. */
export const MAX_CREDIT_MICROS = 1_000_000 * MICROS_PER_USD;
/** The most a balance may hold: $1,000,000,000, far below 2^53 µ$ (about $9 billion). */
export const MAX_BALANCE_MICROS = 1_000_000_000 * MICROS_PER_USD;
const MAX_DECIMALS = 6;

/**
 * Converts a decimal USD amount (a JSON number or a string such as "0.15") to integer micro-USD
 * exactly, by reading its decimal digits rather than multiplying a float. Returns undefined for
 * negative values, non-finite values and more than 6 decimal places.
 */
export function usdToMicros(usd: number | string): number | undefined {
  const text = typeof usd === 'number' ? numberToPlainString(usd) : usd.trim();
  if (text === undefined) return undefined;
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) return undefined;
  const whole = match[1] ?? '0';
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  if (fraction.length > MAX_DECIMALS) return undefined;
  const micros = BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(MAX_DECIMALS, '0') || '0');
  if (micros > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(micros);
}

function numberToPlainString(n: number): string | undefined {
  if (!Number.isFinite(n) || n < 0) return undefined;
  // JavaScript writes numbers below 1e-6 and from 1e21 in exponent form: the first have more than
  // six decimals, the second exceed any balance. Neither is a valid amount.
  const s = n.toString();
  return s.includes('e') ? undefined : s;
}

/** Formats micro-USD as a decimal USD string without floating-point rounding. */
export function formatMicros(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = BigInt(Math.abs(micros));
  const whole = abs / 1_000_000n;
  const frac = (abs % 1_000_000n).toString().padStart(6, '0');
  return `${sign}${whole}.${frac}`;
}

/** Integer micro-USD per 1M tokens. Cache reads and cache writes default to the input price. */
export interface TokenPrice {
  inputMicrosPerMTok: number;
  outputMicrosPerMTok: number;
  cachedInputMicrosPerMTok?: number;
  cacheWriteMicrosPerMTok?: number;
}

/**
 * Token counts a price applies to (DESIGN §13): `inputTokens` counts every prompt token, cache
 * reads and cache writes included; `outputTokens` includes reasoning tokens, billed once.
 */
export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens?: number | undefined;
  cacheWriteTokens?: number | undefined;
}

/**
 * ceil(((in − cached − written) × input + cached × cachedInput + written × cacheWrite + out × output)
 * / 1,000,000) micro-USD, exactly: the one rounding is up, over the whole sum.
 */
export function priceUsage(price: TokenPrice, counts: TokenCounts): number {
  return ceilMicros(priceNumerator(price, counts));
}

/** A sum of price numerators (micro-USD × 1,000,000) in micro-USD, a fraction rounded up: once, over the whole sum. */
export const ceilMicros = (numerator: bigint): number => Number((numerator + 999_999n) / 1_000_000n);

/** The price of `counts` in millionths of a micro-USD, exact: add these up and round once with `ceilMicros`. */
export function priceNumerator(price: TokenPrice, counts: TokenCounts): bigint {
  const { inputTokens, outputTokens } = counts;
  const cached = counts.cachedInputTokens ?? 0;
  const written = counts.cacheWriteTokens ?? 0;
  assertCount(inputTokens, 'inputTokens');
  assertCount(outputTokens, 'outputTokens');
  assertCount(cached, 'cachedInputTokens');
  assertCount(written, 'cacheWriteTokens');
  if (cached + written > inputTokens) {
    throw new RangeError('cachedInputTokens + cacheWriteTokens must not exceed inputTokens');
  }
  return (
    BigInt(inputTokens - cached - written) * BigInt(price.inputMicrosPerMTok) +
    BigInt(cached) * BigInt(price.cachedInputMicrosPerMTok ?? price.inputMicrosPerMTok) +
    BigInt(written) * BigInt(price.cacheWriteMicrosPerMTok ?? price.inputMicrosPerMTok) +
    BigInt(outputTokens) * BigInt(price.outputMicrosPerMTok)
  );
}

/** The price of input and output tokens with no cache reads or writes. */
export function priceTokens(price: TokenPrice, inputTokens: number, outputTokens: number): number {
  return priceUsage(price, { inputTokens, outputTokens });
}

/**
 * The price a hold is computed at: every input token at the highest of the input, cache-read and
 * cache-write rates, so the hold covers the worst case whatever the cache does.
 */
export function holdPrice(price: TokenPrice): TokenPrice {
  return {
    inputMicrosPerMTok: Math.max(
      price.inputMicrosPerMTok,
      price.cachedInputMicrosPerMTok ?? 0,
      price.cacheWriteMicrosPerMTok ?? 0,
    ),
    outputMicrosPerMTok: price.outputMicrosPerMTok,
  };
}

/**
 * An upstream's own cost report (USD, a JSON number such as 0.00012345) in micro-USD, a fraction
 * rounded up. Digits past the 12th decimal are float noise and ignored. Undefined for anything
 * that is not a finite, non-negative number below $1,000,000.
 */
export function reportedCostToMicros(usd: unknown): number | undefined {
  if (typeof usd !== 'number' || !Number.isFinite(usd) || usd < 0 || usd >= 1_000_000) return undefined;
  const match = /^(\d+)\.(\d{6})(\d{6})$/.exec(usd.toFixed(12));
  if (!match) return undefined;
  const micros = Number(match[1]) * MICROS_PER_USD + Number(match[2]);
  return /^0+$/.test(match[3] ?? '') ? micros : micros + 1;
}

/**
 * The largest output token count whose price, added to the input's, fits in `budgetMicros`.
 * Returns 0 when even the input alone does not fit.
 */
export function maxOutputTokensWithin(price: TokenPrice, inputTokens: number, budgetMicros: number): number {
  const budget = BigInt(Math.max(0, Math.floor(budgetMicros))) * 1_000_000n;
  const inputCost = BigInt(inputTokens) * BigInt(price.inputMicrosPerMTok);
  if (inputCost > budget) return 0;
  if (price.outputMicrosPerMTok === 0) return Number.MAX_SAFE_INTEGER;
  return Number((budget - inputCost) / BigInt(price.outputMicrosPerMTok));
}

function assertCount(n: number, name: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer`);
}
