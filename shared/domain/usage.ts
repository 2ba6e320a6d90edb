import type { TierId } from './catalog.js';

export const USAGE_SOURCE = 'tiergate';
export const USAGE_DETAIL_TYPE = 'usage.recorded';

export const USAGE_STATUSES = ['ok', 'upstream_error', 'timeout', 'client_disconnected', 'rejected'] as const;
export type UsageStatus = (typeof USAGE_STATUSES)[number];

/** The API surfaces a request can come through (DESIGN §11): OpenAI chat completions, Anthropic Messages. */
export const API_SURFACES = ['chat', 'messages'] as const;
export type ApiSurface = (typeof API_SURFACES)[number];

/** The `usage.recorded` event detail: one normalised usage record that feeds every consumer. */
export interface UsageRecord {
  requestId: string;
  accountId: string;
  keyId: string;
  tier: TierId;
  catalogVersion: number;
  /** Internal only: never shown to clients. */
  model: string;
  status: UsageStatus;
  /** Every prompt token, cache reads and cache writes included (DESIGN §13). */
  inputTokens: number;
  /** Every generated token, reasoning included. */
  outputTokens: number;
  /** Prompt tokens read from a cache (part of inputTokens). Absent in records from before §13. */
  cachedInputTokens?: number | undefined;
  /** Prompt tokens written to a cache (part of inputTokens). */
  cacheWriteTokens?: number | undefined;
  /** Reasoning tokens (part of outputTokens; reported, not billed apart). */
  reasoningTokens?: number | undefined;
  usageSource: 'upstream' | 'estimated';
  upstreamCostMicros: number;
  /** `upstream`: the upstream's own reported cost; `catalog`: the serving model's catalog prices. */
  upstreamCostSource?: 'upstream' | 'catalog' | undefined;
  chargeMicros: number;
  holdMicros: number;
  /** The charge the usage came to when it exceeded the hold (the hold was charged instead). */
  clippedChargeMicros?: number | undefined;
  ttftMs: number | null;
  latencyMs: number;
  startedAt: string;
  endedAt: string;
  stream: boolean;
  /** The API surface the client spoke. */
  surface: ApiSurface;
  /** Error code the client saw, when the request failed after admission. */
  errorCode?: string | undefined;
  /** Every upstream attempt, for the operator's request log. */
  attempts?: Array<{ model: string; outcome: string; ms: number }> | undefined;
  /** tier-auto's decision: the tier it served (`auto`) or would have served (`shadow`). */
  route?: UsageRoute | undefined;
}

export const ROUTE_MODES = ['auto', 'shadow'] as const;

export interface UsageRoute {
  /** `tier-auto`, or the explicit tier the client asked for (shadow mode). */
  requested: string;
  /** The tier tier-auto chose (in shadow mode: would have chosen). */
  chosen: TierId;
  /** Why, as in `x-tier-route`: `rule:tools`, `model:0.82`, `llm:tier-3`. */
  reason: string;
  /** The classifier's confidence that the chosen tier is enough, when it was consulted. */
  confidence?: number | undefined;
  mode: (typeof ROUTE_MODES)[number];
  /** Shadow mode: what the chosen tier's price would have charged for the same tokens. */
  chargeMicros?: number | undefined;
  /** An LLM escalation: its time, outcome and upstream cost (part of the record's upstreamCostMicros). */
  escalation?: { ms: number; outcome: string; upstreamCostMicros: number } | undefined;
}
