import * as z from 'zod/v4';
import { type CatalogDocument, TIER_IDS } from './catalog.js';
import { hasControlCharacters, NO_CONTROL_CHARACTERS } from './control-characters.js';
import { invalidRequest } from './errors.js';
import { usdToMicros } from './money.js';

/**
 * The catalog schema: unknown fields and bad values are a 400 that names the field. Only the
 * admin API publishes catalogs, so only it loads this (and zod); the request path does not.
 */
const usdPerMTok = z
  .number()
  .nonnegative()
  .refine((v) => usdToMicros(v) !== undefined, 'must be a decimal USD amount with at most 6 decimal places');

/** Cache reads and cache writes default to the input price (DESIGN §13). */
const priceFields = {
  inputUsdPerMTok: usdPerMTok,
  outputUsdPerMTok: usdPerMTok,
  cachedInputUsdPerMTok: usdPerMTok.optional(),
  cacheWriteUsdPerMTok: usdPerMTok.optional(),
};

const priceSchema = z.strictObject(priceFields);

const modelSchema = z.strictObject({
  id: z
    .string()
    .min(1)
    .max(200)
    .refine((v) => !hasControlCharacters(v), NO_CONTROL_CHARACTERS),
  ...priceFields,
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

const autoSchema = z.strictObject({
  shadow: z.boolean().optional(),
  escalation: z.strictObject({ timeoutMs: z.number().int().min(50).max(10_000) }).optional(),
});

export const catalogSchema = z.strictObject({
  tiers: z.strictObject({
    'tier-1': tierSchema,
    'tier-2': tierSchema,
    'tier-3': tierSchema,
    'tier-4': tierSchema,
  }),
  auto: autoSchema.optional(),
});

// The schema and the CatalogDocument interface must describe the same shape.
type Parsed = z.infer<typeof catalogSchema>;
const _sameShape: [
  Parsed extends CatalogDocument ? true : false,
  CatalogDocument extends Parsed ? true : false,
] = [true, true];
void _sameShape;

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
