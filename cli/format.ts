/**
 * Text output and argument parsing helpers for the CLI. Money is integer micro-USD throughout and
 * is formatted with BigInt arithmetic, so no amount is ever rounded by a float.
 */
import { CONTROL_CHARACTERS } from '../shared/domain/control-characters.js';
import { usdToMicros } from '../shared/domain/money.js';
import { parseReportTime } from '../shared/domain/report-time.js';

const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const escapeOne = (c: string): string =>
  NAMED_ESCAPES[c] ?? `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`;

/**
 * A value as it may be printed: control characters (line breaks, ESC and CSI, which start
 * terminal escape sequences, bidirectional controls) become visible escapes such as `\u001b`.
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL_CHARACTERS, escapeOne);
}

/** Whole output: every control character escaped except the line breaks that lay it out. */
export function terminalSafe(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => (c === '\n' ? c : escapeOne(c)));
}

export interface Column {
  header: string;
  /** Numbers are right-aligned so their digits line up. */
  align?: 'left' | 'right';
}

/** An aligned text table: a header row, then one line per row, columns two spaces apart. */
export function renderTable(columns: readonly Column[], table: readonly (readonly string[])[]): string {
  const rows = table.map((row) => row.map(escapeControl));
  const widths = columns.map((column, i) =>
    Math.max(column.header.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    columns
      .map((column, i) => {
        const cell = cells[i] ?? '';
        const width = widths[i] ?? 0;
        return column.align === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => escapeControl(column.header))), ...rows.map(line)].join('\n');
}

/** Label/value pairs with the values aligned, for single records. */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...fields.map(([label]) => label.length));
  return fields
    .map(([label, value]) => `${label.padEnd(width)}  ${escapeControl(value)}`.trimEnd())
    .join('\n');
}

function toBigInt(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  return undefined;
}

/** Integer micro-USD as "$1.500000"; a missing value as "-"; anything not an integer as is. */
export function formatUsd(micros: unknown): string {
  const n = toBigInt(micros);
  if (n === undefined) return micros === undefined || micros === null ? '-' : String(micros);
  const sign = n < 0n ? '-' : '';
  const abs = n < 0n ? -n : n;
  return `${sign}$${abs / 1_000_000n}.${(abs % 1_000_000n).toString().padStart(6, '0')}`;
}

/** A decimal USD amount (as in the catalog's prices) in the same 6-decimal form as micro-USD. */
export function formatDecimalUsd(usd: unknown): string {
  if (typeof usd !== 'number' && typeof usd !== 'string') return usd === undefined ? '-' : String(usd);
  const micros = usdToMicros(usd);
  return micros === undefined ? String(usd) : formatUsd(micros);
}

/** An integer with thousands separators, fixed to "," so output does not depend on the locale. */
export function formatInt(value: unknown): string {
  const n = toBigInt(value);
  if (n === undefined) return value === undefined || value === null ? '-' : String(value);
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatMs(value: unknown): string {
  return typeof value === 'number'
    ? `${formatInt(value)} ms`
    : value === undefined || value === null
      ? '-'
      : String(value);
}

export function formatText(value: unknown): string {
  if (value === undefined || value === null || value === '') return '-';
  return escapeControl(typeof value === 'string' ? value : String(value));
}

/** A problem with the command line itself; exits 2 with a hint to read the help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** The help topic to point at when it is not the command being run, e.g. a command group. */
  constructor(
    message: string,
    readonly topic?: string,
  ) {
    super(message);
  }
}

export interface UsdArgument {
  micros: number;
  /** The amount as a JSON number; only returned when it converts back to exactly `micros`. */
  usd: number;
}

/** Validates a USD option: a non-negative decimal with at most 6 decimal places. */
export function parseUsd(option: string, text: string, { positive = false } = {}): UsdArgument {
  const micros = usdToMicros(text);
  const rule = positive ? 'a positive' : 'a non-negative';
  if (micros === undefined && /^\s*\d+(?:\.\d{1,6})?\s*$/.test(text)) {
    throw new UsageError(`--${option} is too large: "${text}"`);
  }
  if (micros === undefined) {
    throw new UsageError(
      `--${option} must be ${rule} decimal USD amount with at most 6 decimals, got "${text}"`,
    );
  }
  if (positive && micros === 0) throw new UsageError(`--${option} must be greater than 0`);
  const usd = Number(text.trim());
  // The API takes a JSON number; refuse amounts with more significant digits than a double keeps.
  if (usdToMicros(usd) !== micros)
    throw new UsageError(`--${option} has too many significant digits: "${text}"`);
  return { micros, usd };
}

export function parsePositiveInt(option: string, text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`--${option} must be a positive integer, got "${text}"`);
  return n;
}

/**
 * Accepts a report date or date-time (UTC unless it has an offset; a day or time that does not
 * exist is refused) and passes it through unchanged for the server, which reads it alike.
 */
export function parseIsoDate(option: string, text: string): string {
  if (parseReportTime(text) === undefined) {
    throw new UsageError(
      `--${option} must be an ISO 8601 date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM[:SS]) that exists, got "${text}"`,
    );
  }
  return text;
}
