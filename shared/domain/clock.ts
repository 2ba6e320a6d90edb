/** UTC calendar helpers: daily budgets, aggregates and the guardrail all reset at 00:00 UTC. */

/** Milliseconds in a UTC day. */
export const DAY_MS = 86_400_000;

export const utcDay = (epochMs: number): string => new Date(epochMs).toISOString().slice(0, 10);

export function nextUtcMidnight(epochMs: number): number {
  const d = new Date(epochMs);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
}
