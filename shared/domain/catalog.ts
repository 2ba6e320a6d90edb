import { type TokenPrice, usdToMicros } from './money.js';

export const TIER_IDS = ['tier-1', 'tier-2', 'tier-3', 'tier-4'] as const;
export type TierId = (typeof TIER_IDS)[number];

export const TIER_ALIASES: Readonly<Record<string, TierId>> = {
  speed: 'tier-1',
  balance: 'tier-2',
  intelligence: 'tier-3',
  reasoning: 'tier-4',
};

export const TIER_DESCRIPTIONS: Readonly<Record<TierId, string>> = {
  'tier-1': 'speed',
  'tier-2': 'balance',
  'tier-3': 'intelligence',
  'tier-4': 'reasoning',
};

export const isTierId = (value: string): value is TierId => (TIER_IDS as readonly string[]).includes(value);

/** The canonical tier id for a client's `model` value (tier id or alias), or undefined. */
export function resolveTierId(model: string): TierId | undefined {
  if (isTierId(model)) return model;
  return Object.hasOwn(TIER_ALIASES, model) ? TIER_ALIASES[model] : undefined;
}

/** A catalog as the operator writes it: decimal USD per 1M tokens (validated in catalog-schema.ts). */
export interface CatalogDocument {
  tiers: Record<TierId, TierDocument>;
  /** tier-auto settings (DESIGN §14). */
  auto?: AutoDocument | undefined;
}

export interface AutoDocument {
  /** Requests for explicit tiers also record what tier-auto would have chosen. */
  shadow?: boolean | undefined;
  /** Asks a tier-1 model when the classifier is unsure; off unless present. */
  escalation?: EscalationDocument | undefined;
}

export interface EscalationDocument {
  /** Past this the decision stays with the classifier's (upward) answer. */
  timeoutMs: number;
}

/**
 * Decimal USD per 1M tokens. Cache reads (`cachedInputUsdPerMTok`) and cache writes
 * (`cacheWriteUsdPerMTok`) default to the input price; 0 is a valid price (DESIGN §13).
 */
export interface PriceDocument {
  inputUsdPerMTok: number;
  outputUsdPerMTok: number;
  cachedInputUsdPerMTok?: number | undefined;
  cacheWriteUsdPerMTok?: number | undefined;
}

export interface TierDocument {
  models: ModelDocument[];
  price: PriceDocument;
  maxOutputTokens: number;
  ttftTimeoutMs: number;
  totalTimeoutMs: number;
  escalateToNextTier?: boolean | undefined;
}

export interface ModelDocument extends PriceDocument {
  id: string;
  contextWindow?: number | undefined;
}

export interface UpstreamModel {
  id: string;
  cost: TokenPrice;
  contextWindow?: number;
}

/** A tier ready for the request path: integer micro-USD prices. */
export interface Tier {
  id: TierId;
  models: UpstreamModel[];
  price: TokenPrice;
  maxOutputTokens: number;
  ttftTimeoutMs: number;
  totalTimeoutMs: number;
  escalateToNextTier: boolean;
}

export interface Catalog {
  version: number;
  publishedAt: string;
  document: CatalogDocument;
  tiers: Record<TierId, Tier>;
  auto: { shadow: boolean; escalation?: EscalationDocument };
}

/** Integer micro-USD prices, the cache rates defaulting to the input rate. */
export function toPrice(p: PriceDocument): TokenPrice {
  const input = usdToMicros(p.inputUsdPerMTok) ?? 0;
  const rate = (usd: number | undefined): number => (usd === undefined ? input : (usdToMicros(usd) ?? 0));
  return {
    inputMicrosPerMTok: input,
    outputMicrosPerMTok: usdToMicros(p.outputUsdPerMTok) ?? 0,
    cachedInputMicrosPerMTok: rate(p.cachedInputUsdPerMTok),
    cacheWriteMicrosPerMTok: rate(p.cacheWriteUsdPerMTok),
  };
}

/** Compiles a validated document into integer micro-USD prices, once per catalog version. */
export function compileCatalog(document: CatalogDocument, version: number, publishedAt: string): Catalog {
  const tiers = {} as Record<TierId, Tier>;
  for (const id of TIER_IDS) {
    const t = document.tiers[id];
    tiers[id] = {
      id,
      models: t.models.map((m) => ({
        id: m.id,
        cost: toPrice(m),
        ...(m.contextWindow ? { contextWindow: m.contextWindow } : {}),
      })),
      price: toPrice(t.price),
      maxOutputTokens: t.maxOutputTokens,
      ttftTimeoutMs: t.ttftTimeoutMs,
      totalTimeoutMs: t.totalTimeoutMs,
      escalateToNextTier: t.escalateToNextTier ?? false,
    };
  }
  const escalation = document.auto?.escalation;
  return {
    version,
    publishedAt,
    document,
    tiers,
    auto: { shadow: document.auto?.shadow ?? false, ...(escalation ? { escalation } : {}) },
  };
}
