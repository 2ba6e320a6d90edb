import * as z from 'zod/v4';
import { invalidRequest } from './errors.js';
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

/** The canonical tier id for a client's `model` value (tier id or alias), or undefined. */
export function resolveTierId(model: string): TierId | undefined {
  if ((TIER_IDS as readonly string[]).includes(model)) return model as TierId;
  return Object.hasOwn(TIER_ALIASES, model) ? TIER_ALIASES[model] : undefined;
}

const usdPerMTok = z
  .number()
  .nonnegative()
  .refine((v) => usdToMicros(v) !== undefined, 'must be a decimal USD amount with at most 6 decimal places');

const priceSchema = z.strictObject({ inputUsdPerMTok: usdPerMTok, outputUsdPerMTok: usdPerMTok });

const modelSchema = z.strictObject({
  id: z.string().min(1).max(200),
  inputUsdPerMTok: usdPerMTok,
  outputUsdPerMTok: usdPerMTok,
  contextWindow: z.number().int().positive().optional(),
});

const tierSchema = z.strictObject({
  models: z.array(modelSchema).min(1).max(10),
  price: priceSchema,
  maxOutputTokens: z.number().int().positive().max(1_000_000),
  ttftTimeoutMs: z.number().int().min(100).max(900_000),
  totalTimeoutMs: z.number().int().min(1_000).max(900_000),
  escalateToNextTier: z.boolean().optional(),
});

export const catalogSchema = z.strictObject({
  tiers: z.strictObject({
    'tier-1': tierSchema,
    'tier-2': tierSchema,
    'tier-3': tierSchema,
    'tier-4': tierSchema,
  }),
});

/** A catalog as the operator writes it: decimal USD per 1M tokens. */
export type CatalogDocument = z.infer<typeof catalogSchema>;
export type TierDocument = z.infer<typeof tierSchema>;

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
}

/** Validates a catalog document; a violation is a 400 whose `param` names the field. */
export function parseCatalogDocument(input: unknown): CatalogDocument {
  const result = catalogSchema.safeParse(input);
  if (result.success) {
    for (const id of TIER_IDS) {
      const tier = result.data.tiers[id];
      if (tier.ttftTimeoutMs > tier.totalTimeoutMs) {
        throw invalidRequest(
          `tiers.${id}.ttftTimeoutMs must not exceed totalTimeoutMs`,
          `tiers.${id}.ttftTimeoutMs`,
        );
      }
    }
    return result.data;
  }
  const issue = result.error.issues[0];
  const path = issue ? issue.path.map(String).join('.') : '';
  const keys = issue?.code === 'unrecognized_keys' ? issue.keys : [];
  const param = keys.length > 0 ? [path, keys[0]].filter(Boolean).join('.') : path || null;
  const what = keys.length > 0 ? `unknown field ${keys.map((k) => `"${k}"`).join(', ')}` : issue?.message;
  throw invalidRequest(`Invalid catalog: ${param ?? 'catalog'}: ${what ?? 'invalid'}.`, param);
}

const toPrice = (p: { inputUsdPerMTok: number; outputUsdPerMTok: number }): TokenPrice => ({
  inputMicrosPerMTok: usdToMicros(p.inputUsdPerMTok) ?? 0,
  outputMicrosPerMTok: usdToMicros(p.outputUsdPerMTok) ?? 0,
});

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
  return { version, publishedAt, document, tiers };
}
