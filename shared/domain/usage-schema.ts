import * as z from 'zod/v4';
import { TIER_IDS } from './catalog.js';
import { API_SURFACES, ROUTE_MODES, USAGE_STATUSES, type UsageRecord } from './usage.js';

/** Consumers validate every usage event against this; the publisher only needs the types. */
const micros = z.number().int().nonnegative();
const count = z.number().int().nonnegative();

/** The `usage.recorded` event detail: one normalised usage record that feeds every consumer. */
export const usageRecordSchema = z.object({
  requestId: z.string().min(1).max(128),
  accountId: z.string().min(1).max(128),
  keyId: z.string().min(1).max(128),
  tier: z.enum(TIER_IDS),
  catalogVersion: z.number().int().positive(),
  /** Internal only: never shown to clients. */
  model: z.string().max(200),
  status: z.enum(USAGE_STATUSES),
  inputTokens: count,
  outputTokens: count,
  cachedInputTokens: count.optional(),
  cacheWriteTokens: count.optional(),
  reasoningTokens: count.optional(),
  usageSource: z.enum(['upstream', 'estimated']),
  upstreamCostMicros: micros,
  upstreamCostSource: z.enum(['upstream', 'catalog']).optional(),
  chargeMicros: micros,
  holdMicros: micros,
  clippedChargeMicros: micros.optional(),
  ttftMs: z.number().int().nonnegative().nullable(),
  latencyMs: z.number().int().nonnegative(),
  startedAt: z.iso.datetime(),
  endedAt: z.iso.datetime(),
  stream: z.boolean(),
  /** The API surface; a record written before surfaces were recorded came through chat completions. */
  surface: z.enum(API_SURFACES).default('chat'),
  /** Error code the client saw, when the request failed after admission. */
  errorCode: z.string().max(64).optional(),
  /** Every upstream attempt, for the operator's request log. */
  attempts: z
    .array(
      z.object({
        model: z.string().max(200),
        outcome: z.string().max(64),
        ms: z.number().int().nonnegative(),
      }),
    )
    .max(20)
    .optional(),
  route: z
    .object({
      requested: z.string().max(32),
      chosen: z.enum(TIER_IDS),
      reason: z.string().max(64),
      confidence: z.number().min(0).max(1).optional(),
      mode: z.enum(ROUTE_MODES),
      chargeMicros: micros.optional(),
      escalation: z
        .object({
          ms: z.number().int().nonnegative(),
          outcome: z.string().max(32),
          upstreamCostMicros: micros,
        })
        .optional(),
    })
    .optional(),
});

// The schema and the UsageRecord interface must describe the same shape.
type Parsed = z.infer<typeof usageRecordSchema>;
const _sameShape: [Parsed extends UsageRecord ? true : false, UsageRecord extends Parsed ? true : false] = [
  true,
  true,
];
void _sameShape;
