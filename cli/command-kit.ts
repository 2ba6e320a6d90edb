/**
 * What every admin command is made of: its description, how it turns the command line into
 * requests, and how it shows the answer; plus the argument checks the commands share.
 */
import type { AdminRequest } from '../shared/admin-client/client.js';
import {
  formatInt,
  formatText,
  parseIsoDate,
  parsePositiveInt,
  parseUsd,
  UsageError,
  type UsdArgument,
} from './format.js';

/** Option values as given; a flag (an option with no metavar) is 'true' when present. */
export type Options = Record<string, string | undefined>;

export interface BuildContext {
  readStdin: () => Promise<string>;
  readFile: (path: string) => Promise<string>;
}

/** Sends one admin request and resolves to its parsed JSON answer. */
export type Send = (request: AdminRequest) => Promise<unknown>;

export interface Command {
  /** One or two words, e.g. "accounts create". */
  name: string;
  /** Positional argument names, all required. */
  args: string[];
  /** Allowed command options (beyond the global ones): name → [metavar, description]; '' metavar = flag. */
  options: Record<string, [string, string]>;
  /** Options that must be given. */
  required?: string[];
  summary: string;
  details?: string;
  /** The one request the command sends; validating the arguments first. */
  build: (args: string[], options: Options, context: BuildContext) => Promise<AdminRequest> | AdminRequest;
  /** For commands that need more than one request (e.g. a confirmation); replaces sending `build`'s. */
  run?: (send: Send, args: string[], options: Options, context: BuildContext) => Promise<unknown>;
  render: (data: unknown, args: string[], options: Options) => string;
}

/** The --since/--until options of the reports, and their query parameters. */
export const RANGE_OPTIONS: Command['options'] = {
  since: ['ISO', 'start date or date-time, UTC unless it has an offset (default: 7 days before --until)'],
  until: ['ISO', 'end date or date-time, UTC; a plain date includes that whole day (default: now)'],
};

export const rangeQuery = (options: Options): { since?: string; until?: string } => ({
  since: options.since === undefined ? undefined : parseIsoDate('since', options.since),
  until: options.until === undefined ? undefined : parseIsoDate('until', options.until),
});

/** Thrown for input the user supplied that cannot be read; exits 1 without a usage hint. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

export const right = 'right' as const;

export function required(options: Options, name: string): string {
  const value = options[name];
  if (value === undefined) throw new UsageError(`missing required option --${name}`);
  return value;
}

export function nonEmpty(option: string, value: string): string {
  if (value.trim() === '') throw new UsageError(`--${option} must not be empty`);
  return value;
}

export function yesNo(value: unknown): string {
  return value === true ? 'yes' : value === false ? 'no' : formatText(value);
}

export function byNaturalOrder(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** The most one command may move: a credit, an initial balance or a daily budget. */
export const MAX_AMOUNT_USD = 1_000_000;

/** A USD option within 0 (or 0 excluded) and MAX_AMOUNT_USD, with a message that says which bound. */
export function usdOption(option: string, text: string, { positive = false } = {}): UsdArgument {
  const trimmed = text.trim();
  if (/^-/.test(trimmed)) {
    throw new UsageError(`--${option} must be ${positive ? 'greater than 0' : '0 or more'}, got "${text}"`);
  }
  if (/^\d+(?:\.\d+)?$/.test(trimmed) && Number(trimmed) > MAX_AMOUNT_USD) {
    throw new UsageError(`--${option} must be at most ${formatInt(MAX_AMOUNT_USD)} USD, got "${text}"`);
  }
  return parseUsd(option, text, { positive });
}

/** A positive integer option up to `max`. */
export function intOption(option: string, text: string, max: number): number {
  if (/^\s*-/.test(text)) throw new UsageError(`--${option} must be a positive integer, got "${text}"`);
  const n = parsePositiveInt(option, text);
  if (n > max) throw new UsageError(`--${option} must be at most ${formatInt(max)}, got "${text}"`);
  return n;
}

const ONCE_NOTE = 'This key is shown only once. Store it now: it cannot be retrieved later.';

export function showKey(keyId: string, key: string): string[] {
  return [`API key ${keyId}:`, '', `    ${key}`, '', ONCE_NOTE];
}
