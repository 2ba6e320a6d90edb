import { DAY_MS } from './clock.js';

/**
 * The dates and times of the operator's reports (`/admin/usage`, `/admin/requests`, the CLI's
 * --since/--until): `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS[.fff]]`, with an optional `Z` or `±HH:MM`
 * offset. Without an offset the time is UTC (not the server's zone, as `Date.parse` would read it),
 * and a date or time that does not exist (2026-02-30, 24:00) is refused rather than moved on.
 */

const REPORT_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

const MINUTE_MS = 60_000;
/** The Gregorian calendar repeats every 400 years; Date.UTC reads years 0–99 as 1900–1999. */
const FOUR_CENTURIES_MS = 146_097 * DAY_MS;

const isLeapYear = (year: number): boolean => year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Minutes east of UTC, or undefined for an offset beyond ±23:59. */
function offsetMinutes(offset: string | undefined): number | undefined {
  if (offset === undefined || offset === 'Z') return 0;
  const hours = Number(offset.slice(1, 3));
  const minutes = Number(offset.slice(-2));
  if (hours > 23 || minutes > 59) return undefined;
  return (offset.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
}

/** A plain date (`YYYY-MM-DD`), which as the end of a range means that whole day. */
/** The times a report takes: ISO 8601 prints them with a four-digit year from the epoch on. */
export const EARLIEST_REPORT_TIME = Date.UTC(1970, 0, 1);
export const LATEST_REPORT_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
export const REPORT_RANGE_TEXT = 'between 1970-01-01 and 9999-12-31';

export const isReportDate = (text: string): boolean => /^\d{4}-\d{2}-\d{2}$/.test(text);

export interface ReportTimeOptions {
  /** A plain date means the end of that UTC day (23:59:59.999), as the end of a range does. */
  endOfDay?: boolean;
}

/**
 * Epoch milliseconds of a report date or time, or undefined when the text is not one of the
 * forms above or names a day or time that does not exist.
 */
export function parseReportTime(
  text: string,
  { endOfDay = false }: ReportTimeOptions = {},
): number | undefined {
  const match = REPORT_TIME.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction, offset] = match;
  const [year, month, day] = [Number(y), Number(mo), Number(d)];
  const [hour, minute, second] = [Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0)];
  const ms = Number((fraction ?? '').padEnd(3, '0').slice(0, 3));
  const east = offsetMinutes(offset);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || east === undefined) return undefined;
  const utc =
    Date.UTC(year + 400, month - 1, day, hour, minute, second, ms) - FOUR_CENTURIES_MS - east * MINUTE_MS;
  return endOfDay && h === undefined ? utc + DAY_MS - 1 : utc;
}
