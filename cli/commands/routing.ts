/** tier-auto's report: the agreement matrix of shadow mode, tier shares of auto traffic, the cost. */
import type { RouteReport } from '../../shared/admin/route-report.js';
import { TIER_IDS } from '../../shared/domain/catalog.js';
import { type Command, RANGE_OPTIONS, rangeQuery, right } from '../command-kit.js';
import { formatInt, formatText, formatUsd, renderTable } from '../format.js';

type Report = RouteReport & { since?: string; until?: string; accountId?: string; truncated?: boolean };

const pct = (share: number | null): string => (share === null ? '-' : `${(share * 100).toFixed(1)}%`);

/** requested (rows) × chosen (columns) for shadow-mode traffic. */
function agreementMatrix(report: Report): string {
  const cells = report.matrix.filter((c) => c.mode === 'shadow');
  const requested = [...new Set(cells.map((c) => c.requested))];
  const count = (r: string, c: string) =>
    cells.find((x) => x.requested === r && x.chosen === c)?.requests ?? 0;
  return renderTable(
    [{ header: 'REQUESTED \\ AUTO' }, ...TIER_IDS.map((t) => ({ header: t.toUpperCase(), align: right }))],
    requested.map((r) => [formatText(r), ...TIER_IDS.map((c) => formatInt(count(r, c)))]),
  );
}

function savings(micros: number): string {
  if (micros === 0) return 'tier-auto would have charged the same.';
  const amount = formatUsd(Math.abs(micros));
  return micros > 0 ? `tier-auto would have saved ${amount}.` : `tier-auto would have added ${amount}.`;
}

export function renderRouting(report: Report): string {
  const range =
    report.since && report.until ? ` from ${formatText(report.since)} to ${formatText(report.until)}` : '';
  const lines = [
    `Routing${report.accountId ? ` for account ${formatText(report.accountId)}` : ''}${range}`,
    '',
  ];
  const autoTotal = report.autoShares.reduce((n, s) => n + s.requests, 0);
  if (autoTotal === 0) lines.push('No tier-auto requests.');
  else {
    lines.push(`tier-auto requests: ${formatInt(autoTotal)}`);
    lines.push(
      renderTable(
        [{ header: 'TIER' }, { header: 'REQUESTS', align: right }, { header: 'SHARE', align: right }],
        report.autoShares.map((s) => [formatText(s.tier), formatInt(s.requests), pct(s.share)]),
      ),
    );
  }
  lines.push('');
  if (report.shadow.requests === 0) lines.push('No shadow-mode decisions (catalog auto.shadow is off).');
  else {
    lines.push(
      `Shadow mode: ${formatInt(report.shadow.requests)} explicit-tier requests, ` +
        `tier-auto agreed on ${pct(report.shadow.agreement)}.`,
      agreementMatrix(report),
      savings(report.shadow.savedMicros),
    );
  }
  if (report.truncated === true)
    lines.push('', 'Truncated: only the newest requests of the range are counted.');
  return lines.join('\n');
}

export const ROUTING_COMMANDS: readonly Command[] = [
  {
    name: 'routing',
    args: [],
    options: {
      account: ['ID', 'only this account'],
      ...RANGE_OPTIONS,
    },
    summary: "Show tier-auto's routing: tier shares, shadow-mode agreement and cost",
    build: (_args, options) => ({
      method: 'GET',
      path: '/admin/usage',
      query: {
        by: 'route',
        accountId: options.account,
        ...rangeQuery(options),
      },
    }),
    render: (data) => renderRouting(data as Report),
  },
];
