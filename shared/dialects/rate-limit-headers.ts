/**
 * The rate-limit headers of each surface (DESIGN §2): the two windows, each with its limit, what
 * remains and when it resets, named in the surface's own way. One place for the names the
 * dialects write, the idempotency replay leaves out and the Function URL's CORS exposes.
 */
export type RateWindow = 'requests' | 'tokens';
export type RateField = 'limit' | 'remaining' | 'reset';
export type RateHeaderName = (window: RateWindow, field: RateField) => string;

const WINDOWS: readonly RateWindow[] = ['requests', 'tokens'];
const FIELDS: readonly RateField[] = ['limit', 'remaining', 'reset'];

/** OpenAI's: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`. */
export const openAiRateHeader: RateHeaderName = (window, field) => `x-ratelimit-${field}-${window}`;
/** Anthropic's: `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`. */
export const anthropicRateHeader: RateHeaderName = (window, field) =>
  `anthropic-ratelimit-${window}-${field}`;

/** Every header a naming produces. */
export const rateHeaderNames = (name: RateHeaderName): string[] =>
  WINDOWS.flatMap((window) => FIELDS.map((field) => name(window, field)));
