import { type CatalogDocument, TIER_IDS } from './catalog.js';
import { formatMicros, usdToMicros } from './money.js';

/**
 * What the admin API tells an operator about a catalog it is asked to publish: things that are
 * allowed but probably not meant (warnings), and whether it is the active catalog already.
 */

const perMTok = (usd: number): string => `$${formatMicros(usdToMicros(usd) ?? 0)}/MTok`;

/** Allowed but worth saying: a model listed twice in a tier, a tier priced below its primary model. */
export function catalogWarnings(document: CatalogDocument): string[] {
  const warnings: string[] = [];
  for (const id of TIER_IDS) {
    const tier = document.tiers[id];
    const seen = new Set<string>();
    for (const model of tier.models) {
      if (seen.has(model.id)) warnings.push(`${id}: model "${model.id}" is listed more than once.`);
      seen.add(model.id);
    }
    const primary = tier.models[0];
    if (!primary) continue;
    for (const [side, price, cost] of [
      ['input', tier.price.inputUsdPerMTok, primary.inputUsdPerMTok],
      ['output', tier.price.outputUsdPerMTok, primary.outputUsdPerMTok],
    ] as const) {
      // Compared in integer micro-USD: the schema guarantees both convert exactly.
      if ((usdToMicros(price) ?? 0) < (usdToMicros(cost) ?? 0)) {
        warnings.push(
          `${id}: the ${side} price ${perMTok(price)} is below the primary model's cost ${perMTok(cost)}: ` +
            'each request on it loses money.',
        );
      }
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
