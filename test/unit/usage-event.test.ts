import { describe, expect, it } from 'vitest';
import { MalformedUsageEvent, parseUsageEvent } from '../../shared/billing/usage-event.js';
import { USAGE_DETAIL_TYPE, USAGE_SOURCE } from '../../shared/domain/usage.js';
import { usageRecord } from '../support/money-helpers.js';

const envelope = (detail: Record<string, unknown>) => ({
  id: 'event-1',
  source: USAGE_SOURCE,
  'detail-type': USAGE_DETAIL_TYPE,
  detail,
});

describe('the usage event names the API surface of its request', () => {
  it('keeps the surface a request came through', () => {
    for (const surface of ['chat', 'messages'] as const) {
      expect(parseUsageEvent(envelope({ ...usageRecord(), surface })).usage.surface).toBe(surface);
    }
  });

  it('reads an event published before surfaces were recorded (an archive replay, a DLQ redrive) as chat', () => {
    const { surface: _, ...older } = usageRecord({ surface: 'messages' });
    expect(parseUsageEvent(envelope(older)).usage.surface).toBe('chat');
  });

  it('refuses a surface the gateway does not serve, naming the field', () => {
    expect(() => parseUsageEvent(envelope({ ...usageRecord(), surface: 'responses' }))).toThrow(
      MalformedUsageEvent,
    );
    expect(() => parseUsageEvent(envelope({ ...usageRecord(), surface: 'responses' }))).toThrow(
      /detail\.surface/,
    );
  });
});
