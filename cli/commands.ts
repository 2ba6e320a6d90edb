/**
 * The admin commands: for each, its usage, the request it sends and how its answer is shown.
 * Building the request validates the arguments, so nothing malformed reaches the server.
 */
import type { UsageRow } from '../shared/admin/reports.js';
import { type AdminRequest, segment } from '../shared/admin-client/client.js';
import { TIER_DESCRIPTIONS } from '../shared/domain/catalog.js';
import {
  formatDecimalUsd,
  formatInt,
  formatMs,
  formatText,
  formatUsd,
  parseIsoDate,
  parsePositiveInt,
  parseUsd,
  renderFields,
  renderTable,
  UsageError,
} from './format.js';

export type Options = Record<string, string | undefined>;

export interface BuildContext {
  readStdin: () => Promise<string>;
  readFile: (path: string) => Promise<string>;
}

export interface Command {
  /** One or two words, e.g. "accounts create". */
  name: string;
  /** Positional argument names, all required. */
  args: string[];
  /** Allowed command options (beyond the global ones): name → [metavar, description]. */
  options: Record<string, [string, string]>;
  /** Options that must be given. */
  required?: string[];
  summary: string;
  details?: string;
  build: (args: string[], options: Options, context: BuildContext) => Promise<AdminRequest> | AdminRequest;
  render: (data: unknown, args: string[], options: Options) => string;
}

