import { afterEach } from 'vitest';
import { type EventTarget, LocalEventBus, type LocalEventBusOptions } from '../../local/event-bus.js';
import type { BusEvent, PutEventsEntry } from '../../local/put-events.js';
import type { RuleDefinition } from '../../shared/events/rules.js';

/** Shared by the LocalEventBus test files: routing rules, recording targets, entries, and buses closed after each test. */

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Routes by detail.status: ok → billing, anything else → guardrail. */
export const STATUS_RULES: RuleDefinition[] = [
  {
    id: 'OkOnly',
    description: 'successful requests',
    target: 'billing',
    pattern: { source: ['tiergate'], detail: { status: ['ok'] } },
  },
  {
    id: 'Failures',
    description: 'failed requests',
    target: 'guardrail',
    pattern: { source: ['tiergate'], detail: { status: [{ 'anything-but': 'ok' }] } },
  },
];

export interface Recorder {
  calls: BusEvent[];
  target: EventTarget;
}

/** A target that records every invocation, then runs `behaviour` (which may throw) with the 1-based call number. */
export function recorder(behaviour?: (event: BusEvent, call: number) => void | Promise<void>): Recorder {
  const calls: BusEvent[] = [];
  return {
    calls,
    target: async (event) => {
      calls.push(event);
      await behaviour?.(event, calls.length);
    },
  };
}

export function entry(
  detail: unknown = { status: 'ok' },
  overrides: Partial<PutEventsEntry> = {},
): PutEventsEntry {
  return { Source: 'tiergate', DetailType: 'usage.recorded', Detail: JSON.stringify(detail), ...overrides };
}

const buses: LocalEventBus[] = [];

export function makeBus(
  targets: ConstructorParameters<typeof LocalEventBus>[1],
  options: LocalEventBusOptions = { retryDelayMs: 0 },
  rules: readonly RuleDefinition[] = STATUS_RULES,
): LocalEventBus {
  const bus = new LocalEventBus(rules, targets, options);
  buses.push(bus);
  return bus;
}

/** Closes every bus that `makeBus` made after each test of the calling file, so no test leaves retries running into the next one. */
export function useLocalBuses(): void {
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((bus) => bus.close()));
  });
}
