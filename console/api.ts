/** The console's calls to the gateway: the key in an Authorization header, errors in plain words. */

export class ConsoleError extends Error {
  constructor(
    message: string,
    readonly kind: 'bad_key' | 'no_funds' | 'limit' | 'network' | 'input' | 'server',
  ) {
    super(message);
  }
}

interface ErrorBody {
  error?: { code?: string; message?: string };
}

/** What a gateway error means for the person at the console, in their words. */
export function plainWords(status: number, body: ErrorBody, requestId: string | null): ConsoleError {
  const code = body.error?.code ?? '';
  if (status === 401)
    return new ConsoleError(
      'That key was not accepted. Check that you pasted the whole key (it starts with "tg-") and that it has not been revoked.',
      'bad_key',
    );
  if (code === 'insufficient_quota')
    return new ConsoleError(
      'The wallet is empty: this request costs more than the balance. Ask for more credit.',
      'no_funds',
    );
  if (code === 'budget_exceeded')
    return new ConsoleError(
      // The gateway names the budget that refused: the account's (all its keys) or this key's own.
      /\baccount\b/.test(body.error?.message ?? '')
        ? "The account's daily budget is spent: every key of the account is refused until it resets at 00:00 UTC."
        : "This key's daily budget is spent. It resets at 00:00 UTC.",
      'limit',
    );
  if (status === 429)
    return new ConsoleError(
      'Too many requests for this key right now. Wait a minute and try again.',
      'limit',
    );
  if (status >= 400 && status < 500)
    return new ConsoleError(body.error?.message ?? 'The gateway did not accept the request.', 'input');
  const id = requestId ? ` (request id ${requestId})` : '';
  return new ConsoleError(`The gateway could not answer${id}. Try again in a moment.`, 'server');
}

export const networkError = (): ConsoleError =>
  new ConsoleError('Could not reach the gateway. Check your connection and try again.', 'network');

/** The gateway's base URL: the page's own origin locally, the public API's in AWS. */
export function apiBase(): string {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="tiergate-api"]');
  return (meta?.content ?? '').replace(/\/+$/, '');
}

/** A request to the gateway with the key; rejects with a ConsoleError in plain words. */
export async function call(path: string, key: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(`${apiBase()}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string> | undefined) },
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch {
    throw networkError();
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as ErrorBody;
    throw plainWords(res.status, body, res.headers.get('x-request-id'));
  }
  return res;
}

export async function getJson<T>(path: string, key: string): Promise<T> {
  const res = await call(path, key);
  try {
    return (await res.json()) as T;
  } catch {
    throw networkError();
  }
}

export interface KeyView {
  account: {
    id: string;
    name: string;
    balanceMicros: number;
    heldMicros: number;
    dailyBudgetMicros: number | null;
    spentTodayMicros: number;
  };
  key: {
    id: string;
    name: string | null;
    rpm: number | null;
    tpm: number | null;
    dailyBudgetMicros: number | null;
    spentTodayMicros: number;
    budgetResetsAt: string;
  };
}

export interface UsageRow {
  key: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  chargeMicros: number;
}

export interface UsageReport {
  by: string;
  since: string;
  until: string;
  rows: UsageRow[];
  total: Omit<UsageRow, 'key'>;
  /** The report counted only the newest requests of its range (the gateway's cap per report). */
  truncated: boolean;
}

export interface RecentRequest {
  requestId: string;
  startedAt: string;
  tier: string;
  status: string;
  inputTokens: number;
  outputTokens: number;
  chargeMicros: number;
}

/** Integer micro-USD as dollars: cents for sums, more digits for the small charges of one request. */
export function usd(micros: number, digits = 2): string {
  const sign = micros < 0 ? '-' : '';
  return `${sign}$${(Math.abs(micros) / 1_000_000).toFixed(digits)}`;
}

export const usdPrecise = (micros: number): string => usd(micros, 6);

/** Cents, unless the amount is under a cent and not zero: then every micro-dollar shows. */
export const money = (micros: number): string =>
  micros !== 0 && Math.abs(micros) < 10_000 ? usdPrecise(micros) : usd(micros);
