/** Percentiles and summaries for the benchmark. All figures are milliseconds unless noted. */

export const PERCENTILES = [50, 95, 99] as const;
export type Percentile = (typeof PERCENTILES)[number];

export interface Summary {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Ascending copy; NaN and infinities are dropped. */
export function sorted(values: readonly number[]): number[] {
  return values.filter(Number.isFinite).sort((a, b) => a - b);
}

/**
 * Nearest-rank percentile of an ascending array: the value at rank ceil(p/100 × n), 1-based.
 * NaN for an empty array.
 */
export function percentile(ascending: readonly number[], p: number): number {
  const n = ascending.length;
  if (n === 0) return Number.NaN;
  if (!(p > 0)) return ascending[0] ?? Number.NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return ascending[rank - 1] ?? Number.NaN;
}

export function summarize(values: readonly number[]): Summary {
  const s = sorted(values);
  const n = s.length;
  const mean = n === 0 ? Number.NaN : s.reduce((a, b) => a + b, 0) / n;
  return {
    n,
    min: s[0] ?? Number.NaN,
    mean,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s[n - 1] ?? Number.NaN,
  };
}

export type Delta = Record<`p${Percentile}`, number>;

/** `b − a` per percentile (difference of percentiles, not the percentile of differences). */
export function delta(a: Summary, b: Summary): Delta {
  return { p50: b.p50 - a.p50, p95: b.p95 - a.p95, p99: b.p99 - a.p99 };
}

/**
 * Summary of pairwise differences `b[i] − a[i]` for interleaved samples, where pair i ran
 * back to back; pairs with a missing or non-finite side are skipped.
 */
export function pairedDifferences(
  a: readonly (number | undefined)[],
  b: readonly (number | undefined)[],
): Summary {
  const out: number[] = [];
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x !== undefined && y !== undefined && Number.isFinite(x) && Number.isFinite(y)) out.push(y - x);
  }
  return summarize(out);
}

/** `n / d`, or NaN when there is nothing to divide by. */
export const per = (n: number, d: number): number => (d > 0 ? n / d : Number.NaN);

/** Rounds for display and JSON: 0.01 ms resolution is plenty, and NaN becomes null. */
export function round(value: number, digits = 2): number | null {
  if (!Number.isFinite(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function roundSummary(s: Summary): Record<keyof Summary, number | null> {
  return {
    n: s.n,
    min: round(s.min),
    mean: round(s.mean),
    p50: round(s.p50),
    p95: round(s.p95),
    p99: round(s.p99),
    max: round(s.max),
  };
}
