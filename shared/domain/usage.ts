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
  inputTokens: number;
  outputTokens: number;
  usageSource: 'upstream' | 'estimated';
  upstreamCostMicros: number;
  chargeMicros: number;
  holdMicros: number;
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
}
