/**
 * A per-model circuit breaker, derived per instance: each Lambda instance keeps the outcomes of
 * its own recent upstream attempts. A model whose recent error ratio is high is skipped for a
 * cool-down, then tried again. Per-instance state is deliberate: it needs no storage round trip
 * on the hot path, and an instance that has seen enough failures to open has enough evidence.
 */
export interface CircuitBreakerOptions {
  windowMs?: number;
  minSamples?: number;
  errorRatio?: number;
  openMs?: number;
  now?: () => number;
}

export class CircuitBreaker {
  private readonly outcomes = new Map<string, Array<{ at: number; ok: boolean }>>();
  private readonly openUntil = new Map<string, number>();
  private readonly windowMs: number;
  private readonly minSamples: number;
  private readonly errorRatio: number;
  private readonly openMs: number;
  private readonly now: () => number;

  constructor(options: CircuitBreakerOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.minSamples = options.minSamples ?? 5;
    this.errorRatio = options.errorRatio ?? 0.5;
    this.openMs = options.openMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** False while the model's circuit is open. */
  allows(model: string): boolean {
    return (this.openUntil.get(model) ?? 0) <= this.now();
  }

  record(model: string, ok: boolean): void {
    const now = this.now();
    const recent = (this.outcomes.get(model) ?? []).filter((o) => o.at > now - this.windowMs);
    recent.push({ at: now, ok });
    this.outcomes.set(model, recent.slice(-100));
    if (ok) return;
    const failures = recent.filter((o) => !o.ok).length;
    if (recent.length >= this.minSamples && failures / recent.length >= this.errorRatio) {
      this.openUntil.set(model, now + this.openMs);
      this.outcomes.set(model, []);
    }
  }
}
