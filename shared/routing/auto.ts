import { TIER_IDS, type TierId } from '../domain/catalog.js';

/**
 * What every surface needs to know of tier-auto without its router: the model ids that ask for
 * it and the tier order. The router and its trained model (router.ts) load on first use.
 */

/** The model id clients send to let the gateway pick the tier, and its alias. */
export const AUTO_TIER = 'tier-auto' as const;
export const AUTO_ALIAS = 'auto';

export const isAutoModel = (model: string): boolean => model === AUTO_TIER || model === AUTO_ALIAS;
/** A tier-auto request's tier until it is routed (DESIGN §14: the default is tier-2). */
export const AUTO_DEFAULT_TIER: TierId = 'tier-2';

/** The higher of two tiers. */
export const higher = (a: TierId, b: TierId): TierId => (TIER_IDS.indexOf(a) >= TIER_IDS.indexOf(b) ? a : b);
