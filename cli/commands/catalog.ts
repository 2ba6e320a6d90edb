/** The tier catalog: show, versions, publish, rollback. */
import { TIER_DESCRIPTIONS } from '../../shared/domain/catalog.js';
import { type BuildContext, byNaturalOrder, type Command, InputError, right } from '../command-kit.js';
import {
  formatDecimalUsd,
  formatInt,
  formatText,
  parsePositiveInt,
  renderTable,
  UsageError,
} from '../format.js';

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
interface Published {
  version: number;
  publishedAt: string;
  unchanged?: boolean;
  warnings?: string[];
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
    details:
      'The file is a catalog, or the output of `tiers show --json`. The server validates it and warns ' +
      'about duplicate models and prices below cost; a new version becomes active on every instance ' +
      'within 30 s. A catalog identical to the active one publishes nothing.',
    build: async ([file = ''], _options, context) => ({
      method: 'PUT',
      path: '/admin/tiers',
      body: await readCatalog(file, context),
    }),
    render: (data) => {
      const { version, publishedAt, unchanged, warnings = [] } = data as Published;
      const lines = warnings.map((warning) => `Warning: ${formatText(warning)}`);
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
