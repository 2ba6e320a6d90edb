/** Plain-text tables for the terminal. */

export type Cell = string | number | null | undefined;

export function fmt(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return value.toFixed(digits);
}

/** Signed, for deltas. */
export function fmtSigned(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const s = value.toFixed(digits);
  return value >= 0 ? `+${s}` : s;
}

/** Left-aligns the first column, right-aligns the rest. */
export function table(headers: readonly string[], rows: readonly Cell[][]): string {
  const text = [headers, ...rows].map((r) => r.map((c) => (c === null || c === undefined ? '' : String(c))));
  const widths = headers.map((_, i) => Math.max(...text.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const [head, ...body] = text;
  return [line(head ?? []), rule, ...body.map(line)].join('\n');
}
