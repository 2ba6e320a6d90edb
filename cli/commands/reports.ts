/** Reports: usage, recent requests and the spend guardrail. */
import type { UsageRow } from '../../shared/admin/reports.js';
import {
  byNaturalOrder,
  type Command,
  intOption,
  RANGE_OPTIONS,
  rangeQuery,
  right,
  yesNo,
} from '../command-kit.js';
import {
  formatInt,
  formatMs,
  formatText,
  formatUsd,
  renderFields,
  renderTable,
  UsageError,
} from '../format.js';

interface UsageReport {
  by: string;
  since?: string;
  until?: string;
  accountId?: string;
  rows: UsageRow[];
  truncated?: boolean;
  maxRequests?: number;
}
interface RequestRecord {
  requestId: string;
  accountId: string;
  keyId: string;
  tier: string;
  status: string | number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens?: number;
  cacheWriteTokens?: number;
  reasoningTokens?: number;
  chargeMicros: number;
  upstreamCostMicros: number;
  marginMicros?: number;
  startedAt: string;
  latencyMs?: number | null;
  ttftMs?: number | null;
  stream: boolean;
}
interface Guardrail {
  day: string;
  spendMicros: number;
  capMicros: number;
  tripped: boolean;
  byTier?: Record<string, unknown>;
}

/** The server's bound on `requests --limit` (shared/admin/reports.ts). */
const MAX_REQUESTS_LIMIT = 1000;

function renderGuardrailByTier(byTier: Record<string, unknown>): string {
  const tiers = Object.keys(byTier).sort(byNaturalOrder);
  if (tiers.length === 0) return '';
  // Each entry is either a spend in micro-USD or an object with spend (and perhaps cap/tripped).
  const rows = tiers.map((tier) => {
    const entry = byTier[tier];
    if (entry !== null && typeof entry === 'object') {
      const { spendMicros, capMicros, tripped } = entry as Record<string, unknown>;
      return [tier, formatUsd(spendMicros), formatUsd(capMicros), yesNo(tripped)];
    }
    return [tier, formatUsd(entry), '-', '-'];
  });
  return renderTable(
    [
      { header: 'TIER' },
      { header: 'SPEND', align: right },
      { header: 'CAP', align: right },
      { header: 'TRIPPED' },
    ],
    rows,
  );
}

/** The usage table's number columns: header, row field, and how it prints. */
const USAGE_COLUMNS: ReadonlyArray<[string, Exclude<keyof UsageRow, 'group'>, (n: unknown) => string]> = [
  ['REQUESTS', 'requests', formatInt],
  ['INPUT TOKENS', 'inputTokens', formatInt],
  ['CACHED', 'cachedInputTokens', formatInt],
  ['CACHE WRITE', 'cacheWriteTokens', formatInt],
  ['OUTPUT TOKENS', 'outputTokens', formatInt],
  ['REASONING', 'reasoningTokens', formatInt],
  ['CHARGE', 'chargeMicros', formatUsd],
  ['UPSTREAM COST', 'upstreamCostMicros', formatUsd],
  ['MARGIN', 'marginMicros', formatUsd],
];

function usageTable(report: UsageReport): string {
  const totals = USAGE_COLUMNS.map(() => 0n);
  const big = (n: unknown): bigint => (typeof n === 'number' && Number.isSafeInteger(n) ? BigInt(n) : 0n);
  const rows = report.rows.map((row) => [
    formatText(row.group),
    ...USAGE_COLUMNS.map(([, field, format], i) => {
      totals[i] = (totals[i] ?? 0n) + big(row[field]);
      return format(row[field]);
    }),
  ]);
  rows.push(['TOTAL', ...USAGE_COLUMNS.map(([, , format], i) => format(totals[i]))]);
  return renderTable(
    [{ header: report.by.toUpperCase() }, ...USAGE_COLUMNS.map(([header]) => ({ header, align: right }))],
    rows,
  );
}

