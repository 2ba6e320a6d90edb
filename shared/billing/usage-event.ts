import * as z from 'zod/v4';
import { USAGE_DETAIL_TYPE, USAGE_SOURCE, type UsageRecord } from '../domain/usage.js';
import { usageRecordSchema } from '../domain/usage-schema.js';

const envelope = z.object({
  id: z.string().min(1),
  source: z.literal(USAGE_SOURCE),
  'detail-type': z.literal(USAGE_DETAIL_TYPE),
  detail: usageRecordSchema,
});

/** An event that no retry can fix; it fails the invocation so it lands in the DLQ. */
export class MalformedUsageEvent extends Error {
  constructor(readonly issues: string) {
    super(`Malformed usage event: ${issues}`);
    this.name = 'MalformedUsageEvent';
  }
}

/** Validates an EventBridge `usage.recorded` event and returns its usage record. */
export function parseUsageEvent(event: unknown): { eventId: string; usage: UsageRecord } {
  const result = envelope.safeParse(event);
  if (!result.success) {
    const issues = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`)
      .join('; ');
    throw new MalformedUsageEvent(issues);
  }
  const usage = result.data.detail;
  if (usage.chargeMicros > usage.holdMicros) {
    throw new MalformedUsageEvent('detail.chargeMicros: exceeds holdMicros');
  }
  if ((usage.cachedInputTokens ?? 0) + (usage.cacheWriteTokens ?? 0) > usage.inputTokens) {
    throw new MalformedUsageEvent('detail.cachedInputTokens: with cacheWriteTokens, exceeds inputTokens');
  }
  if ((usage.reasoningTokens ?? 0) > usage.outputTokens) {
    throw new MalformedUsageEvent('detail.reasoningTokens: exceeds outputTokens');
  }
  return { eventId: result.data.id, usage };
}
