import { isObject } from './json-body.js';
import { reportedCostToMicros, type TokenCounts } from './money.js';

/**
 * Usage as an upstream reported it, in DESIGN §13's normalised terms, whichever wire shape it came
 * in: `inputTokens` counts every prompt token (cache reads and writes included), `outputTokens`
 * every generated token (reasoning included, billed once).
 */
export interface NormalisedUsage extends TokenCounts {
  /** Prompt tokens read from a cache (part of inputTokens). */
  cachedInputTokens?: number | undefined;
  /** Prompt tokens written to a cache (part of inputTokens). */
  cacheWriteTokens?: number | undefined;
  /** Reasoning tokens (part of outputTokens; reported only). */
  reasoningTokens?: number | undefined;
  /** The upstream's own cost of the request (its `usage.cost`), rounded up to a micro-USD. */
  upstreamCostMicros?: number | undefined;
}

/** Token counts beyond this are an upstream bug; clamping keeps the money arithmetic exact. */
export const MAX_TOKENS_REPORTED = 1_000_000_000;

/** A reported token count: a non-negative integer (floored, clamped), or undefined when it is not one. */
export function tokenCount(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0
    ? Math.min(Math.floor(v), MAX_TOKENS_REPORTED)
    : undefined;
}

/**
 * Normalises an upstream `usage` block, OpenAI's shape or Anthropic's:
 * - OpenAI: `prompt_tokens` includes `prompt_tokens_details.cached_tokens` and
 *   `prompt_tokens_details.cache_write_tokens`; `completion_tokens` includes
 *   `completion_tokens_details.reasoning_tokens`.
 * - Anthropic: `input_tokens` excludes `cache_read_input_tokens` and `cache_creation_input_tokens`,
 *   so the three together are the prompt; thinking is part of `output_tokens`.
 * Either may carry `cost` (USD), as OpenRouter reports it. Undefined when the prompt or the output
 * count is missing, or the prompt is 0: no model reads an empty prompt (its template alone has
 * tokens), so that is a placeholder some compatible servers send, and billing on it would serve the
 * prompt free; the request is then billed on the gateway's estimate. A part reported larger than
 * its whole is cut to the whole, so the counts always add up.
 */
export function normaliseUsage(raw: unknown): NormalisedUsage | undefined {
  if (!isObject(raw)) return undefined;
  const counts = raw.prompt_tokens !== undefined ? fromOpenAi(raw) : fromAnthropic(raw);
  if (!counts || counts.inputTokens === 0) return undefined;
  const cost = reportedCost(raw);
  return cost === undefined ? counts : { ...counts, upstreamCostMicros: cost };
}

/**
 * The upstream's own cost in micro-USD. A request OpenRouter bills to the operator's own provider
 * key (`is_byok`) reports only OpenRouter's fee in `cost`; the provider's charge is in
 * `cost_details.upstream_inference_cost`. Without that figure the cost is unknown (the catalog's
 * price applies), never just the fee.
 */
function reportedCost(raw: Record<string, unknown>): number | undefined {
  const fee = reportedCostToMicros(raw.cost);
  if (raw.is_byok !== true) return fee;
  const details = isObject(raw.cost_details) ? raw.cost_details : {};
  const inference = details.upstream_inference_cost;
  if (fee === undefined || reportedCostToMicros(inference) === undefined) return undefined;
  // The two figures are added in USD and the sum rounded up once, as a single cost is.
  return reportedCostToMicros((raw.cost as number) + (inference as number));
}

function fromOpenAi(raw: Record<string, unknown>): NormalisedUsage | undefined {
  const inputTokens = tokenCount(raw.prompt_tokens);
  const outputTokens = tokenCount(raw.completion_tokens);
  if (inputTokens === undefined || outputTokens === undefined) return undefined;
  const prompt = isObject(raw.prompt_tokens_details) ? raw.prompt_tokens_details : {};
  const completion = isObject(raw.completion_tokens_details) ? raw.completion_tokens_details : {};
  const cachedInputTokens = Math.min(tokenCount(prompt.cached_tokens) ?? 0, inputTokens);
  return {
    inputTokens,
    outputTokens,
    cachedInputTokens,
    cacheWriteTokens: Math.min(tokenCount(prompt.cache_write_tokens) ?? 0, inputTokens - cachedInputTokens),
    reasoningTokens: Math.min(tokenCount(completion.reasoning_tokens) ?? 0, outputTokens),
  };
}

function fromAnthropic(raw: Record<string, unknown>): NormalisedUsage | undefined {
  const uncached = tokenCount(raw.input_tokens);
  const outputTokens = tokenCount(raw.output_tokens);
  if (uncached === undefined || outputTokens === undefined) return undefined;
  const cachedInputTokens = tokenCount(raw.cache_read_input_tokens) ?? 0;
  const cacheWriteTokens = tokenCount(raw.cache_creation_input_tokens) ?? 0;
  return {
    inputTokens: uncached + cachedInputTokens + cacheWriteTokens,
    outputTokens,
    cachedInputTokens,
    cacheWriteTokens,
  };
}
