import { resolveTierId, TIER_IDS, type TierId } from '../domain/catalog.js';
import type { RouteInput } from './features.js';

/**
 * The rules run before the classifier: free and deterministic. A rule either decides the tier
 * outright (an explicit hint, a request for reasoning) or sets a floor that the classifier may
 * only raise (tools, media, a JSON schema, a large prompt, a deep conversation). Each rule's name
 * is the code in `x-tier-route` (`rule:tools`).
 */
export interface RuleOutcome {
  rule: RuleName;
  tier: TierId;
  /** `exact` decides; `floor` is a lower bound the classifier may raise. */
  kind: 'exact' | 'floor';
}

export const RULE_NAMES = ['hint', 'reasoning', 'tools', 'media', 'json_schema', 'size', 'depth'] as const;
export type RuleName = (typeof RULE_NAMES)[number];

/** A prompt longer than this (characters, all messages) is at least tier-2. */
export const LARGE_PROMPT_CHARS = 24_000;
/** A conversation with this many earlier user turns is at least tier-2. */
export const DEEP_CONVERSATION_TURNS = 6;

/** `tier-hint: intelligence` (or a tier id) anywhere in the system prompt. */
const HINT = /\btier[-_ ]?hint\s*[:=]\s*([a-z0-9-]+)/i;
/** Reasoning requests that still want a reasoning model (`none`/`minimal` do not). */
const NO_REASONING = new Set(['none', 'minimal']);

type Rule = (input: RouteInput) => RuleOutcome | undefined;

const floor = (rule: RuleName, tier: TierId): RuleOutcome => ({ rule, tier, kind: 'floor' });

export const RULES: Readonly<Record<RuleName, Rule>> = {
  hint: (input) => {
    const named = HINT.exec(input.system)?.[1];
    const tier = named === undefined ? undefined : resolveTierId(named.toLowerCase());
    return tier ? { rule: 'hint', tier, kind: 'exact' } : undefined;
  },
  reasoning: (input) =>
    input.reasoning !== undefined && !NO_REASONING.has(input.reasoning)
      ? { rule: 'reasoning', tier: 'tier-4', kind: 'exact' }
      : undefined,
  tools: (input) => (input.tools ? floor('tools', 'tier-2') : undefined),
  media: (input) => (input.media ? floor('media', 'tier-2') : undefined),
  json_schema: (input) => (input.jsonSchema ? floor('json_schema', 'tier-2') : undefined),
  size: (input) => (input.chars > LARGE_PROMPT_CHARS ? floor('size', 'tier-2') : undefined),
  depth: (input) => (input.history.length >= DEEP_CONVERSATION_TURNS ? floor('depth', 'tier-2') : undefined),
};

/** The first exact rule that applies, else the highest floor (the first named on a tie). */
export function applyRules(input: RouteInput): RuleOutcome | undefined {
  let best: RuleOutcome | undefined;
  for (const name of RULE_NAMES) {
    const outcome = RULES[name](input);
    if (!outcome) continue;
    if (outcome.kind === 'exact') return outcome;
    if (!best || TIER_IDS.indexOf(outcome.tier) > TIER_IDS.indexOf(best.tier)) best = outcome;
  }
  return best;
}
