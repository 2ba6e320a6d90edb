import { type CatalogDocument, type PriceDocument, TIER_IDS, type TierId, toPrice } from './catalog.js';
import { formatMicros, priceUsage, usdToMicros } from './money.js';

/**
 * What the admin API tells an operator about a catalog it is asked to publish: each tier's margin
 * against its primary model, things that are allowed but probably not meant (warnings), and
 * whether it is the active catalog already.
 */

/** The request a tier's margin is shown for: an agent turn, most of whose prompt may be cached. */
export const REFERENCE_REQUEST = { promptTokens: 20_000, outputTokens: 1_000 } as const;
/** The cache-hit ratios (percent of the prompt read from a cache; the rest is new input). */
export const CACHE_HIT_PERCENTS = [0, 50, 90] as const;

export interface TierMargin {
  tier: TierId;
  /** The primary model the margin is computed against. */
  model: string;
  at: Array<{
    cacheHitPercent: number;
    chargeMicros: number;
    upstreamCostMicros: number;
    marginMicros: number;
  }>;
}

/** Each tier's charge, its primary model's cost and the difference, for the reference request. */
export function catalogMargins(document: CatalogDocument): TierMargin[] {
  return TIER_IDS.flatMap((tier) => {
    const { price, models } = document.tiers[tier];
    const primary = models[0];
    if (!primary) return [];
    const at = CACHE_HIT_PERCENTS.map((cacheHitPercent) => {
      const counts = {
        inputTokens: REFERENCE_REQUEST.promptTokens,
        cachedInputTokens: (REFERENCE_REQUEST.promptTokens * cacheHitPercent) / 100,
        outputTokens: REFERENCE_REQUEST.outputTokens,
      };
      const chargeMicros = priceUsage(toPrice(price), counts);
      const upstreamCostMicros = priceUsage(toPrice(primary), counts);
      return {
        cacheHitPercent,
        chargeMicros,
        upstreamCostMicros,
        marginMicros: chargeMicros - upstreamCostMicros,
      };
    });
    return [{ tier, model: primary.id, at }];
  });
}

const perMTok = (usd: number | undefined): string => `$${formatMicros(usdToMicros(usd ?? 0) ?? 0)}/MTok`;

/** The rates a price object names, each cache rate defaulting to the input rate. */
const RATES: ReadonlyArray<[string, (p: PriceDocument) => number]> = [
  ['input', (p) => p.inputUsdPerMTok],
  ['output', (p) => p.outputUsdPerMTok],
  ['cache-read', (p) => p.cachedInputUsdPerMTok ?? p.inputUsdPerMTok],
  ['cache-write', (p) => p.cacheWriteUsdPerMTok ?? p.inputUsdPerMTok],
];

/**
 * Allowed but worth saying: a model listed twice in a tier, a rate below the primary model's, and
 * a tier that sells the reference request below its cost (a subsidy may be meant; a typo not).
 */
export function catalogWarnings(document: CatalogDocument): string[] {
  const warnings: string[] = [];
  for (const id of TIER_IDS) {
    const tier = document.tiers[id];
    const seen = new Set<string>();
    for (const model of tier.models) {
      if (seen.has(model.id)) warnings.push(`${id}: model "${model.id}" is listed more than once.`);
      seen.add(model.id);
    }
    // Every model the tier may serve from, fallbacks included, is checked: a fallback is billed at
    // the tier's price too.
    for (const [index, model] of tier.models.entries()) {
      const which = index === 0 ? "the primary model's" : `fallback "${model.id}"'s`;
      for (const [side, rate] of RATES) {
        // Compared in integer micro-USD: the schema guarantees both convert exactly.
        if ((usdToMicros(rate(tier.price)) ?? 0) < (usdToMicros(rate(model)) ?? 0)) {
          warnings.push(
            `${id}: the ${side} price ${perMTok(rate(tier.price))} is below ${which} cost ` +
              `${perMTok(rate(model))}: each such token loses money.`,
          );
        }
      }
    }
  }
  for (const margin of catalogMargins(document)) {
    const losing = margin.at.filter((a) => a.marginMicros < 0).map((a) => `${a.cacheHitPercent}%`);
    if (losing.length > 0) {
      warnings.push(
        `${margin.tier} sells below cost at ${losing.join(', ')} cache hits: a request of ` +
          `${REFERENCE_REQUEST.promptTokens} prompt and ${REFERENCE_REQUEST.outputTokens} output tokens ` +
          'costs more upstream than it is charged.',
      );
    }
  }
  return warnings;
}

/** JSON with object keys sorted, so two documents compare equal whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** True when both describe the same catalog (key order and absent optional fields aside). */
export function sameCatalog(a: CatalogDocument, b: CatalogDocument): boolean {
  return canonical(a) === canonical(b);
}