export const REPORT_COMMANDS: readonly Command[] = [
  {
    name: 'usage',
    args: [],
    options: {
      account: ['ID', 'only this account (an unknown account is an error)'],
      by: ['tier|day|key', 'how to group the rows (default tier)'],
      ...RANGE_OPTIONS,
    },
    summary: 'Summarise usage and charges',
    details: 'The first line says the range and grouping the report covers.',
    build: (_args, options) => {
      const by = options.by;
      if (by !== undefined && by !== 'tier' && by !== 'day' && by !== 'key') {
        throw new UsageError(
          `--by must be one of tier, day, key; got "${by}" (tiergate routing shows routes)`,
        );
      }
      return {
        method: 'GET',
        path: '/admin/usage',
        query: {
          accountId: options.account,
          by,
          ...rangeQuery(options),
        },
      };
    },
    render: (data) => {
      const report = data as UsageReport;
      const scope = report.accountId ? `account ${formatText(report.accountId)}` : 'all accounts';
      const range =
        report.since && report.until ? `from ${formatText(report.since)} to ${formatText(report.until)}` : '';
      const lines = [`Usage by ${report.by}, ${scope}${range ? `, ${range}` : ''}`, ''];
      lines.push(report.rows.length === 0 ? 'No usage in this range.' : usageTable(report));
      if (report.truncated === true) {
        lines.push(
          '',
          `Truncated: only the newest ${formatInt(report.maxRequests)} requests of the range are counted; ` +
            'narrow --since/--until for a complete report.',
        );
      }
      return lines.join('\n');
    },
  },
  {
    name: 'requests',
    args: [],
    options: {
      account: ['ID', 'only this account (an unknown account is an error)'],
      limit: ['N', `how many recent requests to list (default 50, at most ${formatInt(MAX_REQUESTS_LIMIT)})`],
    },
    summary: 'List recent requests',
    build: (_args, options) => ({
      method: 'GET',
      path: '/admin/requests',
      query: {
        accountId: options.account,
        limit:
          options.limit === undefined ? undefined : intOption('limit', options.limit, MAX_REQUESTS_LIMIT),
      },
    }),
    render: (data) => {
      const { requests, truncated } = data as { requests: RequestRecord[]; truncated?: boolean };
      if (requests.length === 0) return 'No requests.';
      const table = renderTable(
        [
          { header: 'REQUEST' },
          { header: 'STARTED' },
          { header: 'ACCOUNT' },
          { header: 'KEY' },
          { header: 'TIER' },
          { header: 'STATUS' },
          { header: 'IN', align: right },
          { header: 'CACHED', align: right },
          { header: 'WRITE', align: right },
          { header: 'OUT', align: right },
          { header: 'REASON', align: right },
          { header: 'CHARGE', align: right },
          { header: 'UPSTREAM', align: right },
          { header: 'MARGIN', align: right },
          { header: 'TTFT', align: right },
          { header: 'LATENCY', align: right },
          { header: 'STREAM' },
        ],
        requests.map((r) => [
          formatText(r.requestId),
          formatText(r.startedAt),
          formatText(r.accountId),
          formatText(r.keyId),
          formatText(r.tier),
          formatText(r.status),
          formatInt(r.inputTokens),
          formatInt(r.cachedInputTokens),
          formatInt(r.cacheWriteTokens),
          formatInt(r.outputTokens),
          formatInt(r.reasoningTokens),
          formatUsd(r.chargeMicros),
          formatUsd(r.upstreamCostMicros),
          formatUsd(r.marginMicros),
          formatMs(r.ttftMs),
          formatMs(r.latencyMs),
          yesNo(r.stream),
        ]),
      );
      return truncated === true
        ? `${table}\n\nTruncated: the newest ${formatInt(requests.length)} shown; there are more (raise --limit).`
        : table;
    },
  },
  {
    name: 'guardrail',
    args: [],
    options: {},
    summary: "Show today's spend against the daily spend cap",
    build: () => ({ method: 'GET', path: '/admin/guardrail' }),
    render: (data) => {
      const g = data as Guardrail;
      const lines = [
        renderFields([
          ['Day', formatText(g.day)],
          ['Spend', formatUsd(g.spendMicros)],
          ['Cap', formatUsd(g.capMicros)],
          ['Tripped', yesNo(g.tripped)],
        ]),
      ];
      const byTier = g.byTier ? renderGuardrailByTier(g.byTier) : '';
      if (byTier) lines.push('', byTier);
      return lines.join('\n');
    },
  },
];
