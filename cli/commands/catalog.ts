/** The tier catalog: show, versions, publish, rollback. */
import { type PriceDocument, TIER_DESCRIPTIONS } from '../../shared/domain/catalog.js';
import { REFERENCE_REQUEST, type TierMargin } from '../../shared/domain/catalog-review.js';
import { type BuildContext, byNaturalOrder, type Command, InputError, right } from '../command-kit.js';
import {
  formatDecimalUsd,
  formatInt,
  formatText,
  formatUsd,
  parsePositiveInt,
  renderTable,
  UsageError,
} from '../format.js';

interface CatalogTier {
  models: Array<{ id: string } & PriceDocument>;
  price: PriceDocument;
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
interface Published {
  version: number;
  publishedAt: string;
  unchanged?: boolean;
  warnings?: string[];
  margins?: TierMargin[];
}

/** Handlers cache the active catalog for at most this long (shared/runtime/public-api-wiring.ts). */
const EVERYWHERE = 'on every instance within 30 s';

/** A catalog tier's alias, e.g. "speed" for tier-1. */
function tierAlias(tier: string): string {
  return Object.hasOwn(TIER_DESCRIPTIONS, tier)
    ? TIER_DESCRIPTIONS[tier as keyof typeof TIER_DESCRIPTIONS]
    : '-';
}

/**
 * The catalog document in a file: either the document itself, or what `tiers show --json`
 * prints (`{version, publishedAt, catalog}`), so that output can be edited and published as it is.
 */
async function readCatalog(file: string, context: BuildContext): Promise<unknown> {
  const what = file === '-' ? 'standard input' : file;
  let text: string;
  try {
    text = file === '-' ? await context.readStdin() : await context.readFile(file);
  } catch (err) {
    throw new InputError(`cannot read ${what}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
  const shown = parsed as Partial<ActiveCatalog> | null;
  const isShowOutput =
    shown !== null &&
    typeof shown === 'object' &&
    typeof shown.version === 'number' &&
    typeof shown.catalog === 'object' &&
    shown.catalog !== null;
  return isShowOutput ? shown.catalog : parsed;
}

/** A margin in dollars and as a share of the charge, e.g. "$0.001200 (25.0%)"; a free tier's is all loss. */
function formatMargin(marginMicros: number, chargeMicros: number): string {
  if (chargeMicros <= 0) return `${formatUsd(marginMicros)} (free)`;
  // Truncated toward zero; the sign is the margin's, so a loss under 0.1% still reads as one.
  const sign = marginMicros < 0 ? '-' : '';
  const abs = (BigInt(Math.abs(marginMicros)) * 1000n) / BigInt(chargeMicros);
  return `${formatUsd(marginMicros)} (${sign}${abs / 10n}.${abs % 10n}%)`;
}

/** Each tier's margin against its primary model at each cache-hit ratio, for the reference request. */
function renderMargins(margins: TierMargin[]): string {
  const ratios = margins[0]?.at.map((a) => a.cacheHitPercent) ?? [];
  return [
    `Margin per request of ${formatInt(REFERENCE_REQUEST.promptTokens)} prompt and ` +
      `${formatInt(REFERENCE_REQUEST.outputTokens)} output tokens, against each tier's primary model:`,
    renderTable(
      [
        { header: 'TIER' },
        { header: 'PRIMARY' },
        ...ratios.map((r) => ({ header: `${r}% CACHED`, align: right })),
      ],
      margins.map((m) => [
        formatText(m.tier),
        formatText(m.model),
        ...m.at.map((a) => formatMargin(a.marginMicros, a.chargeMicros)),
      ]),
    ),
    '',
  ].join('\n');
}

export const CATALOG_COMMANDS: readonly Command[] = [
  {
    name: 'tiers show',
    args: [],
    options: {},
    summary: 'Show the active tier catalog',
    details: 'With --json the output can be edited and given to `tiers publish` as it is.',
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
            // Cache reads and writes default to the input price.
            formatDecimalUsd(tier.price.cachedInputUsdPerMTok ?? tier.price.inputUsdPerMTok),
            formatDecimalUsd(tier.price.cacheWriteUsdPerMTok ?? tier.price.inputUsdPerMTok),
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
            { header: 'CACHED $/MTOK', align: right },
            { header: 'WRITE $/MTOK', align: right },
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
    details:
      'The file is a catalog, or the output of `tiers show --json`. The server validates it, shows each ' +
      "tier's margin against its primary model at 0, 50 and 90% cache hits, and warns about duplicate " +
      'models and prices below cost; a new version becomes active on every instance ' +
      'within 30 s. A catalog identical to the active one publishes nothing.',
    build: async ([file = ''], _options, context) => ({
      method: 'PUT',
      path: '/admin/tiers',
      body: await readCatalog(file, context),
    }),
    render: (data) => {
      const { version, publishedAt, unchanged, warnings = [], margins = [] } = data as Published;
      const lines = margins.length > 0 ? [renderMargins(margins)] : [];
      lines.push(...warnings.map((warning) => `Warning: ${formatText(warning)}`));
      lines.push(
        unchanged === true
          ? `Nothing published: the catalog is identical to the active version ${version}.`
          : `Published catalog version ${version} at ${formatText(publishedAt)}. Now active ${EVERYWHERE}.`,
      );
      return lines.join('\n');
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
    render: (data) => `Active catalog version is now ${(data as { active: number }).active}, ${EVERYWHERE}.`,
  },
];
