import type { DynamoDBDocumentClient, QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { queryAll } from '../adapters/dynamodb/client.js';
import { TIER_IDS } from '../domain/catalog.js';
import { DAY_MS, nextUtcMidnight, utcDay } from '../domain/clock.js';
import { invalidRequest } from '../domain/errors.js';
import { oneQueryValue, queryCount } from '../domain/query-params.js';
import {
  EARLIEST_REPORT_TIME,
  isReportDate,
  LATEST_REPORT_TIME,
  parseReportTime,
  REPORT_RANGE_TEXT,
  type ReportTimeOptions,
} from '../domain/report-time.js';
import { type SpendGuardrail, scopes } from '../guardrail/spend-guardrail.js';
import { REQUEST_LOG_TABLE, requestLogKeys } from '../tables.js';
import type { AdminReports } from './admin-api.js';
import { routeReport } from './route-report.js';

const BY_DAY_INDEX = REQUEST_LOG_TABLE.globalSecondaryIndexes[0]?.indexName ?? 'by-day';
const MAX_RANGE_DAYS = 31;
/** A usage report counts at most this many requests (the newest of its range) and says so. */
export const MAX_USAGE_ITEMS = 50_000;

type Item = Record<string, unknown>;

/** How a usage report groups requests: `day,tier` is one row per UTC day and tier (a stacked chart). */
const GROUP_OF = {
  tier: (item: Item) => String(item.tier),
  day: (_item: Item, startedAt: string) => startedAt.slice(0, 10),
  key: (item: Item) => String(item.keyId),
  'day,tier': (item: Item, startedAt: string) => `${startedAt.slice(0, 10)},${String(item.tier)}`,
} as const;
export type UsageGrouping = keyof typeof GROUP_OF;
const isGrouping = (by: string): by is UsageGrouping => Object.hasOwn(GROUP_OF, by);

/** One group of a usage report, as the admin API returns it. */
export interface UsageRow {
  group: string;
  requests: number;
  /** Every prompt token, cache reads and writes included. */
  inputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  /** Every generated token, reasoning included. */
  outputTokens: number;
  reasoningTokens: number;
  chargeMicros: number;
  upstreamCostMicros: number;
  /** chargeMicros − upstreamCostMicros: negative where a tier sells below its cost. */
  marginMicros: number;
}

/** The counts a usage row sums over request-log items. */
const SUMMED = [
  'inputTokens',
  'cachedInputTokens',
  'cacheWriteTokens',
  'outputTokens',
  'reasoningTokens',
  'chargeMicros',
  'upstreamCostMicros',
] as const;

const emptyRow = (group: string): UsageRow => ({
  group,
  requests: 0,
  inputTokens: 0,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  outputTokens: 0,
  reasoningTokens: 0,
  chargeMicros: 0,
  upstreamCostMicros: 0,
  marginMicros: 0,
});

function parseTime(
  value: string | undefined,
  param: string,
  fallback: number,
  options?: ReportTimeOptions,
): number {
  if (value === undefined || value === '') return fallback;
  const t = parseReportTime(value, options);
  if (t === undefined) {
    throw invalidRequest(
      `'${param}' must be an ISO 8601 date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM]) that exists.`,
      param,
    );
  }
  // A range whose ends, and the default week before them, print as ISO 8601.
  if (t < EARLIEST_REPORT_TIME || t > LATEST_REPORT_TIME)
    throw invalidRequest(`'${param}' must be ${REPORT_RANGE_TEXT}.`, param);
  return t;
}

/** The bounds of `sk BETWEEN :from AND :to` for items started in [since, until] (sk is startedAt#requestId). */
const startedBetween = (since: number, until: number) => ({
  ':from': new Date(since).toISOString(),
  ':to': `${new Date(until).toISOString()}~`,
});

/** A request-log item as the admin API shows it, with its margin (charge − upstream cost). */
function publicLogItem(item: Item): Item {
  const { pk: _pk, sk: _sk, expiresAt: _e, day: _d, ...rest } = item;
  return { ...rest, marginMicros: Number(item.chargeMicros ?? 0) - Number(item.upstreamCostMicros ?? 0) };
}

/**
 * Usage and request reports from the request log: the operator's (any account, any day) and a key
 * holder's (their own account only, by passing its `accountId`), from the same aggregation.
 */
export class RequestLogReports {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly requestLogTable: string,
    protected readonly now: () => number = Date.now,
    private readonly maxUsageItems: number = MAX_USAGE_ITEMS,
  ) {}

  async requests(query: Record<string, string | undefined>) {
    const limit = queryCount(query, 'limit', 50, 1000);
    // One more than asked for tells whether there are more.
    const items = query.accountId
      ? await this.accountItems(query.accountId, 0, this.now() + DAY_MS, limit + 1)
      : await this.dayItems(
          this.now() - (MAX_RANGE_DAYS - 1) * DAY_MS,
          nextUtcMidnight(this.now()) - 1,
          limit + 1,
        );
    return { requests: items.slice(0, limit).map(publicLogItem), truncated: items.length > limit };
  }

  /** A usage report: rows grouped by tier, day, key or day and tier, or tier-auto's route report. */
  async usage(query: Record<string, string | undefined>) {
    const by = query.by ?? 'tier';
    if (by === 'route') {
      const { header, items, limits } = await this.rangeItems(query, by);
      return { ...header, ...routeReport(items), ...limits };
    }
    return this.usageRows(query);
  }

  /** A usage report with one row per group (the key holder's `/v1/usage` is this, for one account). */
  async usageRows(query: Record<string, string | undefined>) {
    const by = query.by ?? 'tier';
    if (!isGrouping(by)) throw invalidRequest("'by' must be tier, day, key, day,tier or route.", 'by');
    const { header, items, limits } = await this.rangeItems(query, by);
    const rows = new Map<string, UsageRow>();
    for (const item of items) {
      const group = GROUP_OF[by](item, String(item.startedAt));
      const row = rows.get(group) ?? emptyRow(group);
      row.requests++;
      for (const field of SUMMED) row[field] += Number(item[field] ?? 0);
      row.marginMicros = row.chargeMicros - row.upstreamCostMicros;
      rows.set(group, row);
    }
    return { ...header, rows: [...rows.values()].sort((a, b) => a.group.localeCompare(b.group)), ...limits };
  }

  /** The request-log items of a report's range, newest first, at most maxUsageItems of them. */
  private async rangeItems(query: Record<string, string | undefined>, by: string) {
    // A plain date ends the range with that whole UTC day, as the key holder's /v1/usage does.
    const until = parseTime(oneQueryValue(query, 'until'), 'until', this.now(), { endOfDay: true });
    // The default range is the week before `until`: seven whole UTC days when `until` is a date.
    const wholeDays = isReportDate(query.until ?? '');
    const since = parseTime(oneQueryValue(query, 'since'), 'since', until + (wholeDays ? 1 : 0) - 7 * DAY_MS);
    if (since > until) throw invalidRequest("'since' must not be after 'until'.", 'since');
    if (!query.accountId && until - since > MAX_RANGE_DAYS * DAY_MS) {
      throw invalidRequest(`Without accountId the range may span at most ${MAX_RANGE_DAYS} days.`, 'since');
    }
    const found = query.accountId
      ? await this.accountItems(query.accountId, since, until, this.maxUsageItems + 1)
      : await this.dayItems(since, until, this.maxUsageItems + 1);
    // Newest first: a truncated report counts the newest maxUsageItems requests of the range.
    const truncated = found.length > this.maxUsageItems;
    const items = found.slice(0, this.maxUsageItems).filter((item) => {
      const t = Date.parse(String(item.startedAt));
      return t >= since && t <= until;
    });
    const header = {
      by,
      since: new Date(since).toISOString(),
      until: new Date(until).toISOString(),
      ...(query.accountId ? { accountId: query.accountId } : {}),
    };
    return {
      header,
      items,
      limits: { truncated, ...(truncated ? { maxRequests: this.maxUsageItems } : {}) },
    };
  }

  private async accountItems(
    accountId: string,
    since: number,
    until: number,
    limit: number,
  ): Promise<Item[]> {
    return this.collect(
      {
        TableName: this.requestLogTable,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':pk': requestLogKeys.account(accountId),
          ...startedBetween(since, until),
        },
        ScanIndexForward: false,
      },
      limit,
    );
  }

  /**
   * Newest first, day by day through the by-day index, each day's query bounded by the range so
   * that requests outside it count neither against the limit nor as truncation.
   */
  private async dayItems(since: number, until: number, limit: number): Promise<Item[]> {
    const items: Item[] = [];
    for (let t = until; t >= since - DAY_MS && items.length < limit; t -= DAY_MS) {
      const day = utcDay(t);
      if (day < utcDay(since)) break;
      items.push(
        ...(await this.collect(
          {
            TableName: this.requestLogTable,
            IndexName: BY_DAY_INDEX,
            KeyConditionExpression: '#day = :day AND sk BETWEEN :from AND :to',
            ExpressionAttributeNames: { '#day': 'day' },
            ExpressionAttributeValues: { ':day': day, ...startedBetween(since, until) },
            ScanIndexForward: false,
          },
          limit - items.length,
        )),
      );
    }
    return items;
  }

  private collect(input: QueryCommandInput, limit: number): Promise<Item[]> {
    return queryAll(this.db, input, limit);
  }
}

/** The admin API's reports: the request log's, and today's guardrail state. */
export class DynamoAdminReports extends RequestLogReports implements AdminReports {
  constructor(
    db: DynamoDBDocumentClient,
    requestLogTable: string,
    private readonly spend: SpendGuardrail,
    private readonly capMicros: number,
    now: () => number = Date.now,
    maxUsageItems: number = MAX_USAGE_ITEMS,
  ) {
    super(db, requestLogTable, now, maxUsageItems);
  }

  async guardrail() {
    const day = utcDay(this.now());
    const global = await this.spend.totals(day, scopes.global);
    const byTier: Record<string, { spendMicros: number; chargeMicros: number; requests: number }> = {};
    for (const tier of TIER_IDS) {
      const t = await this.spend.totals(day, scopes.tier(tier));
      byTier[tier] = {
        spendMicros: t.upstreamCostMicros,
        chargeMicros: t.chargeMicros,
        requests: t.requests,
      };
    }
    return {
      day,
      spendMicros: global.upstreamCostMicros,
      chargeMicros: global.chargeMicros,
      requests: global.requests,
      capMicros: this.capMicros,
      tripped: global.tripped,
      byTier,
    };
  }
}