/** Thrown for input the user supplied that cannot be read; exits 1 without a usage hint. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

// The response shapes of the admin API, as far as the renderers use them.
interface KeyCreated {
  id: string;
  key: string;
}
interface AccountCreated {
  account: { id: string; name: string; balanceMicros: number };
  apiKey: KeyCreated;
}
interface AccountKey {
  id: string;
  name?: string;
  status: string;
  createdAt: string;
  rpm?: number;
  tpm?: number;
  dailyBudgetMicros?: number;
}
interface Account {
  id: string;
  name: string;
  createdAt: string;
  balanceMicros: number;
  heldMicros: number;
  /** Late usage the balance could not cover, paid from the next top-up. */
  debtMicros?: number;
  keys: AccountKey[];
}
interface CatalogTier {
  models: { id: string; inputUsdPerMTok: number; outputUsdPerMTok: number }[];
  price: { inputUsdPerMTok: number; outputUsdPerMTok: number };
  maxOutputTokens: number;
}
interface ActiveCatalog {
  version: number;
  publishedAt: string;
  catalog: { tiers: Record<string, CatalogTier> };
}
interface CatalogVersions {
  active: number;
  versions: { version: number; publishedAt: string }[];
}
interface UsageReport {
  by: string;
  rows: UsageRow[];
}
interface RequestRecord {
  requestId: string;
  accountId: string;
  keyId: string;
  tier: string;
  status: string | number;
  inputTokens: number;
  outputTokens: number;
  chargeMicros: number;
  upstreamCostMicros: number;
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

const ONCE_NOTE = 'This key is shown only once. Store it now: it cannot be retrieved later.';

function showKey(keyId: string, key: string): string[] {
  return [`API key ${keyId}:`, '', `    ${key}`, '', ONCE_NOTE];
}

function required(options: Options, name: string): string {
  const value = options[name];
  if (value === undefined) throw new UsageError(`missing required option --${name}`);
  return value;
}

function nonEmpty(option: string, value: string): string {
  if (value.trim() === '') throw new UsageError(`--${option} must not be empty`);
  return value;
}

function yesNo(value: unknown): string {
  return value === true ? 'yes' : value === false ? 'no' : formatText(value);
}

const right = 'right' as const;

/** A catalog tier's alias, e.g. "speed" for tier-1. */
function tierAlias(tier: string): string {
  return Object.hasOwn(TIER_DESCRIPTIONS, tier)
    ? TIER_DESCRIPTIONS[tier as keyof typeof TIER_DESCRIPTIONS]
    : '-';
}

function byNaturalOrder(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

async function readCatalog(file: string, context: BuildContext): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? await context.readStdin() : await context.readFile(file);
  } catch (err) {
    throw new InputError(`cannot read ${file === '-' ? 'standard input' : file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(
      `${file === '-' ? 'standard input' : file} is not valid JSON: ${(err as Error).message}`,
    );
  }
}

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

export const COMMANDS: readonly Command[] = [
  {
    name: 'accounts create',
    args: [],
    options: {
      name: ['N', 'the account name (required)'],
      credit: ['USD', 'initial credit in USD, e.g. 25 or 0.50 (at most 6 decimals)'],
    },
    required: ['name'],
    summary: 'Create an account and its first API key',
    details: 'The API key is printed once; it cannot be shown again.',
    build: (_args, options) => {
      const name = nonEmpty('name', required(options, 'name'));
      const credit = options.credit === undefined ? undefined : parseUsd('credit', options.credit);
      return {
        method: 'POST',
        path: '/admin/accounts',
        body: { name, ...(credit ? { creditUsd: credit.usd } : {}) },
      };
    },
    render: (data) => {
      const { account, apiKey } = data as AccountCreated;
      return [
        `Created account ${account.id} (${formatText(account.name)}) with balance ${formatUsd(account.balanceMicros)}.`,
        '',
        ...showKey(apiKey.id, apiKey.key),
      ].join('\n');
    },
  },
  {
    name: 'accounts show',
    args: ['ID'],
    options: {},
    summary: 'Show an account, its balance and its keys',
    build: ([id = '']) => ({ method: 'GET', path: `/admin/accounts/${segment(id)}` }),
    render: (data) => {
      const account = data as Account;
      const lines = [
        renderFields([
          ['Account', account.id],
          ['Name', formatText(account.name)],
          ['Created', formatText(account.createdAt)],
          ['Balance', formatUsd(account.balanceMicros)],
          ['Held', formatUsd(account.heldMicros)],
          ['Debt', formatUsd(account.debtMicros ?? 0)],
        ]),
        '',
      ];
      const keys = account.keys ?? [];
      if (keys.length === 0) {
        lines.push('No keys.');
      } else {
        lines.push(
          renderTable(
            [
              { header: 'KEY' },
              { header: 'NAME' },
              { header: 'STATUS' },
              { header: 'CREATED' },
              { header: 'RPM', align: right },
              { header: 'TPM', align: right },
              { header: 'DAILY BUDGET', align: right },
            ],
            keys.map((key) => [
              key.id,
              formatText(key.name),
              formatText(key.status),
              formatText(key.createdAt),
              formatInt(key.rpm),
              formatInt(key.tpm),
              formatUsd(key.dailyBudgetMicros),
            ]),
          ),
        );
      }
      return lines.join('\n');
    },
  },
  {
    name: 'accounts delete',
    args: ['ID'],
    options: {},
    summary: 'Delete an account',
    build: ([id = '']) => ({ method: 'DELETE', path: `/admin/accounts/${segment(id)}` }),
    render: (_data, [id]) => `Deleted account ${id}.`,
  },
  {
    name: 'keys create',
    args: ['ACCOUNT_ID'],
    options: {
      name: ['N', 'a label for the key'],
      rpm: ['N', 'requests per minute allowed for this key'],
      tpm: ['N', 'tokens per minute allowed for this key (prompt estimate plus output cap)'],
      'daily-budget': ['USD', 'the most this key may spend per UTC day'],
    },
    summary: 'Create an API key for an account',
    details: 'The API key is printed once; it cannot be shown again.',
    build: ([accountId = ''], options) => {
      const rpm = options.rpm === undefined ? undefined : parsePositiveInt('rpm', options.rpm);
      const tpm = options.tpm === undefined ? undefined : parsePositiveInt('tpm', options.tpm);
      const budget =
        options['daily-budget'] === undefined ? undefined : parseUsd('daily-budget', options['daily-budget']);
      return {
        method: 'POST',
        path: `/admin/accounts/${segment(accountId)}/keys`,
        body: {
          ...(options.name === undefined ? {} : { name: nonEmpty('name', options.name) }),
          ...(rpm === undefined ? {} : { rpm }),
          ...(tpm === undefined ? {} : { tpm }),
          ...(budget === undefined ? {} : { dailyBudgetUsd: budget.usd }),
        },
      };
    },
    render: (data, [accountId]) => {
      const key = data as KeyCreated;
      return [`Created key ${key.id} for account ${accountId}.`, '', ...showKey(key.id, key.key)].join('\n');
    },
  },
  {
    name: 'keys revoke',
    args: ['KEY_ID'],
    options: {},
    summary: 'Revoke an API key',
    build: ([keyId = '']) => ({ method: 'DELETE', path: `/admin/keys/${segment(keyId)}` }),
    render: (_data, [keyId]) => `Revoked key ${keyId}.`,
  },
  {
    name: 'credit add',
    args: ['ACCOUNT_ID'],
    options: {
      amount: ['USD', 'the amount to add, e.g. 10 or 2.50 (required)'],
      reference: ['REF', 'a unique payment reference; repeating it does not add twice (required)'],
    },
    required: ['amount', 'reference'],
    summary: "Add credit to an account's wallet",
    build: ([accountId = ''], options) => {
      const amount = parseUsd('amount', required(options, 'amount'), { positive: true });
      const reference = nonEmpty('reference', required(options, 'reference'));
      return {
        method: 'POST',
        path: `/admin/accounts/${segment(accountId)}/credit`,
        body: { amountUsd: amount.usd, reference },
      };
    },
    render: (data, [accountId], options) => {
      const { balanceMicros, debtMicros = 0 } = data as { balanceMicros: number; debtMicros?: number };
      const amount = options.amount === undefined ? undefined : parseUsd('amount', options.amount).micros;
      const debt = debtMicros > 0 ? ` Debt still owed: ${formatUsd(debtMicros)}.` : '';
      return `Added ${formatUsd(amount)} to account ${accountId}. Balance: ${formatUsd(balanceMicros)}.${debt}`;
    },
  },
  {
    name: 'tiers show',
    args: [],
    options: {},
    summary: 'Show the active tier catalog',
    build: () => ({ method: 'GET', path: '/admin/tiers' }),
    render: (data) => {
      const active = data as ActiveCatalog;
      const tiers = active.catalog.tiers;
      const rows = Object.keys(tiers)
        .sort(byNaturalOrder)
        .map((id) => {
          const tier = tiers[id] as CatalogTier;
          return [
            id,
            tierAlias(id),
            tier.models.map((model) => model.id).join(', '),
            formatDecimalUsd(tier.price.inputUsdPerMTok),
            formatDecimalUsd(tier.price.outputUsdPerMTok),
            formatInt(tier.maxOutputTokens),
          ];
        });
      return [
        `Catalog version ${active.version}, published ${formatText(active.publishedAt)}`,
        '',
        renderTable(
          [
            { header: 'TIER' },
            { header: 'ALIAS' },
            { header: 'MODELS' },
            { header: 'IN $/MTOK', align: right },
            { header: 'OUT $/MTOK', align: right },
            { header: 'MAX OUTPUT', align: right },
          ],
          rows,
        ),
      ].join('\n');
    },
  },
  {
    name: 'tiers versions',
    args: [],
    options: {},
    summary: 'List the published catalog versions',
    build: () => ({ method: 'GET', path: '/admin/tiers/versions' }),
    render: (data) => {
      const { active, versions } = data as CatalogVersions;
      if (versions.length === 0) return 'No catalog versions.';
      return renderTable(
        [{ header: 'VERSION', align: right }, { header: 'PUBLISHED' }, { header: 'ACTIVE' }],
        versions.map((v) => [String(v.version), formatText(v.publishedAt), v.version === active ? '*' : '']),
      );
    },
  },
  {
    name: 'tiers publish',
    args: ['FILE'],
    options: {},
    summary: 'Publish a tier catalog from a JSON file (- for stdin)',
    details: 'The catalog is validated by the server; a new version becomes active at once.',
    build: async ([file = ''], _options, context) => ({
      method: 'PUT',
      path: '/admin/tiers',
      body: await readCatalog(file, context),
    }),
    render: (data) => {
      const { version, publishedAt } = data as { version: number; publishedAt: string };
      return `Published catalog version ${version} at ${formatText(publishedAt)}. It is now active.`;
    },
  },
  {
    name: 'tiers rollback',
    args: ['VERSION'],
    options: {},
    summary: 'Make an earlier catalog version active again',
    build: ([version = '']) => {
      let number: number;
      try {
        number = parsePositiveInt('version', version);
      } catch {
        throw new UsageError(`VERSION must be a positive integer, got "${version}"`);
      }
      return { method: 'POST', path: '/admin/tiers/rollback', body: { version: number } };
    },
    render: (data) => `Active catalog version is now ${(data as { active: number }).active}.`,
  },
  {
    name: 'usage',
    args: [],
    options: {
      account: ['ID', 'only this account'],
      by: ['tier|day|key', 'how to group the rows'],
      since: ['ISO', 'start date or date-time (UTC)'],
      until: ['ISO', 'end date or date-time (UTC)'],
    },
    summary: 'Summarise usage and charges',
    build: (_args, options) => {
      const by = options.by;
      if (by !== undefined && by !== 'tier' && by !== 'day' && by !== 'key') {
        throw new UsageError(`--by must be one of tier, day, key; got "${by}"`);
      }
      return {
        method: 'GET',
        path: '/admin/usage',
        query: {
          accountId: options.account,
          by,
          since: options.since === undefined ? undefined : parseIsoDate('since', options.since),
          until: options.until === undefined ? undefined : parseIsoDate('until', options.until),
        },
      };
    },
    render: (data) => {
      const report = data as UsageReport;
      if (report.rows.length === 0) return `No usage (by ${report.by}).`;
      const total = { requests: 0n, input: 0n, output: 0n, charge: 0n, upstream: 0n };
      const big = (n: unknown): bigint => (typeof n === 'number' && Number.isSafeInteger(n) ? BigInt(n) : 0n);
      const rows = report.rows.map((row) => {
        total.requests += big(row.requests);
        total.input += big(row.inputTokens);
        total.output += big(row.outputTokens);
        total.charge += big(row.chargeMicros);
        total.upstream += big(row.upstreamCostMicros);
        return [
          formatText(row.group),
          formatInt(row.requests),
          formatInt(row.inputTokens),
          formatInt(row.outputTokens),
          formatUsd(row.chargeMicros),
          formatUsd(row.upstreamCostMicros),
        ];
      });
      rows.push([
        'TOTAL',
        formatInt(total.requests),
        formatInt(total.input),
        formatInt(total.output),
        formatUsd(total.charge),
        formatUsd(total.upstream),
      ]);
      return renderTable(
        [
          { header: report.by.toUpperCase() },
          { header: 'REQUESTS', align: right },
          { header: 'INPUT TOKENS', align: right },
          { header: 'OUTPUT TOKENS', align: right },
          { header: 'CHARGE', align: right },
          { header: 'UPSTREAM COST', align: right },
        ],
        rows,
      );
    },
  },
  {
    name: 'requests',
    args: [],
    options: {
      account: ['ID', 'only this account'],
      limit: ['N', 'how many recent requests to list'],
    },
    summary: 'List recent requests',
    build: (_args, options) => ({
      method: 'GET',
      path: '/admin/requests',
      query: {
        accountId: options.account,
        limit: options.limit === undefined ? undefined : parsePositiveInt('limit', options.limit),
      },
    }),
    render: (data) => {
      const { requests } = data as { requests: RequestRecord[] };
      if (requests.length === 0) return 'No requests.';
      return renderTable(
        [
          { header: 'REQUEST' },
          { header: 'STARTED' },
          { header: 'ACCOUNT' },
          { header: 'KEY' },
          { header: 'TIER' },
          { header: 'STATUS' },
          { header: 'IN', align: right },
          { header: 'OUT', align: right },
          { header: 'CHARGE', align: right },
          { header: 'UPSTREAM', align: right },
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
          formatInt(r.outputTokens),
          formatUsd(r.chargeMicros),
          formatUsd(r.upstreamCostMicros),
          formatMs(r.ttftMs),
          formatMs(r.latencyMs),
          yesNo(r.stream),
        ]),
      );
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

/** The groups that have subcommands, e.g. "accounts". */
export const GROUPS: ReadonlySet<string> = new Set(
  COMMANDS.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0] ?? ''),
);

export function usageLine(command: Command): string {
  const options = Object.entries(command.options).map(([name, [metavar]]) =>
    command.required?.includes(name) ? `--${name} ${metavar}` : `[--${name} ${metavar}]`,
  );
  return ['tiergate', command.name, ...command.args, ...options].join(' ');
}
