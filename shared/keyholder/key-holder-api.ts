import type { AccountBalance } from '../adapters/dynamodb/account-reader.js';
import { DAY_MS, nextUtcMidnight, utcDay } from '../domain/clock.js';
import { invalidApiKey, invalidRequest, rateLimited } from '../domain/errors.js';
import { oneQueryValue, queryCount } from '../domain/query-params.js';
import {
  EARLIEST_REPORT_TIME,
  isReportDate,
  LATEST_REPORT_TIME,
  parseReportTime,
  REPORT_RANGE_TEXT,
} from '../domain/report-time.js';
import { TtlCache } from '../domain/ttl-cache.js';
import type { ApiKeyRecord } from '../ports.js';

/** How long an instance serves a key holder's balance view before reading it again. */
export const KEY_VIEW_CACHE_TTL_MS = 5_000;
/** How long an instance serves a usage report before querying again. */
export const USAGE_CACHE_TTL_MS = 10_000;
/** Recent requests are cached briefly only: the console looks up a playground request's charge there. */
export const RECENT_REQUESTS_CACHE_TTL_MS = 2_000;
/** The default usage range: today and the 29 days before it. */
export const DEFAULT_USAGE_DAYS = 30;
/** The longest usage range a key holder may ask for (the request log keeps 90 days by default). */
export const MAX_USAGE_DAYS = 366;
/** Recent requests: 20 by default, at most 100. */
export const DEFAULT_RECENT_REQUESTS = 20;
export const MAX_RECENT_REQUESTS = 100;
/**
 * Usage reports an account's keys may have read from the request log per minute on one instance,
 * beyond those the cache answers: a report reads up to 10,000 items, so a key that asks for a new
 * range every call cannot run up the table's read bill. A console asks for one or two a refresh.
 * A bucket of this many, refilled evenly over the minute.
 */
export const MAX_USAGE_QUERIES_PER_MINUTE = 12;
const QUERIES_PER_MS = MAX_USAGE_QUERIES_PER_MINUTE / 60_000;

/** The account reads a key holder's view needs (point reads). */
export interface AccountReader {
  balance(accountId: string): Promise<AccountBalance | undefined>;
  keyChargesOn(day: string, keyId: string): Promise<number>;
  accountChargesOn(day: string, accountId: string): Promise<number>;
}

/** The request-log reports the admin API also uses, asked for one account. */
export interface AccountReports {
  usageRows(query: Record<string, string | undefined>): Promise<{
    rows: Array<{
      group: string;
      requests: number;
      inputTokens: number;
      outputTokens: number;
      chargeMicros: number;
    }>;
    truncated: boolean;
  }>;
  requests(
    query: Record<string, string | undefined>,
  ): Promise<{ requests: Record<string, unknown>[]; truncated: boolean }>;
}

export interface UsageTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  chargeMicros: number;
}
export type UsageRow = UsageTotals & { key: string };

/** DESIGN §15's day and tier, and day,tier (rows keyed `YYYY-MM-DD,tier-N`) for the console's stacked chart. */
const KEY_HOLDER_GROUPINGS = ['day', 'tier', 'day,tier'] as const;
type KeyHolderGrouping = (typeof KEY_HOLDER_GROUPINGS)[number];

export interface UsageReport {
  by: KeyHolderGrouping;
  since: string;
  until: string;
  rows: UsageRow[];
  total: UsageTotals;
  truncated: boolean;
}

/** One request as its key holder sees it: no upstream model, provider or cost. */
export interface RecentRequest {
  requestId: string;
  startedAt: string;
  tier: string;
  stream: boolean;
  status: string;
  inputTokens: number;
  outputTokens: number;
  chargeMicros: number;
  errorCode: string | null;
}

function parseDay(value: string | undefined, param: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const t = isReportDate(value) ? parseReportTime(value) : undefined;
  if (t === undefined) throw invalidRequest(`'${param}' must be a UTC date as YYYY-MM-DD.`, param);
  if (t < EARLIEST_REPORT_TIME || t > LATEST_REPORT_TIME)
    throw invalidRequest(`'${param}' must be ${REPORT_RANGE_TEXT}.`, param);
  return t;
}

const nullable = (value: number | undefined): number | null => value ?? null;

/**
 * What a key holder may read about their own account with their key: balance and budgets, usage,
 * and recent requests. Reads only; they take no hold, count against no rate limit or budget, and
 * are cached per instance for a few seconds so a console refreshing costs little.
 */
export class KeyHolderApi {
  private readonly balances: TtlCache<string, AccountBalance | undefined>;
  private readonly spent: TtlCache<string, number>;
  private readonly usageReports: TtlCache<string, UsageReport>;
  private readonly recent: TtlCache<string, { requests: RecentRequest[]; hasMore: boolean }>;
  /** Per account: report queries left in its bucket, as of `at`. */
  private readonly queries = new Map<string, { left: number; at: number }>();

  constructor(
    private readonly accounts: AccountReader,
    private readonly log: AccountReports,
    private readonly now: () => number = Date.now,
  ) {
    this.balances = new TtlCache(KEY_VIEW_CACHE_TTL_MS, now, 10_000);
    this.spent = new TtlCache(KEY_VIEW_CACHE_TTL_MS, now, 10_000);
    this.usageReports = new TtlCache(USAGE_CACHE_TTL_MS, now, 10_000);
    this.recent = new TtlCache(RECENT_REQUESTS_CACHE_TTL_MS, now, 10_000);
  }

  /**
   * GET /v1/key (DESIGN §15). Both daily budgets admission checks: the key's own and its account's
   * (the copy on the key record, the one admission enforces), each beside what its scope spent today.
   */
  async key(record: ApiKeyRecord) {
    const now = this.now();
    const day = utcDay(now);
    const [account, spentTodayMicros, accountSpentTodayMicros] = await Promise.all([
      this.balances.get(record.accountId, () => this.accounts.balance(record.accountId)),
      this.spent.get(`${day}#key#${record.keyId}`, () => this.accounts.keyChargesOn(day, record.keyId)),
      this.spent.get(`${day}#account#${record.accountId}`, () =>
        this.accounts.accountChargesOn(day, record.accountId),
      ),
    ]);
    // A key whose account was deleted opens nothing.
    if (!account) throw invalidApiKey();
    return {
      account: {
        id: record.accountId,
        name: account.name,
        balanceMicros: account.balanceMicros,
        heldMicros: account.heldMicros,
        dailyBudgetMicros: nullable(record.accountDailyBudgetMicros),
        spentTodayMicros: accountSpentTodayMicros,
      },
      key: {
        id: record.keyId,
        name: record.name ?? null,
        rpm: nullable(record.rpm),
        tpm: nullable(record.tpm),
        dailyBudgetMicros: nullable(record.dailyBudgetMicros),
        spentTodayMicros,
        budgetResetsAt: new Date(nextUtcMidnight(now)).toISOString(),
      },
    };
  }

  /** Takes a report query from the account's bucket; an empty bucket is a 429. */
  private countQuery(accountId: string): void {
    const now = this.now();
    const seen = this.queries.get(accountId);
    const left = Math.min(
      MAX_USAGE_QUERIES_PER_MINUTE,
      seen ? seen.left + (now - seen.at) * QUERIES_PER_MS : MAX_USAGE_QUERIES_PER_MINUTE,
    );
    if (left < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - left) / QUERIES_PER_MS / 1000));
      throw rateLimited(retryAfter, {}, "this account's usage reports");
    }
    if (!seen && this.queries.size >= 10_000) this.queries.clear(); // bounded: the busy accounts
    this.queries.set(accountId, { left: left - 1, at: now });
  }

  /** GET /v1/usage?by=day|tier&since&until (DESIGN §15): UTC days, the last 30 by default. */
  async usage(record: ApiKeyRecord, query: Record<string, string | undefined>): Promise<UsageReport> {
    const by = query.by ?? 'day';
    if (!KEY_HOLDER_GROUPINGS.includes(by as KeyHolderGrouping))
      throw invalidRequest("'by' must be day, tier or day,tier.", 'by');
    const today = Date.parse(`${utcDay(this.now())}T00:00:00.000Z`);
    const until = parseDay(oneQueryValue(query, 'until'), 'until', today);
    // The default range never starts before 1970-01-01, the earliest date a report takes.
    const defaultSince = Math.max(0, until - (DEFAULT_USAGE_DAYS - 1) * DAY_MS);
    const since = parseDay(oneQueryValue(query, 'since'), 'since', defaultSince);
    if (since > until) throw invalidRequest("'since' must not be after 'until'.", 'since');
    if (until - since >= MAX_USAGE_DAYS * DAY_MS)
      throw invalidRequest(`The range may span at most ${MAX_USAGE_DAYS} days.`, 'since');
    const [sinceDay, untilDay] = [utcDay(since), utcDay(until)];
    const cacheKey = `${record.accountId}#${by}#${sinceDay}#${untilDay}`;
    return this.usageReports.get(cacheKey, async () => {
      this.countQuery(record.accountId);
      const report = await this.log.usageRows({
        accountId: record.accountId,
        by,
        since: `${sinceDay}T00:00:00.000Z`,
        until: `${untilDay}T23:59:59.999Z`,
      });
      const total: UsageTotals = { requests: 0, inputTokens: 0, outputTokens: 0, chargeMicros: 0 };
      const rows = report.rows.map(({ group, requests, inputTokens, outputTokens, chargeMicros }) => {
        total.requests += requests;
        total.inputTokens += inputTokens;
        total.outputTokens += outputTokens;
        total.chargeMicros += chargeMicros;
        return { key: group, requests, inputTokens, outputTokens, chargeMicros };
      });
      return {
        by: by as KeyHolderGrouping,
        since: sinceDay,
        until: untilDay,
        rows,
        total,
        truncated: report.truncated,
      };
    });
  }

  /** GET /v1/requests?limit: the account's newest requests, as its key holders may see them. */
  async requests(record: ApiKeyRecord, query: Record<string, string | undefined>) {
    const limit = queryCount(query, 'limit', DEFAULT_RECENT_REQUESTS, MAX_RECENT_REQUESTS);
    // The most any limit asks for, read once per account and cached: a key that tries every limit
    // in turn gets one query's worth of reads every RECENT_REQUESTS_CACHE_TTL_MS, not a hundred.
    const newest = await this.recent.get(record.accountId, async () => {
      const found = await this.log.requests({
        accountId: record.accountId,
        limit: String(MAX_RECENT_REQUESTS),
      });
      return { requests: found.requests.map(recentRequest), hasMore: found.truncated };
    });
    return {
      data: newest.requests.slice(0, limit),
      hasMore: newest.hasMore || newest.requests.length > limit,
    };
  }
}

/** Only the fields a key holder may see, picked by name: anything the log adds later stays hidden. */
function recentRequest(item: Record<string, unknown>): RecentRequest {
  return {
    requestId: String(item.requestId ?? ''),
    startedAt: String(item.startedAt ?? ''),
    tier: String(item.tier ?? ''),
    stream: item.stream === true,
    status: String(item.status ?? ''),
    inputTokens: Number(item.inputTokens ?? 0),
    outputTokens: Number(item.outputTokens ?? 0),
    chargeMicros: Number(item.chargeMicros ?? 0),
    errorCode: typeof item.errorCode === 'string' ? item.errorCode : null,
  };
}
